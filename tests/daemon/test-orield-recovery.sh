#!/bin/bash
# SIGKILL orield while five domains run (two defined, three created, one of
# them paused); a new orield reattaches all of them: same ids, same QEMUs,
# states restored, QMP and consoles work, none started twice.  Then QEMU
# deaths after the reattach and while no daemon runs.  TAP output.
here=$(dirname "$0")
. "$here/lib.sh"

echo "1..11"

start_orield || { not_ok "orield starts"; exit 1; }

names="rc-one rc-two rc-three rc-four rc-five"
write_cfg "$tmp/rc-one.cfg" rc-one
write_cfg "$tmp/rc-two.cfg" rc-two 'on_crash = "preserve"'
write_cfg "$tmp/rc-three.cfg" rc-three
write_cfg "$tmp/rc-four.cfg" rc-four
write_cfg "$tmp/rc-five.cfg" rc-five
"$orielctl" define "$tmp/rc-one.cfg" >/dev/null
"$orielctl" define "$tmp/rc-two.cfg" >/dev/null
# Concurrently: the daemon must hand each its own SPICE port.
"$orielctl" start rc-one >"$tmp/start-one" 2>&1 & starts=($!)
"$orielctl" start rc-two >"$tmp/start-two" 2>&1 & starts+=($!)
for name in rc-three rc-four rc-five; do
    "$orielctl" create "$tmp/$name.cfg" >"$tmp/start-$name" 2>&1 & starts+=($!)
done
wait "${starts[@]}"
all_up=1
for name in $names; do guest_says "$name" "$name-up" || all_up=0; done
"$orielctl" pause rc-two >/dev/null 2>&1
declare -A ids pids
for name in $names; do ids[$name]=$(id_of "$name"); pids[$name]=$(qemu_pid_of "$name"); done
if [ "$all_up" = 1 ] && [ "$(state_of rc-one)" = running ] && [ "$(state_of rc-two)" = paused ] &&
   [ "$(state_of rc-three)" = running ] && [ "$(state_of rc-five)" = running ]; then
    ok "five domains run (one paused), their guests booted"
else
    not_ok "five domains run" "$("$orielctl" list 2>&1)" "$(cat "$tmp"/start-*)"
fi

stop_orield_hard
alive=1
for name in $names; do alive "${pids[$name]}" || alive=0; done
if [ "$alive" = 1 ]; then ok "SIGKILL of orield leaves every QEMU running"; else not_ok "QEMUs outlive orield"; fi

start_orield
# Reattaching is asynchronous: wait until nothing is "starting".
for _ in $(seq 100); do "$orielctl" list 2>/dev/null | grep -q " starting " || break; sleep 0.1; done
same=1
for name in $names; do
    [ "$(id_of "$name")" = "${ids[$name]}" ] && [ "$(qemu_pid_of "$name")" = "${pids[$name]}" ] || same=0
done
if [ "$same" = 1 ] && [ "$(state_of rc-one)" = running ] && [ "$(state_of rc-two)" = paused ] &&
   [ "$(state_of rc-three)" = running ] && [ "$(state_of rc-four)" = running ] &&
   [ "$(state_of rc-five)" = running ]; then
    ok "a new orield lists all five with the same ids, QEMUs and states"
else
    not_ok "a new orield reattaches all five" "$("$orielctl" list 2>&1)"
fi

count=""
for name in $names; do count="$count$(qemu_count "$name")"; done
if [ "$count" = 11111 ]; then ok "none was started twice"; else not_ok "none was started twice" "counts $count"; fi

if guest_says rc-one rc-one-back && guest_says rc-three rc-three-back && guest_says rc-four rc-four-back &&
   guest_says rc-five rc-five-back; then
    ok "the consoles of the reattached guests answer"
else
    not_ok "the consoles of the reattached guests answer"
fi

if "$orielctl" unpause rc-two >/dev/null 2>&1 && [ "$(state_of rc-two)" = running ] && guest_says rc-two rc-two-back &&
   "$orielctl" pause rc-three >/dev/null 2>&1 && [ "$(state_of rc-three)" = paused ]; then
    ok "QMP works after the reattach (unpause, pause)"
else
    not_ok "QMP works after the reattach" "$("$orielctl" list 2>&1)"
fi

# A reattached QEMU is not our child: its death is seen through a pidfd.
kill -9 "${pids[rc-two]}"
if wait_for_state rc-two crashed 10; then
    ok "a reattached QEMU's death is seen and its on_crash policy applied (preserve)"
else
    not_ok "a reattached QEMU's death is seen" "$("$orielctl" list 2>&1)"
fi

pid=${pids[rc-one]}
"$orielctl" shutdown -w rc-one >/dev/null 2>&1
if [ "$(state_of rc-one)" = shutoff ] && ! alive "$pid"; then
    ok "shutdown -w of a reattached domain"
else
    not_ok "shutdown -w of a reattached domain" "$("$orielctl" list 2>&1)"
fi

# QEMU dies while no daemon runs: the next one does not resurrect it.
stop_orield_hard
kill -9 "${pids[rc-three]}"
start_orield
for _ in $(seq 100); do "$orielctl" list 2>/dev/null | grep -q " starting " || break; sleep 0.1; done
if [ "$(state_of rc-three)" = absent ] && [ ! -e "$ORIEL_RUNTIME_DIR/domains/rc-three" ] &&
   [ "$(state_of rc-one)" = shutoff ]; then
    ok "a QEMU that died while no daemon ran is not reported running; its runtime dir is cleaned"
else
    not_ok "a QEMU that died while no daemon ran" "$("$orielctl" list 2>&1)" "$(ls -R "$ORIEL_RUNTIME_DIR")"
fi

"$orielctl" destroy rc-two >/dev/null 2>&1
"$orielctl" destroy rc-four >/dev/null 2>&1
"$orielctl" destroy rc-five >/dev/null 2>&1
count=""
for name in $names; do count="$count$(qemu_count "$name")"; done
if [ "$count" = 00000 ]; then ok "no QEMU is left running"; else not_ok "no QEMU is left running" "$count"; fi

finish_orield

[ "$failures" -eq 0 ]
