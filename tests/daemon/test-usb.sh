#!/bin/bash
# Host-side USB disks end to end: orielctl usb-attach / usb-list /
# usb-detach through a real orield, real oriel-usbdisk helpers speaking
# usbredir to QEMU's usb-redir, and the test guest's usb-storage driver.
# One guest boot: enumeration and checksums, read-write and read-only, two
# disks at once, a helper crash, an orield restart, detach under load.
# TAP output.
here=$(dirname "$0")
. "$here/lib.sh"

usbdisk=${ORIEL_USBDISK:-$build/devmodel/oriel-usbdisk}
export ORIEL_USBDISK=$usbdisk

echo "1..20"

if [ ! -x "$usbdisk" ]; then
    not_ok "oriel-usbdisk is built" "missing $usbdisk"
    exit 1
fi

# Images with distinct sizes, so the guest tells its disks apart by size.
dd if=/dev/urandom of="$tmp/a.img" bs=1M count=16 status=none
dd if=/dev/urandom of="$tmp/b.img" bs=1M count=8 status=none
truncate -s 1000 "$tmp/odd.img"
sha_a=$(sha256sum <"$tmp/a.img" | cut -d' ' -f1)
sha_b=$(sha256sum <"$tmp/b.img" | cut -d' ' -f1)
sectors_a=32768
sectors_b=16384

start_orield || { not_ok "orield starts"; exit 1; }
# Two SPICE usbredir channels: their usb-redir devices keep root ports 2
# and 3 (after the tablet), the disks get the ports after them.
write_cfg "$tmp/ud.cfg" ud 'usb = 1' 'spiceusbredirection = 2' 'serial = "unix"'
write_cfg "$tmp/nousb.cfg" nousb 'type = "pvh"'

sock="$ORIEL_RUNTIME_DIR/domains/ud/serial.sock"
# gsh COMMAND: runs it in the guest; its output on stdout, its status.
gsh() { "$console" "$sock" --timeout 120 "$1"; }
# The guest's sdX of the given size in sectors, waiting for it up to 60 s.
guest_disk() {
    gsh "for i in \$(seq 300); do for d in /sys/block/sd*; do [ -r \$d/size ] && [ \$(cat \$d/size) = $1 ] && { echo \${d##*/}; exit 0; }; done; usleep 200000; done; exit 1"
}
guest_no_disk() {
    gsh "for i in \$(seq 150); do f=0; for d in /sys/block/sd*; do [ -r \$d/size ] && [ \$(cat \$d/size) = $1 ] && f=1; done; [ \$f = 0 ] && exit 0; usleep 200000; done; exit 1"
}
helpers() { pgrep -f "oriel-usbdisk --image-fd [0-9]+ --image-name $tmp/" | wc -l; }
list_field() { # list_field ID COLUMN: from `orielctl usb-list ud`
    "$orielctl" usb-list ud 2>/dev/null | awk -v id="$1" -v c="$2" '$1 == id { print $c }'
}
pid_of_usb() {
    "$orielctl" usb-list ud --json 2>/dev/null | tr -d ' \n' | grep -o "\"id\":\"$1\"[^}]*" | grep -o '"pid":[0-9]*' | cut -d: -f2
}

"$orielctl" create "$tmp/ud.cfg" >"$tmp/create.out" 2>&1
"$orielctl" create "$tmp/nousb.cfg" >"$tmp/create-nousb.out" 2>&1
if guest_says ud ud-up; then
    ok "a domain with usb = 1 boots"
else
    not_ok "a domain with usb = 1 boots" "$(cat "$tmp/create.out")"; exit 1
fi

# Refusals, each with a message naming the problem.
errs=""
"$orielctl" usb-attach nousb --disk "$tmp/a.img" 2>"$tmp/e1" && errs="$errs nousb"
"$orielctl" usb-attach ud --disk "$tmp/odd.img" 2>"$tmp/e2" && errs="$errs odd"
"$orielctl" usb-attach ud --disk "$tmp/missing.img" 2>"$tmp/e3" && errs="$errs missing"
"$orielctl" usb-attach ud --disk "$tmp" 2>"$tmp/e4" && errs="$errs dir"
"$orielctl" usb-detach ud usb5 2>"$tmp/e5" && errs="$errs detach"
if [ -z "$errs" ] && grep -q "no USB controller" "$tmp/e1" && grep -q "not a non-zero multiple of 512" "$tmp/e2" &&
   grep -q "No such file" "$tmp/e3" && grep -q "$tmp" "$tmp/e4" && grep -q "has no USB disk usb5" "$tmp/e5" &&
   [ "$(helpers)" = 0 ]; then
    ok "usb-attach refuses a domain without USB, an odd-sized, missing or directory image; usb-detach an unknown ID"
