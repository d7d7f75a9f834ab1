#!/bin/bash
# oriel-viewer --broker --kiosk while the broker takes its time: the login
# window must stay live.  The broker here is a stand-in (slow-broker.py,
# HTTPS on loopback) that holds its /login or /connect answer for
# $delay seconds; the real broker end to end is test-viewer-broker.sh.
# Under Xvfb, typed into with xdotool: while a call waits the window
# answers _NET_WM_PING (x11-ping.py, what a window manager asks a hung
# client), shows its busy state, sends no second login for a second
# Return; Escape returns to the form within 1 s; a later login succeeds;
# a slow connect is cancelled the same way and its session logged out;
# with two pools the pool window works from the list's callback.  TAP
# output.
set -u
. "${ORIEL_SOURCE_DIR:?run through meson test}/tests/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"

viewer="$build/viewer/oriel-viewer"
here="$ORIEL_SOURCE_DIR/tests/viewer"
delay=8
use_lsan_suppressions viewer/lsan.supp
export NO_AT_BRIDGE=1 GDK_BACKEND=x11
require_tools Xvfb xdotool openssl python3

echo "1..11"

# The stand-in's certificate, for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/openssl.log" 2>&1 ||
    { echo "Bail out! openssl: $(cat "$tmp/openssl.log")"; exit 1; }
: >"$tmp/broker.log"
python3 "$here/slow-broker.py" "$tmp/cert.pem" "$tmp/key.pem" "$tmp/port" "$tmp/broker.log" "$delay" \
    2>"$tmp/broker.err" &
pids_to_kill+=($!)
for ((i = 0; i < 100; i++)); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "Bail out! the stand-in broker did not start: $(cat "$tmp/broker.err")"; exit 1; }
url="https://localhost:$(cat "$tmp/port")"

start_xvfb 1280x1024x24 || bail_out "Xvfb did not start: $(cat "$tmp/xvfb.log")"

