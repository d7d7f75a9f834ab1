#!/bin/bash
# The user's view of oriel-viewer, under Xvfb:
#  - against the test guest run by `orielctl create -F`: the first frame is
#    the pattern the guest drew on its framebuffer, pixel for pixel the same
#    surface spice-probe receives; a wrong ticket exits 2, an absent server
#    3; .vv files from a path (delete-this-file) and from stdin; keys typed
#    with xdotool reach the guest's shell; the window opens at the guest's
#    size; a guest reboot keeps the session and brings a new display;
#  - against a plain QEMU started here with its own SPICE options (a Unix
#    socket, no ticket, a usb-redir channel, the agent's port): interop;
#    --share-cd reads back in the guest with the same checksum; the
#    clipboard both ways through the guest agent, and each --clipboard
#    policy blocking its direction; reconnecting when QEMU restarts,
#    then exit 5 when it stays away;
#  - TLS: a .vv file's ca and host-subject connect, an untrusted
#    certificate exits 4.
# TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
viewer="$build/viewer/oriel-viewer"
probe="$build/tests/tools/spice-probe"
console="$build/tests/tools/guest-console"
image_tool="$source_dir/tests/viewer/image-tool.py"

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"
require_tools Xvfb xdotool xclip openssl qemu-system-x86_64 python3

tmp=$(mktemp -d /tmp/oriel-viewer-e2e.XXXXXX)
# Under AddressSanitizer, GTK, fontconfig and spice-gtk keep allocations
# for the life of the process: LeakSanitizer reports them at exit.  Those
# library-internal leaks are suppressed; ours are still reported.
use_lsan_suppressions viewer/lsan.supp
# No accessibility bus or desktop session exists under Xvfb; GTK would warn
# about the missing AT-SPI bus.
export NO_AT_BRIDGE=1
export GDK_BACKEND=x11

export ORIEL_RUNTIME_DIR="$tmp/run"
# Hermetic viewer defaults; the keyboard test finds its window by this title.
export ORIEL_CONFIG_DIR="$tmp/config"
mkdir -p "$ORIEL_CONFIG_DIR"
printf '[viewer]\n# from viewer.conf\ntitle = viewer-e2e-window\nno-audio = true\n' \
    >"$ORIEL_CONFIG_DIR/viewer.conf"
