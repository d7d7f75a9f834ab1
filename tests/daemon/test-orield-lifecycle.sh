#!/bin/bash
# The lifecycle through orield and orielctl with the test guest under TCG:
# define, start, list (table and --json), console, pause, unpause, reboot,
# shutdown -w, destroy, create; the event stream; on_crash policies when
# QEMU is SIGKILLed (restart, destroy, preserve).  TAP output.
here=$(dirname "$0")
. "$here/lib.sh"

echo "1..21"

start_orield || { not_ok "orield starts"; exit 1; }

"$orielctl" events >"$tmp/events" 2>&1 &
events_pid=$!
pids_to_kill+=("$events_pid")

write_cfg "$tmp/desk.cfg" lc-desk
"$orielctl" define "$tmp/desk.cfg" >/dev/null
"$orielctl" start lc-desk >"$tmp/start" 2>&1
status=$?
id=$(id_of lc-desk)
if [ "$status" -eq 0 ] && grep -q "^SPICE URI: spice://127.0.0.1:" "$tmp/start" && [ "$(state_of lc-desk)" = running ] &&
   [ "$id" -ge 1 ] 2>/dev/null && [ "$(qemu_count lc-desk)" = 1 ]; then
    ok "define + start: running with a domain id and a SPICE URI"
else
    not_ok "define + start" "status=$status id=$id" "$(cat "$tmp/start")" "$("$orielctl" list 2>&1)"
fi

"$orielctl" list >"$tmp/list" 2>&1
if head -1 "$tmp/list" | grep -Eq "^Name +ID +Mem +VCPUs +State +Time\(s\) +SPICE$" &&
   grep -Eq "^lc-desk +$id +256 +1 +running +[0-9.]+ +spice://127\.0\.0\.1:[0-9]+$" "$tmp/list"; then
    ok "list prints xl-style columns"
else
    not_ok "list prints xl-style columns" "$(cat "$tmp/list")"
fi

"$orielctl" list --json >"$tmp/list.json" 2>&1
if python3 -c "import json,sys
d = {x['name']: x for x in json.load(open(sys.argv[1]))}['lc-desk']
assert d['state'] == 'running' and d['id'] == int(sys.argv[2]) and d['memory'] == 256 and d['spice'].startswith('spice://')
assert d['pid'] > 0 and d['persistent'] is True" "$tmp/list.json" "$id"; then
    ok "list --json"
else
    not_ok "list --json" "$(cat "$tmp/list.json")"
fi

if guest_says lc-desk lc-up-1; then ok "the guest boots; its console answers"; else not_ok "the guest console answers"; fi

# QEMU's log: the domain's own lines (it logs with timestamps; may be short).
if "$orielctl" log lc-desk >"$tmp/log" 2>"$tmp/err" &&
   [ "$(wc -c <"$tmp/log")" -eq "$(wc -c <"$ORIEL_RUNTIME_DIR/domains/lc-desk/qemu.log")" ]; then
    ok "log prints the running domain's QEMU log"
else
    not_ok "log prints the running domain's QEMU log" "$(cat "$tmp/err")"
fi

"$orielctl" pause lc-desk >/dev/null 2>&1
s1=$(state_of lc-desk)
"$orielctl" pause lc-desk >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$s1" = paused ] && [ "$status" -eq 1 ] && grep -q "cannot pause 'lc-desk': it is paused" "$tmp/err"; then
    ok "pause; pausing a paused domain is a clear error"
else
    not_ok "pause" "state=$s1 status=$status" "$(cat "$tmp/err")"
fi

"$orielctl" unpause lc-desk >/dev/null 2>&1
if [ "$(state_of lc-desk)" = running ] && guest_says lc-desk lc-up-2; then
    ok "unpause: running, the console answers again"
else
    not_ok "unpause" "$("$orielctl" list 2>&1)"
fi

pid_before=$(qemu_pid_of lc-desk)
if "$orielctl" reboot lc-desk >/dev/null 2>&1 && guest_says lc-desk lc-rebooted &&
   [ "$(qemu_pid_of lc-desk)" = "$pid_before" ] && [ "$(id_of lc-desk)" = "$id" ]; then
    ok "reboot resets the guest in the same QEMU; it boots again"
else
    not_ok "reboot" "$("$orielctl" list 2>&1)"
fi

pid=$(qemu_pid_of lc-desk)
"$orielctl" shutdown -w lc-desk >"$tmp/out" 2>&1
status=$?
if [ "$status" -eq 0 ] && [ "$(state_of lc-desk)" = shutoff ] && ! alive "$pid" &&
   [ ! -e "$ORIEL_RUNTIME_DIR/domains/lc-desk" ]; then
    ok "shutdown -w: the guest powers off, QEMU is gone, the runtime dir removed"
else
    not_ok "shutdown -w" "status=$status" "$(cat "$tmp/out")" "$("$orielctl" list 2>&1)"
fi

"$orielctl" destroy lc-desk >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && grep -q "not running" "$tmp/err"; then
    ok "destroying a stopped domain is a clear error"
else
    not_ok "destroying a stopped domain" "status=$status" "$(cat "$tmp/err")"
fi

