#!/bin/sh
# The whole test suite, as README.md and CI run it: installs what it needs,
# then builds and runs every suite (unit, integration, e2e, fuzz) in three
# builds:
#   build/        gcc, warnings fatal
#   build-asan/   gcc with -Db_sanitize=address,undefined, the same tests
#   build-fuzz/   clang with libFuzzer, the fuzz suite fuzzing for a bounded time
# Prints "N passed, N failed" at the end and exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

export LC_ALL=C
# Test guests, sockets and QEMU logs go under one short temp dir (Unix
# socket paths are limited to 107 bytes).
export ORIEL_GUEST_CACHE="${ORIEL_GUEST_CACHE:-$PWD/build-guest-cache}"
fuzz_seconds="${ORIEL_FUZZ_SECONDS:-60}"

passed=0
failed=0
failed_runs=""

count_results() {
    # meson writes one JSON object per test to meson-logs/testlog.json
    log="$1/meson-logs/testlog.json"
    [ -f "$log" ] || return 0
    p=$(grep -c '"result": "OK"' "$log" || true)
    f=$(grep -c -E '"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"' "$log" || true)
    s=$(grep -c '"result": "SKIP"' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f + s))   # a skipped test is not a pass
}

run_build() {
    dir=$1; shift
    compiler=$1; shift
    setup_args=$1; shift
    echo "=== $dir: meson setup $setup_args"
    if [ ! -d "$dir" ]; then
        # shellcheck disable=SC2086
        CC=$compiler meson setup "$dir" $setup_args
    else
        # shellcheck disable=SC2086
        meson setup --reconfigure "$dir" $setup_args >/dev/null
    fi
    meson compile -C "$dir"
    echo "=== $dir: meson test $*"
    if ! meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"; then
        failed_runs="$failed_runs $dir"
    fi
    count_results "$dir"
}

run_build build gcc "--werror -Dbuildtype=debugoptimized"
run_build build-asan gcc "--werror -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
run_build build-fuzz clang "-Dfuzzing=true -Dfuzz_seconds=$fuzz_seconds -Db_sanitize=address,undefined -Db_lundef=false" --suite fuzz

echo
echo "$passed passed, $failed failed"
if [ -n "$failed_runs" ] || [ "$failed" -ne 0 ]; then
    echo "failing builds:$failed_runs" >&2
    exit 1
fi
