# Shared by the audio test and benchmark (sourced after tests/lib.sh, whose
# start_xvfb gives them their Xvfb, and tests/daemon/lib.sh, which provides
# $tmp and pids_to_kill): a private PulseAudio, and the steps the audio
# tests share (below).
#
# start_pulse: a real PulseAudio daemon as a user daemon in $tmp (its own
# XDG_RUNTIME_DIR and HOME, no autospawn, no default modules), with two
# null sinks at 48 kHz: `out`, the default sink, whose monitor the tests
# record with parec, and `mic`, whose monitor `mic.monitor` is the default
# source: what pacat plays into `mic` is what the viewer's record channel
# hears.  Exports PULSE_SERVER for every client started afterwards; its
# pid file in XDG_RUNTIME_DIR/pulse is what QEMU's pa backend looks for.

start_pulse() {
    export XDG_RUNTIME_DIR="$tmp/xdg" HOME="$tmp/home"
    export PULSE_RUNTIME_PATH="$XDG_RUNTIME_DIR/pulse"
    mkdir -p "$PULSE_RUNTIME_PATH" "$HOME/.config/pulse"
    chmod 0700 "$XDG_RUNTIME_DIR" "$PULSE_RUNTIME_PATH"
    echo "autospawn = no" >"$HOME/.config/pulse/client.conf"
    # The standard place, where libpulse looks without PULSE_SERVER too.
    local socket="$PULSE_RUNTIME_PATH/native"
    # As root PulseAudio warns that it is meant for --system, but runs as a
    # per-user daemon all the same, which is what a desktop client has.
    pulseaudio --daemonize=no -n --exit-idle-time=-1 \
        --disallow-module-loading=no --log-target=stderr \
        --load="module-native-protocol-unix socket=$socket auth-anonymous=1" \
        --load="module-null-sink sink_name=out rate=48000 channels=2" \
        --load="module-null-sink sink_name=mic rate=48000 channels=1" \
        >"$tmp/pulse.log" 2>&1 &
    pids_to_kill+=($!)
    export PULSE_SERVER="unix:$socket"
    local i
    for ((i = 0; i < 100; i++)); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.1
    done
    pactl set-default-sink out && pactl set-default-source mic.monitor
}

# keep_sink_running: a silent stream that keeps the null sink `out`
# rendering at low latency.  An idle null sink wakes up late for a new
# stream (up to 1.5 s here), which is PulseAudio's, not what is measured.
keep_sink_running() {
    pacat -d out --format=s16le --rate=48000 --channels=2 --raw --latency-msec=20 /dev/zero \
        >/dev/null 2>&1 &
    pids_to_kill+=($!)
}