xvfb="" create="" qemu="" viewer_pid=""
cleanup() {
    kill_pids "$viewer_pid" "$qemu"
    # orielctl, and its QEMU by the pid it recorded, should orielctl not
    # have powered it down.
    kill_desktop viewer-e2e-desk
    kill_pids "$xvfb"
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "1..25"

start_xvfb 1280x1024x24 || bail_out "Xvfb did not start: $(cat "$tmp/xvfb.log")"
ok "Xvfb runs on $DISPLAY"

cat > "$tmp/desk.cfg" <<CFG
name = "viewer-e2e-desk"
memory = 256
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
vga = "qxl"
spice = 1
spicehost = "127.0.0.1"
CFG

start_desktop "$tmp/desk.cfg" --shutdown-timeout 120
serial="$ORIEL_RUNTIME_DIR/domains/viewer-e2e-desk/serial.sock"
if [[ "$uri" =~ ^spice://127\.0\.0\.1:[0-9]+$ ]] && [ -s "$tmp/ticket" ] &&
   "$console" "$serial" --timeout 180 --wait-ready >/dev/null 2>"$tmp/console.err"; then
    ok "the desktop runs ($uri) and its shell answers"
else
    not_ok "the desktop runs and its shell answers" "$(cat "$tmp/create.err" "$tmp/console.err")"
    exit 1
fi

# The known pattern: 8 grey bands of 96 rows (value 16 + 32 * band) over
# the whole 1024x768 framebuffer, written band by band (one big write can
# lose damage in qxl's fbdev emulation), with the console's cursor blink
# off so nothing else changes the screen.
draw_pattern() { # SERIAL-SOCKET
    "$console" "$1" --timeout 120 '
        echo 0 > /sys/class/graphics/fbcon/cursor_blink
        for i in 0 1 2 3 4 5 6 7; do
            head -c 393216 /dev/zero | tr "\000" "\\$(printf %o $((i * 32 + 16)))" > /tmp/band$i
        done
        for i in 0 1 2 3 4 5 6 7; do
            dd if=/tmp/band$i of=/dev/fb0 bs=393216 seek=$i count=1 2>/dev/null
            sleep 0.1
        done
        sleep 0.5; echo drawn'
}
draw_pattern "$serial" >"$tmp/draw.out" 2>&1

run_viewer() { # OUT-PREFIX VIEWER-ARGS...
    local prefix=$1; shift
    timeout 120 "$viewer" "$@" >"$prefix.out" 2>"$prefix.err"
}

run_viewer "$tmp/first" "$uri" --password-file "$tmp/ticket" \
    --screenshot "$tmp/viewer.png" --exit-after-frames 1 --timeout 60
status=$?
check "the viewer's first frame is the guest's pattern (exit $status)" \
    "$tmp/draw.out" "$tmp/first.err" "$tmp/bands.err" -- \
    eval '[ "$status" -eq 0 ] && python3 "$image_tool" bands "$tmp/viewer.png" 2>"$tmp/bands.err"'

"$probe" --host 127.0.0.1 --port "$port" --password-file "$tmp/ticket" --timeout 60 \
    --wait-nonblank --screenshot "$tmp/probe.ppm" >"$tmp/probe.out" 2>&1
check "the viewer shows the same surface as spice-probe" "$tmp/probe.out" "$tmp/same.err" -- \
    eval 'python3 "$image_tool" same "$tmp/viewer.png" "$tmp/probe.ppm" 0.001 2>"$tmp/same.err"'

printf 'not-the-ticket' > "$tmp/wrong"
run_viewer "$tmp/auth" "$uri" --password-file "$tmp/wrong" --timeout 60
status=$?
check "a wrong ticket exits 2 (authentication) (got $status)" "$tmp/auth.err" -- \
    eval '[ "$status" -eq 2 ] && grep -q "authentication failed" "$tmp/auth.err"'

run_viewer "$tmp/refused" "spice+unix://$tmp/nobody-listens" --timeout 60
status=$?
check "no server exits 3 (connection refused) (got $status)" "$tmp/refused.err" -- \
    eval '[ "$status" -eq 3 ] && grep -q "could not connect" "$tmp/refused.err"'

cat > "$tmp/desk.vv" <<VV
[virt-viewer]
type=spice
host=127.0.0.1
port=$port
password=$(cat "$tmp/ticket")
title=viewer-e2e from a .vv file
delete-this-file=1
x-oriel-unknown=ignored
VV
cp "$tmp/desk.vv" "$tmp/stdin.vv"
run_viewer "$tmp/vv" "$tmp/desk.vv" --exit-after-frames 1 --timeout 60
status=$?
check "a .vv file connects (exit $status) and delete-this-file removes it" "$tmp/vv.err" -- \
    eval '[ "$status" -eq 0 ] && [ ! -e "$tmp/desk.vv" ]'

timeout 120 "$viewer" - --exit-after-frames 1 --timeout 60 <"$tmp/stdin.vv" \
    >"$tmp/stdin.out" 2>"$tmp/stdin.err"
status=$?
check "a .vv file on stdin connects (exit $status)" "$tmp/stdin.err" -- \
    eval '[ "$status" -eq 0 ] && [ -e "$tmp/stdin.vv" ]'

printf '[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport=%s\ndisable-channels=display;playback\n' \
    "$port" >"$tmp/nodisplay.vv"
run_viewer "$tmp/nodisplay" "$tmp/nodisplay.vv" --password-file "$tmp/ticket" \
    --exit-after-frames 1 --timeout 4
status=$?
check "disable-channels=display: no frame, exit 6 after --timeout (got $status)" \
    "$tmp/nodisplay.err" -- \
    eval '[ "$status" -eq 6 ] && grep -q "no frame arrived" "$tmp/nodisplay.err"'

printf '[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport=99999\n' > "$tmp/bad.vv"
run_viewer "$tmp/bad" "$tmp/bad.vv" --timeout 60
status=$?
check "a malformed .vv file exits 1 with a clear error (got $status)" "$tmp/bad.err" -- \
    eval '[ "$status" -eq 1 ] && grep -q "bad.vv: \[virt-viewer\] port: \"99999\"" "$tmp/bad.err"'

# Keyboard: a shell on the framebuffer console's tty, the viewer focused,
# text typed with xdotool, the result read back over the serial console.
"$console" "$serial" --timeout 60 \
    'setsid sh -c "exec sh -i </dev/tty1 >/dev/tty1 2>&1" & sleep 0.5; echo started' \
    >"$tmp/tty1.out" 2>&1
mkfifo "$tmp/events"
"$viewer" "$uri" --password-file "$tmp/ticket" --events \
    >"$tmp/events" 2>"$tmp/kbd.err" &
viewer_pid=$!
exec 4<"$tmp/events"
frame="" linked=""
while IFS= read -r -t 60 -u 4 line; do
    echo "$line" >>"$tmp/kbd.events"
    # Keys pressed before the inputs channel has linked are lost.
    case "$line" in *'"first-frame"'*) frame=yes ;; *'"channels-open"'*) linked=yes ;; esac
    [ -n "$frame" ] && [ -n "$linked" ] && break
done
window=$(xdotool search --sync --name viewer-e2e-window 2>/dev/null | head -n 1)
geometry=$(xdotool getwindowgeometry "$window" 2>&1)
width=$(echo "$geometry" | sed -n 's/.*Geometry: \([0-9]*\)x.*/\1/p')
check "the window (titled by viewer.conf) opens at the guest's width (1024)" "$tmp/kbd.events" "$tmp/kbd.err" -- \
    eval '[ -n "$frame" ] && [ "${width:-0}" -eq 1024 ]'
xdotool windowfocus --sync "$window" 2>>"$tmp/kbd.err"
xdotool type --delay 30 'echo typed-in-viewer > /tmp/typed' 2>>"$tmp/kbd.err"
xdotool key Return 2>>"$tmp/kbd.err"
typed=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
    typed=$("$console" "$serial" --timeout 30 'cat /tmp/typed 2>/dev/null')
    [ "$typed" = typed-in-viewer ] && break
    sleep 0.5
done
kill -TERM "$viewer_pid"
wait "$viewer_pid"
status=$?
viewer_pid=""
exec 4<&-
check "keys typed into the viewer reach the guest's shell; SIGTERM exits 0 (got $status)" \
    "$tmp/kbd.err" -- eval '[ "$typed" = typed-in-viewer ] && [ "$status" -eq 0 ]'

# Interop: a plain QEMU with SPICE on a Unix socket and no ticket (and
# without G_DEBUG=fatal-warnings: see start_guest_qemu).
start_qemu() {
    start_guest_qemu viewer-e2e-plain "$tmp/plain-serial.sock" "$tmp/qemu.log" -device qxl-vga \
        -spice "unix=on,addr=$tmp/plain-spice.sock,disable-ticketing=on" \
        "${spice_agent_args[@]}" \
        -device qemu-xhci,id=usb -chardev spicevmc,id=usbredir0,name=usbredir \
        -device usb-redir,chardev=usbredir0,id=usbredir0,bus=usb.0
}
start_qemu
if wait_guest_shell "$tmp/plain-serial.sock"; then
    draw_pattern "$tmp/plain-serial.sock" >"$tmp/draw2.out" 2>&1
fi
run_viewer "$tmp/plain" "spice+unix://$tmp/plain-spice.sock" \
    --screenshot "$tmp/plain.png" --exit-after-frames 1 --timeout 60
status=$?
check "interop: a plain QEMU's pattern over spice+unix (exit $status)" \
    "$tmp/qemu.log" "$tmp/plain.err" "$tmp/bands2.err" -- \
    eval '[ "$status" -eq 0 ] && python3 "$image_tool" bands "$tmp/plain.png" 2>"$tmp/bands2.err"'

# The events of the viewer reading from fd 4 go to $events_log as well.
events_log=/dev/null
wait_event() { # EVENT SECONDS
    local line
    while IFS= read -r -t "$2" -u 4 line; do
        echo "$line" >>"$events_log"
        case "$line" in *"\"$1\""*) return 0 ;; esac
    done
    return 1
}

