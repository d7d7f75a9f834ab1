#!/bin/bash
# oriel-viewer's displays, under Xvfb, against plain QEMUs started here:
#  - a guest with two QXL devices (qxl-vga + qxl): the guest draws grey
#    bands on /dev/fb0 and colour bands on /dev/fb1; the viewer opens one
#    window per display and --screenshot FILE writes FILE and FILE-1, each
#    pixel for pixel its framebuffer's pattern;
#  - a guest with one QXL device and two heads turns its second head on
#    and off: the second window opens and closes;
#  - resize-guest: resizing a display's window (xdotool windowsize) sends
#    a monitor config: with QXL the guest's qxl driver offers the new size
#    as its connector's preferred mode; with stdvga the guest agent gets it
#    (`oriel-agent status`); --no-auto-resize sends none;
#  - kiosk under a window manager (openbox): one window covering the whole
#    screen, _NET_WM_STATE_FULLSCREEN, no menu bar (the guest is asked for
#    exactly the screen's size); --kiosk-quit on-disconnect exits 5 when
#    QEMU goes away and never tries to reconnect.
# TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
viewer="$build/viewer/oriel-viewer"
console="$build/tests/tools/guest-console"
image_tool="$source_dir/tests/viewer/image-tool.py"

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"
require_tools Xvfb xdotool xprop xwininfo openbox qemu-system-x86_64 python3

tmp=$(mktemp -d /tmp/oriel-viewer-disp.XXXXXX)
use_lsan_suppressions viewer/lsan.supp
export NO_AT_BRIDGE=1
export GDK_BACKEND=x11
export ORIEL_CONFIG_DIR="$tmp/config"
mkdir -p "$ORIEL_CONFIG_DIR"
printf '[viewer]\nno-audio = true\n' >"$ORIEL_CONFIG_DIR/viewer.conf"

xvfb="" qemu="" viewer_pid="" wm=""
cleanup() {
    kill_pids "$viewer_pid" "$qemu" "$wm" "$xvfb"
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "1..14"

start_xvfb 1280x1024x24 || bail_out "Xvfb did not start: $(cat "$tmp/xvfb.log")"

# The test guest with the agent's port, until its shell answers.
# start_qemu NAME VGA-DEVICE-ARGS...
start_qemu() {
    local name=$1; shift
    rm -f "$tmp/$name-spice.sock" "$tmp/$name-serial.sock"
    start_guest_qemu "viewer-disp-$name" "$tmp/$name-serial.sock" "$tmp/qemu-$name.log" "$@" \
        -spice "unix=on,addr=$tmp/$name-spice.sock,disable-ticketing=on" \
        "${spice_agent_args[@]}"
    wait_guest_shell "$tmp/$name-serial.sock"
}
stop_qemu() {
    kill_pids "$qemu"
    qemu=""
}

# The events of the viewer reading from fd 4 go to $events_log as well.
events_log=/dev/null
wait_event() { # EVENT SECONDS [DETAIL-PREFIX]
    local line
    while IFS= read -r -t "$2" -u 4 line; do
        echo "$line" >>"$events_log"
        case "$line" in *"\"$1\""*"${3:+\"detail\":\"$3}"*) return 0 ;; esac
    done
    return 1
}
start_viewer() { # NAME ARGS... (events on fd 4)
    local name=$1; shift
    rm -f "$tmp/events-$name"
    mkfifo "$tmp/events-$name"
    "$viewer" --events "$@" >"$tmp/events-$name" 2>"$tmp/$name.err" &
    viewer_pid=$!
    exec 4<"$tmp/events-$name"
    events_log="$tmp/$name.events"
}
stop_viewer() { # -> status
    kill -TERM "$viewer_pid" 2>/dev/null
    wait "$viewer_pid"
    status=$?
    viewer_pid=""
    exec 4<&-
}

