#!/bin/bash
# SPICE security end to end, through a real orield and the test guest:
# one-time tickets (the first client session works and stays up, a second
# connection with the same ticket is refused), expiry, and TLS with
# certificates from orield's x509 dir (a client with the right CA and
# subject connects; a wrong CA or a wrong subject fails).  The clients are
# spice-probe (real spice-client-glib).  TAP output.
source "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"

probe="$build/tests/tools/spice-probe"

echo "1..15"

# A CA and a server certificate signed by it, as an admin would make them;
# and a second, unrelated CA.
pki="$tmp/pki"
mkdir -p "$pki" "$tmp/other"
make_ca() { # DIR CN
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$1/ca-key.pem" -out "$1/ca-cert.pem" >/dev/null 2>&1
}
if make_ca "$pki" "Oriel Test CA" && make_ca "$tmp/other" "Somebody Else CA" &&
   openssl req -newkey rsa:2048 -nodes -subj "/C=XX/O=Oriel Test/CN=oriel-host" \
       -keyout "$pki/server-key.pem" -out "$tmp/server.csr" >/dev/null 2>&1 &&
   openssl x509 -req -in "$tmp/server.csr" -CA "$pki/ca-cert.pem" -CAkey "$pki/ca-key.pem" \
       -CAcreateserial -days 2 -out "$pki/server-cert.pem" >/dev/null 2>&1; then
    :
else
    echo "Bail out! openssl could not make the test certificates"; exit 1
fi
rm -f "$pki/ca-key.pem"

# orield takes the x509 dir from its own config file.
mkdir -p "$ORIEL_CONFIG_DIR"
printf '[orield]\nspice_x509_dir = %s\n' "$pki" >"$ORIEL_CONFIG_DIR/orield.conf"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tls_port=$(free_port)

start_orield || { echo "Bail out! orield did not start"; exit 1; }
# Subscribed before the domain starts: its DOMAIN_STATE events prove it.
"$orielctl" events >"$tmp/events.out" 2>&1 &
pids_to_kill+=($!)
write_cfg "$tmp/desk.cfg" tickets-desk 'vga = "qxl"' "spicetls_port = $tls_port" 'spiceusbredirection = 2' \
    'soundhw = "hda"'
if ! "$orielctl" create "$tmp/desk.cfg" >"$tmp/create.out" 2>&1; then
    echo "Bail out! the domain did not start: $(cat "$tmp/create.out")"; exit 1
fi
for _ in $(seq 300); do grep -q '"running"' "$tmp/events.out" && break; sleep 0.1; done
grep -q '"running"' "$tmp/events.out" || { echo "Bail out! orielctl events saw no start: $(cat "$tmp/events.out")"; exit 1; }

# json FILE KEY: one member of orield's ticket reply.
json() {
    python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]
sys.stdout.write(str(v).lower() + "\n" if isinstance(v, bool) else str(v) if str(v).endswith("\n") else str(v) + "\n")' "$1" "$2"
}
# ticket FILE [ORIELCTL OPTIONS]: a fresh ticket; the reply in FILE.json,
# the ticket alone in FILE.
ticket() {
    local file=$1; shift
    "$orielctl" spice --json "$@" tickets-desk >"$file.json" 2>"$file.err" && json "$file.json" ticket >"$file"
}

# 1. The reply carries what a client or the broker needs.
# Valid 600 s: expiry cannot be what refuses the second connection below.
ticket "$tmp/t1" --one-time --expires 600
now=$(date +%s)
port=$(json "$tmp/t1.json" port 2>/dev/null)
if [ -s "$tmp/t1" ] && [ "$(json "$tmp/t1.json" one_time)" = true ] &&
   [ "$(json "$tmp/t1.json" tls_port)" = "$tls_port" ] && [ -n "$port" ] && [ "$port" -gt 0 ] &&
   expires=$(json "$tmp/t1.json" expires) && [ "$expires" -ge $((now + 595)) ] && [ "$expires" -le $((now + 602)) ] &&
   [ "$(json "$tmp/t1.json" host_subject)" = "C=XX, O=Oriel Test, CN=oriel-host" ] &&
   cmp -s <(json "$tmp/t1.json" ca) <(cat "$pki/ca-cert.pem"); then
    ok "the ticket reply has port, tls_port, ticket, expires (unix), one_time, the CA and the host subject"
else
    not_ok "the ticket reply has port, tls_port, ticket, expires (unix), one_time, the CA and the host subject" \
        "$(cat "$tmp/t1.json" "$tmp/t1.err")"