else
    not_ok "usb-attach refusals" "accepted:$errs" "$(cat "$tmp"/e[1-5])"
fi
"$orielctl" destroy nousb >/dev/null 2>&1

# 1. Read-write disk A: enumeration, speed, serial, checksum.
id_a=$("$orielctl" usb-attach ud --disk "$tmp/a.img" 2>"$tmp/attach-a.err")
dev_a=$(guest_disk $sectors_a)
if [ "$id_a" = usb0 ] && [ -n "$dev_a" ]; then
    ok "usb-attach prints usb0 and the guest gets a $sectors_a-sector /dev/$dev_a"
else
    not_ok "usb-attach of a read-write image" "id '$id_a' dev '$dev_a'" "$(cat "$tmp/attach-a.err")" \
        "$(gsh 'dmesg | tail -20')"
fi
usbinfo=$(gsh 'for d in /sys/bus/usb/devices/*; do [ -r $d/serial ] && echo "$(cat $d/serial) $(cat $d/speed)"; done')
if echo "$usbinfo" | grep -q "^ORIEL-ud-usb0 5000$"; then
    ok "the guest enumerates it in /sys/bus/usb/devices with its serial, at super speed"
else
    not_ok "the guest enumerates it with its serial at super speed" "$usbinfo"
fi
guest_sha=$(gsh "sha256sum /dev/$dev_a" | cut -d' ' -f1)
if [ -n "$guest_sha" ] && [ "$guest_sha" = "$sha_a" ]; then
    ok "SHA-256 of /dev/$dev_a in the guest equals the image's"
else
    not_ok "SHA-256 in the guest equals the image's" "guest '$guest_sha' host '$sha_a'"
fi
# Written at sector 2048, synced: the image holds it after the detach.
gsh "printf 'oriel-usb-written' | dd of=/dev/$dev_a bs=512 seek=2048 conv=fsync,notrunc 2>&1 && sync" >"$tmp/write.out"
write_status=$?

# 2. Read-only disk B next to it: two disks at once.
id_b=$("$orielctl" usb-attach ud --disk "$tmp/b.img" --ro --speed high 2>"$tmp/attach-b.err")
dev_b=$(guest_disk $sectors_b)
guest_sha_b=$(gsh "sha256sum /dev/$dev_b" | cut -d' ' -f1)
if [ "$id_b" = usb1 ] && [ -n "$dev_b" ] && [ "$guest_sha_b" = "$sha_b" ] &&
   [ "$(gsh "sha256sum /dev/$dev_a" | cut -d' ' -f1)" != "" ]; then
    ok "a second, read-only disk at once: usb1, /dev/$dev_b, same SHA-256"
else
    not_ok "two disks at once" "id '$id_b' dev '$dev_b' sha '$guest_sha_b'" "$(cat "$tmp/attach-b.err")"
fi
ro_flag=$(gsh "cat /sys/block/$dev_b/ro")
if [ "$ro_flag" = 1 ] && ! gsh "dd if=/dev/zero of=/dev/$dev_b bs=512 count=1 conv=fsync 2>&1" >"$tmp/ro-write.out" &&
   [ "$(sha256sum <"$tmp/b.img" | cut -d' ' -f1)" = "$sha_b" ]; then
    ok "read-only: the guest sees the write protection, a write fails, the image is unchanged"
else
    not_ok "read-only disk" "ro '$ro_flag'" "$(cat "$tmp/ro-write.out")"
fi
if "$orielctl" usb-attach ud --disk "$tmp/a.img" --ro 2>"$tmp/e6"; then
    not_ok "an image attached read-write cannot be attached again" "accepted"
else
    grep -q "already attached" "$tmp/e6" && ok "an image attached read-write cannot be attached again" ||
        not_ok "an image attached read-write cannot be attached again" "$(cat "$tmp/e6")"
fi