# ---- two QXL devices, two framebuffers ---------------------------------
start_qemu twohead -device qxl-vga -device qxl
# fb0: 8 grey bands of 96 rows (value 16 + 32 * band), as the other viewer
# tests; fb1: 4 bands of 192 rows, red, green, blue, white (xRGB bytes B,
# G, R, X).  Written in pieces, with the console cursor's blink off.
# A guest whose fb1 never gets a mode (see below) makes the viewer wait for
# the real surface and exit 6: the check fails rather than compare a
# placeholder.
"$console" "$tmp/twohead-serial.sock" --timeout 120 '
    ls /dev/fb0 /dev/fb1 || exit 1
    echo 0 > /sys/class/graphics/fbcon/cursor_blink
    # After boot the second device (fb1, no console on it) scans out the
    # qxl driver'"'"'s 64x64 placeholder surface (Debian'"'"'s 6.1 kernel),
    # with fb1 1024x768 behind it; turning its connector off and on again
    # is a full modeset, after which the surface is fb1'"'"'s 1024x768.
    for c in /sys/class/drm/card1-*/status; do
        echo off > "$c"; sleep 1; echo on > "$c"; break
    done
    sleep 1
    for i in 0 1 2 3 4 5 6 7; do
        head -c 393216 /dev/zero | tr "\000" "\\$(printf %o $((i * 32 + 16)))" > /tmp/band$i
    done
    for i in 0 1 2 3 4 5 6 7; do
        dd if=/tmp/band$i of=/dev/fb0 bs=393216 seek=$i count=1 2>/dev/null
        sleep 0.1
    done
    band=0
    for px in "\000\000\377\000" "\000\377\000\000" "\377\000\000\000" "\377\377\377\000"; do
        printf "$px" > /tmp/unit
        for k in $(seq 16); do cat /tmp/unit /tmp/unit > /tmp/unit2; mv /tmp/unit2 /tmp/unit; done
        for part in 0 1 2; do
            dd if=/tmp/unit of=/dev/fb1 bs=262144 seek=$((band * 3 + part)) count=1 2>/dev/null
            sleep 0.1
        done
        band=$((band + 1))
    done
    sleep 0.5; echo drawn' >"$tmp/draw.out" 2>&1

# The screenshots without resize-guest: with two QXL devices QEMU gives
# each device the client's whole monitor config, and the guest would
# re-layout its framebuffers (see the resize check below).
timeout 120 "$viewer" "spice+unix://$tmp/twohead-spice.sock" --no-auto-resize --events \
    --screenshot "$tmp/shot.png" --exit-after-frames 1 --timeout 60 \
    >"$tmp/shot.events" 2>"$tmp/shot.err"
status=$?
check "two displays: the viewer exits 0 after a frame on each (got $status)" \
    "$tmp/draw.out" "$tmp/shot.events" "$tmp/shot.err" -- \
    eval '[ "$status" -eq 0 ] && grep -q "\"display-opened\".*\"detail\":\"0 1024x768\"" "$tmp/shot.events" &&
          grep -q "\"display-opened\".*\"detail\":\"1 1024x768\"" "$tmp/shot.events"'
check "display 0's screenshot (FILE) is fb0's grey bands, pixel for pixel" "$tmp/exact0.err" -- \
    eval 'python3 "$image_tool" exact "$tmp/shot.png" grey-bands 2>"$tmp/exact0.err"'
check "display 1's screenshot (FILE-1) is fb1's colour bands, pixel for pixel" "$tmp/exact1.err" -- \
    eval 'python3 "$image_tool" exact "$tmp/shot-1.png" colour-bands 2>"$tmp/exact1.err"'

start_viewer twohead "spice+unix://$tmp/twohead-spice.sock" --title viewer-disp-twohead
wait_event display-opened 60 1
wait_event channels-open 60
main_window=$(xdotool search --name '^viewer-disp-twohead$' 2>/dev/null | head -n 1)
second_window=$(xdotool search --name '^viewer-disp-twohead \(display 1\)$' 2>/dev/null | head -n 1)
second_geometry=$(xwininfo -id "${second_window:-0}" 2>&1 | sed -n 's/.*-geometry \([0-9x]*\).*/\1/p')
check "one window per display: the main one and 'display 1' at 1024x768 (got $second_geometry)" \
    "$tmp/twohead.events" "$tmp/twohead.err" -- \
    eval '[ -n "$main_window" ] && [ -n "$second_window" ] && [ "$second_geometry" = 1024x768 ]'

