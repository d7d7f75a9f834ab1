#!/bin/bash
# oriel-agent end to end: the test guest (which starts the static agent at
# boot) runs as a SPICE desktop started by orielctl, and spice-clipboard, a
# real SPICE client on spice-client-glib's SpiceMainChannel, exercises the
# clipboard both ways (text, UTF-8, 8 MiB, PNG, PRIMARY), a 16 MiB file
# transfer, a refused transfer, a monitors config, and a client coming
# back.  The guest side is checked with `oriel-agent` itself over the
# serial console.  The last tests stop the agent and check that the same
# operations then fail, so none of the above can pass without it.
# TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
clip="$build/tests/tools/spice-clipboard"
export gc="$build/tests/tools/guest-console"

tmp=$(mktemp -d /tmp/oriel-agent-e2e.XXXXXX)
export tmp
export ORIEL_RUNTIME_DIR="$tmp/run"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"
name="agent-e2e-$$"
export sock="$ORIEL_RUNTIME_DIR/domains/$name/serial.sock"
create=""
cleanup() {
    kill_desktop "$name"
    rm -rf "$tmp"
}
trap cleanup EXIT

# check NAME COMMAND...: ok when the command succeeds, its output as
# diagnostics otherwise (this script's own, in place of lib.sh's).
check() {
    local what=$1; shift
    if "$@" >"$tmp/check.out" 2>&1; then ok "$what"; else not_ok "$what" "$(tail -20 "$tmp/check.out")"; fi
}
# in_guest COMMAND: runs a shell command in the guest, its output on stdout
in_guest() { "$gc" "$sock" --timeout 120 "$1"; }

echo "1..18"

# The display is stdvga, not qxl: with QXL's client monitors config the
# server hands monitor configs to the QXL device instead of the agent.
cat > "$tmp/desk.cfg" <<CFG
name = "$name"
memory = 256
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
vga = "stdvga"
spice = 1
spicehost = "127.0.0.1"
spicevdagent = 1
spice_clipboard_sharing = 1
CFG

start_desktop "$tmp/desk.cfg" --shutdown-timeout 60
if [[ "$uri" =~ ^spice://127\.0\.0\.1:[0-9]+$ ]] &&
   "$gc" "$sock" --timeout 180 --wait-ready 'pidof oriel-agent' >"$tmp/boot.out" 2>&1; then
    ok "the guest booted with oriel-agent running ($uri)"
else
    not_ok "the guest booted with oriel-agent running" "$(cat "$tmp/create.err" "$tmp/boot.out")"
    exit 1
fi
# Drain orielctl's further output so it never blocks on the fifo.
cat <&3 >/dev/null &

client() { "$clip" --port "$port" --password-file "$tmp/ticket" --timeout 120 "$@"; }

# --- client to guest ----------------------------------------------------
printf 'plain ASCII from the client' >"$tmp/ascii.txt"
check "client to guest: ASCII text reaches 'oriel-agent clip get'" \
    client --grab "$tmp/ascii.txt" \
        --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20" >"$tmp/ascii.got" &&
               cmp "$tmp/ascii.txt" "$tmp/ascii.got"'

printf 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80\nsecond line\n' >"$tmp/utf8.txt"
check "client to guest: multibyte UTF-8 text arrives byte for byte" \
    client --grab "$tmp/utf8.txt" \
        --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20" >"$tmp/utf8.got" &&
               cmp "$tmp/utf8.txt" "$tmp/utf8.got"'

# 8 MiB: compared by SHA-256 in the guest, not over the serial console.
python3 -c "
import random, sys
random.seed(8)
words = ['oriel', 'agent', 'clipboard', 'spice', 'guest', 'h\u00e9llo']
out, size = [], 0
while size < 8 * 1024 * 1024:
    w = random.choice(words) + (' ' if random.random() < 0.9 else '\n')
    out.append(w); size += len(w.encode())
sys.stdout.buffer.write(''.join(out).encode()[:8 * 1024 * 1024])
" >"$tmp/big.txt"
big_sum=$(sha256sum "$tmp/big.txt" | cut -d' ' -f1)
export big_sum
check "client to guest: 8 MiB of text, SHA-256 matches in the guest" \
    client --grab "$tmp/big.txt" \
        --run '[ "$("$gc" "$sock" --timeout 120 "oriel-agent clip get --wait 20 | sha256sum | cut -d\" \" -f1")" = "$big_sum" ]'

printf 'the primary selection' >"$tmp/primary.txt"
check "client to guest: PRIMARY selection" \
    client --selection primary --grab "$tmp/primary.txt" \
        --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20 --selection primary" >"$tmp/primary.got" &&
               cmp "$tmp/primary.txt" "$tmp/primary.got"'

# A small real PNG (2x2 RGB).
python3 -c "
import struct, sys, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
raw = b''.join(b'\x00' + bytes([255, 0, 0, 0, 255, 0]) for _ in range(2))
sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0))
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
" >"$tmp/image.png"
png_sum=$(sha256sum "$tmp/image.png" | cut -d' ' -f1)
png_b64=$(base64 -w0 "$tmp/image.png")
export png_sum png_b64
check "client to guest: a PNG image" \
    client --type png --grab "$tmp/image.png" \
        --run '[ "$("$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20 --type png | sha256sum | cut -d\" \" -f1")" = "$png_sum" ]'

