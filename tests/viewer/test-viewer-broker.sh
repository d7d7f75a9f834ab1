#!/bin/bash
# oriel-viewer --broker: the thin-client mode against a real oriel-broker
# (PAM account created for the run, HTTPS from --init-tls), a real orield
# running the test guest with SPICE over TLS, the viewer under Xvfb.
# Automated login to a first frame; a wrong password; an untrusted broker;
# defaults from viewer.conf; a dropped desktop reconnected with a fresh
# ticket; kiosk mode typed into with xdotool: login, desktop, logout keys,
# back to the login window.  Needs root (useradd).  TAP output.
set -u
. "${ORIEL_SOURCE_DIR:?run through meson test}/tests/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/broker/lib.sh"

viewer="$build/viewer/oriel-viewer"
use_lsan_suppressions viewer/lsan.supp
export NO_AT_BRIDGE=1 GDK_BACKEND=x11
require_tools Xvfb xdotool

echo "1..11"

group="ovg$run_id"
user="ovu$run_id"
password="Pw-$run_id-$RANDOM"
make_group "$group" && make_user "$user" "$password" "$group" ||
    { echo "Bail out! cannot create the test account"; exit 1; }
printf '%s\n' "$password" >"$tmp/password"
printf 'not-%s\n' "$password" >"$tmp/wrong"
chmod 600 "$tmp/password" "$tmp/wrong"

"$broker" --init-tls "$tmp/pki" --hostname localhost >"$tmp/init.out" 2>&1 ||
    { echo "Bail out! --init-tls failed: $(cat "$tmp/init.out")"; exit 1; }
make_golden
write_broker_config "$tmp/broker.conf" "max-failures = 5" "lockout-seconds = 60" "failure-delay-ms = 100"
# One desktop, stateless, SPICE over TLS with the broker's CA.
tls_base=$(free_port)
add_pool "$tmp/broker.conf" desk false "$group" 1 "spice-tls-port-base = $tls_base"
mkdir -p "$ORIEL_CONFIG_DIR"
printf '[orield]\nspice_x509_dir = %s\n' "$tmp/pki" >"$ORIEL_CONFIG_DIR/orield.conf"
start_orield || { echo "Bail out! orield did not start"; exit 1; }
start_broker "$tmp/broker.conf" || { echo "Bail out! the broker did not start"; exit 1; }
url="https://localhost:$broker_port"

start_xvfb 1280x1024x24 || bail_out "Xvfb did not start: $(cat "$tmp/xvfb.log")"