list=$("$orielctl" usb-list ud 2>&1)
if [ "$(list_field usb0 2)" = attached ] && [ "$(list_field usb0 3)" = rw ] &&
   [ "$(list_field usb1 2)" = attached ] && [ "$(list_field usb1 3)" = ro ] &&
   [ "$(list_field usb1 4)" = high ] && [ "$(list_field usb0 5)" = usb.0-4 ] &&
   [ "$(list_field usb1 5)" = usb.0-5 ] && [ "$(helpers)" = 2 ]; then
    ok "usb-list shows both, attached, rw and ro, on root ports after the SPICE channels'; two helpers run"
else
    not_ok "usb-list shows both" "$list" "helpers $(helpers)"
fi

# 3. A helper that dies is restarted once; QEMU's chardev reconnects.
old_pid=$(pid_of_usb usb1)
kill -9 "$old_pid" 2>/dev/null
new_pid=""
for _ in $(seq 100); do
    new_pid=$(pid_of_usb usb1)
    [ -n "$new_pid" ] && [ "$new_pid" != "$old_pid" ] && break
    sleep 0.1
done
if [ -n "$new_pid" ] && [ "$new_pid" != "$old_pid" ] && [ "$(list_field usb1 2)" = attached ] &&
   dev_b=$(guest_disk $sectors_b) && [ "$(gsh "sha256sum /dev/$dev_b" | cut -d' ' -f1)" = "$sha_b" ]; then
    ok "a helper killed is restarted (pid $old_pid -> $new_pid) and the guest reads the disk again"
else
    not_ok "a killed helper is restarted" "old $old_pid new $new_pid" "$("$orielctl" usb-list ud 2>&1)"
fi

# 4. orield restart: the attachments are re-adopted.
pids_before="$(pid_of_usb usb0) $(pid_of_usb usb1)"
stop_orield_hard
if [ "$(helpers)" = 2 ]; then
    ok "SIGKILL of orield leaves the helpers running"
else
    not_ok "the helpers outlive orield" "helpers $(helpers)"
fi
start_orield
for _ in $(seq 100); do "$orielctl" list 2>/dev/null | grep -q " starting " || break; sleep 0.1; done
pids_after="$(pid_of_usb usb0) $(pid_of_usb usb1)"
gsh "echo 3 > /proc/sys/vm/drop_caches"
if [ "$pids_after" = "$pids_before" ] && [ "$(list_field usb0 2)" = attached ] &&
   [ "$(list_field usb1 2)" = attached ] &&
   [ "$(gsh "sha256sum /dev/$dev_b" | cut -d' ' -f1)" = "$sha_b" ]; then
    ok "a new orield lists both with the same helpers; the guest still reads them"
else
    not_ok "attachments survive an orield restart" "before '$pids_before' after '$pids_after'" \
        "$("$orielctl" usb-list ud 2>&1)"
fi

# 5. Detach after the restart: the write is in the image.
pid_a=$(pid_of_usb usb0)
if "$orielctl" usb-detach ud usb0 2>"$tmp/detach.err" && guest_no_disk $sectors_a && ! alive "$pid_a" &&
   [ -z "$(list_field usb0 2)" ]; then
    ok "usb-detach (by the new orield): the disk leaves the guest, its helper ends"
else
    not_ok "usb-detach after the restart" "$(cat "$tmp/detach.err")" "$("$orielctl" usb-list ud 2>&1)"
fi
if [ "$write_status" = 0 ] &&
   [ "$(dd if="$tmp/a.img" bs=512 skip=2048 count=1 status=none | head -c 17)" = oriel-usb-written ]; then
    ok "data the guest wrote and synced is in the image after the detach"
else
    not_ok "the guest's write is in the image" "status $write_status" "$(cat "$tmp/write.out")"
fi
sha_a=$(sha256sum <"$tmp/a.img" | cut -d' ' -f1)

