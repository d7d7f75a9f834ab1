#!/bin/bash
# orield without guests: single instance, socket permissions, the protocol's
# error replies (malformed JSON, oversize line, unknown command, wrong
# types), a client that never reads, many concurrent clients, peer
# credentials, the persistent store across a restart, orielctl's errors.
# TAP output.
here=$(dirname "$0")
. "$here/lib.sh"
client="$here/proto-client.py"
sock="$ORIEL_RUNTIME_DIR/orield.sock"

echo "1..19"

if start_orield; then ok "orield starts and says when it is ready"; else not_ok "orield starts"; exit 1; fi

"$orield" >"$tmp/second.out" 2>"$tmp/second.err"
status=$?
if [ "$status" -eq 1 ] && grep -q "another orield already serves $ORIEL_RUNTIME_DIR (pid $orield_pid)" "$tmp/second.err" &&
   kill -0 "$orield_pid"; then
    ok "a second orield of the same dirs is refused, naming the first"
else
    not_ok "a second orield of the same dirs is refused" "status=$status" "$(cat "$tmp/second.err")"
fi

mode=$(stat -c %a "$sock")
if [ "$mode" = 600 ]; then ok "the socket is 0600"; else not_ok "the socket is 0600" "mode $mode"; fi

check "malformed JSON, oversize line, unknown command, wrong types: an error reply each, the connection goes on" \
    python3 "$client" "$sock" bad-input
check "a client that never reads is dropped; the others are served" python3 "$client" "$sock" slow-reader
check "40 clients pipelining 25 requests each get every reply in order" python3 "$client" "$sock" concurrent
check "10 clients define and query concurrently while another follows every event" \
    python3 "$client" "$sock" concurrent-events "$guest"
# The dirs must let the other uid reach the socket; orield still refuses it.
chmod 711 "$tmp" "$ORIEL_RUNTIME_DIR"
check "a peer of another uid gets PermissionDenied (SO_PEERCRED)" python3 "$client" "$sock" other-uid
chmod 700 "$tmp" "$ORIEL_RUNTIME_DIR"

# orielctl's errors: one line, exit 1.
"$orielctl" start nope >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && grep -q "orielctl start: no domain named 'nope'" "$tmp/err"; then
    ok "orielctl start of a missing domain: one clear line, exit 1"
else
    not_ok "orielctl start of a missing domain" "status=$status" "$(cat "$tmp/err")"
fi

write_cfg "$tmp/bad.cfg" store-bad "memory = 8"
"$orielctl" define "$tmp/bad.cfg" >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && grep -q "memory: 8 MiB is below the minimum" "$tmp/err"; then
    ok "define of an invalid config fails with the config's message"
else
    not_ok "define of an invalid config" "status=$status" "$(cat "$tmp/err")"
fi

# The store: definitions survive a restart, written 0600.
write_cfg "$tmp/one.cfg" store-one
write_cfg "$tmp/two.cfg" store-two "vcpus = 2"
"$orielctl" define "$tmp/one.cfg" >/dev/null && "$orielctl" define "$tmp/two.cfg" >/dev/null
file="$ORIEL_CONFIG_DIR/domains/store-two.json"
if [ "$(stat -c %a "$file" 2>/dev/null)" = 600 ] && python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['name']=='store-two' and c['vcpus']==2" "$file"; then
    ok "define writes CONFIG/domains/NAME.json (0600, the config as JSON)"
else
    not_ok "define writes CONFIG/domains/NAME.json" "$(ls -l "$ORIEL_CONFIG_DIR/domains")"
fi

kill -TERM "$orield_pid"
wait "$orield_pid"
status=$?
orield_pid=""
if [ "$status" -eq 0 ] && [ ! -e "$sock" ]; then
    ok "SIGTERM: orield exits 0 and removes its socket"
else
    not_ok "SIGTERM: orield exits 0 and removes its socket" "status=$status"
fi

"$orielctl" list >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && grep -q "cannot reach orield" "$tmp/err"; then
    ok "orielctl without a daemon: a clear error, exit 1"
else
    not_ok "orielctl without a daemon" "status=$status" "$(cat "$tmp/err")"
fi

start_orield
"$orielctl" list >"$tmp/list" 2>&1
if grep -q "^store-one .* shutoff" "$tmp/list" && grep -q "^store-two .* 2 shutoff" "$tmp/list"; then
    ok "a restarted orield lists the stored definitions"
else
    not_ok "a restarted orield lists the stored definitions" "$(cat "$tmp/list")"
fi

"$orielctl" undefine store-one >/dev/null
if [ ! -e "$ORIEL_CONFIG_DIR/domains/store-one.json" ] && [ "$(state_of store-one)" = absent ] &&
   [ "$(state_of store-two)" = shutoff ]; then
    ok "undefine removes the definition and its file"
else
    not_ok "undefine removes the definition and its file" "$("$orielctl" list 2>&1)"
fi

"$orielctl" rename store-two store-2 >/dev/null 2>&1
"$orielctl" rename store-2 ev-01 >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$(state_of store-2)" = shutoff ] && [ "$(state_of store-two)" = absent ] &&
   [ -e "$ORIEL_CONFIG_DIR/domains/store-2.json" ] && [ ! -e "$ORIEL_CONFIG_DIR/domains/store-two.json" ] &&
   grep -q '"name" : "store-2"' "$ORIEL_CONFIG_DIR/domains/store-2.json" &&
   [ "$status" -eq 1 ] && grep -q "a domain named 'ev-01' exists already" "$tmp/err"; then
    ok "rename moves the definition; renaming onto a taken name is refused"
else
    not_ok "rename" "$("$orielctl" list 2>&1)" "$(cat "$tmp/err")"
fi

"$orielctl" log store-2 >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && grep -q "'store-2' has no device-model log (it is shutoff)" "$tmp/err"; then
    ok "log of a stopped domain: a clear error"
else
    not_ok "log of a stopped domain" "status=$status" "$(cat "$tmp/err")"
fi

# orielctl starts a daemon on demand (session mode's default; forced here).
finish_orield
ORIEL_AUTOSTART=1 "$orielctl" list >"$tmp/out" 2>"$tmp/err"
status=$?
started=$(cat "$ORIEL_RUNTIME_DIR/orield.lock" 2>/dev/null)
[ -n "$started" ] && pids_to_kill+=("$started")
if [ "$status" -eq 0 ] && grep -q "^store-2 " "$tmp/out" && [ -n "$started" ] && kill -0 "$started" 2>/dev/null &&
   tr '\0' ' ' <"/proc/$started/cmdline" | grep -q "hypervisor/orield"; then
    ok "with no daemon, orielctl starts one on demand and waits for it"
else
    not_ok "orielctl starts a daemon on demand" "status=$status" "$(cat "$tmp/out" "$tmp/err")"
fi
[ -n "$started" ] && kill "$started" 2>/dev/null

[ "$failures" -eq 0 ]
