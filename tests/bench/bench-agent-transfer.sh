#!/bin/bash
# oriel-agent figures, reported, not asserted: footprint (static binary
# size, idle RSS in the guest, beside Debian's spice-vdagent package) and
# throughput and latency with a real SPICE client (spice-clipboard):
# an 8 MiB clipboard and a 64 MiB file transfer from client to guest, and
# small-text latency from the client's grab to the data read in the guest;
# beside two ceilings measured in the same guest and run: the raw
# throughput of a plain virtio-serial port (a second port,
# org.oriel.bench, on a chardev socket the host writes 64 MiB into while
# the guest reads it with dd) and the same SPICE transfers, 8 MiB
# clipboard and 64 MiB file, into a minimal reader (agent-bench-reader.c).
# Times measured through the serial console include its round trip, shown
# on its own as "console overhead".
#
#   bench-agent-transfer.sh BUILD_DIR [RUNS [ROUNDS]]
# RUNS (default 3) for the latency and the raw port, ROUNDS (default 9)
# interleaved rounds of the agent against the minimal reader.
set -u

build=${1:?usage: bench-agent-transfer.sh BUILD_DIR [RUNS [ROUNDS]]}
runs=${2:-3}
rounds=${3:-9}
build=$(cd "$build" && pwd)
# As meson test sets them, for a sanitizer build's client.
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/../lsan.supp:print_suppressions=0}
guest="$build/tests/guest"
clip="$build/tests/tools/spice-clipboard"
export gc="$build/tests/tools/guest-console"

