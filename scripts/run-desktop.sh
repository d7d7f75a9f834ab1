#!/bin/sh
# The main job: installs what Oriel needs, builds it and the bundled test
# guest, and runs the guest as a SPICE desktop in the foreground with
# `orielctl create -F`.  It prints the SPICE URI and ticket; connect with any
# SPICE client (remote-viewer, spicy).  Ctrl-C powers the guest down.
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export ORIEL_GUEST_CACHE="${ORIEL_GUEST_CACHE:-$PWD/build-guest-cache}"

[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
meson compile -C build orielctl guest_image >/dev/null

guest_dir="$PWD/build/tests/guest"
sed "s|@GUEST_DIR@|$guest_dir|g" scripts/desktop.cfg.in > build/oriel-desktop.cfg
echo "Config: build/oriel-desktop.cfg (xl.cfg syntax); the guest's serial console is a root shell."
exec ./build/toolstack/orielctl create -F build/oriel-desktop.cfg
