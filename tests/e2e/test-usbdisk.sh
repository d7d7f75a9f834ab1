#!/bin/bash
# The emulated USB disk end to end: oriel-usbdisk serves a raw image over
# usbredir to a real QEMU's usb-redir device, and the test guest's own
# usb-storage and sd drivers use it.
#  - the helper's command line: bad images and sockets fail clearly, a
#    stale socket is replaced, the socket is 0600, --fd serves a socket the
#    parent listens on; a served image is locked against other writers;
#    --image-fd serves an image the parent opened (as orield does), locked
#    the same way, and refuses one opened read-only for a read-write disk;
#  - xHCI, high speed, read-write: the guest enumerates the device, reads
#    the image with the same SHA-256, writes a block that is in the image
#    afterwards; a second QEMU reconnecting to the same helper reads it back;
#  - xHCI, super speed, read-only: write protect seen, writes fail, image
#    untouched;
#  - EHCI, high speed: the same SHA-256.
# TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}

tmp=$(mktemp -d /tmp/oriel-usbdisk.XXXXXX)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"
# shellcheck source-path=SCRIPTDIR source=usbdisk-lib.sh
. "$source_dir/tests/e2e/usbdisk-lib.sh"
cleanup() {
    kill_pids "$qemu_pid" "$helper_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
require_tools qemu-system-x86_64 python3 sha256sum
# check's diagnostics: the last 30 lines of each file (the logs are long).
check_tail=30

echo "1..23"

# ---- the command line ----------------------------------------------------------

head -c 1000 /dev/zero >"$tmp/odd.img"
"$usbdisk" --image "$tmp/odd.img" --listen "$tmp/x.sock" 2>"$tmp/odd.err"
status=$?
check "an image that is not whole 512-byte blocks is refused (exit $status)" "$tmp/odd.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "odd.img.*not a multiple of 512" "$tmp/odd.err" && [ ! -e "$tmp/x.sock" ]'

"$usbdisk" --image "$tmp/missing.img" --listen "$tmp/x.sock" 2>"$tmp/missing.err"
status=$?
check "a missing image is refused, naming it (exit $status)" "$tmp/missing.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "missing.img" "$tmp/missing.err"'

head -c 1M /dev/zero >"$tmp/zero.img"
echo "precious" >"$tmp/regular"
"$usbdisk" --image "$tmp/zero.img" --listen "$tmp/regular" 2>"$tmp/regular.err"
status=$?
check "--listen on a path that is not a socket fails and leaves it alone (exit $status)" \
    "$tmp/regular.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "not a socket" "$tmp/regular.err" && [ "$(cat "$tmp/regular")" = precious ]'

# A socket file nobody listens on any more, as a crashed helper leaves it.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/stale.sock"
start_helper stale --image "$tmp/zero.img"
mode=$(stat -c %a "$tmp/stale.sock" 2>/dev/null)
check "a stale socket is replaced; the new one is mode 0600 (mode $mode)" "$tmp/stale.helper.log" -- \
    eval '[ "$mode" = 600 ] && kill -0 "$helper_pid"'

"$usbdisk" --image "$tmp/zero.img" --listen "$tmp/stale.sock" 2>"$tmp/inuse.err"
status=$?
check "a socket another helper listens on is not taken over (exit $status)" "$tmp/inuse.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "another process" "$tmp/inuse.err" && [ -S "$tmp/stale.sock" ]'
# The image is locked the way QEMU locks its own: no second writer, be it
# another helper or a QEMU drive.
"$usbdisk" --image "$tmp/zero.img" --read-only --listen "$tmp/y.sock" 2>"$tmp/lock.err"
status=$?
check "an image a helper serves read-write cannot be served again (exit $status)" "$tmp/lock.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "zero.img: the image is in use" "$tmp/lock.err"'
env -u G_DEBUG timeout 60 qemu-system-x86_64 -S -nodefaults -no-user-config -display none \
    -drive "if=none,id=d0,file=$tmp/zero.img,format=raw" -device virtio-blk-pci,drive=d0 \
    >"$tmp/lock.qemu" 2>&1
status=$?
check "nor opened read-write by QEMU (exit $status)" "$tmp/lock.qemu" -- \
    eval '[ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "lock" "$tmp/lock.qemu"'
stop_helper
check "SIGTERM: exit 0 (got $helper_status)" "$tmp/stale.helper.log" -- \
    eval '[ "$helper_status" = 0 ]'

"$usbdisk" --image "$tmp/zero.img" --fd 0 </dev/null 2>"$tmp/fd.err"
status=$?
check "--fd that is not a listening socket is refused (exit $status)" "$tmp/fd.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q -- "--fd 0" "$tmp/fd.err"'

# --image-fd: the parent opens the image and hands it over, as orield does.
"$usbdisk" --image-fd 5 --image-name "$tmp/zero.img" --listen "$tmp/ro.sock" 5<"$tmp/zero.img" 2>"$tmp/rofd.err"
status=$?
check "--image-fd open read-only for a read-write disk is refused (exit $status)" "$tmp/rofd.err" -- \
    eval '[ "$status" -ne 0 ] && grep -q "zero.img): not open for reading and writing" "$tmp/rofd.err" && [ ! -e "$tmp/ro.sock" ]'

# Once the shell closed its copy, only the helper's descriptor holds the
# locks: they hold while it serves, and end with it.
start_helper imagefd --image-fd 5 --image-name "$tmp/zero.img" 5<>"$tmp/zero.img"
"$usbdisk" --image "$tmp/zero.img" --read-only --listen "$tmp/y.sock" 2>"$tmp/fdlock.err"
status=$?
stop_helper
start_helper free --image "$tmp/zero.img"
free_started=$?
stop_helper
check "--image-fd: the image is locked while the helper serves it, free after (exit $status, then $free_started)" \
    "$tmp/fdlock.err" "$tmp/imagefd.helper.log" "$tmp/free.helper.log" -- \
    eval '[ "$status" -ne 0 ] && grep -q "zero.img: the image is in use" "$tmp/fdlock.err" &&
          grep -q "serving $tmp/zero.img (1048576 bytes, read-write" "$tmp/imagefd.helper.log" &&
          [ "$free_started" = 0 ] && [ "$helper_status" = 0 ]'

# --fd: the parent listens and hands the socket over, as orield does; the
# helper's first words on a connection are a usbredir hello.
python3 - "$usbdisk" "$tmp/zero.img" "$tmp/fd.sock" >"$tmp/fd.out" 2>&1 <<'PY'
import os, signal, socket, struct, subprocess, sys
usbdisk, image, path = sys.argv[1:4]
ls = socket.socket(socket.AF_UNIX)
ls.bind(path)
ls.listen(1)
p = subprocess.Popen([usbdisk, "--image", image, "--fd", str(ls.fileno())], pass_fds=[ls.fileno()])
c = socket.socket(socket.AF_UNIX)
c.connect(path)
c.settimeout(30)
data = b""
while len(data) < 12 + 64:
    chunk = c.recv(4096)
    if not chunk:
        break
    data += chunk
kind, length = struct.unpack("<II", data[:8])
version = data[12:12 + 64].split(b"\0")[0].decode()
print("hello", kind, version)
p.send_signal(signal.SIGTERM)
sys.exit(0 if kind == 0 and version.startswith("oriel-usbdisk") and p.wait(30) == 0 else 1)
PY
status=$?
check "--fd: serves a socket the parent listens on; a usbredir hello comes first" "$tmp/fd.out" -- \
    eval '[ "$status" -eq 0 ]'

# ---- xHCI, high speed, read-write -----------------------------------------------

head -c 8M /dev/urandom >"$tmp/disk.img"
sum=$(sha256sum <"$tmp/disk.img" | cut -d' ' -f1)
start_helper rw --image "$tmp/disk.img" --serial ORIELTEST0001
start_qemu rw qemu-xhci,p2=4,p3=4
if wait_guest_disk rw sda >"$tmp/rw.wait" 2>&1; then
    ok "xHCI: the guest's usb-storage driver attaches the disk (/dev/sda)"
else
    not_ok "xHCI: the guest's usb-storage driver attaches the disk (/dev/sda)" \
        "$(cat "$tmp/rw.helper.log" "$tmp/rw.qemu.log" "$tmp/rw.wait")"
fi
guest rw 'for d in /sys/bus/usb/devices/*; do [ "$(cat $d/idVendor 2>/dev/null)" = 1209 ] && echo "$(cat $d/product) $(cat $d/serial) $(cat $d/speed)"; done' \
    >"$tmp/rw.usb" 2>&1
check "enumerated as \"Oriel USB Disk\", its serial, at 480 Mb/s ($(cat "$tmp/rw.usb"))" "$tmp/rw.usb" -- \
    grep -qx "Oriel USB Disk ORIELTEST0001 480" "$tmp/rw.usb"
guest rw "sha256sum /dev/sda" >"$tmp/rw.sum" 2>&1
check "the guest reads the image with the same SHA-256" "$tmp/rw.sum" "$tmp/rw.helper.log" -- \
    grep -q "^$sum " "$tmp/rw.sum"
guest rw 'printf "ORIEL-USB-WRITE-%s\n" 42 >/tmp/pattern &&
    dd if=/tmp/pattern of=/dev/sda bs=512 seek=2048 conv=sync,fsync 2>&1 && sync &&
    cat /sys/block/sda/ro && dmesg | grep -c "reset high-speed USB device" ; true' >"$tmp/rw.dd" 2>&1
# QEMU dies in the middle of a read: the helper must shrug it off.
guest rw 'while dd if=/dev/sda of=/dev/null bs=64k iflag=direct 2>/dev/null; do :; done &' >/dev/null 2>&1
sleep 0.5
kill -KILL "$qemu_pid"
wait "$qemu_pid" 2>/dev/null
qemu_pid=""
python3 - "$tmp/disk.img" "$tmp/rw.expected" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
block = b"ORIEL-USB-WRITE-42\n".ljust(512, b"\0")
data[2048 * 512:2049 * 512] = block
open(sys.argv[2], "wb").write(data)
PY
check "the guest's write (dd, sync) is in the image after QEMU was killed mid-read; no bus reset was needed" \
    "$tmp/rw.dd" "$tmp/rw.helper.log" -- \
    eval 'cmp -s "$tmp/disk.img" "$tmp/rw.expected" && [ "$(tail -n 1 "$tmp/rw.dd")" = 0 ] && kill -0 "$helper_pid"'

# The helper waits for the next connection: a new QEMU reads the block back.
usb_socket=rw start_qemu rw2 qemu-xhci
wait_guest_disk rw2 sda >"$tmp/rw2.wait" 2>&1
guest rw2 'dd if=/dev/sda bs=512 skip=2048 count=1 2>/dev/null | head -c 18' >"$tmp/rw2.read" 2>&1
check "reconnect: a second QEMU on the same helper reads the written block back" \
    "$tmp/rw2.read" "$tmp/rw.helper.log" -- \
    eval '[ "$(cat "$tmp/rw2.read")" = ORIEL-USB-WRITE-42 ]'
stop_qemu
stop_helper
check "the helper served both connections and exits 0 on SIGTERM (got $helper_status)" \
    "$tmp/rw.helper.log" -- \
    eval '[ "$helper_status" = 0 ] && [ "$(grep -c "peer connected" "$tmp/rw.helper.log")" -ge 2 ]'

# ---- xHCI, super speed, read-only -----------------------------------------------

sum=$(sha256sum <"$tmp/disk.img" | cut -d' ' -f1)
start_helper ro --image "$tmp/disk.img" --read-only --speed super
start_qemu ro qemu-xhci,p2=4,p3=4
wait_guest_disk ro sda >"$tmp/ro.wait" 2>&1
guest ro 'for d in /sys/bus/usb/devices/*; do [ "$(cat $d/idVendor 2>/dev/null)" = 1209 ] && cat $d/speed; done; cat /sys/block/sda/ro' \
    >"$tmp/ro.state" 2>&1
check "super speed on xHCI (5000 Mb/s) and write protect seen by the guest ($(tr '\n' ' ' <"$tmp/ro.state"))" \
    "$tmp/ro.state" "$tmp/ro.helper.log" -- \
    eval '[ "$(tr "\n" " " <"$tmp/ro.state")" = "5000 1 " ]'
# (The device's own DATA PROTECT answer to a WRITE is in the unit tests: the
# guest's sd driver honours the write-protect bit and never sends one.)
guest ro 'dd if=/dev/zero of=/dev/sda bs=512 count=1 conv=fsync 2>&1; echo "exit $?"' \
    >"$tmp/ro.dd" 2>&1
guest ro "sha256sum /dev/sda" >"$tmp/ro.sum" 2>&1
check "read-only: the guest's writes fail" "$tmp/ro.dd" -- \
    eval '[ "$(grep -c "^exit 1$" "$tmp/ro.dd")" = 1 ]'
check "read-only: the guest reads the same SHA-256" "$tmp/ro.sum" -- grep -q "^$sum " "$tmp/ro.sum"
stop_qemu
stop_helper
check "read-only: the image is untouched; the helper exits 0 (got $helper_status)" "$tmp/ro.helper.log" -- \
    eval '[ "$(sha256sum <"$tmp/disk.img" | cut -d" " -f1)" = "$sum" ] && [ "$helper_status" = 0 ]'

# ---- EHCI, high speed -------------------------------------------------------------

start_helper ehci --image "$tmp/disk.img" --read-only
start_qemu ehci ich9-usb-ehci1
wait_guest_disk ehci sda >"$tmp/ehci.wait" 2>&1
guest ehci "sha256sum /dev/sda" >"$tmp/ehci.sum" 2>&1
check "EHCI: the guest reads the same SHA-256" "$tmp/ehci.sum" "$tmp/ehci.helper.log" "$tmp/ehci.qemu.log" -- \
    grep -q "^$sum " "$tmp/ehci.sum"
stop_qemu
stop_helper

exit $((failures > 0))