fi

# 2-5. One-time: the first session links every channel (display, inputs,
# cursor, audio, usbredir...) and stays up; meanwhile a second connection
# with the same ticket is refused.
"$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/t1" --all-channels --hold 15 --timeout 90 \
    >"$tmp/first.out" 2>"$tmp/first.err" &
first=$!
pids_to_kill+=("$first")
for _ in $(seq 900); do
    grep -q '"connected":true' "$tmp/first.out" 2>/dev/null && break
    alive "$first" || break
    sleep 0.1
done
if grep -q '"connected":true' "$tmp/first.out"; then
    ok "the first client connects with the one-time ticket and gets a frame"
else
    not_ok "the first client connects with the one-time ticket and gets a frame" "$(cat "$tmp/first.err")"
fi
# orield retires the ticket once the session's channels have settled (2 s
# without a new channel of that session) and says so in an event.
for _ in $(seq 600); do
    grep -q '"SPICE_TICKET_RETIRED"' "$tmp/events.out" 2>/dev/null && break
    sleep 0.1
done
if grep -q '"reason":"the session'"'"'s channels are up"' "$tmp/events.out"; then
    ok "orield retires the one-time ticket once the session's channels are up (SPICE_TICKET_RETIRED)"
else
    not_ok "orield retires the one-time ticket once the session's channels are up (SPICE_TICKET_RETIRED)" \
        "$(cat "$tmp/events.out")"
fi
"$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/t1" --expect auth-failure --timeout 60 \
    >"$tmp/second.out" 2>"$tmp/second.err"
status=$?
if [ "$status" -eq 0 ] && grep -q '"auth":"refused"' "$tmp/second.out"; then
    ok "a second connection with the same one-time ticket is refused"
else
    not_ok "a second connection with the same one-time ticket is refused" "status=$status" \
        "$(cat "$tmp/second.out" "$tmp/second.err")"
fi
wait "$first"
status=$?
echo "# first session: $(head -n 1 "$tmp/first.out")"
if [ "$status" -eq 0 ] && grep -q '"held":15' "$tmp/first.out" &&
   grep -q '"inputs"' "$tmp/first.out" && grep -q '"usbredir"' "$tmp/first.out"; then
    ok "the first session stays up with all its channels while the second is refused"
else
    not_ok "the first session stays up with all its channels while the second is refused" "status=$status" \
        "$(cat "$tmp/first.out" "$tmp/first.err")"
fi

# 5. An ordinary ticket is not one-time: it serves two connections in a row
# (so the refusal above is the one-time rule, not an accident).
ticket "$tmp/t2"
if "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/t2" --timeout 60 >/dev/null 2>"$tmp/t2a.err" &&
   "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/t2" --timeout 60 >/dev/null 2>"$tmp/t2b.err"; then
    ok "a ticket without one_time serves two connections"
else
    not_ok "a ticket without one_time serves two connections" "$(cat "$tmp/t2a.err" "$tmp/t2b.err")"
fi

# 6. Expiry: a ticket valid 2 s is refused after 3 s, never used before.
ticket "$tmp/t3" --one-time --expires 2
sleep 3
if "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/t3" --expect auth-failure --timeout 60 \
       >"$tmp/t3.out" 2>"$tmp/t3.err"; then
    ok "an expired ticket is refused"
else
    not_ok "an expired ticket is refused" "$(cat "$tmp/t3.out" "$tmp/t3.err")"
fi

# 7-9. TLS: the CA and subject from the reply verify the server.
ticket "$tmp/t4" --one-time
json "$tmp/t4.json" ca >"$tmp/ca.pem"
subject=$(json "$tmp/t4.json" host_subject)
if "$probe" --host 127.0.0.1 --tls-port "$tls_port" --ca-file "$tmp/ca.pem" --host-subject "$subject" \
       --password-file "$tmp/t4" --timeout 90 >"$tmp/tls.out" 2>"$tmp/tls.err" &&
   grep -q '"connected":true' "$tmp/tls.out"; then
    ok "a client with the CA and host subject from the reply connects over TLS"
else
    not_ok "a client with the CA and host subject from the reply connects over TLS" "$(cat "$tmp/tls.err")"
fi
ticket "$tmp/t5"
# spice-gtk g_warning()s the failed verification: not under fatal warnings.
env -u G_DEBUG "$probe" --host 127.0.0.1 --tls-port "$tls_port" --ca-file "$tmp/other/ca-cert.pem" --host-subject "$subject" \
    --password-file "$tmp/t5" --timeout 60 >"$tmp/wrongca.out" 2>"$tmp/wrongca.err"
