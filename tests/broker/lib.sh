# Shared by the broker tests and benchmark (after tests/daemon/lib.sh):
# real PAM accounts created for the run, TLS made by --init-tls, a broker
# config with the test guest as golden image, the broker started and
# stopped by pid, and a curl wrapper.  Needs root (useradd, /etc/pam.d).
broker="$build/toolstack/broker/oriel-broker"
source_dir=${ORIEL_SOURCE_DIR:?run through meson test}
broker_pid=""
broker_port=""
created_users=()
created_groups=()

if [ "$(id -u)" -ne 0 ]; then
    echo "Bail out! the broker tests need root (useradd, /etc/pam.d/oriel)"
    exit 1
fi
for tool in curl sqlite3 qemu-img useradd chpasswd openssl; do
    command -v "$tool" >/dev/null || { echo "Bail out! $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

# The broker's PAM service, as installed by meson install.
if ! cmp -s "$source_dir/data/pam.d/oriel" /etc/pam.d/oriel; then
    install -m 0644 "$source_dir/data/pam.d/oriel" /etc/pam.d/oriel
fi

broker_cleanup() {
    if [ -n "$broker_pid" ]; then kill -9 "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; fi
    local u g
    for u in "${created_users[@]}"; do userdel -r "$u" >/dev/null 2>&1 || userdel "$u" >/dev/null 2>&1; done
    for g in "${created_groups[@]}"; do groupdel "$g" >/dev/null 2>&1; done
    if [ "${failures:-0}" -ne 0 ] && [ -f "$tmp/broker.log" ]; then
        echo "# broker log:"; tail -n 40 "$tmp/broker.log" | sed 's/^/#   /'
    fi
}
trap 'broker_cleanup; cleanup' EXIT

# Names unique to this run (user names: at most 32 bytes).
run_id=$(printf '%x' $$)
make_group() {
    groupadd "$1" && created_groups+=("$1")
}
# make_user NAME PASSWORD [GROUP,...]
make_user() {
    useradd -M -N -s /usr/sbin/nologin ${3:+-G "$3"} "$1" && created_users+=("$1") &&
        echo "$1:$2" | chpasswd
}

# write_broker_config FILE [BROKER GROUP LINES...]; pools appended by the caller.
write_broker_config() {
    local file=$1; shift
    {
        echo "[broker]"
        for line in "$@"; do echo "$line"; done
    } >"$file"
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# add_pool FILE NAME PERSISTENT GROUPS DESKTOPS [EXTRA LINES...]
add_pool() {
    local file=$1 name=$2 persistent=$3 groups=$4 desktops=$5; shift 5
    add_pool_body "$file" "$name" "$persistent" "$groups" "$desktops"
    for line in "$@"; do echo "$line" >>"$file"; done
}
add_pool_body() {
    cat >>"$1" <<EOF

[pool $2]
description = Test pool $2
golden-image = $tmp/golden.raw
golden-format = raw
desktops = $5
memory = 256
persistent = $3
groups = $4
kernel = $guest/vmlinux
ramdisk = $guest/initramfs.cpio.gz
cmdline = console=ttyS0 quiet
EOF
}

make_golden() {
    qemu-img create -q -f raw "$tmp/golden.raw" 16M
}

# start_broker CONFIG [EXTRA ARGS]: waits for its "listening on" line.
start_broker() {
    local config=$1; shift
    rm -f "$tmp/broker-ready"
    mkfifo "$tmp/broker-ready"
    "$broker" --config "$config" --state-dir "$tmp/bs" --cert "$tmp/pki/server-cert.pem" \
        --key "$tmp/pki/server-key.pem" --port 0 "$@" >"$tmp/broker-ready" 2>>"$tmp/broker.log" &
    broker_pid=$!
    local line=""
    read -r -t 30 line <"$tmp/broker-ready"
    rm -f "$tmp/broker-ready"
    case "$line" in
    "oriel-broker: listening on https://"*)
        broker_port=${line##*:}
        return 0 ;;
    esac
    echo "# the broker did not start: '$line'"
    return 1
}

# check_broker_stops: a TAP check that the broker exits 0 on SIGTERM with
# no sanitizer report or GLib warning in its log.
check_broker_stops() {
    kill -TERM "$broker_pid"
    wait "$broker_pid"
    local status=$?
    broker_pid=""
    if [ "$status" -eq 0 ] && ! grep -Eq "runtime error|Sanitizer|CRITICAL|WARNING" "$tmp/broker.log"; then
        ok "the broker exits cleanly on SIGTERM; no sanitizer report or GLib warning in its log"
    else
        not_ok "the broker exits cleanly on SIGTERM" "status=$status"
    fi
}

# api METHOD PATH [BODY-FILE] [TOKEN]: the status code on stdout; body in
# $tmp/body, headers in $tmp/headers.
api() {
    local method=$1 path=$2 data=${3:-} token=${4:-}
    local args=(-sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --cacert "$tmp/pki/ca-cert.pem"
        -X "$method" --max-time 120)
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$data")
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    curl "${args[@]}" "https://localhost:$broker_port$path"
}

# login USER PASSWORD: prints the status; the token in $tmp/token.
login() {
    printf '{"user": "%s", "password": "%s"}' "$1" "$2" >"$tmp/login.json"
    local status
    status=$(api POST /api/login "$tmp/login.json")
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("token", ""))' "$tmp/body" \
        >"$tmp/token" 2>/dev/null || : >"$tmp/token"
    echo "$status"
}

# vv_get KEY FILE: a key of the [virt-viewer] group, unescaped as GKeyFile does.
vv_get() {
    python3 - "$1" "$2" <<'EOF'
import configparser, sys
parser = configparser.RawConfigParser(interpolation=None, strict=False)
parser.optionxform = str
parser.read(sys.argv[2])
value = parser.get("virt-viewer", sys.argv[1], fallback="")
print(value.replace("\\n", "\n").replace("\\\\", "\\"), end="" if value.endswith("\\n") else "\n")
EOF
}

db_query() {
    sqlite3 "$tmp/bs/broker.db" "$1"
}
