#!/bin/bash
# Sound both ways on the other sound card: the test guest with
# soundhw = "ac97" (QEMU's AC97, the guest's snd-intel8x0), run by orield,
# and oriel-viewer under Xvfb on a real PulseAudio (pulse-lib.sh).  One
# guest boot; the same checks as test-audio.sh's HDA ones:
#  - the card comes up with playback and capture PCMs at 48 kHz (QEMU's
#    AC97 rate) and its mixer turns up;
#  - playback: the guest plays 440 Hz; the client's sink hears 440 Hz
#    within 2%, well above silence;
#  - record: pacat plays 1 kHz into the client's source; the guest's
#    recording holds 1 kHz within 2%; with the source silent, silence;
#  - the guest's mute (its AC'97 mixer) silences the client's stream.
# TAP output.
source "$ORIEL_SOURCE_DIR/tests/lib.sh"
source "$ORIEL_SOURCE_DIR/tests/daemon/lib.sh"
source "$ORIEL_SOURCE_DIR/tests/audio/pulse-lib.sh"

viewer="$build/viewer/oriel-viewer"
analyse="$build/tests/tools/audio-analyse"
name=audio-ac97
serial="$ORIEL_RUNTIME_DIR/domains/$name/serial.sock"

require_tools pulseaudio parec pacat pactl Xvfb
use_lsan_suppressions viewer/lsan.supp audio/lsan.supp
export NO_AT_BRIDGE=1 GDK_BACKEND=x11

echo "1..8"

if ! start_pulse || ! start_xvfb 1024x768x24; then
    echo "Bail out! PulseAudio or Xvfb did not start: $(cat "$tmp/pulse.log" "$tmp/xvfb.log" 2>/dev/null)"
    exit 1
fi
start_orield || { echo "Bail out! orield did not start"; exit 1; }
write_cfg "$tmp/desk.cfg" "$name" 'soundhw = "ac97"'
"$orielctl" define "$tmp/desk.cfg" >/dev/null 2>&1 && "$orielctl" start "$name" >/dev/null 2>&1

# QEMU's AC97 is an Intel 82801AA ICH: snd-intel8x0 names the card ICH.
check "the guest has an AC97 card (snd-intel8x0) with playback and capture PCMs; its mixer turns up" \
    guest_run "ls /dev/snd/pcmC0D0p /dev/snd/pcmC0D0c && grep -q 'ICH' /proc/asound/cards &&
        oriel-tone mixer on"

check_viewer_connects "$tmp/viewer.out"

play_and_record "$tmp/play.raw" 440 3
if tone_heard "$tmp/play.txt" 440 && grep -q 'playing 440 Hz at 48000 Hz' "$tmp/play.raw.guest"; then
    ok "playback: the sink hears the guest's 440 Hz, played at 48 kHz ($freq Hz at $level dBFS)"
else
    not_ok "playback: the sink hears the guest's 440 Hz, played at 48 kHz" \
        "$(cat "$tmp/play.txt" "$tmp/play.raw.guest")" "$(tail -20 "$tmp/viewer.out.err")"
fi

record_client_tone mic 3
if tone_heard "$tmp/mic.txt" 1000 && grep -q 'recorded 144000 frames at 48000 Hz' "$tmp/mic.guest"; then
    ok "record: the guest records the client's 1 kHz at 48 kHz ($freq Hz at $level dBFS)"
else
    not_ok "record: the guest records the client's 1 kHz at 48 kHz" \
        "$(cat "$tmp/mic.txt" "$tmp/mic.guest" "$tmp/pacat.log")"
fi
# Nothing plays into the source now: the tone above came from the client.
check_silent_source

# `oriel-tone mixer off` turns the AC'97 Master and PCM playback switches
# off; QEMU carries that mute to the client's stream.
guest_run "oriel-tone mixer off" >/dev/null 2>&1
play_and_record "$tmp/muted.raw" 440 2
if silence_heard "$tmp/muted.txt" && grep -q 'playing 440 Hz' "$tmp/muted.raw.guest"; then
    ok "the guest's mute silences the client's stream ($level dBFS)"
else
    not_ok "the guest's mute silences the client's stream" "$(cat "$tmp/muted.txt" "$tmp/muted.raw.guest")"
fi

stop_viewer
"$orielctl" destroy "$name" >/dev/null 2>&1
"$orielctl" undefine "$name" >/dev/null 2>&1
if [ "${viewer_statuses# }" = "0" ] &&
    ! grep -Eq 'ERROR: [A-Za-z]*Sanitizer|runtime error|-CRITICAL \*\*|-WARNING \*\*' "$tmp/viewer.out.err"; then
    ok "the viewer exits 0 on SIGTERM; no sanitizer report or GLib warning"
else
    not_ok "the viewer exits 0 on SIGTERM; no sanitizer report or GLib warning" \
        "status:$viewer_statuses" "$(cat "$tmp/viewer.out.err")"
fi
finish_orield
[ "$failures" -eq 0 ]
