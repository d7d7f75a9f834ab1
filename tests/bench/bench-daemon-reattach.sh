#!/bin/bash
# Benchmark: time for a restarted orield to reattach N running domains
# (default 20; target under 1 s).  The QEMUs start with -S (vCPUs stopped)
# and 64 MiB, so N of them fit on a small machine; reattaching does not
# depend on the guest running.
#
#   tests/bench/bench-daemon-reattach.sh [BUILD_DIR] [DOMAINS]
set -eu

build=${1:-${ORIEL_BUILD_DIR:-build}}
count=${2:-${ORIEL_BENCH_DOMAINS:-20}}
build=$(cd "$build" && pwd)
orield="$build/hypervisor/orield"
orielctl="$build/toolstack/orielctl"
guest="$build/tests/guest"

tmp=$(mktemp -d /tmp/oriel-br.XXXXXX)
orield_pid=""
cleanup() {
    [ -n "$orield_pid" ] && kill "$orield_pid" 2>/dev/null && { wait "$orield_pid"; } 2>/dev/null
    for f in "$tmp"/r/domains/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
export ORIEL_CONFIG_DIR="$tmp/c" ORIEL_STATE_DIR="$tmp/s" ORIEL_RUNTIME_DIR="$tmp/r"

start_orield() {
    rm -f "$tmp/ready"; mkfifo "$tmp/ready"
    "$orield" >"$tmp/ready" 2>>"$tmp/orield.log" &
    orield_pid=$!
    read -r -t 30 _ <"$tmp/ready"
}

start_orield
for i in $(seq "$count"); do
    cat >"$tmp/d$i.cfg" <<CFG
name = "br-$i"
memory = 64
kernel = "$guest/vmlinux"
spice = 1
device_model_args = [ "-S" ]
CFG
    "$orielctl" create "$tmp/d$i.cfg" >/dev/null
done
running=$("$orielctl" list | grep -c " running ")
kill -9 "$orield_pid"; { wait "$orield_pid"; } 2>/dev/null || true

start=$(date +%s%N)
start_orield
# Done when no domain is "starting" any more (reattach in flight).
while "$orielctl" list | grep -q " starting "; do sleep 0.01; done
end=$(date +%s%N)
back=$("$orielctl" list | grep -Ec " (running|paused) ")
echo "domains running before: $running, reattached: $back"
echo "reattach of $count domains (orield start to all reattached): $(( (end - start) / 1000000 )) ms (target < 1000)"

# How fast a QEMU's death is seen (target: policy applied within 200 ms):
# SIGKILL one reattached QEMU and one QEMU orield started itself, timing
# each until its DOMAIN_STATE event.
cat >"$tmp/fresh.cfg" <<CFG
name = "br-fresh"
memory = 64
kernel = "$guest/vmlinux"
spice = 1
device_model_args = [ "-S" ]
CFG
"$orielctl" create "$tmp/fresh.cfg" >/dev/null || { cat "$tmp/orield.log" >&2; exit 1; }
python3 - "$ORIEL_RUNTIME_DIR" <<'PY'
import json, os, signal, socket, sys, time
runtime = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.connect(runtime + "/orield.sock"); f = s.makefile("rwb")
f.write(b'{"execute": "subscribe-events", "id": 1}\n'); f.flush(); f.readline()
for name, what in (("br-1", "reattached QEMU"), ("br-fresh", "child QEMU")):
    pid = int(open("%s/domains/%s/qemu.pid" % (runtime, name)).read())
    start = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while True:
        event = json.loads(f.readline())
        if event.get("event") == "DOMAIN_STATE" and event["data"]["name"] == name:
            break
    print("SIGKILL of a %s to its DOMAIN_STATE event (%s): %.1f ms (target < 200)"
          % (what, event["data"]["state"], (time.monotonic() - start) * 1000))
PY