tmp=$(mktemp -d /tmp/oriel-agent-bench.XXXXXX)
export tmp
export ORIEL_RUNTIME_DIR="$tmp/run"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"
name="agent-bench-$$"
export sock="$ORIEL_RUNTIME_DIR/domains/$name/serial.sock"
create=""
cleanup() {
    kill_desktop "$name"
    rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms_of() { sed -n 's/.*"action_ms":\([0-9.]*\).*/\1/p'; }

cat > "$tmp/desk.cfg" <<CFG
name = "$name"
memory = 384
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
vga = "stdvga"
spice = 1
spicehost = "127.0.0.1"
spicevdagent = 1
spice_clipboard_sharing = 1
device_model_args = [ "-chardev", "socket,id=benchport,path=$tmp/raw.sock,server=on,wait=off", "-device", "virtserialport,bus=virtio-serial0.0,chardev=benchport,name=org.oriel.bench" ]
CFG
start_desktop "$tmp/desk.cfg"
cat <&3 >/dev/null &
"$gc" "$sock" --timeout 180 --wait-ready 'pidof oriel-agent' >/dev/null || {
    echo "bench-agent: the guest or its agent did not come up" >&2; cat "$tmp/create.err" >&2; exit 1; }
client() { "$clip" --port "$port" --password-file "$tmp/ticket" --timeout 300 "$@" 2>>"$tmp/client.err" || tail -3 "$tmp/client.err" >&2; }

echo "machine load at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "== footprint"
size=$(stat -c %s "$build/agent/oriel-agent")
echo "oriel-agent static binary: $size bytes ($((size / 1024)) KiB), linked libraries: none (static)"
# smaps_rollup, not VmRSS: the kernel syncs a task's RSS counters lazily,
# and an idle agent's VmRSS can read almost nothing.
mem='grep -E "^(Rss|Pss):" /proc/$(pidof oriel-agent)/smaps_rollup | tr -s " \t" " " | tr "\n" " "; grep VmHWM /proc/$(pidof oriel-agent)/status | tr -s " \t" " "'
echo "oriel-agent idle, before any client: $("$gc" "$sock" --timeout 60 "$mem")"
# Debian's spice-vdagent package, unpacked: its two binaries' sizes and
# the libraries they link (NEEDED, and everything ldd resolves here).
# Their RSS is not measured: the test guest has neither their libraries
# nor an X session for spice-vdagent.
linked() {
    echo "NEEDED: $(objdump -p "$1" 2>/dev/null | awk '/NEEDED/ { printf "%s ", $2 }')"
    echo "  ldd: $(ldd "$1" 2>/dev/null | grep -c '=>') libraries in all"
}
if (cd "$tmp" && apt-get download spice-vdagent >/dev/null 2>&1) &&
   dpkg -x "$tmp"/spice-vdagent_*.deb "$tmp/vdagent"; then
    echo "Debian $(basename "$tmp"/spice-vdagent_*.deb .deb):"
    for bin in usr/bin/spice-vdagent usr/sbin/spice-vdagentd; do
        [ -f "$tmp/vdagent/$bin" ] || continue
        vsize=$(stat -c %s "$tmp/vdagent/$bin")
        echo "  $bin: $vsize bytes ($((vsize / 1024)) KiB); $(linked "$tmp/vdagent/$bin")"
        awk -v a="$size" -v b="$vsize" -v n="${bin##*/}" 'BEGIN { printf "  oriel-agent / %s binary size: %.2f\n", n, a / b }'
    done
else
    echo "spice-vdagent: could not be downloaded (apt-get download spice-vdagent); no comparison"
fi
if [ -x "$build/agent/oriel-agent-x11" ]; then
    xsize=$(stat -c %s "$build/agent/oriel-agent-x11")
    strip -o "$tmp/oriel-agent-x11.stripped" "$build/agent/oriel-agent-x11"
    ssize=$(stat -c %s "$tmp/oriel-agent-x11.stripped")
    echo "oriel-agent-x11 (dynamic, this build's flags): $xsize bytes, stripped $ssize bytes ($((ssize / 1024)) KiB); $(linked "$build/agent/oriel-agent-x11")"
    # Its idle RSS on the host under Xvfb (the test guest has no X server),
    # a pty for the port with no client on it.
    if command -v Xvfb >/dev/null; then
        python3 - "$build/agent/oriel-agent-x11" "$tmp" <<'PY'
import os, subprocess, sys, time
agent, tmp = sys.argv[1:3]
r, w = os.pipe()
xvfb = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-nolisten', 'tcp'], pass_fds=[w],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(w)
display = os.read(r, 64).decode().strip()
master, slave = os.openpty()
proc = subprocess.Popen([agent, '--port', os.ttyname(slave), '--socket', tmp + '/x11.sock',
                         '--no-xfer'], env=dict(os.environ, DISPLAY=':' + display),
                        stderr=subprocess.DEVNULL)
time.sleep(2)
rss = [l.split()[1] for l in open('/proc/%d/smaps_rollup' % proc.pid) if l.startswith('Rss:')]
print('oriel-agent-x11 idle under Xvfb (host, glibc): Rss: %s kB' % (rss[0] if rss else '?'))
proc.terminate(); proc.wait(); xvfb.terminate(); xvfb.wait()
PY
    fi
fi

echo "== console overhead (guest-console round trip)"
console_ms=$(for i in $(seq "$runs"); do
    s=$(date +%s%N); "$gc" "$sock" --timeout 60 'true' >/dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
done | median)
echo "median ms: $console_ms"

echo "== small text, client grab -> readable in the guest (includes console overhead)"
printf 'latency probe' >"$tmp/small.txt"
for i in $(seq "$runs"); do
    client --grab "$tmp/small.txt" --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20 >/dev/null"' | ms_of
done | median | sed 's/^/median ms: /'

head -c $((8 * 1024 * 1024)) /dev/urandom | base64 -w 76 | head -c $((8 * 1024 * 1024)) >"$tmp/big.txt"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$tmp/file.bin"

# The raw ceiling: the host writes 64 MiB into the bench port's chardev
# socket while dd in the guest reads it; the guest echoes "done" back on
# the port when it has all of it, which stops the clock.
echo "== raw virtio-serial port, 64 MiB host -> guest (dd)"
vport=$("$gc" "$sock" --timeout 60 'for d in /sys/class/virtio-ports/*; do [ "$(cat $d/name)" = org.oriel.bench ] && echo ${d##*/}; done' | tr -d '\r' | tail -1)
raw_ms=$(for i in $(seq "$runs"); do
    python3 - "$tmp/raw.sock" "$gc" "$sock" "$vport" <<'PY'
import socket, subprocess, sys, time
path, gc, console, vport = sys.argv[1:5]
size = 64 * 1024 * 1024
s = socket.socket(socket.AF_UNIX)
s.connect(path)
subprocess.run([gc, console, '--timeout', '60',
                '(dd if=/dev/%s of=/dev/null bs=65536 count=%d iflag=fullblock 2>/tmp/raw.log && '
                'echo done >/dev/%s) &' % (vport, size // 65536, vport)],
               check=True, stdout=subprocess.DEVNULL)
time.sleep(1)
block = b'\xa5' * (1 << 20)
start = time.monotonic()
for _ in range(size // len(block)):
    s.sendall(block)
reply = b''
s.settimeout(300)
while b'done' not in reply:
    piece = s.recv(64)
    if not piece:
        sys.exit('the guest closed the port before it had all the data')
    reply += piece
print('%.1f' % ((time.monotonic() - start) * 1000))
PY
done | median)
echo "$raw_ms" | awk '{ printf "median ms: %s  (%.1f MiB/s)\n", $1, 64 * 1000 / $1 }'

# The ceiling: the same transfers into the minimal reader, which the
# agent itself carries into the guest. The agent and the reader take
# turns on the port in interleaved rounds (agent, reader, reader, agent,
# agent, ...: one switch a round, each first as often as second), so a
# slow moment of this shared machine lands on one sample, not on one
# side; medians and their ratio are reported, with the spread. Times are
# the client's (monotonic, microseconds), from the agent's capabilities
# to the end of the transfer; a clipboard time includes the console round
# trip that asks the guest for the data, the same for both.
reader="$build/tests/agent/agent-bench-reader"
[ -x "$reader" ] && client --send-file "$reader" >/dev/null &&
    "$gc" "$sock" --timeout 60 'cp /tmp/oriel-agent-files/agent-bench-reader /tmp/reader &&
        chmod +x /tmp/reader && rm -f /tmp/oriel-agent-files/*' >/dev/null || {
    echo "bench-agent: the minimal reader could not be copied into the guest; no ceiling" >&2; exit 1; }
# switch_to agent|reader: stops whichever runs on the port, starts the other.
switch_to() {
    if [ "$1" = reader ]; then
        cmd='kill $(pidof oriel-agent) && while pidof oriel-agent >/dev/null; do usleep 20000; done && (/tmp/reader </dev/null >/tmp/reader.log 2>&1 &)'
    else
        cmd='kill $(pidof reader) && while pidof reader >/dev/null; do usleep 20000; done && (/usr/bin/oriel-agent </dev/null >/tmp/oriel-agent.log 2>&1 &)'
    fi
    "$gc" "$sock" --timeout 60 "$cmd" >/dev/null || { echo "bench-agent: cannot start the $1" >&2; exit 1; }
}
file_ms() {
    client --send-file "$tmp/file.bin" | ms_of
    [ "$1" = agent ] && "$gc" "$sock" --timeout 60 'rm -f /tmp/oriel-agent-files/*' >/dev/null
}
clip_ms() {
    if [ "$1" = agent ]; then
        client --grab "$tmp/big.txt" --run '"$gc" "$sock" --timeout 120 "oriel-agent clip get --wait 20 >/dev/null"' | ms_of
    else
        # The console signals the reader, which asks for the grabbed
        # clipboard and marks its arrival; the console polls for the mark
        # (every 5 ms, small beside the transfer).
        client --grab "$tmp/big.txt" --run '"$gc" "$sock" --timeout 120 "kill -USR1 \$(pidof reader); while [ ! -e /tmp/reader-clip.done ]; do usleep 5000; done; rm -f /tmp/reader-clip.done"' | ms_of
    fi
}
echo "== 64 MiB file transfer and 8 MiB clipboard, client -> guest: agent and minimal reader, $rounds interleaved rounds"
: >"$tmp/agent.file"; : >"$tmp/reader.file"; : >"$tmp/agent.clip"; : >"$tmp/reader.clip"
on=agent
for round in $(seq "$rounds"); do
    other=$([ "$on" = agent ] && echo reader || echo agent)
    line="round $round:"
    for who in "$on" "$other"; do
        [ "$who" != "$on" ] && switch_to "$who"
        f=$(file_ms "$who"); c=$(clip_ms "$who")
        [ -n "$f" ] && [ -n "$c" ] || { echo "bench-agent: a transfer to the $who failed" >&2; exit 1; }
        echo "$f" >>"$tmp/$who.file"; echo "$c" >>"$tmp/$who.clip"
        line="$line $who file ${f} ms clip ${c} ms;"
    done
    on=$other
    echo "$line"
done
[ "$on" = agent ] || switch_to agent
echo "oriel-agent after the transfers: $("$gc" "$sock" --timeout 60 "$mem")"
echo "machine load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# spread LABEL MIB FILE: median, min and max time, and throughput.
spread() {
    sort -n "$3" | awk -v l="$1" -v mib="$2" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%-30s median %7.1f ms (%5.1f MiB/s), min %7.1f, max %7.1f ms\n", l, m, mib * 1000 / m, v[1], v[NR] }'
}
spread "64 MiB file, agent:" 64 "$tmp/agent.file"
spread "64 MiB file, minimal reader:" 64 "$tmp/reader.file"
spread "8 MiB clipboard, agent:" 8 "$tmp/agent.clip"
spread "8 MiB clipboard, min. reader:" 8 "$tmp/reader.clip"
agent_ms=$(median <"$tmp/agent.file"); reader_ms=$(median <"$tmp/reader.file")
agent_clip_ms=$(median <"$tmp/agent.clip"); reader_clip_ms=$(median <"$tmp/reader.clip")
# Per round too: the spread of the ratio within a round, where both sides
# met the same load.
# Also the median of the per-round ratios, and fastest against fastest:
# the load of this shared machine only ever adds time, so the fastest
# round of each side is the steadiest estimate of its own cost.
ratios() {
    local fastest
    fastest=$(paste "$1" "$2" | awk 'NR == 1 || $1 < fa { fa = $1 } NR == 1 || $2 < fr { fr = $2 } END { print fr / fa }')
    paste "$1" "$2" | awk '{ print $2 / $1 }' | sort -g | awk -v f="$fastest" '{ r[NR] = $1 }
        END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
              printf "per round %.2f .. %.2f, their median %.2f; fastest / fastest %.2f", r[1], r[NR], m, f }'
}
awk -v a="$agent_ms" -v r="$reader_ms" -v s="$(ratios "$tmp/agent.file" "$tmp/reader.file")" 'BEGIN { if (a > 0) printf "agent / minimal reader throughput, 64 MiB file (ratio of medians): %.2f (target >= 0.9)\n  %s\n", r / a, s }'
awk -v a="$agent_clip_ms" -v r="$reader_clip_ms" -v s="$(ratios "$tmp/agent.clip" "$tmp/reader.clip")" 'BEGIN { if (a > 0) printf "agent / minimal reader throughput, 8 MiB clipboard (ratio of medians): %.2f (target >= 0.9)\n  %s\n", r / a, s }'
awk -v a="$agent_clip_ms" -v r="$reader_clip_ms" -v c="$console_ms" 'BEGIN { if (a > c && r > c) printf "  the same without the console round trip (%s ms): %.2f\n", c, (r - c) / (a - c) }'
awk -v a="$agent_ms" -v r="$raw_ms" 'BEGIN { if (a > 0 && r > 0) printf "agent file transfer / raw port throughput: %.2f\n", r / a }'
awk -v a="$reader_ms" -v r="$raw_ms" 'BEGIN { if (a > 0 && r > 0) printf "minimal reader file transfer / raw port throughput: %.2f\n", r / a }'

stop_desktop
