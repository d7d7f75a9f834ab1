#!/bin/bash
# Benchmark: orield with many defined domains.  Defines N domains (default
# 1000) over the socket, then reports orield's resident memory per defined
# domain and the median wall time of `orielctl list --json` (targets: under
# 64 KiB per domain, under 50 ms).
#
#   tests/bench/bench-daemon-store.sh [BUILD_DIR] [DOMAINS]
set -eu

build=${1:-${ORIEL_BUILD_DIR:-build}}
count=${2:-${ORIEL_BENCH_DOMAINS:-1000}}
build=$(cd "$build" && pwd)
guest="$build/tests/guest"
for f in "$build/hypervisor/orield" "$build/toolstack/orielctl" "$guest/vmlinux"; do
    [ -e "$f" ] || { echo "bench: $f is missing; build first" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/oriel-bs.XXXXXX)
orield_pid=""
trap '[ -n "$orield_pid" ] && kill "$orield_pid" 2>/dev/null && wait "$orield_pid"; rm -rf "$tmp"' EXIT
export ORIEL_CONFIG_DIR="$tmp/c" ORIEL_STATE_DIR="$tmp/s" ORIEL_RUNTIME_DIR="$tmp/r"

mkfifo "$tmp/ready"
"$build/hypervisor/orield" >"$tmp/ready" 2>"$tmp/orield.log" &
orield_pid=$!
read -r -t 30 _ <"$tmp/ready"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$orield_pid/status"; }
before=$(rss_kib)

python3 - "$ORIEL_RUNTIME_DIR/orield.sock" "$count" "$guest" <<'PY'
import json, socket, sys
path, count, guest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX); s.connect(path)
f = s.makefile("rwb")
for i in range(count):
    config = {"name": "bench-%04d" % i, "memory": 256, "kernel": guest + "/vmlinux",
              "ramdisk": guest + "/initramfs.cpio.gz", "cmdline": "console=ttyS0 quiet", "spice": True}
    f.write((json.dumps({"execute": "domain-define", "arguments": {"config": config}, "id": i}) + "\n").encode())
f.flush()
for i in range(count):
    reply = json.loads(f.readline())
    if "return" not in reply:
        sys.exit("define failed: %r" % reply)
PY

after=$(rss_kib)
times=()
for _ in $(seq 11); do
    start=$(date +%s%N)
    "$build/toolstack/orielctl" list --json >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
done
median=$(printf "%s\n" "${times[@]}" | sort -n | sed -n 6p)
listed=$("$build/toolstack/orielctl" list --json | grep -c '"name"')
echo "domains defined: $listed"
echo "orield RSS: ${before} KiB empty, ${after} KiB with $count domains: $(( (after - before) / count )) KiB per domain (target < 64)"
echo "orielctl list --json: median $(( median / 1000 )).$(( median % 1000 / 100 )) ms over 11 runs (target < 50)"
