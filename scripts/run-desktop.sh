#!/bin/bash
# The main job: installs what Oriel needs, builds it and the bundled test
# guest, and runs the guest as a SPICE desktop with `orielctl create -F`.
# Where a display exists ($DISPLAY), oriel-viewer shows the desktop;
# otherwise (headless) the SPICE URI and ticket are printed for any SPICE
# client.  Ctrl-C powers the guest down.
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export ORIEL_GUEST_CACHE="${ORIEL_GUEST_CACHE:-$PWD/build-guest-cache}"

[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
meson compile -C build orielctl viewer/oriel-viewer:executable guest_image >/dev/null

guest_dir="$PWD/build/tests/guest"
sed "s|@GUEST_DIR@|$guest_dir|g" scripts/desktop.cfg.in > build/oriel-desktop.cfg
echo "Config: build/oriel-desktop.cfg (xl.cfg syntax); the guest's serial console is a root shell."

if [ -z "${DISPLAY:-}" ]; then
    exec ./build/toolstack/orielctl create -F build/oriel-desktop.cfg
fi

# With a display: orielctl in the background writes the ticket to a private
# file, and the viewer connects once the SPICE URI is printed.
tmp=$(mktemp -d)
viewer=""
trap '[ -n "$viewer" ] && kill "$viewer" 2>/dev/null; rm -rf "$tmp"' EXIT
mkfifo "$tmp/out"
./build/toolstack/orielctl create -F --ticket-file "$tmp/ticket" build/oriel-desktop.cfg >"$tmp/out" &
orielctl=$!
exec 3<"$tmp/out"
uri=""
while IFS= read -r -u 3 line; do
    echo "$line"
    case "$line" in "SPICE URI: "*) uri=${line#SPICE URI: }; break ;; esac
done
if [ -n "$uri" ]; then
    ./build/viewer/oriel-viewer --password-file "$tmp/ticket" "$uri" &
    viewer=$!
fi
cat <&3 &
# Ctrl-C reaches orielctl itself (it powers the guest down); wait for it.
trap '' INT
status=0
wait "$orielctl" || status=$?
exit "$status"
