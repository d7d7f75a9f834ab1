#!/bin/sh
# run-fuzzer.sh replay BINARY CORPUS_DIR
# run-fuzzer.sh libfuzzer BINARY CORPUS_DIR SECONDS
# Replays the stored corpus, or fuzzes from it for a bounded time.  New
# inputs libFuzzer finds go to a scratch directory, never into the source
# tree; a crash fails the test and leaves its input in the build dir.
set -eu
mode=$1 binary=$2 corpus=$3
[ -d "$corpus" ] || { echo "run-fuzzer: no corpus at $corpus" >&2; exit 1; }
case "$mode" in
replay)
    exec "$binary" "$corpus"
    ;;
libfuzzer)
    seconds=$4
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/oriel-fuzz.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    artifacts="$(dirname "$binary")/artifacts-$(basename "$binary")/"
    mkdir -p "$artifacts"
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts" -print_final_stats=1 "$scratch" "$corpus"
    ;;
*)
    echo "run-fuzzer: unknown mode $mode" >&2
    exit 2
    ;;
esac
