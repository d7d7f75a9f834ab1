#!/bin/bash
# Benchmark: wall time from `orielctl create` (through a running orield)
# until SPICE answers a link request (tests/tools/spice-link), against the
# same QEMU argv started directly, alternating runs.  Prints both medians
# and their ratio (target: at most 1.05).
#
#   tests/bench/bench-daemon-create.sh [BUILD_DIR] [RUNS]
set -eu

build=${1:-${ORIEL_BUILD_DIR:-build}}
runs=${2:-${ORIEL_BENCH_RUNS:-9}}
build=$(cd "$build" && pwd)
guest="$build/tests/guest"
orield="$build/hypervisor/orield"
orielctl="$build/toolstack/orielctl"
link="$build/tests/tools/spice-link"
for f in "$orield" "$orielctl" "$link" "$guest/vmlinux"; do
    [ -e "$f" ] || { echo "bench: $f is missing; build first" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/oriel-bc.XXXXXX)
orield_pid=""
cleanup() {
    [ -f "$tmp/r/domains/bench-dd/qemu.pid" ] && kill -9 "$(cat "$tmp/r/domains/bench-dd/qemu.pid")" 2>/dev/null
    [ -n "$orield_pid" ] && kill "$orield_pid" 2>/dev/null && { wait "$orield_pid"; } 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export ORIEL_CONFIG_DIR="$tmp/c" ORIEL_STATE_DIR="$tmp/s" ORIEL_RUNTIME_DIR="$tmp/r"

mkfifo "$tmp/ready"
"$orield" >"$tmp/ready" 2>"$tmp/orield.log" &
orield_pid=$!
read -r -t 30 _ <"$tmp/ready"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/bench.cfg" <<CFG
name = "bench-dd"
memory = 256
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
spice = 1
spicehost = "127.0.0.1"
spiceport = $port
spicedisable_ticketing = 1
spicevdagent = 1
CFG

line=$("$orielctl" argv "$tmp/bench.cfg")
eval "set -- $line"
direct_argv=("$@")

measure() {
    local out
    out=$("$link" --host 127.0.0.1 --port "$port" --wait-ms 120000 --stop-signal INT \
              --stop-timeout-ms 30000 -- "$@")
    sed -n 's/^link-reply-ms=//p' <<<"$out"
}

oriel_times=()
direct_times=()
for i in $(seq "$runs"); do
    mkdir -p "$ORIEL_RUNTIME_DIR/domains/bench-dd"
    direct_times+=("$(measure "${direct_argv[@]}")")
    rm -rf "$ORIEL_RUNTIME_DIR/domains/bench-dd"
    # orielctl returns once the domain runs; the shell stays for spice-link
    # to stop, and the domain is destroyed through the daemon.
    oriel_times+=("$(measure sh -c "\"$orielctl\" create \"$tmp/bench.cfg\" >/dev/null && exec sleep 600")")
    "$orielctl" destroy bench-dd >/dev/null
    echo "run $i: orielctl create ${oriel_times[-1]} ms, direct ${direct_times[-1]} ms"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
oriel=$(median "${oriel_times[@]}")
direct=$(median "${direct_times[@]}")
ratio=$(awk -v a="$oriel" -v b="$direct" 'BEGIN {printf "%.3f", a / b}')
echo "spice-link-reply median over $runs runs: orielctl create (orield) ${oriel} ms, direct QEMU ${direct} ms"
echo "ratio orielctl/direct: $ratio (target <= 1.05)"
