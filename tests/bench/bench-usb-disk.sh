#!/bin/bash
# Sequential read of 64 MiB in the test guest (dd, O_DIRECT, 1 MiB blocks)
# through the emulated USB disk (oriel-usbdisk over usbredir), against
# QEMU's own usb-storage device on the same image in the same guest and
# run: the ceiling, a USB disk with no redirection at all.  Both are
# high-speed devices on one xHCI controller.  Prints MB/s of each and the
# ratio (target: at least 0.7); also the same emulated disk at super speed
# (--speed super on the xHCI's USB 3 ports), for information.
#
#   bench-usb-disk.sh BUILD_DIR [ROUNDS]
set -u

build=${1:-${ORIEL_BUILD_DIR:?usage: bench-usb-disk.sh BUILD_DIR [ROUNDS]}}
rounds=${2:-3}
guest=${ORIEL_GUEST_DIR:-$build/tests/guest}
source_dir=${ORIEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

for tool in qemu-system-x86_64 awk; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench-usb-disk: $tool is missing (scripts/install-deps.sh installs it)" >&2
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/oriel-usbbench.XXXXXX)
super_pid=""
# shellcheck source=../e2e/usbdisk-lib.sh
. "$source_dir/tests/e2e/usbdisk-lib.sh"
cleanup() {
    [ -n "$qemu_pid" ] && kill -9 "$qemu_pid" 2>/dev/null
    [ -n "$helper_pid" ] && kill -9 "$helper_pid" 2>/dev/null
    [ -n "$super_pid" ] && kill -9 "$super_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "bench-usb-disk: $1" >&2
    tail -n 20 "$tmp"/*.log >&2 2>/dev/null
    exit 1
}

head -c 64M /dev/urandom >"$tmp/disk.img"
start_helper super --image "$tmp/disk.img" --read-only --speed super ||
    fail "oriel-usbdisk --speed super did not start"
super_pid=$helper_pid
start_helper bench --image "$tmp/disk.img" --read-only || fail "oriel-usbdisk did not start"
start_qemu bench qemu-xhci,p2=4,p3=4 \
    -drive "if=none,id=native0,file=$tmp/disk.img,format=raw,readonly=on" \
    -device usb-storage,drive=native0,bus=usb.0 \
    -chardev "socket,id=usbdisk1,path=$tmp/super.sock" \
    -device usb-redir,chardev=usbdisk1,id=usbdisk1,bus=usb.0
wait_guest_disk bench sdc >/dev/null 2>&1 || fail "the guest did not get the three disks"

# Which sdX is which: the SCSI vendor and the USB speed of each.
devices=$(guest bench 'for b in /sys/block/sd*; do echo "${b##*/} $(cat $b/device/vendor) $(cat $(readlink -f $b/device)/../../../../speed)"; done')
redir=$(echo "$devices" | awk '$2 == "Oriel" && $3 == 480 { print $1 }')
super=$(echo "$devices" | awk '$2 == "Oriel" && $3 == 5000 { print $1 }')
native=$(echo "$devices" | awk '$2 == "QEMU" { print $1 }')
[ -n "$redir" ] && [ -n "$super" ] && [ -n "$native" ] || fail "cannot tell the disks apart: $devices"

# Seconds (to 10 ms, from /proc/uptime) for one 64 MiB read of /dev/$1.
read_seconds() {
    guest bench "read a _ </proc/uptime; dd if=/dev/$1 of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null; read b _ </proc/uptime; echo \$a \$b" |
        awk '{ printf "%.2f\n", $2 - $1 }'
}

redir_total=0 native_total=0 super_total=0
for round in $(seq "$rounds"); do
    # Interleaved, so drift in the machine's load hits all alike.
    n=$(read_seconds "$native") || fail "native read failed"
    r=$(read_seconds "$redir") || fail "usbredir read failed"
    s=$(read_seconds "$super") || fail "usbredir super-speed read failed"
    echo "round $round: usb-storage ${n}s, oriel-usbdisk ${r}s, oriel-usbdisk super speed ${s}s"
    native_total=$(awk -v a="$native_total" -v b="$n" 'BEGIN { print a + b }')
    redir_total=$(awk -v a="$redir_total" -v b="$r" 'BEGIN { print a + b }')
    super_total=$(awk -v a="$super_total" -v b="$s" 'BEGIN { print a + b }')
done
stop_qemu
stop_helper
helper_pid=$super_pid super_pid=""
stop_helper

awk -v n="$native_total" -v r="$redir_total" -v s="$super_total" -v k="$rounds" 'BEGIN {
    if (n <= 0 || r <= 0 || s <= 0) { print "bench-usb-disk: no time measured"; exit 1 }
    native = 64 * k / n; redir = 64 * k / r; super = 64 * k / s
    printf "QEMU usb-storage, high speed (reference): %.1f MB/s\n", native
    printf "oriel-usbdisk over usbredir, high speed:  %.1f MB/s\n", redir
    printf "oriel-usbdisk over usbredir, super speed: %.1f MB/s\n", super
    printf "ratio: %.2f (target >= 0.70); super speed: %.2f\n", redir / native, super / native
}'