# --- guest to client ----------------------------------------------------
check "guest to client: 'oriel-agent clip set' text reaches the client" \
    client --receive "$tmp/fromguest.txt" \
        --run '"$gc" "$sock" --timeout 60 "printf \"from the gu\\303\\251st\\n\" | oriel-agent clip set"'
if [ "$(cat "$tmp/fromguest.txt" 2>/dev/null)" = "$(printf 'from the gu\303\251st')" ]; then
    ok "guest to client: the text is exact"
else
    not_ok "guest to client: the text is exact" "got: $(cat "$tmp/fromguest.txt" 2>&1)"
fi

check "guest to client: a PNG image" \
    client --type png --receive "$tmp/fromguest.png" \
        --run '"$gc" "$sock" --timeout 60 "echo $png_b64 | base64 -d | oriel-agent clip set --type png"'
cmp -s "$tmp/image.png" "$tmp/fromguest.png" && ok "guest to client: the PNG is exact" ||
    not_ok "guest to client: the PNG is exact"

check "guest to client: PRIMARY selection" \
    client --selection primary --receive "$tmp/fromguest-primary.txt" \
        --run '"$gc" "$sock" --timeout 60 "printf primary-from-guest | oriel-agent clip set --selection primary"'

# --- file transfer ------------------------------------------------------
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/payload.bin"
file_sum=$(sha256sum "$tmp/payload.bin" | cut -d' ' -f1)
if client --send-file "$tmp/payload.bin" >"$tmp/xfer.out" 2>&1 &&
   [ "$(in_guest 'sha256sum /tmp/oriel-agent-files/payload.bin | cut -d" " -f1')" = "$file_sum" ]; then
    ok "a 16 MiB file transfer lands in the guest with the same SHA-256"
else
    not_ok "a 16 MiB file transfer lands in the guest with the same SHA-256" "$(cat "$tmp/xfer.out")"
fi
in_guest 'rm -f /tmp/oriel-agent-files/payload.bin' >/dev/null

# --- monitors config ----------------------------------------------------
check "a monitors config reaches the agent (oriel-agent status)" \
    client --monitor 1280x800 \
        --run 'for i in 1 2 3 4 5 6 7 8 9 10; do
                   "$gc" "$sock" --timeout 60 "oriel-agent status" | grep -q "^monitor0: 1280x800+0+0" && exit 0
                   sleep 0.5
               done; exit 1'

# --- the client leaves and comes back -----------------------------------
if in_guest 'oriel-agent status' >"$tmp/status.txt" 2>&1 &&
   grep -q '^client: none' "$tmp/status.txt" && grep -q '^client-disconnects: [1-9]' "$tmp/status.txt"; then
    ok "a client that disconnects is forgotten (CLIENT_DISCONNECTED)"
else
    not_ok "a client that disconnects is forgotten (CLIENT_DISCONNECTED)" "$(cat "$tmp/status.txt")"
fi
printf 'after reconnecting' >"$tmp/again.txt"
check "a client coming back gets the clipboard working again" \
    client --grab "$tmp/again.txt" \
        --run '"$gc" "$sock" --timeout 60 "oriel-agent clip get --wait 20" >"$tmp/again.got" &&
               cmp "$tmp/again.txt" "$tmp/again.got"'

# --- transfers disabled, then no agent at all ---------------------------
in_guest 'kill $(pidof oriel-agent); while pidof oriel-agent >/dev/null; do usleep 50000; done
          oriel-agent --no-xfer >/tmp/oriel-agent.log 2>&1 </dev/null &' >/dev/null 2>&1
if ! client --send-file "$tmp/ascii.txt" >"$tmp/refused.out" 2>&1 &&
   [ -z "$(in_guest 'ls /tmp/oriel-agent-files 2>/dev/null')" ]; then
    ok "a restarted agent with transfers disabled refuses a file transfer"
else
    not_ok "a restarted agent with transfers disabled refuses a file transfer" "$(cat "$tmp/refused.out")"
fi

in_guest 'kill $(pidof oriel-agent); while pidof oriel-agent >/dev/null; do usleep 50000; done' \
    >/dev/null 2>&1
failed_all=yes
"$clip" --port "$port" --password-file "$tmp/ticket" --timeout 8 --grab "$tmp/ascii.txt" \
    --run 'true' >/dev/null 2>&1 && failed_all=no
in_guest 'oriel-agent clip get' >/dev/null 2>&1 && failed_all=no
in_guest 'oriel-agent status' >/dev/null 2>&1 && failed_all=no
"$clip" --port "$port" --password-file "$tmp/ticket" --timeout 8 --send-file "$tmp/ascii.txt" \
    >/dev/null 2>&1 && failed_all=no
[ "$failed_all" = yes ] && ok "without the agent, clipboard, status and file transfer all fail" ||
    not_ok "without the agent, clipboard, status and file transfer all fail"

stop_desktop
[ "$status" -eq 0 ] && ok "the desktop powers down cleanly" ||
    not_ok "the desktop powers down cleanly" "status=$status" "$(cat "$tmp/create.err")"

[ "$failures" -eq 0 ]
