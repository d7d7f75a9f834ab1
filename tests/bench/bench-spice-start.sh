#!/bin/bash
# Benchmark: wall time from `orielctl create -F` until SPICE answers a link
# request (a real SPICE link reply, measured by tests/tools/spice-link),
# against the same QEMU argv started directly, alternating runs in one
# invocation on the test guest's config.  Prints both medians and their
# ratio (target: at most 1.05).
#
#   tests/bench/bench-spice-start.sh [BUILD_DIR] [RUNS]
#   meson test -C build --benchmark
set -eu

build=${1:-${ORIEL_BUILD_DIR:-build}}
runs=${2:-${ORIEL_BENCH_RUNS:-9}}
build=$(cd "$build" && pwd)
guest="$build/tests/guest"
orielctl="$build/toolstack/orielctl"
link="$build/tests/tools/spice-link"
for f in "$orielctl" "$link" "$guest/vmlinux"; do
    [ -e "$f" ] || { echo "bench: $f is missing; build first (meson compile -C $build tests/guest/vmlinuz)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/oriel-bench.XXXXXX)
trap 'pkill -9 -f "guest=bench-desk" 2>/dev/null; rm -rf "$tmp"' EXIT
export ORIEL_RUNTIME_DIR="$tmp/run"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/bench.cfg" <<CFG
name = "bench-desk"
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

# The same argv orielctl would run (its QMP socket by path instead of an
# inherited fd, which is the only difference).
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
    mkdir -p "$ORIEL_RUNTIME_DIR/domains/bench-desk"
    direct_times+=("$(measure "${direct_argv[@]}")")
    rm -rf "$ORIEL_RUNTIME_DIR/domains/bench-desk"
    oriel_times+=("$(measure "$orielctl" create -F --quiet --shutdown-timeout 1 "$tmp/bench.cfg")")
    echo "run $i: orielctl ${oriel_times[-1]} ms, direct ${direct_times[-1]} ms"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
oriel=$(median "${oriel_times[@]}")
direct=$(median "${direct_times[@]}")
ratio=$(awk -v a="$oriel" -v b="$direct" 'BEGIN {printf "%.3f", a / b}')
echo "spice-link-reply median over $runs runs: orielctl create -F ${oriel} ms, direct QEMU ${direct} ms"
echo "ratio orielctl/direct: $ratio (target <= 1.05)"