# Shared CD: an image file appears in the guest as a USB CD-ROM (through
# QEMU's usb-redir) and reads back with the same checksum.
head -c 1048576 /dev/urandom >"$tmp/cd.iso"
want=$(md5sum <"$tmp/cd.iso" | cut -d" " -f1)
events_log="$tmp/cd.events"
mkfifo "$tmp/events-cd"
"$viewer" "spice+unix://$tmp/plain-spice.sock" --share-cd "$tmp/cd.iso" --events \
    >"$tmp/events-cd" 2>"$tmp/cd.err" &
viewer_pid=$!
exec 4<"$tmp/events-cd"
got=""
if wait_event shared-cd-connected 60; then
    for _ in $(seq 1 60); do
        got=$("$console" "$tmp/plain-serial.sock" --timeout 30 \
            '[ -b /dev/sr0 ] && dd if=/dev/sr0 bs=2048 2>/dev/null | md5sum | cut -d" " -f1')
        [ -n "$got" ] && break
        sleep 0.5
    done
fi
wait_event channels-open 60
kill -TERM "$viewer_pid"
wait "$viewer_pid"
status=$?
viewer_pid=""
exec 4<&-
check "--share-cd: the image is a USB CD-ROM in the guest with the same checksum" \
    "$tmp/cd.events" "$tmp/cd.err" -- eval '[ "$got" = "$want" ] && [ "$status" -eq 0 ]'

