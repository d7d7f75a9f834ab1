#!/bin/bash
# System mode: orield (root) runs QEMU as the unprivileged user of
# orield.conf's qemu_user.  Creates a throwaway system user, then checks
# that orield refuses qemu_user = "root", an unknown user and TLS files the
# user cannot read; that a started domain's QEMU has the user's real and
# effective uid and gid and groups, boots to its shell on the serial socket,
# takes a SPICE client with a ticket, sits in its own cgroup, gets a
# hot-plugged USB disk (QEMU connects to the helper's socket) whose helper
# runs as the user too, on an image only root can open (orield passes it
# open), keeps the image locked, is re-adopted and restarted as the user;
# that QEMU is reattached by a restarted orield; that a disk
# the user cannot write is a clear error; and that shutdown and destroy
# clean up.  Needs root: without it, exit 77 (meson: SKIP, not a pass).
# TAP lines, exit status 0 only when all pass.
here=$(dirname "$0")
if [ "$(id -u)" -ne 0 ]; then
    echo "1..0 # SKIP needs root: creates a system user and runs orield in system mode"
    exit 77
fi
. "$here/lib.sh"
probe="$build/tests/tools/spice-probe"

echo "1..19"

quser="oriel-t$$"
nosuch="oriel-nosuch-$$"
remove_user() {
    for _ in $(seq 100); do pgrep -u "$quser" >/dev/null 2>&1 || break; sleep 0.1; done
    userdel "$quser" 2>/dev/null
    getent group "$quser" >/dev/null && groupdel "$quser" 2>/dev/null
}
trap 'cleanup; remove_user' EXIT
if ! useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$quser" 2>"$tmp/useradd.err"; then
    echo "Bail out! cannot create the test user: $(cat "$tmp/useradd.err")"
    exit 1
fi
quid=$(id -u "$quser")
qgid=$(id -g "$quser")

# As /run is: QEMU's user may pass through the temp dir to the runtime dir.
chmod 0711 "$tmp"
# The guest where the user can read it (the build tree may be private).
mkdir -p "$tmp/g"
cp "$guest/vmlinux" "$guest/initramfs.cpio.gz" "$tmp/g/"
chmod 0755 "$tmp/g"
chmod 0644 "$tmp/g/"*
guest="$tmp/g"
# The USB disk helper runs as the user too: its binary where it can run it.
cp "$ORIEL_USBDISK" "$tmp/g/oriel-usbdisk"
chmod 0755 "$tmp/g/oriel-usbdisk"
export ORIEL_USBDISK="$tmp/g/oriel-usbdisk"
mkdir -p "$ORIEL_CONFIG_DIR"
conf="$ORIEL_CONFIG_DIR/orield.conf"

# run_orield_expecting_failure: orield must exit non-zero at start-up.
run_orield_expecting_failure() {
    timeout 30 "$orield" --system >"$tmp/fail.out" 2>&1
    local status=$?
    [ "$status" -ne 0 ] && [ "$status" -ne 124 ]
}

printf '[orield]\nqemu_user = "root"\n' >"$conf"
if run_orield_expecting_failure && grep -q 'qemu_user = "root": QEMU must run as an unprivileged user' "$tmp/fail.out"; then
    ok "qemu_user = \"root\" is refused at start-up with a clear error"
else
    not_ok "qemu_user = \"root\" is refused at start-up" "$(cat "$tmp/fail.out")"
fi

printf '[orield]\nqemu_user = %s\n' "$nosuch" >"$conf"
if run_orield_expecting_failure && grep -q "user '$nosuch' does not exist" "$tmp/fail.out" &&
   grep -q "useradd --system" "$tmp/fail.out"; then
    ok "an unknown qemu_user is refused, and the error says how to create it"
else
    not_ok "an unknown qemu_user is refused" "$(cat "$tmp/fail.out")"
fi

# TLS files only root can read: QEMU could not load them.
mkdir -p "$tmp/x509"
for f in ca-cert.pem server-cert.pem server-key.pem; do echo dummy >"$tmp/x509/$f"; done
chmod 0755 "$tmp/x509"
chmod 0644 "$tmp/x509/ca-cert.pem" "$tmp/x509/server-cert.pem"
chmod 0600 "$tmp/x509/server-key.pem"
printf '[orield]\nqemu_user = "%s"\nspice_x509_dir = %s\n' "$quser" "$tmp/x509" >"$conf"
if run_orield_expecting_failure &&
   grep -q "server-key.pem is not readable by user '$quser'" "$tmp/fail.out"; then
    ok "a SPICE TLS key the QEMU user cannot read is refused at start-up"
