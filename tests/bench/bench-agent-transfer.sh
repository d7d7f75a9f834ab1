#!/bin/bash
# oriel-agent figures, reported, not asserted: footprint (static binary
# size, idle RSS in the guest, beside Debian's spice-vdagent package) and
# throughput and latency with a real SPICE client (spice-clipboard):
# an 8 MiB clipboard and a 64 MiB file transfer from client to guest, and
# small-text latency from the client's grab to the data read in the guest;
# beside the ceiling of the same file transfer into a minimal reader
# (agent-bench-reader.c).  The raw virtio-serial ceiling is not measured:
# it needs a second port on a plain chardev, which orielctl does not offer.
# Times measured through the serial console include its round trip, shown
# on its own as "console overhead".
#
#   bench-agent-transfer.sh BUILD_DIR [RUNS]
set -u

build=${1:?usage: bench-agent-transfer.sh BUILD_DIR [RUNS]}
runs=${2:-3}
build=$(cd "$build" && pwd)
# As meson test sets them, for a sanitizer build's client.
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/../lsan.supp:print_suppressions=0}
guest="$build/tests/guest"
orielctl="$build/toolstack/orielctl"
clip="$build/tests/tools/spice-clipboard"
export gc="$build/tests/tools/guest-console"

tmp=$(mktemp -d /tmp/oriel-agent-bench.XXXXXX)
export tmp
export ORIEL_RUNTIME_DIR="$tmp/run"
name="agent-bench-$$"
export sock="$ORIEL_RUNTIME_DIR/domains/$name/serial.sock"
create=""
cleanup() {
    [ -n "$create" ] && kill -9 "$create" 2>/dev/null
    pkill -9 -f "guest=$name" 2>/dev/null
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
CFG
mkfifo "$tmp/create.out"
"$orielctl" create -F --ticket-file "$tmp/ticket" "$tmp/desk.cfg" >"$tmp/create.out" 2>"$tmp/create.err" &
create=$!
exec 3<"$tmp/create.out"
uri=""
while IFS= read -r -t 240 -u 3 line; do
    case "$line" in "SPICE URI: "*) uri=${line#SPICE URI: }; break ;; esac
done
cat <&3 >/dev/null &
port=${uri##*:}
"$gc" "$sock" --timeout 180 --wait-ready 'pidof oriel-agent' >/dev/null || {
    echo "bench-agent: the guest or its agent did not come up" >&2; cat "$tmp/create.err" >&2; exit 1; }
client() { "$clip" --port "$port" --password-file "$tmp/ticket" --timeout 300 "$@" 2>>"$tmp/client.err" || tail -3 "$tmp/client.err" >&2; }

echo "== footprint"
size=$(stat -c %s "$build/agent/oriel-agent")
echo "oriel-agent static binary: $size bytes ($((size / 1024)) KiB), linked libraries: none (static)"
# smaps_rollup, not VmRSS: the kernel syncs a task's RSS counters lazily,
# and an idle agent's VmRSS can read almost nothing.
mem='grep -E "^(Rss|Pss):" /proc/$(pidof oriel-agent)/smaps_rollup | tr -s " \t" " " | tr "\n" " "; grep VmHWM /proc/$(pidof oriel-agent)/status | tr -s " \t" " "'
echo "oriel-agent idle, before any client: $("$gc" "$sock" --timeout 60 "$mem")"
for pkg in spice-vdagent; do
    info=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null)
    if [ -n "$info" ]; then
        echo "Debian $pkg $(echo "$info" | sed -n 's/^Version: //p'): installed size" \
             "$(echo "$info" | sed -n 's/^Installed-Size: //p') KiB (spice-vdagent + spice-vdagentd)," \
             "depends: $(echo "$info" | sed -n 's/^Depends: //p')"
    fi
done

echo "== console overhead (guest-console round trip)"
for i in $(seq "$runs"); do
    s=$(date +%s%N); "$gc" "$sock" --timeout 60 'true' >/dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
done | median | sed 's/^/median ms: /'

echo "== small text, client grab -> readable in the guest (includes console overhead)"
printf 'latency probe' >"$tmp/small.txt"
for i in $(seq "$runs"); do
    client --grab "$tmp/small.txt" --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20 >/dev/null"' | ms_of
done | median | sed 's/^/median ms: /'

echo "== 8 MiB clipboard, client -> guest"
head -c $((8 * 1024 * 1024)) /dev/urandom | base64 -w 76 | head -c $((8 * 1024 * 1024)) >"$tmp/big.txt"
for i in $(seq "$runs"); do
    client --grab "$tmp/big.txt" --run '"$gc" "$sock" --timeout 120 "oriel-agent clip get --wait 20 >/dev/null"' | ms_of
done | median | awk '{ printf "median ms: %s  (%.1f MiB/s)\n", $1, 8 * 1000 / $1 }'

echo "== 64 MiB file transfer, client -> guest"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$tmp/file.bin"
agent_ms=$(for i in $(seq "$runs"); do
    client --send-file "$tmp/file.bin" | ms_of
    "$gc" "$sock" --timeout 60 'rm -f /tmp/oriel-agent-files/*' >/dev/null
done | median)
echo "$agent_ms" | awk '{ printf "median ms: %s  (%.1f MiB/s)\n", $1, 64 * 1000 / $1 }'

echo "oriel-agent after the transfers: $("$gc" "$sock" --timeout 60 "$mem")"

# The ceiling: the same transfer into the minimal reader, which the agent
# itself carries into the guest.
reader="$build/tests/agent/agent-bench-reader"
if [ -x "$reader" ] && client --send-file "$reader" >/dev/null &&
   "$gc" "$sock" --timeout 60 'cp /tmp/oriel-agent-files/agent-bench-reader /tmp/reader &&
       chmod +x /tmp/reader && rm -f /tmp/oriel-agent-files/* && kill $(pidof oriel-agent) &&
       while pidof oriel-agent >/dev/null; do usleep 50000; done &&
       (/tmp/reader </dev/null >/tmp/reader.log 2>&1 &)' >/dev/null; then
    echo "== 64 MiB file transfer into the minimal reader (the ceiling)"
    reader_ms=$(for i in $(seq "$runs"); do client --send-file "$tmp/file.bin" | ms_of; done | median)
    echo "$reader_ms" | awk '{ printf "median ms: %s  (%.1f MiB/s)\n", $1, 64 * 1000 / $1 }'
    awk -v a="$agent_ms" -v r="$reader_ms" 'BEGIN { if (a > 0) printf "agent / minimal reader throughput: %.2f (target >= 0.9)\n", r / a }'
else
    echo "the minimal reader could not be started; no ceiling" >&2
fi

kill -INT "$create"
wait "$create"
create=""
