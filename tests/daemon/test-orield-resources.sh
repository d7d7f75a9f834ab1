#!/bin/bash
# Resources and access of a running domain through orield: sched-credit
# (cgroup weight and cap), vcpu-pin, mem-set (balloon), spice (a fresh
# one-time ticket works, an expired one is refused), console with stdin
# from a pipe, info; settings survive a daemon restart.  TAP output.
here=$(dirname "$0")
. "$here/lib.sh"
probe="$build/tests/tools/spice-probe"

echo "1..16"

# The cgroup checks need what CI has: root and a cgroup hierarchy with the
# cpu controller that this process may write (v2, or v1's cpu.shares), as
# hypervisor/cgroup.c looks for it.  Decided here, not from orield's
# answers, so that a cgroup bug in orield cannot pass for a host without
# cgroups.  Where they cannot run they fail, saying why: a skip would read
# as a pass.
cgroup_cpu_root() {
    local root=${ORIEL_CGROUP_ROOT:-/sys/fs/cgroup} dir
    for dir in "$root" "$root/unified"; do
        if [ -r "$dir/cgroup.controllers" ] && tr ' ' '\n' <"$dir/cgroup.controllers" | grep -qx cpu; then
            echo "$dir"; return 0
        fi
    done
    [ -e "$root/cpu/cpu.shares" ] && echo "$root/cpu"
}
cgroup_root=$(cgroup_cpu_root)
no_cgroups=""
if [ -z "$cgroup_root" ]; then
    no_cgroups="this host has no cgroup cpu controller under ${ORIEL_CGROUP_ROOT:-/sys/fs/cgroup}; the cgroup checks need one (as in CI)"
elif [ ! -w "$cgroup_root" ]; then
    no_cgroups="$cgroup_root is not writable by uid $(id -u); the cgroup checks need root and a writable hierarchy (as in CI)"
fi

start_orield || { not_ok "orield starts"; exit 1; }

write_cfg "$tmp/res.cfg" rs-desk "vcpus = 2" "maxvcpus = 3" "maxmem = 512" "cpu_weight = 512" 'cpus = "1"'
"$orielctl" create "$tmp/res.cfg" >/dev/null 2>&1
pid=$(qemu_pid_of rs-desk)
# The domain's cgroup, as orield reports it (not shown by orielctl).
cgroup_dir() {
    python3 - "$ORIEL_RUNTIME_DIR/orield.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
f.write(b'{"execute": "domain-sched-credit", "arguments": {"name": "rs-desk"}, "id": 1}\n'); f.flush()
print(json.loads(f.readline())["return"].get("cgroup", ""))
PY
}

"$orielctl" sched-credit rs-desk >"$tmp/out" 2>&1
status=$?
dir=$(cgroup_dir)
if [ -n "$no_cgroups" ]; then
    not_ok "cpu_weight from the config applied in the domain's own cgroup" "$no_cgroups" \
        "sched-credit said (status $status): $(cat "$tmp/out")"
elif [ "$status" -eq 0 ] && grep -Eq "^rs-desk +512 +0$" "$tmp/out" &&
     [ -n "$dir" ] && grep -qx "$pid" "$dir/cgroup.procs" &&
     { [ "$(cat "$dir/cpu.shares" 2>/dev/null)" = 2048 ] || [ "$(cat "$dir/cpu.weight" 2>/dev/null)" = 200 ]; }; then
    ok "cpu_weight = 512 from the config is applied at start in the domain's own cgroup"
else
    not_ok "cpu_weight from the config applied in the domain's own cgroup" "status=$status dir=$dir" \
        "$(cat "$tmp/out")"
fi

"$orielctl" sched-credit -w 128 -c 50 rs-desk >"$tmp/out" 2>&1
if [ -n "$no_cgroups" ]; then
    not_ok "sched-credit -w 128 -c 50 sets the cgroup's weight and cap" "$no_cgroups" "$(cat "$tmp/out")"
elif [ -n "$dir" ] && grep -Eq "^rs-desk +128 +50$" "$tmp/out" &&
     { { [ "$(cat "$dir/cpu.shares" 2>/dev/null)" = 512 ] && [ "$(cat "$dir/cpu.cfs_quota_us")" = 50000 ]; } ||
       { [ "$(cat "$dir/cpu.weight" 2>/dev/null)" = 50 ] && [ "$(cat "$dir/cpu.max")" = "50000 100000" ]; }; }; then
    ok "sched-credit -w 128 -c 50 sets the cgroup's weight and cap"