# events NAME [DETAIL]: how many NAME events the viewer printed.
events() {
    local count
    count=$(grep -c "\"event\":\"$1\"${2:+.*\"detail\":\"$2\"}" "$tmp/viewer.out" 2>/dev/null)
    echo "${count:-0}"
}
# wait_event NAME DETAIL COUNT SECONDS
wait_event() {
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        [ "$(events "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
# wait_log LINE COUNT SECONDS: the stand-in logged LINE COUNT times.
log_count() { grep -cx "$1" "$tmp/broker.log"; }
wait_log() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        [ "$(log_count "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# pings N: N pings of the login window, each answered within 1 s.
pings() {
    local i
    for ((i = 0; i < $1; i++)); do
        python3 "$here/x11-ping.py" "$window" 1 >>"$tmp/ping.out" 2>&1 || return 1
        sleep 0.3
    done
}
# type_login USER: into the form (the user field has the focus), password pw.
type_login() {
    xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
    xdotool key --clearmodifiers ctrl+a BackSpace 2>>"$tmp/xdotool.err"
    xdotool type --delay 20 "$1" 2>>"$tmp/xdotool.err"
    xdotool key Tab 2>>"$tmp/xdotool.err"
    xdotool key --clearmodifiers ctrl+a BackSpace 2>>"$tmp/xdotool.err"
    xdotool type --delay 20 pw 2>>"$tmp/xdotool.err"
    xdotool key Return 2>>"$tmp/xdotool.err"
}
details() { cat "$tmp/viewer.out" "$tmp/viewer.err" "$tmp/broker.log" "$tmp/ping.out" "$tmp/xdotool.err" 2>/dev/null; }

env -u G_DEBUG "$viewer" --broker "$url" --broker-ca "$tmp/cert.pem" --kiosk --no-audio --events \
    >"$tmp/viewer.out" 2>"$tmp/viewer.err" &
viewer_pid=$!
pids_to_kill+=("$viewer_pid")
window=""
if wait_event broker-login-window "" 1 60; then
    window=$(xdotool search --sync --name "Oriel - sign in" 2>/dev/null | head -n 1)
fi
[ -n "$window" ] || { echo "Bail out! no login window: $(details)"; exit 1; }
# The window answers before any call: the check itself works.
python3 "$here/x11-ping.py" "$window" 5 >>"$tmp/ping.out" 2>&1 ||
    { echo "Bail out! the idle login window does not answer pings: $(details)"; exit 1; }

# 1-5. A login the broker holds for $delay s.
type_login slowlogin1
if wait_log "login slowlogin1" 1 20 && wait_event broker-busy login 1 5; then
    ok "a login waiting for the broker shows the busy state"
else
    not_ok "a login waiting for the broker shows the busy state" "$(details)"
fi
if wait_log "login slowlogin1" 1 1 && [ "$(log_count "login slowlogin1 done")" = 0 ] && pings 4 &&
   [ "$(log_count "login slowlogin1 done")" = 0 ]; then
    ok "while the broker holds the login, the window answers every ping within 1 s"
else
    not_ok "while the broker holds the login, the window answers every ping within 1 s" "$(details)"
fi
# A second Return while the first login runs sends nothing.
xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
xdotool key Return 2>>"$tmp/xdotool.err"
sleep 1
if [ "$(log_count "login slowlogin1")" = 1 ] && [ "$(grep -c '^login' "$tmp/broker.log")" = 1 ] &&
   [ "$(events broker-busy login)" = 1 ]; then
    ok "Return during a login starts no second login"
else
    not_ok "Return during a login starts no second login" "$(details)"
fi
# Escape: back to the form within 1 s, long before the broker answers.
start=$(now_ms)
xdotool key Escape 2>>"$tmp/xdotool.err"
if wait_event broker-cancelled login 1 1 && [ $(($(now_ms) - start)) -le 1000 ] &&
   [ "$(log_count "login slowlogin1 done")" = 0 ]; then
    ok "Escape cancels the login within 1 s ($(($(now_ms) - start)) ms)"
else
    not_ok "Escape cancels the login within 1 s" "$(($(now_ms) - start)) ms" "$(details)"
fi
# The form is back: a login goes through, the pool list, the connect.
type_login fastuser
if wait_event broker-login "" 1 15 && wait_log "list fastuser" 1 15 && wait_log "connect fastuser done" 1 15 &&
   wait_event broker-ticket "" 1 15 && alive "$viewer_pid"; then
    ok "after the cancel, a new login succeeds and gets a desktop"
else
    not_ok "after the cancel, a new login succeeds and gets a desktop" "$(details)"
fi

# The desktop (a closed port here) does not come up; the viewer keeps
# asking the broker for fresh tickets (each call asynchronous too) until
# the logout keys: the kiosk logs out and shows its login window again.
desktop=""
if wait_event broker-ticket "" 2 30; then
    desktop=$(xdotool search --onlyvisible --name "desk" 2>/dev/null | head -n 1)
fi
[ -n "$desktop" ] && xdotool windowfocus --sync "$desktop" 2>>"$tmp/xdotool.err"
xdotool key --clearmodifiers ctrl+alt+shift+l 2>>"$tmp/xdotool.err"
window=""
if [ -n "$desktop" ] && wait_event broker-login-window "" 2 30 && wait_log "logout fastuser" 1 30 &&
   wait_event broker-logout "" 1 10; then
    window=$(xdotool search --sync --name "Oriel - sign in" 2>/dev/null | head -n 1)
fi
if [ -n "$window" ]; then
    ok "reconnects get fresh tickets; the logout keys log out and bring the login window back"
else
    not_ok "reconnects get fresh tickets; the logout keys log out and bring the login window back" \
        "desktop=$desktop" "$(details)"
fi

# 7-9. A connect the broker holds (a desktop starting): busy, live, cancelled.
[ -n "$window" ] && type_login slowconnect1
if wait_log "connect slowconnect1" 1 20 && wait_event broker-busy connect 1 5 && pings 3 &&
   [ "$(log_count "connect slowconnect1 done")" = 0 ]; then
    ok "while the broker starts the desktop, the window shows it and answers pings"
else
    not_ok "while the broker starts the desktop, the window shows it and answers pings" "$(details)"
fi
start=$(now_ms)
xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
xdotool key Escape 2>>"$tmp/xdotool.err"
if wait_event broker-cancelled connect 1 1 && [ $(($(now_ms) - start)) -le 1000 ] &&
   [ "$(log_count "connect slowconnect1 done")" = 0 ]; then
    ok "Escape cancels the connect within 1 s ($(($(now_ms) - start)) ms)"
else
    not_ok "Escape cancels the connect within 1 s" "$(($(now_ms) - start)) ms" "$(details)"
fi
# The session the cancelled connect belonged to is ended at the broker.
if wait_log "logout slowconnect1" 1 10 && python3 "$here/x11-ping.py" "$window" 1 >>"$tmp/ping.out" 2>&1 &&
   alive "$viewer_pid"; then
    ok "a cancelled connect logs its session out, the window stays live"
else
    not_ok "a cancelled connect logs its session out, the window stays live" "$(details)"
fi

# 10. Two pools: the list comes, the pool window (run from the list's
# callback) is live, the pool chosen with the keyboard is connected.
[ -n "$window" ] && type_login twopools1
pools=""
for ((i = 0; i < 100; i++)); do
    pools=$(xdotool search --onlyvisible --name "Oriel - desktops" 2>/dev/null | head -n 1)
    [ -n "$pools" ] && break
    sleep 0.1
done
if [ -n "$pools" ] && python3 "$here/x11-ping.py" "$pools" 1 >>"$tmp/ping.out" 2>&1; then
    xdotool windowfocus --sync "$pools" 2>>"$tmp/xdotool.err"
    xdotool key Down 2>>"$tmp/xdotool.err"
    xdotool key Return 2>>"$tmp/xdotool.err"
fi
if [ -n "$pools" ] && wait_log "list twopools1" 1 1 && wait_log "connect twopools1 lab" 1 15 &&
   alive "$viewer_pid"; then
    ok "with two pools the pool window comes up live and the chosen pool is connected"
else
    not_ok "with two pools the pool window comes up live and the chosen pool is connected" "$(details)"
fi

# The kiosk would answer SIGTERM during a session by going back to its login window.
kill -9 "$viewer_pid" 2>/dev/null
wait "$viewer_pid" 2>/dev/null
# Cancelled calls leave nothing wrong behind (the ASan build's reports).
if ! grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:|-(CRITICAL|WARNING) \*\*" "$tmp/viewer.err"; then
    ok "no sanitizer report, GLib critical or warning from the viewer"
else
    not_ok "no sanitizer report, GLib critical or warning from the viewer" "$(cat "$tmp/viewer.err")"
fi
[ "$failures" -eq 0 ]