# Clipboard, with the guest's agent (oriel-agent in the test guest): the X
# clipboard (xclip) to the guest and back, and each --clipboard policy
# blocks exactly the direction it names.
clipboard_round() { # POLICY -> sets to_guest=yes|no from_guest=yes|no
    local policy=$1 xclip_pid got
    to_guest=no from_guest=no
    events_log="$tmp/clip-$policy.events"
    rm -f "$tmp/events-clip"
    mkfifo "$tmp/events-clip"
    "$viewer" "spice+unix://$tmp/plain-spice.sock" --clipboard="$policy" --events \
        >"$tmp/events-clip" 2>>"$tmp/clip.err" &
    viewer_pid=$!
    exec 4<"$tmp/events-clip"
    wait_event agent-connected 60
    wait_event channels-open 60
    "$console" "$tmp/plain-serial.sock" --timeout 30 'oriel-agent clip release' >/dev/null 2>&1
    printf 'from-host-%s' "$policy" | xclip -quiet -selection clipboard -i >/dev/null 2>&1 &
    xclip_pid=$!
    got=$("$console" "$tmp/plain-serial.sock" --timeout 30 'oriel-agent clip get --wait 3' 2>/dev/null)
    [ "$got" = "from-host-$policy" ] && to_guest=yes
    "$console" "$tmp/plain-serial.sock" --timeout 30 \
        "printf from-guest-$policy | oriel-agent clip set" >/dev/null 2>&1
    for _ in 1 2 3 4 5 6; do
        got=$(timeout 5 xclip -o -selection clipboard 2>/dev/null)
        [ "$got" = "from-guest-$policy" ] && { from_guest=yes; break; }
        sleep 0.5
    done
    kill "$xclip_pid" 2>/dev/null
    wait "$xclip_pid" 2>/dev/null
    kill -TERM "$viewer_pid"
    wait "$viewer_pid"
    viewer_pid=""
    exec 4<&-
}
if command -v xclip >/dev/null; then
    for policy in both to-guest from-guest off; do
        clipboard_round "$policy"
        case $policy in
            both) want="yes yes" ;; to-guest) want="yes no" ;;
            from-guest) want="no yes" ;; off) want="no no" ;;
        esac
        check "--clipboard=$policy: to the guest $to_guest, from the guest $from_guest" \
            "$tmp/clip-$policy.events" "$tmp/clip.err" -- \
            eval '[ "$to_guest $from_guest" = "$want" ]'
    done
else
    for policy in both to-guest from-guest off; do
        not_ok "--clipboard=$policy" "xclip is missing (scripts/install-deps.sh installs it)"
    done
fi

# Reconnect: QEMU goes away and comes back on the same socket.
events_log="$tmp/reconnect.events"
# Once every channel has linked: a server dying in the middle of a link
# handshake makes spice-gtk warn, which G_DEBUG=fatal-warnings would turn
# into an abort.
mkfifo "$tmp/events2"
"$viewer" "spice+unix://$tmp/plain-spice.sock" --events --reconnect-timeout 15 \
    >"$tmp/events2" 2>>"$tmp/reconnect.err" &
viewer_pid=$!
exec 4<"$tmp/events2"
wait_event channels-open 60
kill -9 "$qemu"; wait "$qemu" 2>/dev/null
rm -f "$tmp/plain-spice.sock" "$tmp/plain-serial.sock"
reconnecting=no
wait_event reconnecting 30 && reconnecting=yes
start_qemu
check "the viewer reconnects when the server comes back" \
    "$tmp/reconnect.events" "$tmp/reconnect.err" "$tmp/qemu.log" -- \
    eval '[ "$reconnecting" = yes ] && wait_event connected 60 && wait_event channels-open 60'

