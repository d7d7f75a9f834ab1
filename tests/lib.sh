# Shared by the end-to-end test scripts (and a benchmark): TAP helpers,
# the tools a script needs, LeakSanitizer's suppressions, an Xvfb, a QEMU
# running the test guest, and a desktop run by `orielctl create -F`.
# The functions use the script's $build, $guest and $tmp (its own
# mktemp -d).  Nothing here sets a trap: each script's cleanup kills what
# it started, by pid (kill_pids and kill_desktop help).  A script on
# tests/daemon/lib.sh sources this first: that file's TAP helpers (its
# check is `check NAME COMMAND...`) and cleanup then take over.
# shellcheck shell=bash
# Those variables are the caller's; what is set here is for it to read.
# shellcheck disable=SC2154,SC2034

# ---- TAP ------------------------------------------------------------------

n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do printf "%s\n" "$l" | sed "s/^/# /"; done; }
# check NAME DETAIL-FILE... -- COMMAND...: ok when COMMAND succeeds, the
# detail files as diagnostics otherwise (their last $check_tail lines each
# when the script sets check_tail).
check() {
    local name=$1; shift
    local files=()
    while [ "$1" != "--" ]; do files+=("$1"); shift; done
    shift
    if "$@"; then
        ok "$name"
    elif [ -n "${check_tail:-}" ]; then
        not_ok "$name" "$(tail -n "$check_tail" "${files[@]}" 2>/dev/null)"
    else
        not_ok "$name" "$(cat "${files[@]}" 2>/dev/null)"
    fi
}

# bail_out REASON: TAP's way to stop the whole script.
bail_out() {
    echo "Bail out! $1"
    exit 1
}

# require_tools TOOL...: bails out naming the first one missing.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null ||
            bail_out "$tool is missing (scripts/install-deps.sh installs it)"
    done
}

# use_lsan_suppressions FILE...: LeakSanitizer takes one suppressions file;
# this joins the suite's (tests/lsan.supp) and FILE... (paths below tests/)
# into $tmp/lsan.supp and points LSAN_OPTIONS at it.
use_lsan_suppressions() {
    local file
    for file in lsan.supp "$@"; do
        cat "$ORIEL_SOURCE_DIR/tests/$file"
    done >"$tmp/lsan.supp" 2>/dev/null
    export LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0"
}

# kill_pids PID...: SIGKILL and reap each (empty ones are skipped).
kill_pids() {
    local pid
    for pid in "$@"; do
        [ -n "$pid" ] || continue
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
}

# ---- Xvfb -----------------------------------------------------------------

# start_xvfb SCREEN: an Xvfb with screen SCREEN (WxHxDEPTH) on a display it
# picks itself and tells us (-displayfd); its pid in $xvfb and in
# pids_to_kill (for tests/daemon/lib.sh's cleanup), its output in
# $tmp/xvfb.log; exports DISPLAY.  False when it did not start in 30 s.
start_xvfb() {
    rm -f "$tmp/displayfd"
    mkfifo "$tmp/displayfd"
    Xvfb -displayfd 5 -screen 0 "$1" -nolisten tcp -noreset \
        5>"$tmp/displayfd" >"$tmp/xvfb.log" 2>&1 &
    xvfb=$!
    pids_to_kill+=("$xvfb")
    local display=""
    exec 5<"$tmp/displayfd"
    read -r -t 30 -u 5 display
    exec 5<&-
    [ -n "$display" ] || return 1
    export DISPLAY=":$display"
}

# ---- the test guest in a plain QEMU ---------------------------------------

# The guest agent's port, for start_guest_qemu's extra arguments.
# shellcheck disable=SC2054
spice_agent_args=(
    -device virtio-serial-pci,id=vserial0 -chardev spicevmc,id=vdagent,name=vdagent
    -device virtserialport,bus=vserial0.0,chardev=vdagent,name=com.redhat.spice.0
)

# start_guest_qemu NAME SERIAL-SOCKET LOG [QEMU ARGS...]: QEMU (q35, TCG,
# 256 MiB) booting the test guest ($guest) as -name guest=NAME, its console
# on SERIAL-SOCKET (a Unix socket QEMU listens on), QEMU ARGS after that;
# its output appended to LOG, its pid in $qemu.  QEMU runs without
# G_DEBUG=fatal-warnings, which is for our programs: with it, spice-server's
# warnings (a client leaving mid-handshake, a failed TLS accept) abort QEMU.
start_guest_qemu() {
    local name=$1 serial=$2 log=$3
    shift 3
    env -u G_DEBUG qemu-system-x86_64 -name "guest=$name" -nodefaults -no-user-config \
        -display none -machine q35 -accel tcg -m 256 \
        -kernel "$guest/vmlinux" -initrd "$guest/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet" \
        -chardev "socket,id=serial0,path=$serial,server=on,wait=off" \
        -serial chardev:serial0 "$@" >>"$log" 2>&1 &
    qemu=$!
}

# wait_guest_shell SERIAL-SOCKET [SECONDS]: the guest's shell answers on its
# console (default 180 s).
wait_guest_shell() {
    "$build/tests/tools/guest-console" "$1" --timeout "${2:-180}" --wait-ready \
        >/dev/null 2>&1
}

# ---- a desktop run by orielctl create -F -------------------------------------

# start_desktop CFG [ORIELCTL CREATE OPTIONS...]: `orielctl create -F`
# runs CFG in the background with its ticket in $tmp/ticket (pid in
# $create, its stdout readable on fd 3, its stderr in $tmp/create.err);
# waits up to 240 s for the SPICE URI it prints and sets $uri and $port
# (both empty if none came).
start_desktop() {
    local cfg=$1 line
    shift
    mkfifo "$tmp/create.out"
    "$build/toolstack/orielctl" create -F --ticket-file "$tmp/ticket" "$@" "$cfg" \
        >"$tmp/create.out" 2>"$tmp/create.err" &
    create=$!
    exec 3<"$tmp/create.out"
    uri=""
    while IFS= read -r -t 240 -u 3 line; do
        case "$line" in "SPICE URI: "*) uri=${line#SPICE URI: }; break ;; esac
    done
    port=${uri##*:}
}

# stop_desktop: Ctrl-C to orielctl (it powers the guest down); its exit
# status in $status.
stop_desktop() {
    kill -INT "$create"
    wait "$create"
    status=$?
    exec 3<&-
    create=""
}

# kill_desktop NAME: for a cleanup, orielctl and the QEMU it recorded for
# domain NAME, by pid (the pidfile's, if it still names guest=NAME).
kill_desktop() {
    local pid
    kill_pids "${create:-}"
    pid=$(cat "$ORIEL_RUNTIME_DIR/domains/$1/qemu.pid" 2>/dev/null)
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "guest=$1"; then
        kill -9 "$pid" 2>/dev/null
    fi
}