# resize-guest through QXL: spice-server gives the config to the guest's
# qxl driver (not the agent), which offers it as the preferred mode.
xdotool windowsize "$second_window" 800 600 2>>"$tmp/twohead.err"
modes=""
for _ in $(seq 1 40); do
    modes=$("$console" "$tmp/twohead-serial.sock" --timeout 30 \
        'for c in /sys/class/drm/card*-Virtual-*; do echo "${c##*/} $(head -n 1 $c/modes)"; done' 2>/dev/null)
    echo "$modes" | grep -q ' 800x600$' && break
    sleep 0.5
done
check "resizing display 1's window to 800x600: the guest's qxl driver offers 800x600" \
    "$tmp/twohead.events" "$tmp/twohead.err" -- eval 'echo "$modes" | grep -q " 800x600$"'
stop_viewer
check "the viewer with two windows exits 0 on SIGTERM (got $status)" "$tmp/twohead.err" -- \
    eval '[ "$status" -eq 0 ]'
stop_qemu

# ---- one QXL device with two heads: a display comes and goes -----------
# The guest turns its second head on and off (forcing the connector's
# state); its qxl driver tells spice-server, whose monitor config makes
# monitor 1 of channel 0 appear and disappear.
start_qemu heads -device qxl-vga,max_outputs=2
start_viewer heads "spice+unix://$tmp/heads-spice.sock" --title viewer-disp-heads --no-auto-resize
wait_event display-opened 60 0
wait_event channels-open 60
"$console" "$tmp/heads-serial.sock" --timeout 30 \
    'echo on > /sys/class/drm/card0-Virtual-2/status; echo on' >>"$tmp/heads.console" 2>&1
opened=no
wait_event display-opened 60 1 && opened=yes
second=$(xdotool search --name '^viewer-disp-heads \(display 1\)$' 2>/dev/null | head -n 1)
check "the guest enables a second head: its window opens (${second:-no window})" \
    "$tmp/heads.console" "$tmp/heads.events" "$tmp/heads.err" -- \
    eval '[ "$opened" = yes ] && [ -n "$second" ]'
"$console" "$tmp/heads-serial.sock" --timeout 30 \
    'echo off > /sys/class/drm/card0-Virtual-2/status; echo off' >>"$tmp/heads.console" 2>&1
closed=no
wait_event display-closed 60 1 && closed=yes
sleep 0.5
gone=$(xdotool search --name '^viewer-disp-heads \(display 1\)$' 2>/dev/null | head -n 1)
stop_viewer
check "the guest disables it: the window closes, the viewer stays (exit $status)" \
    "$tmp/heads.console" "$tmp/heads.events" "$tmp/heads.err" -- \
    eval '[ "$closed" = yes ] && [ -z "$gone" ] && [ "$status" -eq 0 ]'
stop_qemu

# ---- stdvga: the monitor config goes to the agent ----------------------
start_qemu stdvga -device VGA
agent_status() {
    "$console" "$tmp/stdvga-serial.sock" --timeout 30 'oriel-agent status' 2>/dev/null
}
start_viewer stdvga "spice+unix://$tmp/stdvga-spice.sock" --title viewer-disp-stdvga
wait_event agent-connected 60
wait_event display-opened 60 0
wait_event channels-open 60
window=$(xdotool search --name '^viewer-disp-stdvga$' 2>/dev/null | head -n 1)
xdotool windowsize "$window" 800 600 2>>"$tmp/stdvga.err"
agent=""
for _ in $(seq 1 40); do
    agent=$(agent_status)
    echo "$agent" | grep -q '^monitor0: 800x' && break
    sleep 0.5
