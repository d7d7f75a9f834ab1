#!/bin/bash
# The audio tests' measuring tool on signals whose answer is known: a
# generated sine is found at its frequency and level, at 48 and 44.1 kHz
# and in the right channel's absence; silence is silence; --onset stamps
# the first loud block, not the quiet lead-in.  TAP output.
set -u
analyse="${ORIEL_BUILD_DIR:?run through meson test}/tests/tools/audio-analyse"
tmp=$(mktemp -d /tmp/oriel-analyse.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2"; }
near() { awk -v v="$1" -v w="$2" -v d="$3" 'BEGIN { x = v - w; if (x < 0) x = -x; exit !(x <= d) }'; }

echo "1..5"

"$analyse" --generate 440 --seconds 2 >"$tmp/a440.raw" && "$analyse" "$tmp/a440.raw" >"$tmp/a440.txt"
if near "$(field frequency "$tmp/a440.txt")" 440 1 && near "$(field rms_dbfs "$tmp/a440.txt")" -9.0 0.5 &&
    near "$(field loud_seconds "$tmp/a440.txt")" 2 0.01; then
    ok "a 2 s 440 Hz sine at half scale reads 440 Hz, -9 dBFS, 2 s"
else
    not_ok "a 2 s 440 Hz sine at half scale reads 440 Hz, -9 dBFS, 2 s" "$(cat "$tmp/a440.txt")"
fi

"$analyse" --generate 1000 --seconds 1 --rate 44100 >"$tmp/k1.raw" &&
    "$analyse" --rate 44100 "$tmp/k1.raw" >"$tmp/k1.txt"
if near "$(field frequency "$tmp/k1.txt")" 1000 2; then
    ok "1 kHz at 44.1 kHz reads 1 kHz"
else
    not_ok "1 kHz at 44.1 kHz reads 1 kHz" "$(cat "$tmp/k1.txt")"
fi

# Silence first, then the tone: the loudest stretch is found.
{ head -c 96000 /dev/zero; "$analyse" --generate 3000 --seconds 2; } >"$tmp/late.raw"
"$analyse" "$tmp/late.raw" >"$tmp/late.txt"
if near "$(field frequency "$tmp/late.txt")" 3000 5 && near "$(field rms_dbfs "$tmp/late.txt")" -9.0 1 &&
    near "$(field loud_seconds "$tmp/late.txt")" 2 0.01; then
    ok "a tone after a second of silence is found"
else
    not_ok "a tone after a second of silence is found" "$(cat "$tmp/late.txt")"
fi

head -c 192000 /dev/zero >"$tmp/zero.raw"
"$analyse" "$tmp/zero.raw" >"$tmp/zero.txt"
if [ "$(field rms_dbfs "$tmp/zero.txt")" = "-120.0" ]; then
    ok "digital silence reads -120 dBFS"
else
    not_ok "digital silence reads -120 dBFS" "$(cat "$tmp/zero.txt")"
fi

# --onset on a stream that stays silent ends with status 1; a loud one prints.
if ! head -c 48000 /dev/zero | "$analyse" --onset -50 >/dev/null &&
    { head -c 48000 /dev/zero; "$analyse" --generate 440 --seconds 0.1; } |
        "$analyse" --onset -50 | grep -q '^onset_ns=[0-9]\{19\}$'; then
    ok "--onset ignores silence and stamps the first loud block"
else
    not_ok "--onset ignores silence and stamps the first loud block"
fi
[ "$failures" -eq 0 ]