else
    not_ok "a SPICE TLS key the QEMU user cannot read is refused at start-up" "$(cat "$tmp/fail.out")"
fi

printf '[orield]\nqemu_user = "%s"\n' "$quser" >"$conf"
start_orield || { not_ok "orield starts in system mode with qemu_user = $quser"; exit 1; }

# A disk the user may write, and one only root may.
truncate -s 4M "$tmp/disk.img" "$tmp/rootonly.img"
chown "$quser:$quser" "$tmp/disk.img"
chmod 0600 "$tmp/disk.img" "$tmp/rootonly.img"

write_cfg "$tmp/bad.cfg" qu-bad "disk = [ '$tmp/rootonly.img,raw,xvda,rw' ]"
"$orielctl" create "$tmp/bad.cfg" >"$tmp/bad.out" 2>&1
status=$?
if [ "$status" -ne 0 ] &&
   grep -q "disk xvda: $tmp/rootonly.img is not readable and writable by user '$quser'" "$tmp/bad.out" &&
   [ "$(state_of qu-bad)" = absent ] && [ ! -e "$ORIEL_RUNTIME_DIR/domains/qu-bad" ]; then
    ok "a disk image the QEMU user cannot write: the start fails with a clear error, nothing left behind"
else
    not_ok "a disk image the QEMU user cannot write is a clear error" "status=$status" "$(cat "$tmp/bad.out")"
fi

write_cfg "$tmp/desk.cfg" qu-desk "disk = [ '$tmp/disk.img,raw,xvda,rw' ]" "cpu_weight = 512" "usb = 1"
"$orielctl" define "$tmp/desk.cfg" >/dev/null
if "$orielctl" start qu-desk >"$tmp/start" 2>&1 && [ "$(state_of qu-desk)" = running ]; then
    ok "a domain starts"
else
    not_ok "a domain starts" "$(cat "$tmp/start")"
fi
pid=$(qemu_pid_of qu-desk)

# Uid:/Gid: real, effective, saved, filesystem.  Groups: the user's own.
status_line() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$pid/status" 2>/dev/null; }
uids=$(status_line Uid)
gids=$(status_line Gid)
groups=$(status_line Groups | tr ' ' '\n' | sed '/^$/d' | sort -n | tr '\n' ' ')
want_groups=$(id -G "$quser" | tr ' ' '\n' | sort -n | tr '\n' ' ')
if [ -n "$pid" ] && [ "$uids" = "$quid $quid $quid $quid" ] && [ "$gids" = "$qgid $qgid $qgid $qgid" ] &&
   [ "$groups" = "$want_groups" ]; then
    ok "QEMU runs as $quser: real, effective, saved uid $quid and gid $qgid, groups $want_groups"
else
    not_ok "QEMU runs as $quser" "pid=$pid want uid $quid gid $qgid groups '$want_groups'" \
        "Uid: $uids" "Gid: $gids" "Groups: '$groups'"
fi

if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-sandbox on,"; then
    ok "QEMU keeps -sandbox on"
else
    not_ok "QEMU keeps -sandbox on" "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
fi

if guest_says qu-desk qu-user-up; then
    ok "the guest boots to its shell; the serial console answers"
else
    not_ok "the guest boots to its shell; the serial console answers"
fi

json() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
if "$orielctl" spice --json qu-desk >"$tmp/spice.json" 2>"$tmp/spice.err" &&
   json "$tmp/spice.json" ticket >"$tmp/ticket" && port=$(json "$tmp/spice.json" port) &&
   "$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/ticket" --timeout 90 \
       >"$tmp/probe.out" 2>"$tmp/probe.err" && grep -q '"connected":true' "$tmp/probe.out"; then
    ok "a SPICE client connects with the ticket"
else
    not_ok "a SPICE client connects with the ticket" "$(cat "$tmp/spice.json" "$tmp/spice.err" "$tmp/probe.out" "$tmp/probe.err" 2>/dev/null)"
fi