done
echo "$agent" >"$tmp/agent1.txt"
check "stdvga: resizing the window to 800 wide, the guest agent sees an 800-wide monitor" \
    "$tmp/agent1.txt" "$tmp/stdvga.events" "$tmp/stdvga.err" -- \
    eval 'echo "$agent" | grep -q "^monitor0: 800x"'
stop_viewer

# --no-auto-resize: the window changes, the guest hears nothing.
before=$(agent_status | sed -n 's/^monitors-configs: //p')
start_viewer noresize "spice+unix://$tmp/stdvga-spice.sock" --title viewer-disp-noresize \
    --no-auto-resize
wait_event agent-connected 60
wait_event display-opened 60 0
wait_event channels-open 60
window=$(xdotool search --name '^viewer-disp-noresize$' 2>/dev/null | head -n 1)
xdotool windowsize "$window" 700 500 2>>"$tmp/noresize.err"
sleep 3
after=$(agent_status | sed -n 's/^monitors-configs: //p')
stop_viewer
check "--no-auto-resize: no monitor config reaches the guest (configs $before -> $after)" \
    "$tmp/noresize.events" "$tmp/noresize.err" -- \
    eval '[ -n "$before" ] && [ "$before" = "$after" ] && [ "$window" ]'

# ---- kiosk under a window manager --------------------------------------
openbox --sm-disable >"$tmp/openbox.log" 2>&1 &
wm=$!
for _ in $(seq 1 50); do
    xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id' && break
    sleep 0.1
done
start_viewer kiosk "spice+unix://$tmp/stdvga-spice.sock" --title viewer-disp-kiosk \
    --kiosk --kiosk-quit on-disconnect
wait_event agent-connected 60
wait_event display-opened 60 0
wait_event channels-open 60
window=$(xdotool search --name '^viewer-disp-kiosk$' 2>/dev/null | head -n 1)
agent=""
for _ in $(seq 1 40); do
    agent=$(agent_status)
    echo "$agent" | grep -q '^monitor0: 1280x1024' && break
    sleep 0.5
done
echo "$agent" >"$tmp/agent2.txt"
xwininfo -id "${window:-0}" >"$tmp/kiosk.xwininfo" 2>&1
xprop -id "${window:-0}" _NET_WM_STATE >"$tmp/kiosk.xprop" 2>&1
geometry=$(sed -n 's/.*-geometry \([0-9x+-]*\).*/\1/p' "$tmp/kiosk.xwininfo")
check "--kiosk under openbox: the window covers the screen (${geometry:-none}) and is full screen" \
    "$tmp/kiosk.xwininfo" "$tmp/kiosk.xprop" "$tmp/kiosk.err" -- \
    eval '[ "$geometry" = "1280x1024+0+0" ] && grep -q _NET_WM_STATE_FULLSCREEN "$tmp/kiosk.xprop"'
check "--kiosk: no menu bar or status line, the guest display is the whole screen (1280x1024)" \
    "$tmp/agent2.txt" "$tmp/kiosk.events" -- eval 'echo "$agent" | grep -q "^monitor0: 1280x1024"'

# The guest goes away: on-disconnect exits 5 at once, no reconnecting.
stop_qemu
started=$(date +%s)
wait "$viewer_pid"
status=$?
viewer_pid=""
elapsed=$(( $(date +%s) - started ))
while IFS= read -r -t 1 -u 4 line; do echo "$line" >>"$tmp/kiosk.events"; done
exec 4<&-
check "--kiosk-quit on-disconnect: exit 5 within ${elapsed}s of QEMU going away, no reconnect" \
    "$tmp/kiosk.events" "$tmp/kiosk.err" -- \
    eval '[ "$status" -eq 5 ] && [ "$elapsed" -le 15 ] && ! grep -q reconnecting "$tmp/kiosk.events"'

check "the viewer printed no GLib warnings" "$tmp"/*.err -- \
    eval '! grep -l -E "(WARNING|CRITICAL) \*\*" "$tmp"/*.err'

[ "$failures" -eq 0 ]
