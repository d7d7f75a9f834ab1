#!/bin/bash
# The user's view: the test guest runs as a SPICE desktop started by
# orielctl create -F, and a real SPICE client (spice-probe, on
# spice-client-glib) connects: the wrong ticket is refused, the right one
# gets the guest's primary display surface, and the screen is not blank.
# TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
probe="$build/tests/tools/spice-probe"

tmp=$(mktemp -d /tmp/oriel-e2e.XXXXXX)
export ORIEL_RUNTIME_DIR="$tmp/run"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"
create=""
cleanup() {
    kill_desktop e2e-desk
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "1..6"

cat > "$tmp/desk.cfg" <<CFG
name = "e2e-desk"
memory = 256
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
vga = "qxl"
spice = 1
spicehost = "127.0.0.1"
spicevdagent = 1
CFG

start_desktop "$tmp/desk.cfg" --shutdown-timeout 120
if [[ "$uri" =~ ^spice://127\.0\.0\.1:[0-9]+$ ]] && [ -s "$tmp/ticket" ]; then
    ok "orielctl create -F started the desktop with a generated ticket ($uri)"
else
    not_ok "orielctl create -F started the desktop with a generated ticket" "$(cat "$tmp/create.err")"
    exit 1
fi

printf 'not-the-ticket' > "$tmp/wrong"
if "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/wrong" --timeout 60 \
       --expect auth-failure >"$tmp/probe.out" 2>"$tmp/probe.err"; then
    ok "a wrong ticket is refused"
else
    not_ok "a wrong ticket is refused" "$(cat "$tmp/probe.out" "$tmp/probe.err")"
fi

if "$probe" --host 127.0.0.1 --port "$port" --timeout 60 --expect auth-failure \
       >"$tmp/probe.out" 2>"$tmp/probe.err"; then
    ok "no ticket at all is refused"
else
    not_ok "no ticket at all is refused" "$(cat "$tmp/probe.out" "$tmp/probe.err")"
fi

# The guest boots while we connect; the primary surface exists from the
# first mode set, so the client sees it without waiting for the shell.
if "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/ticket" --timeout 120 \
       --wait-nonblank --screenshot "$tmp/screen.ppm" >"$tmp/probe.out" 2>"$tmp/probe.err" &&
   grep -q '"connected":true' "$tmp/probe.out"; then
    width=$(sed -n 's/.*"width":\([0-9]*\).*/\1/p' "$tmp/probe.out")
    height=$(sed -n 's/.*"height":\([0-9]*\).*/\1/p' "$tmp/probe.out")
    if [ "${width:-0}" -gt 0 ] && [ "${height:-0}" -gt 0 ]; then
        ok "the right ticket gets the primary display surface (${width}x${height})"
    else
        not_ok "the right ticket gets the primary display surface" "$(cat "$tmp/probe.out")"
    fi
else
    not_ok "the right ticket gets the primary display surface" "$(cat "$tmp/probe.out" "$tmp/probe.err")"
fi

# A blank screen would be one colour: the guest's console text is not.
if [ -s "$tmp/screen.ppm" ] && python3 - "$tmp/screen.ppm" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
# P6 header: magic, width, height, maxval, then pixels
parts = data.split(b'\n', 3)
pixels = parts[3] if len(parts) == 4 else b''
colours = {pixels[i:i + 3] for i in range(0, min(len(pixels), 3 * 2000000), 3 * 7)}
sys.exit(0 if len(colours) > 1 else 1)
PY
then
    ok "the screenshot of the surface is not blank"
else
    not_ok "the screenshot of the surface is not blank"
fi

# Ctrl-C presses the power button of the booted guest: orielctl exits 0.
"$build/tests/tools/guest-console" "$ORIEL_RUNTIME_DIR/domains/e2e-desk/serial.sock" \
    --timeout 180 --wait-ready >/dev/null 2>&1
stop_desktop
if [ "$status" -eq 0 ] && grep -q "ended: poweroff" "$tmp/create.err"; then
    ok "Ctrl-C powers the desktop down (exit 0)"
else
    not_ok "Ctrl-C powers the desktop down (exit 0)" "status=$status" "$(cat "$tmp/create.err")"
fi

[ "$failures" -eq 0 ]
