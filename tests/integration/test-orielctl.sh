#!/bin/bash
# orielctl as a user runs it: check, argv, create -F with the test guest,
# Ctrl-C, and every bad input of the foundation issue giving one clear line,
# a non-zero exit and nothing left behind.  TAP output.
set -u

build=${ORIEL_BUILD_DIR:?run through meson test}
guest=${ORIEL_GUEST_DIR:?run through meson test}
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
orielctl="$build/toolstack/orielctl"

tmp=$(mktemp -d /tmp/oriel-ctl.XXXXXX)
export ORIEL_RUNTIME_DIR="$tmp/run"
pids_to_kill=()
cleanup() {
    for pid in "${pids_to_kill[@]}"; do kill -9 "$pid" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# The TAP helpers.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$source_dir/tests/lib.sh"

# A config for the test guest; extra lines from the arguments.
write_cfg() {
    local file=$1; shift
    {
        echo "name = \"ctl-desk\""
        echo "memory = 256"
        echo "kernel = \"$guest/vmlinux\""
        echo "ramdisk = \"$guest/initramfs.cpio.gz\""
        echo "cmdline = \"console=ttyS0 quiet\""
        echo "spice = 1"
        echo "spicevdagent = 1"
        for line in "$@"; do echo "$line"; done
    } > "$file"
}

# No QEMU of this test may be left running.
qemu_running() { pgrep -f "guest=ctl-desk" >/dev/null; }

# expect_failure NAME EXPECTED_TEXT COMMAND...: exit 1, exactly one line on
# stderr containing EXPECTED_TEXT, no QEMU and no runtime dir left.
expect_failure() {
    local name=$1 expected=$2; shift 2
    local status
    "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    local lines
    lines=$(grep -vc '^warning: ' "$tmp/err")
    if [ "$status" -ne 1 ]; then
        not_ok "$name" "exit status $status, wanted 1" "$(cat "$tmp/err")"
    elif [ "$lines" -ne 1 ]; then
        not_ok "$name" "wanted one line on stderr, got $lines:" "$(cat "$tmp/err")"
    elif ! grep -qF -- "$expected" "$tmp/err"; then
        not_ok "$name" "stderr lacks '$expected':" "$(cat "$tmp/err")"
    elif qemu_running; then
        not_ok "$name" "a QEMU process was left running"
    elif [ -e "$ORIEL_RUNTIME_DIR/domains/ctl-desk" ]; then
        not_ok "$name" "the runtime dir was left behind: $(ls -A "$ORIEL_RUNTIME_DIR/domains/ctl-desk")"
    else
        ok "$name"
    fi
}

echo "1..15"

# --- check and argv ---------------------------------------------------------
write_cfg "$tmp/good.cfg" 'spicepasswd = "ctl-ticket-42"' 'spiceusbredirection = 2' 'soundhw = "hda"'
if "$orielctl" check "$tmp/good.cfg" >"$tmp/out" 2>"$tmp/err" &&
   grep -q '"name" : "ctl-desk"' "$tmp/out" && grep -q '"spicepasswd" : "\*\*\*\*\*\*\*\*"' "$tmp/out" &&
   ! grep -q ctl-ticket-42 "$tmp/out"; then
    ok "check prints the resolved config with the ticket masked"
else
    not_ok "check prints the resolved config with the ticket masked" "$(cat "$tmp/out" "$tmp/err")"
fi

if "$orielctl" argv "$tmp/good.cfg" >"$tmp/out" 2>"$tmp/err" &&
   grep -q -- '-spice' "$tmp/out" && grep -q 'password-secret=' "$tmp/out" &&
   grep -q 'usb-redir' "$tmp/out" && ! grep -q ctl-ticket-42 "$tmp/out"; then
    ok "argv prints the QEMU command line without the ticket"
else
    not_ok "argv prints the QEMU command line without the ticket" "$(cat "$tmp/out" "$tmp/err")"
fi

write_cfg "$tmp/bad-memory.cfg" "memory = 8"
expect_failure "memory out of range names file, line and column" \
    "bad-memory.cfg:8:10: memory: 8 MiB is below the minimum of 16 MiB" "$orielctl" create -F "$tmp/bad-memory.cfg"

write_cfg "$tmp/bad-vcpus.cfg" "vcpus = 300"
expect_failure "vcpus out of range" "vcpus: 300 is out of range" "$orielctl" create -F "$tmp/bad-vcpus.cfg"

write_cfg "$tmp/no-ticket-public.cfg" 'spicehost = "0.0.0.0"' "spicedisable_ticketing = 1"
expect_failure "no ticket off loopback is refused" \
    "spicedisable_ticketing: SPICE without a ticket is only allowed on loopback" \
    "$orielctl" create -F "$tmp/no-ticket-public.cfg"

write_cfg "$tmp/password-no-tickets.cfg" 'spicepasswd = "x"' "spicedisable_ticketing = 1"
expect_failure "a password with ticketing disabled is refused" "spicepasswd:" \
    "$orielctl" create -F "$tmp/password-no-tickets.cfg"

write_cfg "$tmp/syntax.cfg" 'memory = "lots'
expect_failure "a syntax error names file, line and column" "syntax.cfg:8:" "$orielctl" check "$tmp/syntax.cfg"

# --- bad input at start: nothing left behind --------------------------------
write_cfg "$tmp/no-kernel.cfg"
sed -i "s|$guest/vmlinux|$tmp/missing-vmlinuz|" "$tmp/no-kernel.cfg"
expect_failure "a missing kernel" "kernel: $tmp/missing-vmlinuz does not exist" \
    "$orielctl" create -F "$tmp/no-kernel.cfg"

write_cfg "$tmp/no-disk.cfg" "disk = [ '$tmp/missing.img,raw,xvda,rw' ]"
expect_failure "a missing disk" "disk: xvda: $tmp/missing.img does not exist" \
    "$orielctl" create -F "$tmp/no-disk.cfg"

python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(600)' >"$tmp/port" &
holder=$!
pids_to_kill+=("$holder")
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
write_cfg "$tmp/busy-port.cfg" "spiceport = $port"
expect_failure "a SPICE port in use" "spiceport: $port on 127.0.0.1 is already in use" \
    "$orielctl" create -F "$tmp/busy-port.cfg"
kill "$holder"

expect_failure "QEMU missing" "cannot start QEMU" \
    env ORIEL_QEMU=/nonexistent/qemu-system-x86_64 "$orielctl" create -F "$tmp/good.cfg"

write_cfg "$tmp/early-exit.cfg" 'device_model_args = [ "-device", "no-such-device" ]'
expect_failure "QEMU exiting early reports QEMU's reason" "no-such-device" \
    "$orielctl" create -F "$tmp/early-exit.cfg"

# --- create -F, SPICE URI, Ctrl-C powers the guest down --------------------
mkfifo "$tmp/create.out"
"$orielctl" create -F --ticket-file "$tmp/ticket" --shutdown-timeout 120 "$tmp/good.cfg" \
    >"$tmp/create.out" 2>"$tmp/create.err" &
create=$!
pids_to_kill+=("$create")
exec 3<"$tmp/create.out"
uri=""
while IFS= read -r -t 240 -u 3 line; do
    echo "# $line"
    case "$line" in "SPICE URI: "*) uri=${line#SPICE URI: }; break ;; esac
done
qemu_pid=$(cat "$ORIEL_RUNTIME_DIR/domains/ctl-desk/qemu.pid" 2>/dev/null)
if [[ "$uri" =~ ^spice://127\.0\.0\.1:[0-9]+$ ]] && [ "$(cat "$tmp/ticket" 2>/dev/null)" = ctl-ticket-42 ] &&
   [ -n "$qemu_pid" ] && ! tr '\0' ' ' <"/proc/$qemu_pid/cmdline" | grep -q ctl-ticket-42; then
    ok "create -F prints the SPICE URI once SPICE listens; the ticket is in no argv"
else
    not_ok "create -F prints the SPICE URI once SPICE listens; the ticket is in no argv" \
        "uri='$uri' qemu_pid='$qemu_pid'" "$(cat "$tmp/create.err")"
fi

# The guest must be booted for the power button to mean anything.
if "$build/tests/tools/guest-console" "$ORIEL_RUNTIME_DIR/domains/ctl-desk/serial.sock" \
       --timeout 180 --wait-ready "echo guest-up" >"$tmp/console" 2>&1 && grep -q guest-up "$tmp/console"; then
    ok "the guest booted to its shell"
else
    not_ok "the guest booted to its shell" "$(cat "$tmp/console")"
fi

kill -INT "$create"
wait "$create"
status=$?
exec 3<&-
if [ "$status" -eq 0 ] && ! kill -0 "$qemu_pid" 2>/dev/null && [ ! -e "$ORIEL_RUNTIME_DIR/domains/ctl-desk" ] &&
   grep -q "ended: poweroff" "$tmp/create.err"; then
    ok "Ctrl-C powers the guest down: exit 0, QEMU gone, runtime dir removed"
else
    not_ok "Ctrl-C powers the guest down: exit 0, QEMU gone, runtime dir removed" \
        "status=$status" "$(cat "$tmp/create.err")"
fi

[ "$failures" -eq 0 ]
