#!/bin/bash
# Host-side USB disks across the restarts of the domain: a USB stick stays
# plugged when its PC reboots.  A guest reboot (on_reboot = "restart": QEMU
# resets in place), QEMU replaced by orield (on_crash = "restart" after a
# SIGKILL, on_poweroff = "restart" after the guest powers off): each time
# the disks come back to the guest with the same IDs, image, read-only
# flag, speed, port and helper, and read back the same bytes.  A helper
# that dies for good across a restart leaves its disk failed, with the
# reason.  Destroy still stops everything.  TAP output.
here=$(dirname "$0")
. "$here/lib.sh"

usbdisk=${ORIEL_USBDISK:-$build/devmodel/oriel-usbdisk}
export ORIEL_USBDISK=$usbdisk

echo "1..13"

if [ ! -x "$usbdisk" ]; then
    not_ok "oriel-usbdisk is built" "missing $usbdisk"
    exit 1
fi

dd if=/dev/urandom of="$tmp/a.img" bs=1M count=16 status=none
dd if=/dev/urandom of="$tmp/b.img" bs=1M count=8 status=none
sha_a=$(sha256sum <"$tmp/a.img" | cut -d' ' -f1)
sha_b=$(sha256sum <"$tmp/b.img" | cut -d' ' -f1)
sectors_a=32768
sectors_b=16384

start_orield || { not_ok "orield starts"; exit 1; }
write_cfg "$tmp/ur.cfg" ur 'usb = 1' 'usbversion = 3' 'serial = "unix"' \
    'on_reboot = "restart"' 'on_crash = "restart"' 'on_poweroff = "restart"'

sock="$ORIEL_RUNTIME_DIR/domains/ur/serial.sock"
gsh() { "$console" "$sock" --timeout 120 "$1"; }
# The guest's sdX of the given size in sectors, waiting for it up to 60 s.
guest_disk() {
    gsh "for i in \$(seq 300); do for d in /sys/block/sd*; do [ -r \$d/size ] && [ \$(cat \$d/size) = $1 ] && { echo \${d##*/}; exit 0; }; done; usleep 200000; done; exit 1"
}
helpers() { pgrep -f "oriel-usbdisk --image-fd [0-9]+ --image-name $tmp/" | wc -l; }
# usb-list's rows, one per disk: "ID State RO Speed Port Disk".
listing() { "$orielctl" usb-list ur 2>&1 | awk 'NR > 1 { print $1, $2, $3, $4, $5, $6 }'; }
pid_of_usb() {
    "$orielctl" usb-list ur --json 2>/dev/null | tr -d ' \n' | grep -o "\"id\":\"$1\"[^}]*" | grep -o '"pid":[0-9]*' | cut -d: -f2
}
# The record: ID and state of each attachment in usb.json.
record() {
    tr -d ' \n' 2>/dev/null <"$ORIEL_RUNTIME_DIR/domains/ur/usb.json" |
        grep -o '"id":"usb[0-9]*"\|"state":"[a-z]*"' | cut -d'"' -f4 | paste -sd' '
}
# Both disks in the guest with their checksums, and as before in usb-list.
# Waits for usb-list to settle first (a re-plug takes a moment).
expected_listing="usb0 attached rw super usb.0-2 $tmp/a.img
usb1 attached ro high usb.0-3 $tmp/b.img"
disks_back() {
    local i
    for i in $(seq 100); do [ "$(listing)" = "$expected_listing" ] && break; sleep 0.2; done
    dev_a=$(guest_disk $sectors_a) && dev_b=$(guest_disk $sectors_b) &&
        [ "$(gsh "sha256sum /dev/$dev_a" | cut -d' ' -f1)" = "$sha_a" ] &&
        [ "$(gsh "sha256sum /dev/$dev_b" | cut -d' ' -f1)" = "$sha_b" ] &&
        [ "$(gsh "cat /sys/block/$dev_b/ro")" = 1 ] &&
        [ "$(listing)" = "$expected_listing" ] &&
        [ "$(pid_of_usb usb0) $(pid_of_usb usb1)" = "$helper_pids" ] && [ "$(helpers)" = 2 ] &&
        [ "$(record)" = "usb0 attached usb1 attached" ]
}
why_not() {
    echo "dev_a '${dev_a:-}' dev_b '${dev_b:-}' helpers $(helpers) (were $helper_pids: now $(pid_of_usb usb0) $(pid_of_usb usb1))"
    "$orielctl" usb-list ur 2>&1
    echo "usb.json: $(record)"
    gsh 'dmesg | grep -i usb | tail -8'
}

