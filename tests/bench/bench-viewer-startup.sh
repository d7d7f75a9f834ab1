#!/bin/bash
# Benchmark: oriel-viewer against Debian's remote-viewer (the same spice-gtk)
# on the same guest in the same run, under Xvfb:
#  - launch to first frame: from exec until spice-gtk creates the primary
#    display canvas ("Create primary canvas" in both viewers' SPICE_DEBUG
#    log, the same library line, so the logging costs both the same);
#  - RSS two seconds after the first frame (VmRSS) and its peak (VmHWM).
# Medians of RUNS runs each, alternating; prints the figures and the
# oriel/remote-viewer ratios (target: at most 1.0).  Asserts nothing.
#
#   tests/bench/bench-viewer-startup.sh BUILD_DIR [RUNS]
set -u

build=${1:-${ORIEL_BUILD_DIR:-build}}
runs=${2:-5}
guest=${ORIEL_GUEST_DIR:-$build/tests/guest}
viewer="$build/viewer/oriel-viewer"
console="$build/tests/tools/guest-console"
for tool in Xvfb remote-viewer qemu-system-x86_64 python3; do
    command -v "$tool" >/dev/null || { echo "bench-viewer-startup: $tool is missing" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/oriel-bench-viewer.XXXXXX)
xvfb="" qemu="" pid=""
cleanup() {
    for p in $pid $qemu $xvfb; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

mkfifo "$tmp/displayfd"
Xvfb -displayfd 5 -screen 0 1280x1024x24 -nolisten tcp -noreset 5>"$tmp/displayfd" \
    >"$tmp/xvfb.log" 2>&1 &
xvfb=$!
exec 5<"$tmp/displayfd"
read -r -t 30 -u 5 display || { echo "Xvfb did not start" >&2; exit 1; }
exec 5<&-
export DISPLAY=":$display" NO_AT_BRIDGE=1 GDK_BACKEND=x11

# G_DEBUG=fatal-warnings (from the test environment) is not for QEMU: a
# spice-server warning would abort it.
env -u G_DEBUG qemu-system-x86_64 -name guest=oriel-bench-viewer -nodefaults -no-user-config \
    -display none -machine q35 -accel tcg -m 256 \
    -kernel "$guest/vmlinux" -initrd "$guest/initramfs.cpio.gz" -append "console=ttyS0 quiet" \
    -chardev "socket,id=serial0,path=$tmp/serial.sock,server=on,wait=off" \
    -serial chardev:serial0 -device qxl-vga \
    -spice "unix=on,addr=$tmp/spice.sock,disable-ticketing=on" >"$tmp/qemu.log" 2>&1 &
qemu=$!
"$console" "$tmp/serial.sock" --timeout 180 --wait-ready >/dev/null ||
    { echo "the guest did not boot" >&2; exit 1; }
uri="spice+unix://$tmp/spice.sock"

# One run: prints "MS RSS_KIB HWM_KIB".
run_once() { # NAME COMMAND...
    local name=$1; shift
    local log="$tmp/$name.log" start ms="" rss hwm
    start=$(date +%s%N)
    SPICE_DEBUG=1 G_MESSAGES_DEBUG=all "$@" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        if grep -q "Create primary canvas" "$log"; then
            ms=$(python3 - "$log" "$start" <<'PY'
import re, sys, datetime, time
start_ns = int(sys.argv[2])
for line in open(sys.argv[1], errors='replace'):
    if 'Create primary canvas' in line:
        m = re.search(r' (\d\d):(\d\d):(\d\d)\.(\d\d\d): ', line)
        h, mi, s, ms = map(int, m.groups())
        day = datetime.datetime.fromtimestamp(start_ns / 1e9)
        t = day.replace(hour=h, minute=mi, second=s, microsecond=ms * 1000)
        print(int((t.timestamp() * 1e9 - start_ns) / 1e6))
        break
PY
)
            break
        fi
        sleep 0.01
    done
    sleep 2
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    echo "${ms:-NA} ${rss:-NA} ${hwm:-NA}"
}

: >"$tmp/oriel.txt"
: >"$tmp/remote.txt"
for _ in $(seq 1 "$runs"); do
    run_once oriel "$viewer" "$uri" >>"$tmp/oriel.txt"
    run_once remote remote-viewer "$uri" >>"$tmp/remote.txt"
done

python3 - "$tmp/oriel.txt" "$tmp/remote.txt" <<'PY'
import statistics, sys
def load(path):
    rows = [l.split() for l in open(path) if l.strip()]
    cols = list(zip(*rows)) if rows else [(), (), ()]
    return [statistics.median([int(v) for v in c if v != 'NA']) if any(v != 'NA' for v in c) else None
            for c in cols]
o, r = load(sys.argv[1]), load(sys.argv[2])
names = ['launch to first frame (ms)', 'RSS after first frame (KiB)', 'peak RSS (KiB)']
print('%-30s %12s %14s %8s' % ('median of runs', 'oriel-viewer', 'remote-viewer', 'ratio'))
for name, a, b in zip(names, o, r):
    ratio = '%.2f' % (a / b) if a and b else 'NA'
    print('%-30s %12s %14s %8s' % (name, a, b, ratio))
PY