else
    not_ok "sched-credit -w 128 -c 50 sets the cgroup's weight and cap" "dir=$dir" "$(cat "$tmp/out")" \
        "$([ -n "$dir" ] && grep . "$dir"/cpu.* 2>/dev/null | head)"
fi

"$orielctl" sched-credit -c 500 rs-desk >"$tmp/out" 2>&1
status=$?
if [ "$status" -eq 1 ] && grep -q "cap: must be 0 (none) to 200" "$tmp/out"; then
    ok "a cap above 100 per vCPU is refused"
else
    not_ok "a cap above 100 per vCPU is refused" "status=$status" "$(cat "$tmp/out")"
fi

# vcpu-pin: vCPU 1's thread to CPU 0, then every vCPU to CPU 0.
threads() {
    for t in /proc/"$pid"/task/*; do
        grep -q "^CPU [0-9]*/TCG" "$t/comm" 2>/dev/null && echo "$(cat "$t/comm") $(awk '/Cpus_allowed_list/ {print $2}' "$t/status")"
    done
}
# The config's cpus = "1" is applied just after the start.
for _ in $(seq 50); do [ "$(threads | awk '{print $NF}' | sort -u)" = 1 ] && break; sleep 0.1; done
if [ "$(threads | awk '{print $NF}' | sort -u)" = 1 ] && [ "$(threads | wc -l)" -eq 2 ]; then
    ok "cpus = \"1\" in the config pins every vCPU thread at start"
else
    not_ok "cpus from the config pins the vCPUs" "$(threads)"
fi
"$orielctl" vcpu-pin rs-desk all 0 >"$tmp/out" 2>&1
status=$?
if [ "$status" -eq 0 ] && [ "$(threads | awk '{print $NF}' | sort -u)" = 0 ] && [ "$(threads | wc -l)" -eq 2 ]; then
    ok "vcpu-pin all 0: both vCPU threads run on CPU 0 only"
else
    not_ok "vcpu-pin all 0" "status=$status" "$(cat "$tmp/out")" "$(threads)"
fi
"$orielctl" vcpu-pin rs-desk 0 0-3,^2 >/dev/null 2>&1
"$orielctl" vcpu-pin rs-desk 5 0 >"$tmp/out5" 2>&1
status5=$?
"$orielctl" vcpu-pin rs-desk 0 "x-y" >"$tmp/outx" 2>&1
statusx=$?
if [ "$status5" -eq 1 ] && grep -q "has no vCPU 5" "$tmp/out5" && [ "$statusx" -eq 1 ] &&
   grep -q "is not a CPU list" "$tmp/outx"; then
    ok "vcpu-pin of a missing vCPU or a bad CPU list: clear errors"
else
    not_ok "vcpu-pin errors" "$(cat "$tmp/out5" "$tmp/outx")"
fi

# vcpu-set: hot-plug a third vCPU, unplug it again; boot vCPUs stay.
# QEMU's q35 CPU hotplug stays in legacy mode (no unplug) until the guest's
# ACPI switches it over: the guest must have booted first.
guest_says rs-desk vcpu-ready >/dev/null 2>&1
"$orielctl" vcpu-set rs-desk 3 >"$tmp/out" 2>&1
status=$?
if [ "$status" -eq 0 ] && [ "$(threads | wc -l)" -eq 3 ]; then
    ok "vcpu-set 3 hot-plugs a vCPU (a third vCPU thread in QEMU)"
else
    not_ok "vcpu-set 3 hot-plugs a vCPU" "status=$status" "$(cat "$tmp/out")" "$(threads)"
