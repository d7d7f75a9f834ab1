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

source "$(dirname "$0")/spice-start-lib.sh"
bench_write_cfg "$tmp/bench.cfg" bench-dd
bench_direct_argv "$tmp/bench.cfg"

oriel_times=()
direct_times=()
for i in $(seq "$runs"); do
    mkdir -p "$ORIEL_RUNTIME_DIR/domains/bench-dd"
    direct_times+=("$(bench_measure "${direct_argv[@]}")")
    rm -rf "$ORIEL_RUNTIME_DIR/domains/bench-dd"
    # orielctl returns once the domain runs; the shell stays for spice-link
    # to stop, and the domain is destroyed through the daemon.
    oriel_times+=("$(bench_measure sh -c "\"$orielctl\" create \"$tmp/bench.cfg\" >/dev/null && exec sleep 600")")
    "$orielctl" destroy bench-dd >/dev/null
    echo "run $i: orielctl create ${oriel_times[-1]} ms, direct ${direct_times[-1]} ms"
done

bench_report "orielctl create (orield)"
