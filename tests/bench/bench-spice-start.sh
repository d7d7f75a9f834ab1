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
    [ -e "$f" ] || { echo "bench: $f is missing; build first (meson compile -C $build guest_image orielctl spice-link)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/oriel-bench.XXXXXX)
trap 'pkill -9 -f "guest=bench-desk" 2>/dev/null; rm -rf "$tmp"' EXIT
export ORIEL_RUNTIME_DIR="$tmp/run"

source "$(dirname "$0")/spice-start-lib.sh"
bench_write_cfg "$tmp/bench.cfg" bench-desk
bench_direct_argv "$tmp/bench.cfg"

oriel_times=()
direct_times=()
for i in $(seq "$runs"); do
    mkdir -p "$ORIEL_RUNTIME_DIR/domains/bench-desk"
    direct_times+=("$(bench_measure "${direct_argv[@]}")")
    rm -rf "$ORIEL_RUNTIME_DIR/domains/bench-desk"
    oriel_times+=("$(bench_measure "$orielctl" create -F --quiet --shutdown-timeout 1 "$tmp/bench.cfg")")
    echo "run $i: orielctl ${oriel_times[-1]} ms, direct ${direct_times[-1]} ms"
done

bench_report "orielctl create -F"
