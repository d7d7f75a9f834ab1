#!/bin/bash
# Benchmark: audio latency from the guest starting a tone to its energy
# arriving at the client's sink monitor, and the playback channel's
# bandwidth, on a real PulseAudio (tests/audio/pulse-lib.sh):
#  - SPICE: the test guest (soundhw = "hda", run by orield) plays through
#    oriel-viewer under Xvfb;
#  - reference, in the same run: the same guest without SPICE, with
#    audio_backend = "pa" (QEMU plays on the PulseAudio itself).
# Each run: the sink runs all along (an idle null sink renders late, up to
# a second and a half after a stream arrives); parec streams its monitor
# into `audio-analyse --onset`,
# which stamps the first 5 ms block louder than -50 dBFS; the host triggers
# `oriel-tone play` over the serial console at T0.  Latency = onset - T0 -
# the console's round trip (a `true` through the same tool, measured just
# before; it includes reading the answer back, so short figures may go
# below zero: the difference to the reference, which pays the same
# console costs, is the robust figure).  The bandwidth is the bytes the viewer's playback channel
# carried per second of stream (its playback-stop events).  Prints the
# medians of RUNS runs (after one warm-up) and the SPICE/reference ratio;
# asserts nothing.
#
#   tests/bench/bench-audio-latency.sh [BUILD_DIR [RUNS]]
export ORIEL_BUILD_DIR=$(cd "${1:-${ORIEL_BUILD_DIR:-build}}" && pwd)
runs=${2:-5}
export ORIEL_SOURCE_DIR=${ORIEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export ORIEL_GUEST_DIR=${ORIEL_GUEST_DIR:-$ORIEL_BUILD_DIR/tests/guest}
source "$ORIEL_SOURCE_DIR/tests/lib.sh"
source "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"
source "$ORIEL_SOURCE_DIR/tests/audio/pulse-lib.sh"
viewer="$build/viewer/oriel-viewer"
analyse="$build/tests/tools/audio-analyse"
# QEMU must not inherit fatal warnings; the viewer need not either.
unset G_DEBUG

for tool in pulseaudio parec pactl Xvfb; do
    command -v "$tool" >/dev/null || { echo "bench-audio-latency: $tool is missing" >&2; exit 1; }
done
start_pulse || { echo "PulseAudio did not start: $(cat "$tmp/pulse.log")" >&2; exit 1; }
start_xvfb 1024x768x24 || { echo "Xvfb did not start" >&2; exit 1; }
export NO_AT_BRIDGE=1 GDK_BACKEND=x11
start_orield || { echo "orield did not start" >&2; exit 1; }
keep_sink_running

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME: one run; appends trigger-to-energy and the console round
# trip (ms) to $tmp/raw-NAME and $tmp/rtt-NAME.  Fails when no energy came
# or it came before the trigger (the previous tone's tail).
measure() {
    local serial="$ORIEL_RUNTIME_DIR/domains/$1/serial.sock" t rtt t0 onset
    # The previous tone, buffered on the client side, has died away.
    sleep 2
    t=$(date +%s%N)
    "$console" "$serial" --timeout 60 true >/dev/null 2>&1 || return 1
    rtt=$(( $(date +%s%N) - t ))
    rm -f "$tmp/onset"
    (parec -d out.monitor --format=s16le --rate=48000 --channels=1 --raw --latency-msec=5 |
        "$analyse" --onset -50 >"$tmp/onset") 2>/dev/null &
    local pipeline=$!
    sleep 0.5
    t0=$(date +%s%N)
    "$console" "$serial" --timeout 60 "oriel-tone play 440 1" >/dev/null 2>&1
    for _ in $(seq 100); do [ -s "$tmp/onset" ] && break; sleep 0.1; done
    kill "$pipeline" 2>/dev/null
    pkill -P "$pipeline" 2>/dev/null
    wait "$pipeline" 2>/dev/null
    onset=$(sed -n 's/^onset_ns=//p' "$tmp/onset")
    [ -n "$onset" ] && [ "$onset" -gt "$t0" ] || return 1
    awk -v o="$onset" -v t="$t0" 'BEGIN { printf "%.1f\n", (o - t) / 1e6 }' >>"$tmp/raw-$1"
    awk -v r="$rtt" 'BEGIN { printf "%.1f\n", r / 1e6 }' >>"$tmp/rtt-$1"
}

# bench_domain NAME CFG-LINES...: starts it, warms up, measures RUNS times.
bench_domain() {
    local name=$1; shift
    write_cfg "$tmp/$name.cfg" "$name" 'soundhw = "hda"' "$@"
    "$orielctl" define "$tmp/$name.cfg" >/dev/null && "$orielctl" start "$name" >/dev/null ||
        { echo "cannot start $name" >&2; return 1; }
    "$console" "$ORIEL_RUNTIME_DIR/domains/$name/serial.sock" --timeout 180 "oriel-tone mixer on" >/dev/null ||
        { echo "$name did not boot" >&2; return 1; }
    if [ "$name" = bench-spice ]; then
        "$viewer" "$name" --events >"$tmp/viewer.out" 2>"$tmp/viewer.err" &
        pids_to_kill+=($!)
        viewer_pid=$!
        wait_for_line "$tmp/viewer.out" '"event":"channels-open"' 90 ||
            { echo "the viewer did not connect: $(cat "$tmp/viewer.err")" >&2; return 1; }
    fi
    measure "$name" # warm-up: the first stream sets everything up
    rm -f "$tmp/rtt-$name" "$tmp/raw-$name"
    for ((i = 0; i < runs; i++)); do
        measure "$name" || echo "a $name run saw no sound after its trigger" >&2
    done
    [ "$name" = bench-spice ] && kill "$viewer_pid" 2>/dev/null
    "$orielctl" destroy "$name" >/dev/null 2>&1
    "$orielctl" undefine "$name" >/dev/null 2>&1
    return 0
}

bench_domain bench-spice
bench_domain bench-pa 'spice = 0' 'audio_backend = "pa"'

raw_spice=$(median <"$tmp/raw-bench-spice" 2>/dev/null)
raw_pa=$(median <"$tmp/raw-bench-pa" 2>/dev/null)
rtt_ms=$(cat "$tmp"/rtt-* 2>/dev/null | median)
spice_ms=$(awk -v a="$raw_spice" -v r="$rtt_ms" 'BEGIN { printf "%.1f", a - r }')
pa_ms=$(awk -v a="$raw_pa" -v r="$rtt_ms" 'BEGIN { printf "%.1f", a - r }')
# Bytes per second of each playback stream, after the warm-up one.
bandwidth=$(grep '"event":"playback-stop"' "$tmp/viewer.out" 2>/dev/null | tail -n +2 |
    sed -n 's/.*bytes=\([0-9]*\),ms=\([0-9]*\).*/\1 \2/p' |
    awk '$2 > 0 { print $1 * 1000 / $2 }' | median)
raw_pcm=192000 # 48 kHz, 2 channels, 16 bits

echo "audio latency, guest tone start to energy at the sink monitor (TCG guest, medians of $runs runs)"
printf "  console round trip (\`true\`):    %s ms\n" "$rtt_ms"
printf "  SPICE + oriel-viewer:            %s ms  (trigger to energy %s ms: %s)\n" "$spice_ms" "$raw_spice" "$(paste -sd' ' "$tmp/raw-bench-spice" 2>/dev/null)"
printf "  QEMU pa backend (reference):     %s ms  (trigger to energy %s ms: %s)\n" "$pa_ms" "$raw_pa" "$(paste -sd' ' "$tmp/raw-bench-pa" 2>/dev/null)"
awk -v s="$raw_spice" -v p="$raw_pa" 'BEGIN { if (p > 0) printf "  SPICE adds %.1f ms; ratio SPICE / reference (trigger to energy): %.2f\n", s - p, s / p }'
awk -v b="$bandwidth" -v r="$raw_pcm" 'BEGIN {
    if (b + 0 > 0) printf "playback channel bandwidth: %.1f KiB/s (ratio to raw 48 kHz stereo S16 PCM: %.3f)\n", b / 1024, b / r
    else print "playback channel bandwidth: not measured (no playback-stop events)" }'
finish_orield >/dev/null