"$orielctl" sched-credit qu-desk >"$tmp/sched" 2>&1
if grep -q "oriel/qu-desk\.$pid$" "/proc/$pid/cgroup" 2>/dev/null; then
    ok "QEMU sits in its own cgroup ($(grep -m1 "oriel/qu-desk" "/proc/$pid/cgroup"))"
elif grep -q "cgroup" "$tmp/sched" || grep -q "cpu_weight/cap not applied" "$tmp/orield.log"; then
    ok "QEMU's cgroup: cgroups are not writable here # SKIP $(cat "$tmp/sched")"
else
    not_ok "QEMU sits in its own cgroup" "$(cat "/proc/$pid/cgroup" "$tmp/sched" 2>&1)"
fi

# The helper serves the image as the user; QEMU, as the user, connects to
# its socket in the runtime dir.  The image is root's, mode 0600: only
# orield can open it, and passes it open.  32768 sectors: the guest finds
# it by size, and reads it whole.
head -c 16M /dev/urandom >"$tmp/usb.img"
chmod 0600 "$tmp/usb.img"
usb_sha=$(sha256sum <"$tmp/usb.img" | cut -d' ' -f1)
pid_of_usb() {
    "$orielctl" usb-list qu-desk --json 2>/dev/null | tr -d ' \n' | grep -o "\"id\":\"$1\"[^}]*" |
        grep -o '"pid":[0-9]*' | cut -d: -f2
}
# guest_reads_usb: the guest finds the 32768-sector disk and reads the
# image's checksum from it (retrying while a re-plugged disk settles).
guest_reads_usb() {
    "$console" "$ORIEL_RUNTIME_DIR/domains/qu-desk/serial.sock" --timeout 180 \
        "for i in \$(seq 300); do for d in /sys/block/sd*; do [ -r \$d/size ] && [ \$(cat \$d/size) = 32768 ] && [ \"\$(sha256sum /dev/\${d##*/} 2>/dev/null | cut -d' ' -f1)\" = $usb_sha ] && { echo read-\${d##*/}; exit 0; }; done; usleep 200000; done; exit 1" 2>&1
}
# helper_runs_as_user PID: real, effective, saved, filesystem ids and the
# groups are the user's; no_new_privs is set.
helper_runs_as_user() {
    local status="/proc/$1/status"
    [ -n "$1" ] && [ -r "$status" ] || return 1
    local u g gr
    u=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$status")
    g=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "$status")
    gr=$(awk '$1 == "Groups:" { $1 = ""; print }' "$status" | tr ' ' '\n' | sed '/^$/d' | sort -n | tr '\n' ' ')
    [ "$u" = "$quid $quid $quid $quid" ] && [ "$g" = "$qgid $qgid $qgid $qgid" ] && [ "$gr" = "$want_groups" ] &&
        grep -q '^NoNewPrivs:[[:space:]]*1$' "$status"
}
"$orielctl" usb-attach qu-desk --disk "$tmp/usb.img" >"$tmp/usb.out" 2>&1
found=$(guest_reads_usb)
if grep -q "^usb0$" "$tmp/usb.out" && echo "$found" | grep -q "read-sd"; then
    ok "usb-attach: QEMU as the user reaches the USB disk helper; the guest reads the image's checksum"
else
    not_ok "usb-attach with QEMU as the user" "$(cat "$tmp/usb.out")" "$found" \
        "$(ls -la "$ORIEL_RUNTIME_DIR/domains/qu-desk/" 2>&1)" \
        "$(cat "$ORIEL_RUNTIME_DIR/domains/qu-desk/usb0.log" 2>&1)"
fi

helper=$(pid_of_usb usb0)
if helper_runs_as_user "$helper"; then
    ok "the USB disk helper runs as $quser (uid $quid, gid $qgid, groups $want_groups) with no_new_privs"
else
    not_ok "the USB disk helper runs as $quser" "pid=$helper" "$(grep -E '^(Uid|Gid|Groups|NoNewPrivs):' "/proc/$helper/status" 2>&1)"
fi

