#!/bin/sh
# Installs what Oriel needs to build, run and test on Debian 12, as root.
# Quiet when everything is there already.
set -eu

packages="
  build-essential meson ninja-build pkg-config clang libfuzzer-14-dev
  libglib2.0-dev libjson-glib-dev libspice-protocol-dev libspice-server-dev
  libspice-client-glib-2.0-dev libspice-client-gtk-3.0-dev libgtk-3-dev
  libusbredirparser-dev libusbredirhost-dev libusb-1.0-0-dev
  libsoup-3.0-dev
  qemu-system-x86 qemu-utils seabios ovmf
  busybox-static kmod cpio gzip xz-utils zstd dpkg-dev musl-tools
  xvfb xauth xfonts-base xdotool xclip openssl python3 procps iproute2
  libx11-dev libxfixes-dev libxrandr-dev x11-xserver-utils xserver-xephyr
  openbox x11-utils
  pulseaudio pulseaudio-utils libpulse-dev
  gstreamer1.0-pulseaudio gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libpam0g-dev libsqlite3-dev sqlite3 curl passwd virt-viewer libgnutls28-dev
"

# The test guest is built from the kernel and busybox packages the apt lists
# name; lists older than a day may name versions the mirror no longer has.
if [ "$(id -u)" = 0 ] &&
   [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    echo "install-deps: refreshing the apt lists"
    apt-get update -qq
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages:$missing; run as root to install them" >&2
        exit 1
    fi
    echo "install-deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi
