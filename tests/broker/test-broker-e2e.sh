#!/bin/bash
# oriel-broker end to end: real PAM accounts, a real orield running the test
# guest as the pools' golden image, HTTPS with certificates from
# --init-tls.  Login, list, connect -> .vv, which a real SPICE client
# (spice-probe) opens; stateless desktops lose what was written to their
# disk at logout, persistent ones keep it; wrong passwords are refused and
# lock the account out; each ticket works once and expires; a TLS desktop's
# .vv carries the CA and host subject that spice-probe, Debian's
# remote-viewer and oriel-viewer (under Xvfb) check.  TAP output.
set -u
. "${ORIEL_SOURCE_DIR:?run through meson test}/tests/daemon/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/broker/lib.sh"
probe="$build/tests/tools/spice-probe"

echo "1..20"

desk_group="obd$run_id"
user="obu$run_id"
password="Pw-$run_id-$RANDOM"
make_group "$desk_group" && make_user "$user" "$password" "$desk_group" ||
    { echo "Bail out! cannot create the test account"; exit 1; }

# ---- TLS -------------------------------------------------------------------------
"$broker" --init-tls "$tmp/pki" --hostname localhost >"$tmp/init.out" 2>&1
modes=$(stat -c '%n %a' "$tmp/pki"/*.pem | sed "s|$tmp/pki/||" | sort | tr '\n' ' ')
if grep -qx 'host-subject: O=Oriel,CN=localhost' "$tmp/init.out" &&
   [ "$modes" = "ca-cert.pem 644 ca-key.pem 600 server-cert.pem 644 server-key.pem 600 " ] &&
   openssl verify -CAfile "$tmp/pki/ca-cert.pem" "$tmp/pki/server-cert.pem" >/dev/null 2>&1 &&
   openssl x509 -in "$tmp/pki/server-cert.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1'; then
    ok "--init-tls makes a CA and a server certificate it signed (keys 0600, SAN, host-subject printed)"
else
    not_ok "--init-tls makes a CA and a server certificate it signed" "$(cat "$tmp/init.out")" "$modes"
fi
if ! "$broker" --init-tls "$tmp/pki" --hostname localhost >"$tmp/init2.out" 2>&1 &&
   grep -q "exists; not overwriting" "$tmp/init2.out"; then
    ok "--init-tls refuses to overwrite an existing CA"
else
    not_ok "--init-tls refuses to overwrite an existing CA" "$(cat "$tmp/init2.out")"
fi

# ---- broker and orield ----------------------------------------------------------------
make_golden
ticket_seconds=20
write_broker_config "$tmp/broker.conf" "max-failures = 3" "lockout-seconds = 600" "failure-delay-ms = 300" \
    "ticket-seconds = $ticket_seconds"
add_pool "$tmp/broker.conf" flex false "$desk_group" 1
add_pool "$tmp/broker.conf" mine true "$desk_group" 1 "spice-tls-port-base = $(free_port)"
# The desktops' SPICE TLS uses the CA and certificate --init-tls made.
mkdir -p "$ORIEL_CONFIG_DIR"
printf '[orield]\nspice_x509_dir = %s\n' "$tmp/pki" >"$ORIEL_CONFIG_DIR/orield.conf"
start_orield || exit 1
start_broker "$tmp/broker.conf" || exit 1

status=$(login "$user" "not-$password")
if [ "$status" = 401 ] && grep -q '"error":"wrong user name or password"' "$tmp/body"; then
    ok "a wrong password is refused with 401 and a clear message"
else
    not_ok "a wrong password is refused with 401" "status=$status" "$(cat "$tmp/body")"
fi

status=$(login "$user" "$password")
token=$(cat "$tmp/token")
if [ "$status" = 200 ] && [ ${#token} -eq 64 ] &&
   grep -qi "^set-cookie: oriel_session=$token; HttpOnly; Secure; SameSite=Strict; Path=/" "$tmp/headers" &&
   grep -q "\"groups\":\[[^]]*\"$desk_group\"" "$tmp/body" &&
   [ "$(db_query "SELECT count(*) FROM sessions WHERE token_hash = '$(printf %s "$token" | sha256sum | cut -c1-64)'")" = 1 ] &&
   [ "$(db_query "SELECT count(*) FROM sessions WHERE token_hash = '$token'")" = 0 ]; then
    ok "PAM login: token, HttpOnly Secure cookie, the user's groups; only the token's hash is stored"
else
    not_ok "PAM login" "status=$status" "$(cat "$tmp/body")"
fi

status=$(api GET /api/desktops "" "$token")
if [ "$status" = 200 ] && python3 - "$tmp/body" <<'EOF'
import json, sys
pools = {p["name"]: p for p in json.load(open(sys.argv[1]))["pools"]}
assert set(pools) == {"flex", "mine"}, pools
assert pools["flex"]["persistent"] is False and pools["mine"]["persistent"] is True
assert pools["flex"]["free"] == 1 and pools["flex"]["assigned"] is None
EOF
then
    ok "GET /api/desktops lists the user's pools, free desktops and assignments"
else
    not_ok "GET /api/desktops" "status=$status" "$(cat "$tmp/body")"
fi

# connect_only POOL: the .vv in $tmp/POOL.vv, its ticket in $tmp/POOL.ticket.
connect_only() {
    local pool=$1 status
    status=$(api POST "/api/desktops/$pool/connect" "" "$token")
    cp "$tmp/body" "$tmp/$pool.vv"
    if [ "$status" != 200 ] || ! grep -qi '^content-type: application/x-virt-viewer' "$tmp/headers"; then
        echo "connect $pool: status $status: $(cat "$tmp/body")" >"$tmp/probe.out"
        return 1
    fi
    vv_get password "$tmp/$pool.vv" | tr -d '\n' >"$tmp/$pool.ticket"
}
# probe_vv POOL [spice-probe options]: spice-probe with what the .vv says
# (TLS when it has a tls-port: the CA and host subject from the .vv).
probe_vv() {
    local pool=$1 vv="$tmp/$1.vv"; shift
    local args=(--host "$(vv_get host "$vv")" --password-file "$tmp/$pool.ticket" --timeout 120)
    if [ -n "$(vv_get tls-port "$vv")" ]; then
        vv_get ca "$vv" >"$tmp/$pool.ca.pem"
        args+=(--tls-port "$(vv_get tls-port "$vv")" --ca-file "$tmp/$pool.ca.pem"
               --host-subject "$(vv_get host-subject "$vv")")
    else
        args+=(--port "$(vv_get port "$vv")")
    fi
    env -u G_DEBUG "$probe" "${args[@]}" "$@" >"$tmp/probe.out" 2>&1
}
# connect_and_probe POOL: ok when a real SPICE client gets in with the .vv.
connect_and_probe() {
    connect_only "$1" && probe_vv "$1" && grep -q '"connected":true' "$tmp/probe.out"
}

if connect_and_probe flex && [ "$(sed -n 1p "$tmp/flex.vv")" = "[virt-viewer]" ] &&
   [ "$(vv_get type "$tmp/flex.vv")" = spice ] && [ "$(vv_get delete-this-file "$tmp/flex.vv")" = 1 ] &&
   [ "$(vv_get title "$tmp/flex.vv")" = "Test pool flex (flex-1)" ] &&
   [ "$(db_query "SELECT user FROM assignments WHERE desktop = 'flex-1'")" = "$user" ] &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'connect' AND detail = 'flex-1'")" = 1 ]; then
    ok "connect: the desktop starts, a .vv comes back, and spice-probe opens it with its ticket"
else
    not_ok "connect to the stateless pool" "$(cat "$tmp/flex.vv" "$tmp/probe.out" 2>/dev/null)"
fi
if connect_and_probe mine && [ "$(vv_get secure-channels "$tmp/mine.vv")" = all ] &&
   [ "$(vv_get host-subject "$tmp/mine.vv" | tr -d ' ')" = "O=Oriel,CN=localhost" ] &&
   cmp -s "$tmp/mine.ca.pem" "$tmp/pki/ca-cert.pem"; then
    ok "a TLS desktop's .vv has tls-port, the CA, host-subject and secure-channels; spice-probe connects over TLS"
else
    not_ok "connect to the persistent TLS pool" "$(cat "$tmp/mine.vv" "$tmp/probe.out" 2>/dev/null)"
fi

# The flex ticket was used above: a second connection with it is refused
# (orield retires a one-time ticket once its client is linked).
refused=no
for _ in 1 2 3 4 5; do
    if probe_vv flex --timeout 30 --expect auth-failure; then refused=yes; break; fi
    sleep 1
done
if [ "$refused" = yes ]; then
    ok "a .vv's ticket works once: the same ticket a second time is refused"
else
    not_ok "a .vv's ticket works once" "$(cat "$tmp/probe.out")"
fi

# Debian's remote-viewer opens the TLS .vv (CA and subject from the file).
mkfifo "$tmp/displayfd"
Xvfb -displayfd 5 -screen 0 1024x768x24 -nolisten tcp -noreset 5>"$tmp/displayfd" >"$tmp/xvfb.log" 2>&1 &
pids_to_kill+=($!)
exec 5<"$tmp/displayfd"
read -r -t 30 -u 5 display
exec 5<&-
canvas=no
if [ -n "${display:-}" ] && connect_only mine && cp "$tmp/mine.vv" "$tmp/rv.vv"; then
    DISPLAY=":$display" NO_AT_BRIDGE=1 GDK_BACKEND=x11 SPICE_DEBUG=1 env -u G_DEBUG \
        remote-viewer "$tmp/rv.vv" >"$tmp/rv.log" 2>&1 &
    rv=$!
    pids_to_kill+=($rv)
    for _ in $(seq 1 1200); do
        grep -q "Create primary canvas" "$tmp/rv.log" && { canvas=yes; break; }
        kill -0 "$rv" 2>/dev/null || break
        sleep 0.1
    done
    kill "$rv" 2>/dev/null
fi
if [ "$canvas" = yes ] && grep -q "Using TLS" "$tmp/rv.log" && grep -q "verify_subject: subjects match" "$tmp/rv.log" &&
   [ ! -e "$tmp/rv.vv" ]; then
    ok "remote-viewer opens the .vv over TLS and shows the desktop (and deletes the file)"
else
    not_ok "remote-viewer opens the .vv over TLS" "canvas=$canvas; .vv left: $(ls "$tmp/rv.vv" 2>&1)" \
        "$(grep -iE 'error|fail|auth|canvas|TLS' "$tmp/rv.log" | tail -10)"
fi

# oriel-viewer opens it the same way.  Under AddressSanitizer, GTK and
# spice-gtk keep allocations for the life of the process: the viewer
# tests' suppressions apply (tests/viewer/lsan.supp).
cat "$source_dir/tests/lsan.supp" "$source_dir/tests/viewer/lsan.supp" >"$tmp/viewer-lsan.supp" 2>/dev/null
if [ -n "${display:-}" ] && connect_only mine && cp "$tmp/mine.vv" "$tmp/ov.vv" &&
   DISPLAY=":$display" NO_AT_BRIDGE=1 GDK_BACKEND=x11 env -u G_DEBUG \
       LSAN_OPTIONS="suppressions=$tmp/viewer-lsan.supp:print_suppressions=0" \
       "$build/viewer/oriel-viewer" --exit-after-frames 1 --timeout 120 --no-audio "$tmp/ov.vv" >"$tmp/ov.log" 2>&1; then
    ok "oriel-viewer opens the .vv over TLS and gets a frame"
else
    not_ok "oriel-viewer opens the .vv over TLS and gets a frame" "$(tail -5 "$tmp/ov.log" 2>/dev/null)"
fi

# A ticket nobody used expires after ticket-seconds.
if connect_only flex; then
    sleep $((ticket_seconds + 2))
    if probe_vv flex --timeout 30 --expect auth-failure; then
        ok "an unused ticket is refused once ticket-seconds have passed"
    else
        not_ok "an unused ticket is refused once ticket-seconds have passed" "$(cat "$tmp/probe.out")"
    fi
else
    not_ok "an unused ticket is refused once ticket-seconds have passed" "$(cat "$tmp/probe.out")"
fi

# ---- stateless reset ---------------------------------------------------------------
# A marker on the desktop's virtio disk (/dev/vda, the overlay on the golden image).
write_marker() {
    "$console" "$ORIEL_RUNTIME_DIR/domains/$1/serial.sock" --timeout 120 --wait-ready \
        "printf 'MARK-$run_id' >/dev/vda && sync && echo written" 2>&1 | grep -q written
}
read_marker() {
    "$console" "$ORIEL_RUNTIME_DIR/domains/$1/serial.sock" --timeout 120 --wait-ready \
        "dd if=/dev/vda bs=64 count=1 2>/dev/null | tr -cd 'A-Za-z0-9-'; echo" 2>/dev/null
}
if write_marker flex-1 && write_marker mine-1 && [ "$(read_marker flex-1)" = "MARK-$run_id" ]; then
    ok "markers written to both desktops' disks (/dev/vda)"
else
    not_ok "markers written to both desktops' disks" "$(read_marker flex-1)"
fi

status=$(api POST /api/logout "" "$token")
after=$(api GET /api/desktops "" "$token")
if [ "$status" = 204 ] && [ "$after" = 401 ] &&
   [ "$(db_query "SELECT count(*) FROM assignments WHERE desktop = 'flex-1'")" = 0 ] &&
   [ "$(db_query "SELECT user FROM assignments WHERE desktop = 'mine-1'")" = "$user" ] &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")" = 1 ]; then
    ok "logout: 204, the token is dead, the stateless desktop reset and freed, the persistent one kept"
else
    not_ok "logout" "status=$status after=$after" "$(db_query 'SELECT * FROM assignments')"
fi

status=$(login "$user" "$password")
token=$(cat "$tmp/token")
if connect_and_probe flex && connect_and_probe mine &&
   flex=$(read_marker flex-1) && mine=$(read_marker mine-1) &&
   [ "$flex" = "" ] && [ "$mine" = "MARK-$run_id" ]; then
    ok "after logout the stateless desktop's marker is gone; the persistent desktop's stays"
else
    not_ok "stateless reset / persistent keep" "flex='${flex:-?}' mine='${mine:-?}'"
fi

# A stateless desktop that powers off is reset too (orield's events).
resets=$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")
write_marker flex-1
"$console" "$ORIEL_RUNTIME_DIR/domains/flex-1/serial.sock" --timeout 30 "poweroff -f" >/dev/null 2>&1
for _ in $(seq 1 600); do
    [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")" -gt "$resets" ] && break
    sleep 0.1
done
if [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")" -gt "$resets" ] &&
   connect_and_probe flex && [ "$(read_marker flex-1)" = "" ]; then
    ok "a stateless desktop that powers off is reset: the marker is gone at the next connect"
else
    not_ok "power-off reset" "$(db_query "SELECT * FROM audit ORDER BY id DESC LIMIT 5")"
fi

# ---- a session that expires without a logout ------------------------------------------
# The broker restarts (same state) with 6-second sessions: the stateless
# desktop of a user whose last session expired is reset and freed.
api POST /api/logout "" "$token" >/dev/null
kill -TERM "$broker_pid"; wait "$broker_pid"; first_status=$?; broker_pid=""
sed -i '/^\[broker\]$/a session-lifetime = 6' "$tmp/broker.conf"
start_broker "$tmp/broker.conf" || exit 1
resets=$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")
login "$user" "$password" >/dev/null
token=$(cat "$tmp/token")
connect_and_probe flex
assigned=$(db_query "SELECT user FROM assignments WHERE desktop = 'flex-1'")
for _ in $(seq 1 300); do
    [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")" -gt "$resets" ] && break
    sleep 0.1
done
if [ "$first_status" -eq 0 ] && [ "$assigned" = "$user" ] &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'reset' AND detail = 'flex-1'")" -gt "$resets" ] &&
   [ "$(db_query "SELECT count(*) FROM assignments WHERE desktop = 'flex-1'")" = 0 ] &&
   [ "$(state_of flex-1)" = shutoff ] && [ "$(api GET /api/desktops "" "$token")" = 401 ]; then
    ok "after a restart, a stateless desktop whose user's session expired is stopped, reset and freed"
else
    not_ok "session expiry resets the stateless desktop" "first broker status $first_status, assigned '$assigned'" \
        "$(db_query "SELECT * FROM audit ORDER BY id DESC LIMIT 3")"
fi

# ---- lock-out --------------------------------------------------------------------
start_ms=$(date +%s%3N)
for i in 1 2 3; do login "$user" "wrong-$i" >"$tmp/status.$i"; done
elapsed=$(( $(date +%s%3N) - start_ms ))
status=$(login "$user" "$password")
if [ "$(cat "$tmp/status.1" "$tmp/status.2" "$tmp/status.3" | tr '\n' ' ')" = "401 401 401 " ] &&
   [ "$status" = 429 ] && grep -qi '^retry-after: [0-9]' "$tmp/headers" && [ "$elapsed" -ge 900 ] &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'lockout' AND user = '$user'")" = 1 ]; then
    ok "3 failures lock the account: the right password then gets 429 with Retry-After (audited)"
else
    not_ok "lock-out" "statuses $(cat "$tmp"/status.*) then $status; ${elapsed} ms" "$(cat "$tmp/headers")"
fi

# ---- the audit log is append-only --------------------------------------------------
if ! db_query "DELETE FROM audit" 2>/dev/null && ! db_query "UPDATE audit SET user = 'x'" 2>/dev/null &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'login-failed'")" -ge 4 ]; then
    ok "the audit log refuses UPDATE and DELETE"
else
    not_ok "the audit log refuses UPDATE and DELETE"
fi

check_broker_stops
finish_orield
exit $((failures != 0))
