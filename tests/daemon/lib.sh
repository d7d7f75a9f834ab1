# Shared by the orield integration scripts: a private temp dir with the
# ORIEL_* dirs, orield started and stopped by pid, TAP helpers, and a guest
# config writer.  Everything started here is killed by pid on exit.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
orield="$build/hypervisor/orield"
orielctl="$build/toolstack/orielctl"
console="$build/tests/tools/guest-console"

# Short: Unix socket paths must fit in 107 bytes.
tmp=$(mktemp -d /tmp/oriel-d.XXXXXX)
export ORIEL_CONFIG_DIR="$tmp/c" ORIEL_STATE_DIR="$tmp/s" ORIEL_RUNTIME_DIR="$tmp/r"
orield_pid=""
pids_to_kill=()

# Every QEMU of this test: from the pidfiles, checked against its cmdline.
kill_qemus() {
    local pidfile pid
    for pidfile in "$ORIEL_RUNTIME_DIR"/domains/*/qemu.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "guest="; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
}

cleanup() {
    [ -n "$orield_pid" ] && kill -9 "$orield_pid" 2>/dev/null
    for pid in "${pids_to_kill[@]}"; do kill -9 "$pid" 2>/dev/null; done
    kill_qemus
    if [ "${failures:-0}" -ne 0 ] && [ -f "$tmp/orield.log" ]; then
        echo "# orield log:"; sed 's/^/#   /' "$tmp/orield.log"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; shift
    for l in "$@"; do printf "%s\n" "$l" | sed "s/^/# /"; done
}
# check NAME COMMAND...: ok when the command succeeds.
check() {
    local name=$1; shift
    if "$@" >"$tmp/check.out" 2>&1; then ok "$name"; else not_ok "$name" "$(cat "$tmp/check.out")"; fi
}

# Starts orield in the background and waits for its "ready" line.
start_orield() {
    rm -f "$tmp/ready"
    mkfifo "$tmp/ready"
    "$orield" >"$tmp/ready" 2>>"$tmp/orield.log" &
    orield_pid=$!
    local line=""
    read -r -t 30 line <"$tmp/ready"
    rm -f "$tmp/ready"
    case "$line" in "orield: ready on "*) return 0 ;; esac
    echo "# orield did not get ready: '$line'"
    return 1
}

stop_orield_hard() {
    kill -9 "$orield_pid" 2>/dev/null
    wait "$orield_pid" 2>/dev/null
    orield_pid=""
}

# write_cfg FILE NAME [EXTRA LINES...]
write_cfg() {
    local file=$1 name=$2; shift 2
    {
        echo "name = \"$name\""
        echo "memory = 256"
        echo "kernel = \"$guest/vmlinux\""
        echo "ramdisk = \"$guest/initramfs.cpio.gz\""
        echo "cmdline = \"console=ttyS0 quiet\""
        echo "spice = 1"
        for line in "$@"; do echo "$line"; done
    } >"$file"
}

# The state column of `orielctl list` for NAME, or "absent".
state_of() {
    "$orielctl" list 2>/dev/null | awk -v n="$1" '$1 == n { print $5; found = 1 } END { if (!found) print "absent" }'
}
id_of() {
    "$orielctl" list 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
}
# alive PID: the process runs (a zombie does not: a QEMU that outlived its
# daemon is reaped by whoever inherited it, maybe never).
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}
qemu_pid_of() {
    cat "$ORIEL_RUNTIME_DIR/domains/$1/qemu.pid" 2>/dev/null
}
# Number of live QEMUs whose cmdline names guest NAME.
qemu_count() {
    local count=0 pid
    for pid in $(pgrep -f "guest=$1,"); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$ORIEL_RUNTIME_DIR/domains/$1/" && count=$((count + 1))
    done
    echo "$count"
}

# guest_says NAME TEXT: runs `echo TEXT` on the guest's serial console.
guest_says() {
    "$console" "$ORIEL_RUNTIME_DIR/domains/$1/serial.sock" --timeout 120 --wait-ready "echo $2" 2>&1 | grep -q "$2"
}

# wait_for_state NAME STATE [SECONDS]: the daemon's events tell when, but a
# shell script has no event loop; this re-lists every 0.1 s.
wait_for_state() {
    local name=$1 want=$2 limit=$(( ${3:-30} * 10 )) i
    for ((i = 0; i < limit; i++)); do
        [ "$(state_of "$name")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# finish_orield: one TAP line; SIGTERM must end orield with status 0 (under
# ASan that includes no leak) and its log must hold no sanitizer report and
# no GLib warning or critical.
finish_orield() {
    kill -TERM "$orield_pid"
    wait "$orield_pid"
    local status=$?
    orield_pid=""
    if [ "$status" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer|CRITICAL|WARNING" "$tmp/orield.log"; then
        ok "orield exits cleanly on SIGTERM; no sanitizer report or GLib warning in its log"
    else
        not_ok "orield exits cleanly on SIGTERM; no sanitizer report or GLib warning in its log" "status=$status"
    fi
}
