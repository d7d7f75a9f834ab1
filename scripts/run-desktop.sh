#!/bin/bash
# The main job: installs what Oriel needs, builds it and the bundled test
# guest, and runs the guest as a SPICE desktop with `orielctl create -F`.
# Where a display exists ($DISPLAY), oriel-viewer shows the desktop.
# Headless, oriel-viewer takes a screenshot of it on a virtual X server
# (build/oriel-desktop.png) and the SPICE URI and ticket are printed for any
# SPICE client.  Ctrl-C powers the guest down.
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export ORIEL_GUEST_CACHE="${ORIEL_GUEST_CACHE:-$PWD/build-guest-cache}"

[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
meson compile -C build orielctl viewer/oriel-viewer:executable guest_image guest-console >/dev/null

guest_dir="$PWD/build/tests/guest"
sed "s|@GUEST_DIR@|$guest_dir|g" scripts/desktop.cfg.in > build/oriel-desktop.cfg
echo "Config: build/oriel-desktop.cfg (xl.cfg syntax); the guest's serial console is a root shell."

# orielctl runs in the background and writes the ticket to a private file;
# the viewer connects once the SPICE URI is printed.
tmp=$(mktemp -d)
viewer=""
trap '[ -n "$viewer" ] && kill "$viewer" 2>/dev/null; rm -rf "$tmp"' EXIT
mkfifo "$tmp/out"
./build/toolstack/orielctl create -F --ticket-file "$tmp/ticket" build/oriel-desktop.cfg >"$tmp/out" &
orielctl=$!
exec 3<"$tmp/out"
uri=""
runtime=""
while IFS= read -r -u 3 line; do
    case "$line" in
    "SPICE ticket: written to "*) continue ;;
    "SPICE URI: "*) uri=${line#SPICE URI: } ;;
    "Serial console: "*) runtime=${line#Serial console: }; runtime=${runtime%%/serial.sock*} ;;
    esac
    echo "$line"
    [ -n "$runtime" ] && break
done

# The test guest's display is a bare framebuffer console: give it a root
# shell with a greeting, so the desktop shows something to type into.
if [ -n "$runtime" ]; then
    ./build/tests/tools/guest-console "$runtime/serial.sock" --timeout 120 \
        'setsid sh -c "printf \"\033[2J\033[HOriel test guest: a root shell on the SPICE display.\n\n\" >/dev/tty1; exec sh -i </dev/tty1 >/dev/tty1 2>&1" &' \
        >/dev/null 2>&1 || true
fi

if [ -n "$uri" ] && [ -n "${DISPLAY:-}" ]; then
    ./build/viewer/oriel-viewer --password-file "$tmp/ticket" "$uri" &
    viewer=$!
elif [ -n "$uri" ]; then
    echo "SPICE ticket: $(cat "$tmp/ticket")"
    if xvfb-run -a ./build/viewer/oriel-viewer --password-file "$tmp/ticket" --no-audio \
           --screenshot build/oriel-desktop.png --exit-after-frames 1 --timeout 60 "$uri" \
           >/dev/null 2>&1; then
        echo "No display: oriel-viewer's screenshot of the desktop is build/oriel-desktop.png"
    else
        echo "No display, and oriel-viewer could not take a screenshot on a virtual X server"
    fi
fi
cat <&3 &
# Ctrl-C reaches orielctl itself (it powers the guest down); wait for it.
trap '' INT
status=0
wait "$orielctl" || status=$?
exit "$status"
