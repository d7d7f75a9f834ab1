#!/bin/bash
# Sequential read of 64 MiB in the test guest (dd, O_DIRECT, 1 MiB blocks)
# through the emulated USB disk (oriel-usbdisk over usbredir), against
# QEMU's own usb-storage device on the same image in the same guest and
# run: the ceiling, a USB disk with no redirection at all.  The headline
# ratio is for the emulated disk as orielctl usb-attach attaches it by
# default on a USB 3 controller (usbversion = 3): super speed on the
# xHCI's USB 3 ports; the same disk at high speed is printed too.  QEMU's
# usb-storage is a high-speed device.  Rounds interleave the three disks;
# medians are reported, with the spread over rounds.
#
# Where the time goes is printed too: the CPU time of QEMU's main loop,
# of the guest's vCPU thread and of the helper for each disk, per MiB read,
# from /proc (QEMU runs with debug-threads=on so its threads are named).
# Bulk-Only Transport runs one command at a time and dd waits for each, so
# the guest's work and the transfer through QEMU's main loop add up; the
# bound printed last is that sum's consequence.
#
#   bench-usb-disk.sh BUILD_DIR [ROUNDS]
set -u

build=${1:-${ORIEL_BUILD_DIR:?usage: bench-usb-disk.sh BUILD_DIR [ROUNDS]}}
rounds=${2:-5}
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
native_speed=$(echo "$devices" | awk '$2 == "QEMU" { print $3 == 5000 ? "super speed" : "high speed" }')
[ -n "$redir" ] && [ -n "$super" ] && [ -n "$native" ] || fail "cannot tell the disks apart: $devices"
native_helper="" super_helper=$super_pid redir_helper=$helper_pid

# cpu_ticks [HELPER_PID]: QEMU's main-loop thread, its vCPU threads and the
# helper (0 without one), in clock ticks of user + system time.
cpu_ticks() {
    local t main=0 vcpu=0 helper=0
    for t in /proc/"$qemu_pid"/task/*; do
        local ticks
        ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat" 2>/dev/null) || continue
        if [ "${t##*/}" = "$qemu_pid" ]; then
            main=$((main + ticks))
        elif grep -q '^CPU ' "$t/comm" 2>/dev/null; then
            vcpu=$((vcpu + ticks))
        fi
    done
    [ -n "${1:-}" ] && helper=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")
    echo "$main $vcpu $helper"
}
hz=$(getconf CLK_TCK)

# Seconds for PASSES sequential reads of the whole 64 MiB of /dev/$1
# (O_DIRECT: every pass goes to the device, no page cache). The clock is
# the guest's own, read with busybox adjtimex (microseconds): /proc/uptime
# and busybox time have 10 ms steps and this busybox's date has no %N.
# Two adjtimex runs bracket the reads; their cost is printed on its own.
passes=${ORIEL_BENCH_PASSES:-8}
guest_seconds() {
    guest bench "a=\$(adjtimex); $1; b=\$(adjtimex); echo \$a \$b" |
        awk 'BEGIN { n = 0 } /dd-failed/ { bad = 1 } { for (i = 1; i < NF; i++) {
                   if ($i == "time.tv_sec:") s[n] = $(i + 1)
                   if ($i == "time.tv_usec:") { u[n] = $(i + 1); n++ } } }
             END { if (n != 2 || bad) exit 1; printf "%.6f\n", (s[1] - s[0]) + (u[1] - u[0]) / 1e6 }'
}
read_seconds() {
    guest_seconds "i=0; while [ \$i -lt $passes ]; do dd if=/dev/$1 of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null || { echo dd-failed; break; }; i=\$((i+1)); done"
}
# median, min and max of the numbers on stdin, one a line.
stats() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit 1
    printf "%.6f %.6f %.6f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'; }

echo "rounds: $rounds, each reading the 64 MiB image $passes times per disk (dd bs=1M iflag=direct)"
: >"$tmp/native.t"; : >"$tmp/redir.t"; : >"$tmp/super.t"; : >"$tmp/clock.t"
: >"$tmp/native.cpu"; : >"$tmp/redir.cpu"; : >"$tmp/super.cpu"
for round in $(seq "$rounds"); do
    # Interleaved, the order rotating, so drift in the machine's load
    # hits all alike.
    c=$(guest_seconds true) || fail "the guest clock could not be read"
    order="native super redir"
    [ $((round % 3)) = 2 ] && order="super redir native"
    [ $((round % 3)) = 0 ] && order="redir native super"
    line="round $round:"
    for d in $order; do
        eval "dev=\$$d helper=\$${d}_helper"
        before=$(cpu_ticks "$helper")
        t=$(read_seconds "$dev") || fail "$d read of /dev/$dev failed"
        echo "$before $(cpu_ticks "$helper")" >>"$tmp/$d.cpu"
        echo "$t" >>"$tmp/$d.t"
        line="$line $d ${t}s"
    done
    echo "$c" >>"$tmp/clock.t"
    echo "$line (clock reads ${c}s)"