# 6. Detach while the guest reads: the read in flight fails, nothing else.
# O_DIRECT in 512-byte requests: each goes to the device.  Passes repeat
# until one fails.  The pass in flight when the disk goes either fails
# with an I/O error or ends short (the kernel sets the gone disk's size to
# 0, so dd sees an early end and the next pass cannot open the device).
# A detach that lands between two full passes tested nothing, and is made
# again, at most three times.
detach_under_load() {
    id_a=$("$orielctl" usb-attach ud --disk "$tmp/a.img" 2>"$tmp/attach-a2.err")
    dev_a=$(guest_disk $sectors_a)
    gsh "rm -f /tmp/dd.*; (n=0; while dd if=/dev/$dev_a of=/dev/null bs=512 iflag=direct 2>/tmp/dd.err; do n=\$((n+1)); echo \$n >/tmp/dd.passes; cp /tmp/dd.err /tmp/dd.last; done; echo \$n >/tmp/dd.rc) >/dev/null 2>&1 & for i in \$(seq 100); do pidof dd >/dev/null && break; usleep 50000; done"
    sleep 0.5
    "$orielctl" usb-detach ud "$id_a" 2>"$tmp/detach2.err"
    detach_status=$?
    reader=$(gsh "for i in \$(seq 150); do [ -s /tmp/dd.rc ] && break; usleep 200000; done; cat /tmp/dd.err; echo passes \$(cat /tmp/dd.passes 2>/dev/null); echo last \$(sed -n 's/ records in//p' /tmp/dd.last 2>/dev/null)")
    # The last pass that ended without an error: whole, or cut short.
    last_pass=$(echo "$reader" | sed -n 's/^last //p')
    cut_short=no
    if echo "$reader" | grep -q "can't open" && [ -n "$last_pass" ] && [ "$last_pass" != "$sectors_a+0" ]; then
        cut_short=yes
    fi
}
for attempt in 1 2 3; do
    detach_under_load
    [ "$cut_short" = yes ] && break
    echo "$reader" | grep -q "can't open" || break
    guest_no_disk $sectors_a
done
if [ "$detach_status" = 0 ] && [ -n "$dev_a" ] &&
   { echo "$reader" | grep -Eq "Input/output error|No such device" || [ "$cut_short" = yes ]; }; then
    if [ "$cut_short" = yes ]; then
        how="the pass in flight ended at block $last_pass of $sectors_a, then the device was gone"
    else
        how=$(echo "$reader" | grep -E "error|device" | head -1)
    fi
    ok "usb-detach while the guest reads: the guest's read fails ($how; attempt $attempt)"
else
    not_ok "detach under load fails the guest's read" "attempt $attempt: id '$id_a' dev '$dev_a' detach $detach_status" \
        "$(cat "$tmp/detach2.err")" "$reader"
fi
if [ "$(state_of ud)" = running ] && guest_says ud still-up && [ "$(qemu_count ud)" = 1 ] &&
   [ "$(sha256sum <"$tmp/a.img" | cut -d' ' -f1)" = "$sha_a" ]; then
    ok "QEMU, orield and the guest stay healthy; the image is intact"
else
    not_ok "healthy after detach under load" "$("$orielctl" list 2>&1)"
fi
id_a=$("$orielctl" usb-attach ud --disk "$tmp/a.img" 2>"$tmp/attach-a3.err")
dev_a=$(guest_disk $sectors_a)
if [ -n "$dev_a" ] && [ "$(gsh "sha256sum /dev/$dev_a" | cut -d' ' -f1)" = "$sha_a" ]; then
    ok "re-attach works: $id_a, /dev/$dev_a reads back the same SHA-256"
else
    not_ok "re-attach after detach under load" "id '$id_a' dev '$dev_a'" "$(cat "$tmp/attach-a3.err")"
fi

# A second death of usb1's helper (restarted once already, before the
# orield restart): it stays failed, and can still be detached.
kill -9 "$(pid_of_usb usb1)" 2>/dev/null
for _ in $(seq 50); do [ "$(list_field usb1 2)" = failed ] && break; sleep 0.1; done
state_b=$(list_field usb1 2)
if [ "$state_b" = failed ] && [ -z "$(pid_of_usb usb1)" ] && "$orielctl" usb-detach ud usb1 2>"$tmp/detach3.err" &&
   [ -z "$(list_field usb1 2)" ] && guest_no_disk $sectors_b; then
    ok "a helper that dies a second time is marked failed, not restarted; detaching it works"
else
    not_ok "a second helper death" "state '$state_b'" "$(cat "$tmp/detach3.err")" "$("$orielctl" usb-list ud 2>&1)"
fi

# 7. The domain's end stops its helpers and cleans its runtime dir.
"$orielctl" destroy ud >/dev/null 2>&1
for _ in $(seq 50); do [ "$(helpers)" = 0 ] && break; sleep 0.1; done
if [ "$(helpers)" = 0 ] && [ ! -e "$ORIEL_RUNTIME_DIR/domains/ud" ]; then
    ok "destroy stops the helpers and removes the runtime dir"
else
    not_ok "destroy stops the helpers" "helpers $(helpers)" "$(ls -R "$ORIEL_RUNTIME_DIR/domains" 2>&1)"
fi

finish_orield
[ "$failures" -eq 0 ]