# The lock the helper holds on the image orield opened: orield refuses a
# second attach, and a helper of its own finds the image in use.
"$orielctl" usb-attach qu-desk --disk "$tmp/usb.img" >"$tmp/usb2.out" 2>&1
status=$?
timeout 10 "$ORIEL_USBDISK" --image "$tmp/usb.img" --listen "$tmp/lock.sock" >"$tmp/lock.out" 2>&1
lock_status=$?
if [ "$status" -ne 0 ] && grep -q "already attached" "$tmp/usb2.out" &&
   [ "$lock_status" -eq 1 ] && grep -q "the image is in use: another process writes to it" "$tmp/lock.out"; then
    ok "the read-write image stays locked: a second attach is refused, another helper finds it in use"
else
    not_ok "the read-write image stays locked" "attach status=$status lock status=$lock_status" \
        "$(cat "$tmp/usb2.out" "$tmp/lock.out")"
fi

# A daemon killed and restarted reattaches the unprivileged QEMU.
stop_orield_hard
if start_orield && wait_for_state qu-desk running 60 && [ "$(qemu_pid_of qu-desk)" = "$pid" ] &&
   guest_says qu-desk qu-reattached; then
    ok "a restarted orield reattaches the QEMU running as $quser"
else
    not_ok "a restarted orield reattaches the QEMU" "$("$orielctl" list 2>&1)"
fi

if [ -n "$helper" ] && [ "$(pid_of_usb usb0)" = "$helper" ] &&
   "$orielctl" usb-list qu-desk 2>&1 | grep -q "^usb0 .*attached" && helper_runs_as_user "$helper"; then
    ok "the restarted orield re-adopts the unprivileged USB disk helper $helper"
else
    not_ok "the restarted orield re-adopts the USB disk helper" "was $helper, now $(pid_of_usb usb0)" \
        "$("$orielctl" usb-list qu-desk 2>&1)"
fi

# The helper dies: orield opens the image again for the one restart.
kill -9 "$helper"
new_helper=
for _ in $(seq 100); do
    new_helper=$(pid_of_usb usb0)
    [ -n "$new_helper" ] && [ "$new_helper" != "$helper" ] && break
    sleep 0.1
done
found=$(guest_reads_usb)
if [ -n "$new_helper" ] && [ "$new_helper" != "$helper" ] && helper_runs_as_user "$new_helper" &&
   echo "$found" | grep -q "read-sd"; then
    ok "a helper that dies is restarted as $quser with the image orield opens again; the guest reads it"
else
    not_ok "the USB disk helper restarts as $quser" "was $helper, now $new_helper" "$found" \
        "$("$orielctl" usb-list qu-desk 2>&1)" "$(tail -5 "$ORIEL_RUNTIME_DIR/domains/qu-desk/usb0.log" 2>&1)"
fi

"$orielctl" shutdown -w qu-desk >"$tmp/shutdown" 2>&1
status=$?
if [ "$status" -eq 0 ] && [ "$(state_of qu-desk)" = shutoff ] && ! alive "$pid" &&
   [ ! -e "$ORIEL_RUNTIME_DIR/domains/qu-desk" ]; then
    ok "shutdown -w: the guest powers off, QEMU is gone, its runtime dir removed"
else
    not_ok "shutdown -w cleans up" "status=$status state=$(state_of qu-desk)" "$(cat "$tmp/shutdown")" \
        "$(ls -la "$ORIEL_RUNTIME_DIR/domains/qu-desk" 2>&1)"
fi

"$orielctl" start qu-desk >"$tmp/start2" 2>&1
pid=$(qemu_pid_of qu-desk)
cgroup=$(sed -n 's/^[^:]*:[^:]*:\(.*oriel\/qu-desk\..*\)$/\1/p' "/proc/$pid/cgroup" 2>/dev/null | head -1)
"$orielctl" destroy qu-desk >"$tmp/destroy" 2>&1
status=$?
for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
if [ "$status" -eq 0 ] && [ -n "$pid" ] && [ "$(state_of qu-desk)" = shutoff ] && ! alive "$pid" &&
   [ ! -e "$ORIEL_RUNTIME_DIR/domains/qu-desk" ] && { [ -z "$cgroup" ] || ! find /sys/fs/cgroup -path "*$cgroup" -print -quit | grep -q .; }; then
    ok "destroy: QEMU is gone, its runtime dir and cgroup removed"
else
    not_ok "destroy cleans up" "status=$status pid=$pid cgroup=$cgroup" "$(cat "$tmp/start2" "$tmp/destroy")"
fi

finish_orield
exit $((failures > 0))