done
stop_qemu
stop_helper
helper_pid=$super_pid super_pid=""
stop_helper

set -- $(stats <"$tmp/clock.t")
printf "guest clock: two adjtimex reads take %.1f ms (median), included in each time below\n" "$(awk -v c="$1" 'BEGIN { print c * 1000 }')"
mb=$((64 * passes))
report() { # LABEL FILE: rate of the median time, and of the slowest and fastest rounds.
    set -- "$1" $(stats <"$2")
    awk -v l="$1" -v m="$2" -v lo="$3" -v hi="$4" -v mb="$mb" 'BEGIN {
        printf "%-42s %7.1f MiB/s (median %.3f s; rounds %.1f .. %.1f MiB/s)\n", l, mb / m, m, mb / hi, mb / lo }'
}
report "QEMU usb-storage, $native_speed (reference):" "$tmp/native.t"
report "oriel-usbdisk over usbredir, super speed:" "$tmp/super.t"
report "oriel-usbdisk over usbredir, high speed:" "$tmp/redir.t"
set -- $(stats <"$tmp/native.t") $(stats <"$tmp/super.t") $(stats <"$tmp/redir.t")
awk -v n="$1" -v s="$4" -v r="$7" -v nf="$2" -v sf="$5" -v rf="$8" 'BEGIN {
    if (n <= 0 || r <= 0 || s <= 0) { print "bench-usb-disk: no time measured"; exit 1 }
    printf "ratio (super speed, as orielctl usb-attach attaches on usbversion = 3): %.2f (target >= 0.70; fastest / fastest %.2f)\n", n / s, nf / sf
    printf "ratio at high speed: %.2f (fastest / fastest %.2f)\n", n / r, nf / rf
}'

# Milliseconds of CPU per MiB read, summed over all rounds: QEMU's main
# loop, the vCPU, the helper; then the wall time per MiB.
cpu_per_mib() { # CPU-FILE TIME-FILE
    awk -v hz="$hz" -v mib="$((mb * rounds))" -v tfile="$2" 'BEGIN {
            while ((getline t < tfile) > 0) wall += t }
        { m += $4 - $1; v += $5 - $2; h += $6 - $3 }
        END { printf "%.3f %.3f %.3f %.3f\n", m * 1000 / hz / mib, v * 1000 / hz / mib, h * 1000 / hz / mib, wall * 1000 / mib }' "$1"
}
echo "CPU per MiB read (ms): QEMU main loop, guest vCPU, helper; wall time per MiB"
for d in native super redir; do
    set -- $(cpu_per_mib "$tmp/$d.cpu" "$tmp/$d.t")
    printf "  %-7s main %.2f  vCPU %.2f  helper %.2f  wall %.2f\n" "$d" "$1" "$2" "$3" "$4"
    eval "${d}_main=\$1 ${d}_vcpu=\$2 ${d}_wall=\$4"
done
# QEMU 7.2 reads a chardev 4 KiB per main-loop pass, so the redirected
# disk's main-loop time is a cost per byte; the native disk's vCPU time is
# the guest's own share of any read.  One command at a time, they add up.
awk -v nw="$native_wall" -v sm="$super_main" -v nv="$native_vcpu" 'BEGIN {
    if (sm + nv > 0)
        printf "bound for any Bulk-Only disk on this chardev (native wall / (super main loop + native vCPU)): %.2f\n", nw / (sm + nv) }'
# A protocol with commands queued (UAS) could overlap the three, but not
# beyond one thread for QEMU's main loop and the machine's cores for all.
set -- $(cpu_per_mib "$tmp/super.cpu" "$tmp/super.t")
awk -v nw="$native_wall" -v m="$1" -v v="$2" -v h="$3" -v cores="$(nproc)" 'BEGIN {
    need = (m + v + h) / cores; if (m > need) need = m
    if (need > 0)
        printf "bound with any overlap on %d cores (native wall / max(main loop, (main + vCPU + helper) / cores)): %.2f\n", cores, nw / need }'
