# Shared by the start-up benchmarks (bench-spice-start.sh for create -F,
# bench-daemon-create.sh for create through orield): the test guest's
# config, the direct QEMU argv it gives, one measurement with spice-link, and
# the report of both medians and their ratio.  Expects $guest, $orielctl,
# $link and $runs to be set.

# bench_write_cfg FILE NAME: the test guest as a SPICE desktop on a free port
# (sets $port).
bench_write_cfg() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$1" <<CFG
name = "$2"
memory = 256
kernel = "$guest/vmlinux"
ramdisk = "$guest/initramfs.cpio.gz"
cmdline = "console=ttyS0 quiet"
spice = 1
spicehost = "127.0.0.1"
spiceport = $port
spicedisable_ticketing = 1
spicevdagent = 1
CFG
}

# bench_direct_argv CFG: the same argv orielctl would run (its QMP socket by
# path instead of an inherited fd, the only difference), in direct_argv.
bench_direct_argv() {
    local line
    line=$("$orielctl" argv "$1")
    eval "set -- $line"
    direct_argv=("$@")
}

# bench_measure COMMAND...: milliseconds from exec of COMMAND until SPICE
# answers a link request; the command is then stopped with SIGINT.
bench_measure() {
    local out
    out=$("$link" --host 127.0.0.1 --port "$port" --wait-ms 120000 --stop-signal INT \
              --stop-timeout-ms 30000 -- "$@")
    sed -n 's/^link-reply-ms=//p' <<<"$out"
}

bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

# bench_report LABEL: medians of oriel_times and direct_times and the ratio.
bench_report() {
    local oriel direct ratio
    oriel=$(bench_median "${oriel_times[@]}")
    direct=$(bench_median "${direct_times[@]}")
    ratio=$(awk -v a="$oriel" -v b="$direct" 'BEGIN {printf "%.3f", a / b}')
    echo "spice-link-reply median over $runs runs: $1 ${oriel} ms, direct QEMU ${direct} ms"
    echo "ratio orielctl/direct: $ratio (target <= 1.05)"
}