"$orielctl" create "$tmp/ur.cfg" >"$tmp/create.out" 2>&1
if guest_says ur ur-up; then
    ok "a domain with on_reboot, on_crash and on_poweroff = restart boots"
else
    not_ok "the domain boots" "$(cat "$tmp/create.out")"; exit 1
fi

"$orielctl" usb-attach ur --disk "$tmp/a.img" >"$tmp/attach.out" 2>&1
"$orielctl" usb-attach ur --disk "$tmp/b.img" --ro --speed high >>"$tmp/attach.out" 2>&1
helper_pids="$(pid_of_usb usb0) $(pid_of_usb usb1)"
if disks_back; then
    ok "two disks attached (usb0 read-write, usb1 read-only): the guest reads them"
else
    not_ok "two disks attached" "$(cat "$tmp/attach.out")" "$(why_not)"
fi

# 1. The guest reboots; QEMU resets in place.  /tmp is the initramfs: the
# marker is gone after a real reboot.
qemu1=$(qemu_pid_of ur)
gsh "touch /tmp/before-reboot"
"$console" "$sock" --timeout 5 "reboot -f" >/dev/null 2>&1
if guest_says ur ur-rebooted && gsh "[ ! -e /tmp/before-reboot ]" && [ "$(qemu_pid_of ur)" = "$qemu1" ]; then
    ok "reboot -f in the guest: it boots again in the same QEMU"
else
    not_ok "the guest reboots" "$("$orielctl" list 2>&1)"
fi
if disks_back; then
    ok "after the guest's reboot: both disks in the guest again, same SHA-256, usb-list and usb.json unchanged"
else
    not_ok "the disks come back after the guest's reboot" "$(why_not)"
fi

# 2. QEMU dies: on_crash = "restart" starts a new one, the disks come back.
# wait_for_qemu OLD_PID: a new QEMU runs the domain.
wait_for_qemu() {
    local i
    for i in $(seq 300); do
        qemu2=$(qemu_pid_of ur)
        [ -n "$qemu2" ] && [ "$qemu2" != "$1" ] && [ "$(state_of ur)" = running ] && return 0
        sleep 0.1
    done
    return 1
}
kill -9 "$qemu1"
if wait_for_qemu "$qemu1" && guest_says ur ur-restarted && [ "$(qemu_count ur)" = 1 ]; then
    ok "QEMU SIGKILLed: on_crash = restart starts a new QEMU ($qemu1 -> $qemu2), the guest boots"
else
    not_ok "on_crash = restart" "$("$orielctl" list 2>&1)"
fi
if disks_back; then
    ok "after QEMU's restart: both disks in the guest again, same helpers, SHA-256, usb-list and usb.json"
else
    not_ok "the disks come back after QEMU's restart" "$(why_not)"
fi
# The guest writes to the read-write disk through the new QEMU.
gsh "printf 'after-restart' | dd of=/dev/$dev_a bs=512 seek=4096 conv=fsync,notrunc 2>&1 && sync" >"$tmp/write.out"
if [ "$(dd if="$tmp/a.img" bs=512 skip=4096 count=1 status=none | head -c 13)" = after-restart ]; then
    ok "a write by the guest after the restart reaches the image"
else
    not_ok "a write after the restart reaches the image" "$(cat "$tmp/write.out")"