fi
"$orielctl" vcpu-set rs-desk 2 >"$tmp/out" 2>&1
for _ in $(seq 300); do [ "$(threads | wc -l)" -eq 2 ] && break; sleep 0.1; done
"$orielctl" vcpu-set rs-desk 1 >"$tmp/out1" 2>&1
status1=$?
"$orielctl" vcpu-set rs-desk 4 >"$tmp/out4" 2>&1
status4=$?
if [ "$(threads | wc -l)" -eq 2 ] && [ "$status1" -eq 1 ] && grep -q "only vCPUs plugged by vcpu-set can be removed" "$tmp/out1" &&
   [ "$status4" -eq 1 ] && grep -q "must be 1 to 3 (maxvcpus)" "$tmp/out4"; then
    ok "vcpu-set 2 unplugs it; boot vCPUs and more than maxvcpus are clear errors"
else
    not_ok "vcpu-set down" "$(cat "$tmp/out" "$tmp/out1" "$tmp/out4")" "$(threads)"
fi

if "$orielctl" mem-set rs-desk 384 >"$tmp/out" 2>&1 && ! "$orielctl" mem-set rs-desk 2g >"$tmp/out2" 2>&1 &&
   grep -q "outside 16..512 MiB" "$tmp/out2"; then
    ok "mem-set within maxmem sets the balloon target; above maxmem is refused"
else
    not_ok "mem-set" "$(cat "$tmp/out" "$tmp/out2")"
fi

# spice: a fresh ticket, valid for its lifetime only.
uri=$("$orielctl" spice -e 60 rs-desk 2>&1)
port=$(echo "$uri" | sed -n 's|^spice://127\.0\.0\.1:\([0-9]*\)?password=.*|\1|p')
ticket=${uri#*password=}
guest_says rs-desk rs-up >/dev/null
if [ -n "$port" ] && "$probe" --host 127.0.0.1 --port "$port" --password "$ticket" --timeout 120 >"$tmp/probe" 2>&1; then
    ok "spice prints spice://HOST:PORT?password=TICKET and the ticket works"
else
    not_ok "spice: the fresh ticket works" "uri=$uri" "$(cat "$tmp/probe")"
fi
short=$("$orielctl" spice -e 1 rs-desk 2>&1)
sleep 2
if "$probe" --host 127.0.0.1 --port "$port" --password "${short#*password=}" --timeout 60 --expect auth-failure \
       >"$tmp/probe" 2>&1; then
    ok "an expired ticket is refused"
else
    not_ok "an expired ticket is refused" "$(cat "$tmp/probe")"
fi

printf 'echo piped-$((6*7))\n' | "$orielctl" console --linger 1500 rs-desk >"$tmp/console" 2>&1
if grep -q "piped-42" "$tmp/console"; then
    ok "console with stdin from a pipe: the command runs and its output shows"
else
    not_ok "console with stdin from a pipe" "$(cat "$tmp/console")"
fi

"$orielctl" info >"$tmp/info" 2>&1
if head -1 "$tmp/info" | grep -q "^host " && grep -q "^accel .*: \(tcg\|kvm\)$" "$tmp/info" &&
   grep -q "^qemu_version .*: [0-9]" "$tmp/info" && grep -q "^nr_cpus .*: [0-9]" "$tmp/info"; then
    ok "info: host, CPUs, memory, accelerator, QEMU version"
else
    not_ok "info" "$(cat "$tmp/info")"
fi

# The settings survive a daemon restart.
stop_orield_hard
start_orield
for _ in $(seq 100); do "$orielctl" list 2>/dev/null | grep -q " starting " || break; sleep 0.1; done
"$orielctl" sched-credit rs-desk >"$tmp/out" 2>&1
if [ -n "$no_cgroups" ]; then
    not_ok "sched-credit after a daemon restart shows the weight and cap in effect" "$no_cgroups" "$(cat "$tmp/out")"
elif grep -Eq "^rs-desk +128 +50$" "$tmp/out"; then
    ok "sched-credit after a daemon restart shows the weight and cap in effect"
else
    not_ok "sched-credit after a daemon restart shows the weight and cap in effect" "$(cat "$tmp/out")"
fi

"$orielctl" destroy rs-desk >/dev/null 2>&1
if [ -n "$no_cgroups" ]; then
    not_ok "destroy removes the domain's cgroup" "$no_cgroups"
elif [ -n "$dir" ] && [ ! -d "$dir" ]; then
    ok "destroy removes the domain's cgroup"
else
    not_ok "destroy removes the domain's cgroup" "dir=$dir (empty: orield reported no cgroup)"
fi

finish_orield

[ "$failures" -eq 0 ]