# events FILE NAME: how many NAME events the viewer printed.
events() {
    local count
    count=$(grep -c "\"event\":\"$2\"" "$1" 2>/dev/null)
    echo "${count:-0}"
}
# wait_event FILE NAME COUNT SECONDS
wait_event() {
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        [ "$(events "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# 1. Automated login, the desktop, a frame.
timeout 300 "$viewer" --broker "$url" --broker-ca "$tmp/pki/ca-cert.pem" --broker-user "$user" \
    --broker-password-file "$tmp/password" --no-audio --events --screenshot "$tmp/first.png" \
    --exit-after-frames 1 --timeout 180 >"$tmp/first.out" 2>"$tmp/first.err"
status=$?
if [ "$status" -eq 0 ] && [ -s "$tmp/first.png" ] && [ "$(events "$tmp/first.out" broker-login)" = 1 ] &&
   [ "$(events "$tmp/first.out" broker-ticket)" -ge 1 ] && [ "$(events "$tmp/first.out" first-frame)" -ge 1 ]; then
    ok "the viewer logs in to the broker, gets a .vv with a one-time ticket and shows the desktop over TLS"
else
    not_ok "the viewer logs in to the broker, gets a .vv with a one-time ticket and shows the desktop over TLS" \
        "status=$status" "$(cat "$tmp/first.out" "$tmp/first.err")"
fi
# The viewer logged out when it was done: no live session of the user.
live=$(db_query "SELECT count(*) FROM sessions WHERE user = '$user'" 2>&1)
if [ "$live" = 0 ]; then
    ok "the viewer logs out of the broker when the session ends"
else
    not_ok "the viewer logs out of the broker when the session ends" "live sessions: $live" \
        
fi

# 3. A wrong password: exit 2 and the broker's message.
timeout 120 "$viewer" --broker "$url" --broker-ca "$tmp/pki/ca-cert.pem" --broker-user "$user" \
    --broker-password-file "$tmp/wrong" --no-audio --timeout 60 >"$tmp/wrong.out" 2>"$tmp/wrong.err"
status=$?
if [ "$status" -eq 2 ] && grep -q "login: wrong user name or password (HTTP 401)" "$tmp/wrong.err"; then
    ok "a wrong password: exit 2 and the broker's message"
else
    not_ok "a wrong password: exit 2 and the broker's message" "status=$status" "$(cat "$tmp/wrong.err")"
fi

# 4. A broker whose certificate the viewer does not trust: exit 4, nothing sent.
timeout 120 "$viewer" --broker "$url" --broker-user "$user" --broker-password-file "$tmp/password" \
    --no-audio --timeout 60 >"$tmp/untrusted.out" 2>"$tmp/untrusted.err"
status=$?
if [ "$status" -eq 4 ] && grep -q "certificate is not trusted" "$tmp/untrusted.err"; then
    ok "an untrusted broker certificate: exit 4 before the password is sent"
else
    not_ok "an untrusted broker certificate: exit 4 before the password is sent" "status=$status" \
        "$(cat "$tmp/untrusted.err")"
fi

# 5. Defaults from viewer.conf: the broker URL and its CA.
printf '[viewer]\nbroker = %s\nbroker-ca = %s\nno-audio = true\n' "$url" "$tmp/pki/ca-cert.pem" \
    >"$ORIEL_CONFIG_DIR/viewer.conf"
timeout 300 "$viewer" --broker-user "$user" --broker-password-file "$tmp/password" \
    --screenshot "$tmp/conf.png" --exit-after-frames 1 --timeout 180 >"$tmp/conf.out" 2>"$tmp/conf.err"
status=$?
if [ "$status" -eq 0 ] && [ -s "$tmp/conf.png" ]; then
    ok "viewer.conf gives the broker URL and CA"
else
    not_ok "viewer.conf gives the broker URL and CA" "status=$status" "$(cat "$tmp/conf.err")"
fi
rm -f "$ORIEL_CONFIG_DIR/viewer.conf"

# 6. The desktop goes away under the viewer: it reconnects with a fresh
# ticket from the broker (which starts the desktop again).
env -u G_DEBUG "$viewer" --broker "$url" --broker-ca "$tmp/pki/ca-cert.pem" --broker-user "$user" \
    --broker-password-file "$tmp/password" --no-audio --events --reconnect-timeout 240 \
    >"$tmp/long.out" 2>"$tmp/long.err" &
long=$!
pids_to_kill+=("$long")
if wait_event "$tmp/long.out" first-frame 1 180; then
    # Every channel of the viewer goes to the TLS port (the .vv says
    # secure-channels=all), none to the plain one.
    tls_links=$(ss -Htnp state established "dport = :$tls_base" 2>/dev/null | grep -c "pid=$long,")
    plain_links=$(ss -Htnp state established 2>/dev/null | grep "pid=$long," | grep -v ":$broker_port " |
        grep -vc ":$tls_base ")
    if [ "$tls_links" -ge 3 ] && [ "$plain_links" = 0 ]; then
        ok "the viewer's SPICE channels all run over TLS ($tls_links connections to the TLS port)"
    else
        not_ok "the viewer's SPICE channels all run over TLS" "tls=$tls_links plain=$plain_links" \
            "$(ss -Htnp state established 2>&1 | grep "pid=$long,")"
    fi
    desk=$("$orielctl" list 2>/dev/null | awk 'NR > 1 && $5 == "running" { print $1; exit }')
    "$orielctl" destroy "$desk" >"$tmp/destroy.out" 2>&1
    if wait_event "$tmp/long.out" connected 2 240 && [ "$(events "$tmp/long.out" broker-ticket)" -ge 2 ] &&
       wait_event "$tmp/long.out" first-frame 2 120; then
        ok "after the desktop stops, the viewer reconnects with a fresh ticket from the broker"
    else
        not_ok "after the desktop stops, the viewer reconnects with a fresh ticket from the broker" \
            "desktop=$desk" "$(cat "$tmp/destroy.out" "$tmp/long.out" "$tmp/long.err")"
    fi
else
    not_ok "after the desktop stops, the viewer reconnects with a fresh ticket from the broker" \
        "no first frame" "$(cat "$tmp/long.out" "$tmp/long.err")"
fi
kill "$long" 2>/dev/null
wait "$long" 2>/dev/null

# 7-9. Kiosk: the login window typed into, the desktop, the logout keys,
# the login window again (the kiosk never exits by itself).
env -u G_DEBUG "$viewer" --broker "$url" --broker-ca "$tmp/pki/ca-cert.pem" --kiosk --no-audio --events \
    >"$tmp/kiosk.out" 2>"$tmp/kiosk.err" &
kiosk=$!
pids_to_kill+=("$kiosk")
type_login() { # PASSWORD-FILE
    local window
    window=$(xdotool search --sync --name "Oriel - sign in" 2>/dev/null | head -n 1)
    [ -n "$window" ] || return 1
    xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
    xdotool type --delay 20 "$user" 2>>"$tmp/xdotool.err"
    xdotool key Tab 2>>"$tmp/xdotool.err"
    xdotool type --delay 20 "$(cat "$1")" 2>>"$tmp/xdotool.err"
    xdotool key Return 2>>"$tmp/xdotool.err"
}
wait_event "$tmp/kiosk.out" broker-login-window 1 60 && type_login "$tmp/wrong"
if wait_event "$tmp/kiosk.out" broker-login-failed 1 60 && alive "$kiosk"; then
    ok "kiosk: a wrong password keeps the login window up"
else
    not_ok "kiosk: a wrong password keeps the login window up" "$(cat "$tmp/kiosk.out" "$tmp/kiosk.err")"
fi
# The window cleared the password field; type the right one.
window=$(xdotool search --name "Oriel - sign in" 2>/dev/null | head -n 1)
if [ -n "$window" ]; then
    xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
    xdotool key --clearmodifiers ctrl+a BackSpace 2>>"$tmp/xdotool.err"
    xdotool key shift+Tab 2>>"$tmp/xdotool.err"
    xdotool key --clearmodifiers ctrl+a BackSpace 2>>"$tmp/xdotool.err"
fi
type_login "$tmp/password"
if wait_event "$tmp/kiosk.out" first-frame 1 180; then
    ok "kiosk: typed credentials log in and show the desktop"
else
    not_ok "kiosk: typed credentials log in and show the desktop" "$(cat "$tmp/kiosk.out" "$tmp/kiosk.err")"
fi
window=$(xdotool search --onlyvisible --name "localhost|desk" 2>/dev/null | head -n 1)
[ -n "$window" ] && xdotool windowfocus --sync "$window" 2>>"$tmp/xdotool.err"
xdotool key --clearmodifiers ctrl+alt+shift+l 2>>"$tmp/xdotool.err"
if wait_event "$tmp/kiosk.out" broker-logout 1 60 && wait_event "$tmp/kiosk.out" broker-login-window 2 60 &&
   alive "$kiosk" && [ "$(db_query "SELECT count(*) FROM sessions WHERE user = '$user'")" = 0 ]; then
    ok "kiosk: the logout keys end the session and bring the login window back"
else
    not_ok "kiosk: the logout keys end the session and bring the login window back" \
        "$(cat "$tmp/kiosk.out" "$tmp/kiosk.err" "$tmp/xdotool.err" 2>/dev/null)"
fi
kill "$kiosk" 2>/dev/null
wait "$kiosk" 2>/dev/null

finish_orield
[ "$failures" -eq 0 ]