status=$?
if [ "$status" -eq 5 ] && grep -qi "tls" "$tmp/wrongca.err" && ! grep -q connected "$tmp/wrongca.out"; then
    ok "a client trusting another CA fails the TLS handshake"
else
    not_ok "a client trusting another CA fails the TLS handshake" "status=$status" "$(cat "$tmp/wrongca.err")"
fi
env -u G_DEBUG "$probe" --host 127.0.0.1 --tls-port "$tls_port" --ca-file "$tmp/ca.pem" \
    --host-subject "C=XX, O=Oriel Test, CN=someone-else" \
    --password-file "$tmp/t5" --timeout 60 >"$tmp/wrongsub.out" 2>"$tmp/wrongsub.err"
status=$?
if [ "$status" -eq 5 ] && grep -qi "tls" "$tmp/wrongsub.err" && ! grep -q connected "$tmp/wrongsub.out"; then
    ok "a client expecting another host subject fails"
else
    not_ok "a client expecting another host subject fails" "status=$status" "$(cat "$tmp/wrongsub.err")"
fi

# 11-13. spice_tls_only: the plain port refuses every channel, TLS works.
tls_only_port=$(free_port)
write_cfg "$tmp/tlsonly.cfg" tickets-tlsonly 'vga = "qxl"' "spicetls_port = $tls_only_port" 'spice_tls_only = 1'
if "$orielctl" create "$tmp/tlsonly.cfg" >"$tmp/tlsonly.out" 2>&1; then
    "$orielctl" spice --json tickets-tlsonly >"$tmp/t6.json" 2>"$tmp/t6.err" && json "$tmp/t6.json" ticket >"$tmp/t6"
    plain_port=$(json "$tmp/t6.json" port)
    env -u G_DEBUG "$probe" --host 127.0.0.1 --port "$plain_port" --password-file "$tmp/t6" --timeout 60 \
        >"$tmp/plain.out" 2>"$tmp/plain.err"
    status=$?
    if [ "$status" -ne 0 ] && ! grep -q connected "$tmp/plain.out"; then
        ok "with spice_tls_only the plain port refuses the client"
    else
        not_ok "with spice_tls_only the plain port refuses the client" "status=$status" "$(cat "$tmp/plain.err")"
    fi
    json "$tmp/t6.json" ca >"$tmp/ca6.pem"
    if "$probe" --host 127.0.0.1 --tls-port "$tls_only_port" --ca-file "$tmp/ca6.pem" \
           --host-subject "$(json "$tmp/t6.json" host_subject)" --password-file "$tmp/t6" --timeout 90 \
           >"$tmp/tlsonly-probe.out" 2>"$tmp/tlsonly-probe.err"; then
        ok "with spice_tls_only a TLS client connects"
    else
        not_ok "with spice_tls_only a TLS client connects" "$(cat "$tmp/tlsonly-probe.err")"
    fi
else
    not_ok "with spice_tls_only the plain port refuses the client" "$(cat "$tmp/tlsonly.out")"
    not_ok "with spice_tls_only a TLS client connects" "the domain did not start"
fi
"$orielctl" destroy tickets-tlsonly >/dev/null 2>&1
write_cfg "$tmp/tlsbad.cfg" tickets-tlsbad 'spice_tls_only = 1'
if ! "$orielctl" check "$tmp/tlsbad.cfg" >"$tmp/tlsbad.out" 2>&1 && grep -q "spice_tls_only: needs spicetls_port" "$tmp/tlsbad.out"; then
    ok "spice_tls_only without spicetls_port is a clear error"
else
    not_ok "spice_tls_only without spicetls_port is a clear error" "$(cat "$tmp/tlsbad.out")"
fi

# 14. Off loopback, SPICE without a ticket is refused before anything runs.
write_cfg "$tmp/open.cfg" tickets-open 'spicehost = "0.0.0.0"' 'spicedisable_ticketing = 1'
if ! "$orielctl" create "$tmp/open.cfg" >"$tmp/open.out" 2>&1 && grep -q "loopback" "$tmp/open.out" &&
   [ "$(state_of tickets-open)" = absent ]; then
    ok "SPICE off loopback without a ticket is refused"
else
    not_ok "SPICE off loopback without a ticket is refused" "$(cat "$tmp/open.out")"
fi

"$orielctl" destroy tickets-desk >/dev/null 2>&1
finish_orield
[ "$failures" -eq 0 ]