kill -9 "$qemu"; wait "$qemu" 2>/dev/null
qemu=""
started=$(date +%s)
wait "$viewer_pid"
status=$?
viewer_pid=""
exec 4<&-
elapsed=$(( $(date +%s) - started ))
check "a server that stays away ends the session: exit 5 after the reconnect timeout (${elapsed}s)" \
    "$tmp/reconnect.err" -- eval '[ "$status" -eq 5 ] && [ "$elapsed" -le 40 ]'

# TLS: a QEMU with a TLS port and a certificate from a CA made here.  The
# .vv file's ca and host-subject make the connection; without them the
# certificate is not trusted and the viewer exits 4.
mkdir -p "$tmp/x509"
(
    cd "$tmp/x509" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca-cert.pem \
        -days 2 -subj "/CN=oriel-e2e-ca" &&
    openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr \
        -subj "/CN=oriel-e2e-desk" &&
    openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial \
        -out server-cert.pem -days 2
) >"$tmp/openssl.log" 2>&1
tls_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_guest_qemu viewer-e2e-tls "$tmp/tls-serial.sock" "$tmp/qemu-tls.log" -device qxl-vga \
    -spice "tls-port=$tls_port,addr=127.0.0.1,x509-dir=$tmp/x509,disable-ticketing=on"
wait_guest_shell "$tmp/tls-serial.sock"
{
    printf '[virt-viewer]\ntype=spice\nhost=127.0.0.1\ntls-port=%s\n' "$tls_port"
    printf 'host-subject=CN=oriel-e2e-desk\nca='
    awk '{ printf "%s\\n", $0 }' "$tmp/x509/ca-cert.pem"
    printf '\n'
} >"$tmp/tls.vv"
# spice-common reports the failed certificate check with g_warning(), by
# design; G_DEBUG=fatal-warnings would turn that into an abort, so this one
# run goes without it.
G_DEBUG= run_viewer "$tmp/tls-bad" "spice+tls://127.0.0.1:$tls_port" --timeout 60
status=$?
check "an untrusted TLS certificate exits 4 (got $status)" "$tmp/tls-bad.err" -- \
    eval '[ "$status" -eq 4 ] && grep -q "TLS failure" "$tmp/tls-bad.err"'
run_viewer "$tmp/tls" "$tmp/tls.vv" --exit-after-frames 1 --timeout 60
status=$?
check "TLS with the .vv file's ca and host-subject connects (exit $status)" \
    "$tmp/openssl.log" "$tmp/tls.err" "$tmp/qemu-tls.log" -- eval '[ "$status" -eq 0 ]'
kill -9 "$qemu"; wait "$qemu" 2>/dev/null
qemu=""

check "the viewer printed no GLib warnings" "$tmp"/*.err -- \
    eval '! grep -l -E "(WARNING|CRITICAL) \*\*" "$tmp"/first.err "$tmp"/auth.err "$tmp"/refused.err "$tmp"/vv.err "$tmp"/stdin.err "$tmp"/nodisplay.err "$tmp"/kbd.err "$tmp"/plain.err "$tmp"/cd.err "$tmp"/clip.err "$tmp"/reconnect.err "$tmp"/tls.err'

# The guest reboots under a connected viewer: QEMU resets in place, the
# session stays, and the new boot's display arrives (a new primary surface)
# with no disconnection.
events_log="$tmp/reboot.events"
rm -f "$tmp/events-reboot"
mkfifo "$tmp/events-reboot"
"$viewer" "$uri" --password-file "$tmp/ticket" --events >"$tmp/events-reboot" 2>"$tmp/reboot.err" &
viewer_pid=$!
exec 4<"$tmp/events-reboot"
wait_event channels-open 60
"$console" "$serial" --timeout 30 'reboot -f' >/dev/null 2>&1
rebooted=no
wait_event primary-surface 120 && rebooted=yes
wait_guest_shell "$serial"
kill -TERM "$viewer_pid"
wait "$viewer_pid"
status=$?
viewer_pid=""
exec 4<&-
check "the guest reboots under the viewer: a new display, no disconnection (exit $status)" \
    "$tmp/reboot.events" "$tmp/reboot.err" -- \
    eval '[ "$rebooted" = yes ] && [ "$status" -eq 0 ] && ! grep -q disconnected "$tmp/reboot.events"'

# Ctrl-C powers the desktop down.
stop_desktop
check "the desktop powers down (exit $status)" "$tmp/create.err" -- eval '[ "$status" -eq 0 ]'

[ "$failures" -eq 0 ]
