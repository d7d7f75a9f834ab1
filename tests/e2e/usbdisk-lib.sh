# Shared by test-usbdisk.sh and bench-usb-disk.sh: start oriel-usbdisk and a
# QEMU running the test guest with a usb-redir device connected to it.
# Needs $build, $guest and $tmp; sets $helper_pid and $qemu_pid.
# shellcheck shell=bash

usbdisk="$build/devmodel/oriel-usbdisk"
console="$build/tests/tools/guest-console"
helper_pid="" qemu_pid=""

# start_helper NAME ARGS...: the helper listening on $tmp/NAME.sock, its
# stderr in $tmp/NAME.helper.log.
start_helper() {
    local name=$1
    shift
    rm -f "$tmp/$name.sock"
    "$usbdisk" --listen "$tmp/$name.sock" "$@" 2>"$tmp/$name.helper.log" &
    helper_pid=$!
    # The socket exists once it listens; QEMU must not race it.
    local i
    for i in $(seq 100); do
        [ -S "$tmp/$name.sock" ] && return 0
        kill -0 "$helper_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_qemu NAME CONTROLLER [QEMU ARGS...]: the test guest with a USB
# controller (-device CONTROLLER,id=usb) and a usb-redir device on the
# helper's socket $tmp/NAME.sock ($usb_socket instead of NAME if set);
# serial console on $tmp/NAME.serial.
start_qemu() {
    local name=$1 controller=$2
    shift 2
    # QEMU runs without G_DEBUG=fatal-warnings, which is for our programs.
    env -u G_DEBUG qemu-system-x86_64 -name "guest=oriel-usbdisk-$name,debug-threads=on" \
        -nodefaults -no-user-config -display none -machine q35 -accel tcg -m 256 \
        -kernel "$guest/vmlinux" -initrd "$guest/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet" \
        -chardev "socket,id=serial0,path=$tmp/$name.serial,server=on,wait=off" \
        -serial chardev:serial0 \
        -device "$controller,id=usb" \
        -chardev "socket,id=usbdisk0,path=$tmp/${usb_socket:-$name}.sock" \
        -device usb-redir,chardev=usbdisk0,id=usbdisk0,bus=usb.0 \
        "$@" >"$tmp/$name.qemu.log" 2>&1 &
    qemu_pid=$!
}

# guest NAME COMMAND: runs COMMAND in the guest's shell, prints its output.
guest() {
    "$console" "$tmp/$1.serial" --timeout 120 "$2"
}

# wait_guest_disk NAME DEV: waits for the guest's shell, then for /dev/DEV.
wait_guest_disk() {
    "$console" "$tmp/$1.serial" --timeout 240 --wait-ready >/dev/null &&
        guest "$1" "i=0; while [ ! -b /dev/$2 ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; [ -b /dev/$2 ]"
}

# stop_qemu: powers the guest off the hard way (the image is the helper's
# to sync) and waits for QEMU to go.
stop_qemu() {
    if [ -n "$qemu_pid" ]; then
        kill -TERM "$qemu_pid" 2>/dev/null
        wait "$qemu_pid" 2>/dev/null
        qemu_pid=""
    fi
}

# stop_helper: SIGTERM, then its exit status in $helper_status.
stop_helper() {
    helper_status=""
    if [ -n "$helper_pid" ]; then
        kill -TERM "$helper_pid" 2>/dev/null
        wait "$helper_pid"
        helper_status=$?
        helper_pid=""
    fi
}
