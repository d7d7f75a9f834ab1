#!/bin/bash
# oriel-viewer NAME: the viewer asks the local orield for a domain's SPICE
# address and a fresh one-time ticket, under Xvfb, against the test guest
# run by orield.  TAP output.
source "$ORIEL_SOURCE_DIR/tests/lib.sh"
source "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"

viewer="$build/viewer/oriel-viewer"
use_lsan_suppressions viewer/lsan.supp
export NO_AT_BRIDGE=1 GDK_BACKEND=x11

echo "1..6"

start_xvfb 1280x1024x24 || bail_out "Xvfb did not start: $(cat "$tmp/xvfb.log")"

start_orield || { echo "Bail out! orield did not start"; exit 1; }
write_cfg "$tmp/desk.cfg" viewer-dom-desk 'vga = "qxl"'
check "orielctl define and start run the desktop through orield" \
    eval '"$orielctl" define "$tmp/desk.cfg" && "$orielctl" start viewer-dom-desk'


run_viewer() { # OUT-PREFIX
    timeout 120 "$viewer" viewer-dom-desk --no-audio --screenshot "$1.png" --exit-after-frames 1 \
        --timeout 60 >"$1.out" 2>"$1.err"
}
if run_viewer "$tmp/first" && [ -s "$tmp/first.png" ]; then
    ok "oriel-viewer NAME connects with a ticket from orield and shows a frame"
else
    not_ok "oriel-viewer NAME connects with a ticket from orield and shows a frame" "$(cat "$tmp/first.err")"
fi
# Each connection gets its own ticket: the first one has been replaced.
if run_viewer "$tmp/second" && [ -s "$tmp/second.png" ]; then
    ok "a second connection gets a fresh ticket"
else
    not_ok "a second connection gets a fresh ticket" "$(cat "$tmp/second.err")"
fi

# The domain restarts under the viewer: a new QEMU with a new ticket.  The
# viewer reconnects by asking orield for a fresh ticket.
count_connected() { grep -c '"event":"connected"' "$tmp/long.out" 2>/dev/null; }
# spice-gtk warns (g_warning) when the server vanishes mid-link, which is
# the point here, so this run is not under G_DEBUG=fatal-warnings.
env -u G_DEBUG "$viewer" viewer-dom-desk --no-audio --events --reconnect-timeout 120 \
    >"$tmp/long.out" 2>"$tmp/long.err" &
long=$!
pids_to_kill+=("$long")
for _ in $(seq 600); do [ "$(count_connected)" -ge 1 ] && break; sleep 0.1; done
"$orielctl" destroy viewer-dom-desk >/dev/null 2>&1
"$orielctl" start viewer-dom-desk >/dev/null 2>&1
for _ in $(seq 1200); do [ "$(count_connected)" -ge 2 ] && break; sleep 0.1; done
if [ "$(count_connected)" -ge 2 ] && grep -q '"event":"reconnecting"' "$tmp/long.out"; then
    ok "after the domain restarts, the viewer reconnects with a fresh ticket"
else
    not_ok "after the domain restarts, the viewer reconnects with a fresh ticket" \
        "$(cat "$tmp/long.out" "$tmp/long.err")"
fi
kill "$long" 2>/dev/null
wait "$long" 2>/dev/null

timeout 60 "$viewer" no-such-desk --no-audio --timeout 10 >"$tmp/none.out" 2>"$tmp/none.err"
status=$?
if [ "$status" -eq 1 ] && grep -q "no-such-desk" "$tmp/none.err"; then
    ok "an unknown domain name is a clear error"
else
    not_ok "an unknown domain name is a clear error" "status=$status" "$(cat "$tmp/none.err")"
fi

"$orielctl" destroy viewer-dom-desk >/dev/null 2>&1
"$orielctl" undefine viewer-dom-desk >/dev/null 2>&1
finish_orield
[ "$failures" -eq 0 ]