fi
sha_a=$(sha256sum <"$tmp/a.img" | cut -d' ' -f1)

# 3. The guest powers off: on_poweroff = "restart" starts a new QEMU.
qemu1=$(qemu_pid_of ur)
"$console" "$sock" --timeout 5 "poweroff -f" >/dev/null 2>&1
if wait_for_qemu "$qemu1" && guest_says ur ur-poweredon; then
    ok "poweroff -f in the guest: on_poweroff = restart starts a new QEMU"
else
    not_ok "on_poweroff = restart" "$("$orielctl" list 2>&1)"
fi
if disks_back; then
    ok "after the guest's poweroff and restart: both disks back, same helpers and SHA-256"
else
    not_ok "the disks come back after on_poweroff = restart" "$(why_not)"
fi

# 4. usb1's helper dies once (restarted), then again as QEMU dies: usb1
# comes back failed, with the reason; usb0 comes back as before.
old_pid=$(pid_of_usb usb1)
kill -9 "$old_pid"
for _ in $(seq 100); do
    new_pid=$(pid_of_usb usb1)
    [ -n "$new_pid" ] && [ "$new_pid" != "$old_pid" ] && break
    sleep 0.1
done
qemu1=$(qemu_pid_of ur)
kill -9 "$qemu1" "$new_pid"
wait_for_qemu "$qemu1"
for _ in $(seq 100); do [ "$(listing | cut -d' ' -f2 | paste -sd' ')" = "attached failed" ] && break; sleep 0.2; done
if guest_says ur ur-again && dev_a=$(guest_disk $sectors_a) &&
   [ "$(gsh "sha256sum /dev/$dev_a" | cut -d' ' -f1)" = "$sha_a" ] &&
   [ "$(listing | cut -d' ' -f1-2 | paste -sd' ')" = "usb0 attached usb1 failed" ] &&
   "$orielctl" usb-list ur 2>&1 | grep -q "^usb1 .*(its helper ended twice" && [ -z "$(pid_of_usb usb1)" ] &&
   [ "$(pid_of_usb usb0)" = "${helper_pids% *}" ] && [ "$(helpers)" = 1 ] &&
   [ "$(record)" = "usb0 attached usb1 failed" ]; then
    ok "a helper that dies a second time across a QEMU restart: failed, with the reason; the other disk is back"
else
    not_ok "a second helper death across a QEMU restart" "$(why_not)"
fi

# 5. Detach still works on the new QEMU; the image is free again.
if "$orielctl" usb-detach ur usb1 2>"$tmp/detach.err" && [ "$(listing)" = "usb0 attached rw super usb.0-2 $tmp/a.img" ] &&
   [ "$(helpers)" = 1 ] && "$orielctl" usb-attach ur --disk "$tmp/b.img" >"$tmp/attach2.out" 2>&1 &&
   dev_b=$(guest_disk $sectors_b) && [ "$(gsh "sha256sum /dev/$dev_b" | cut -d' ' -f1)" = "$sha_b" ]; then
    ok "usb-detach of the failed disk; the image attaches again read-write and reads back"
else
    not_ok "detach after the restarts" "$(cat "$tmp/detach.err" "$tmp/attach2.out" 2>/dev/null)" "$(why_not)"
fi

# 6. Destroy: every helper stops, the runtime dir goes.
"$orielctl" destroy ur >/dev/null 2>&1
for _ in $(seq 50); do [ "$(helpers)" = 0 ] && break; sleep 0.1; done
if [ "$(helpers)" = 0 ] && [ ! -e "$ORIEL_RUNTIME_DIR/domains/ur" ]; then
    ok "destroy stops the helpers and removes the runtime dir"
else
    not_ok "destroy stops the helpers" "helpers $(helpers)" "$(ls -R "$ORIEL_RUNTIME_DIR/domains" 2>&1)"
fi

finish_orield
[ "$failures" -eq 0 ]