"$orielctl" start lc-desk >/dev/null 2>&1
pid=$(qemu_pid_of lc-desk)
"$orielctl" destroy lc-desk >/dev/null 2>&1
if [ -n "$pid" ] && ! alive "$pid" && [ "$(state_of lc-desk)" = shutoff ]; then
    ok "destroy stops QEMU at once; the definition stays"
else
    not_ok "destroy" "pid=$pid" "$("$orielctl" list 2>&1)"
fi

# create: a transient domain; on_crash = "restart" brings it back.
write_cfg "$tmp/restart.cfg" lc-restart 'on_crash = "restart"'
"$orielctl" create "$tmp/restart.cfg" >"$tmp/out" 2>&1
id1=$(id_of lc-restart)
pid1=$(qemu_pid_of lc-restart)
if [ "$(state_of lc-restart)" = running ] && [ ! -e "$ORIEL_CONFIG_DIR/domains/lc-restart.json" ]; then
    ok "create starts a domain without defining it"
else
    not_ok "create" "$(cat "$tmp/out")"
fi
kill -9 "$pid1"
sleep 0.2
for _ in $(seq 100); do
    pid2=$(qemu_pid_of lc-restart)
    [ -n "$pid2" ] && [ "$pid2" != "$pid1" ] && [ "$(state_of lc-restart)" = running ] && break
    sleep 0.1
done
if [ -n "$pid2" ] && [ "$pid2" != "$pid1" ] && [ "$(state_of lc-restart)" = running ] &&
   [ "$(id_of lc-restart)" != "$id1" ] && [ "$(qemu_count lc-restart)" = 1 ]; then
    ok "on_crash = restart: a SIGKILLed QEMU is replaced by a new one (new id)"
else
    not_ok "on_crash = restart" "pid1=$pid1 pid2=$pid2" "$("$orielctl" list 2>&1)"
fi

# on_crash = "destroy" (the default): the transient domain goes away.
write_cfg "$tmp/destroy.cfg" lc-destroy
"$orielctl" create "$tmp/destroy.cfg" >/dev/null 2>&1
kill -9 "$(qemu_pid_of lc-destroy)"
if wait_for_state lc-destroy absent 20 && [ ! -e "$ORIEL_RUNTIME_DIR/domains/lc-destroy" ]; then
    ok "on_crash = destroy: a SIGKILLed QEMU's transient domain is removed"
else
    not_ok "on_crash = destroy" "$("$orielctl" list 2>&1)"
fi

# on_crash = "preserve": kept as crashed until destroyed.
write_cfg "$tmp/preserve.cfg" lc-keep 'on_crash = "preserve"'
"$orielctl" create "$tmp/preserve.cfg" >/dev/null 2>&1
kill -9 "$(qemu_pid_of lc-keep)"
if wait_for_state lc-keep crashed 20; then
    ok "on_crash = preserve: kept in state crashed"
else
    not_ok "on_crash = preserve" "$("$orielctl" list 2>&1)"
fi
"$orielctl" destroy lc-keep >/dev/null 2>&1
if [ "$(state_of lc-keep)" = absent ]; then
    ok "destroy removes a preserved crashed domain"
else
    not_ok "destroy removes a preserved crashed domain" "$("$orielctl" list 2>&1)"
fi

# on_poweroff = "preserve": the guest powers itself off, QEMU stays
# (-no-shutdown) and the domain shows "shutdown" until destroyed.
write_cfg "$tmp/off.cfg" lc-off 'on_poweroff = "preserve"'
"$orielctl" create "$tmp/off.cfg" >/dev/null 2>&1
pid=$(qemu_pid_of lc-off)
guest_says lc-off lc-off-up
printf 'poweroff -f\n' | "$orielctl" console --linger 300 lc-off >/dev/null 2>&1
if wait_for_state lc-off shutdown 30 && alive "$pid"; then
    ok "on_poweroff = preserve: a guest poweroff leaves the domain in state shutdown"
else
    not_ok "on_poweroff = preserve" "$("$orielctl" list 2>&1)"
fi
"$orielctl" destroy lc-off >/dev/null 2>&1
if [ "$(state_of lc-off)" = absent ] && ! alive "$pid"; then
    ok "destroy of a preserved domain stops its QEMU"
else
    not_ok "destroy of a preserved domain stops its QEMU" "$("$orielctl" list 2>&1)"
fi

"$orielctl" destroy lc-restart >/dev/null 2>&1
kill "$events_pid" 2>/dev/null
if python3 -c "import json,sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
st = [(e['data']['name'], e['data']['state']) for e in ev if e['event'] == 'DOMAIN_STATE']
for want in [('lc-desk','running'), ('lc-desk','paused'), ('lc-desk','shutting-down'), ('lc-desk','shutoff'),
             ('lc-restart','starting'), ('lc-keep','crashed')]:
    assert want in st, want
assert all('seconds' in e['timestamp'] for e in ev)" "$tmp/events"; then
    ok "orielctl events follows DOMAIN_STATE events"
else
    not_ok "orielctl events follows DOMAIN_STATE events" "$(cat "$tmp/events")"
fi

if [ "$(qemu_count lc-desk)$(qemu_count lc-restart)$(qemu_count lc-destroy)$(qemu_count lc-keep)$(qemu_count lc-off)" = 00000 ]; then
    ok "no QEMU is left running"
else
    not_ok "no QEMU is left running"
fi

finish_orield

[ "$failures" -eq 0 ]