# wait_for_line FILE PATTERN [SECONDS]: FILE gets a line matching PATTERN.
wait_for_line() {
    local i limit=$(( ${3:-60} * 10 ))
    for ((i = 0; i < limit; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---- the audio tests' shared steps ------------------------------------------
# For tests with one domain at a time, set by the caller: $name (the domain),
# $serial (its console socket), $viewer (oriel-viewer), $analyse
# (audio-analyse).

# Levels in dB relative to full scale: the tones are about -9 dBFS; a null
# sink with nothing playing gives digital silence (-120).
loud_dbfs=-30
silent_dbfs=-60

# guest_run COMMAND: runs it on the guest's console, prints its output.
guest_run() {
    "$console" "$serial" --timeout 120 --wait-ready "$1"
}

viewer_pid=""
viewer_env=(env)
# start_viewer OUT [OPTIONS...]: oriel-viewer NAME, until its channels are open.
start_viewer() {
    local out=$1; shift
    "${viewer_env[@]}" "$viewer" "$name" --events "$@" >"$out" 2>"$out.err" &
    viewer_pid=$!
    pids_to_kill+=("$viewer_pid")
    wait_for_line "$out" '"event":"channels-open"' 90
}
# check_viewer_connects OUT: start_viewer OUT, as one TAP line.
check_viewer_connects() {
    if start_viewer "$1"; then
        ok "oriel-viewer NAME connects with its playback and record channels"
    else
        not_ok "oriel-viewer NAME connects with its playback and record channels" \
            "$(cat "$1" "$1.err")"
    fi
}
viewer_statuses=""
stop_viewer() { # SIGTERM ends a session cleanly: status 0 (under ASan: no leak)
    kill -TERM "$viewer_pid" 2>/dev/null
    wait "$viewer_pid" 2>/dev/null
    viewer_statuses="$viewer_statuses $?"
    viewer_pid=""
}

# within_percent VALUE WANT PERCENT
within_percent() {
    awk -v v="$1" -v w="$2" -v p="$3" 'BEGIN { d = v - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'
}
# level_above DBFS LIMIT / level_below DBFS LIMIT
level_above() { awk -v l="$1" -v t="$2" 'BEGIN { exit !(l > t) }'; }
level_below() { awk -v l="$1" -v t="$2" 'BEGIN { exit !(l < t) }'; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2"; }
# tone_heard TXT FREQ: audio-analyse's TXT found FREQ within 2%, louder than
# $loud_dbfs.  Sets $freq and $level for the caller's messages.
tone_heard() {
    freq=$(field frequency "$1")
    level=$(field rms_dbfs "$1")
    [ -n "$freq" ] && within_percent "$freq" "$2" 2 && level_above "$level" "$loud_dbfs"
}
# silence_heard TXT: audio-analyse's TXT is quieter than $silent_dbfs.
# Sets $level.
silence_heard() {
    level=$(field rms_dbfs "$1")
    [ -n "$level" ] && level_below "$level" "$silent_dbfs"
}

# play_and_record OUT.raw FREQ SECONDS: parec records the sink's monitor
# while the guest plays the tone; then analyses OUT.raw into OUT.txt.
play_and_record() {
    local raw=$1
    parec -d out.monitor --format=s16le --rate=48000 --channels=1 --raw \
        --latency-msec=20 >"$raw" 2>"$raw.err" &
    local parec_pid=$!
    pids_to_kill+=("$parec_pid")
    # parec records once connected; a running sink gives data at once, an
    # idle one only when a stream arrives.
    local i
    for ((i = 0; i < 30; i++)); do [ -s "$raw" ] && break; sleep 0.05; done
    # Mid-tone, which streams play into the sink.
    (sleep 1.5; pactl list short sink-inputs >"$raw.inputs" 2>&1) &
    guest_run "oriel-tone play $2 $3" >"$raw.guest" 2>&1
    sleep 1
    kill -TERM "$parec_pid" 2>/dev/null
    wait "$parec_pid" 2>/dev/null
    "$analyse" "$raw" >"${raw%.raw}.txt" 2>&1
}

# record_in_guest NAME SECONDS: the guest records into /tmp/NAME.raw, which
# comes back base64-encoded over the console into $tmp/NAME.raw.
record_in_guest() {
    guest_run "oriel-tone record $2 /tmp/$1.raw" >"$tmp/$1.guest" 2>&1 &&
        guest_run "base64 /tmp/$1.raw && rm /tmp/$1.raw" | base64 -d >"$tmp/$1.raw" &&
        "$analyse" "$tmp/$1.raw" >"$tmp/$1.txt" 2>&1
}

# record_client_tone NAME SECONDS: pacat plays 1 kHz into the client's
# source (`mic`, its log in $tmp/pacat.log) while the guest records NAME
# (record_in_guest).
record_client_tone() {
    "$analyse" --generate 1000 --seconds 60 | pacat -d mic --format=s16le --rate=48000 --channels=1 \
        --raw --latency-msec=20 >"$tmp/pacat.log" 2>&1 &
    local mic_pid=$!
    pids_to_kill+=("$mic_pid")
    record_in_guest "$1" "$2"
    kill -TERM "$mic_pid" 2>/dev/null
    wait "$mic_pid" 2>/dev/null
}

# check_silent_source: one TAP line; with nothing playing into the client's
# source, what the guest records is silence.
check_silent_source() {
    record_in_guest quiet 1
    if silence_heard "$tmp/quiet.txt"; then
        ok "record: a silent client source records as silence ($level dBFS)"
    else
        not_ok "record: a silent client source records as silence" "$(cat "$tmp/quiet.txt" "$tmp/quiet.guest")"
    fi
}
