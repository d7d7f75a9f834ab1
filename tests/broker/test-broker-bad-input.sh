#!/bin/bash
# oriel-broker refuses bad requests with the right 4xx and a clear message,
# and leaves its database exactly as it was: malformed JSON, oversized
# bodies, unknown pools, expired or missing sessions, a user outside the
# pool's groups, a non-admin on the admin API.  Then the admin API itself.
# Real PAM accounts and a real orield (no desktop is started).  TAP output.
set -u
. "${ORIEL_SOURCE_DIR:?run through meson test}/tests/daemon/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/broker/lib.sh"

echo "1..18"

desk_group="obd$run_id"
admin_group="oba$run_id"
user="obu$run_id"       # in the pool's group and the admin group
outsider="obo$run_id"   # in neither
password="Pw-$run_id-$RANDOM"
make_group "$desk_group" && make_group "$admin_group" &&
    make_user "$user" "$password" "$desk_group,$admin_group" && make_user "$outsider" "$password" ||
    { echo "Bail out! cannot create the test accounts"; exit 1; }

"$broker" --init-tls "$tmp/pki" --hostname localhost >/dev/null 2>&1 || { echo "Bail out! --init-tls"; exit 1; }
make_golden
write_broker_config "$tmp/broker.conf" "admin-group = $admin_group" "failure-delay-ms = 100"
add_pool "$tmp/broker.conf" office false "$desk_group" 2
start_orield || exit 1
start_broker "$tmp/broker.conf" || exit 1

login "$user" "$password" >/dev/null; token=$(cat "$tmp/token")
login "$outsider" "$password" >/dev/null; outsider_token=$(cat "$tmp/token")
[ ${#token} -eq 64 ] && [ ${#outsider_token} -eq 64 ] || { echo "Bail out! login failed: $(cat "$tmp/body")"; exit 1; }

# An expired session, as the broker would have written it hours ago.
expired=$(printf 'e%.0s' $(seq 64))
db_query "INSERT INTO sessions VALUES ('$(printf %s "$expired" | sha256sum | cut -c1-64)', '$user', '$desk_group', 1, $(( $(date +%s) - 60 )))"

snapshot() { sqlite3 "$tmp/bs/broker.db" .dump | sha256sum; }
before=$(snapshot)
rows_before=$(db_query "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM assignments), (SELECT count(*) FROM audit), (SELECT count(*) FROM pools)")

# expect NAME STATUS MESSAGE-REGEX METHOD PATH [BODY-FILE] [TOKEN]
expect() {
    local name=$1 want=$2 message=$3; shift 3
    local status
    status=$(api "$@")
    if [ "$status" = "$want" ] && grep -Eq "^\{\"error\":\"$message" "$tmp/body"; then
        ok "$name: $want"
    else
        not_ok "$name: $want" "got $status: $(head -c 300 "$tmp/body")"
    fi
}

printf '{"user": "%s", "password": ' "$user" >"$tmp/malformed.json"
expect "malformed JSON login" 400 "body: malformed JSON" POST /api/login "$tmp/malformed.json"
printf '["%s"]' "$user" >"$tmp/array.json"
expect "a JSON array as login" 400 "body: expected a JSON object" POST /api/login "$tmp/array.json"
printf '{"user": "%s", "password": "x", "admin": true}' "$user" >"$tmp/extra.json"
expect "an unknown member in the login" 400 "unknown member 'admin'" POST /api/login "$tmp/extra.json"
python3 -c 'import sys; sys.stdout.write("{\"user\": \"x\", \"password\": \"" + "p" * 70000 + "\"}")' >"$tmp/big.json"
expect "a 70 KB body" 413 "request body larger than 65536 bytes" POST /api/login "$tmp/big.json"
expect "an unknown pool" 404 "no pool named 'nosuch'" POST /api/desktops/nosuch/connect "" "$token"
expect "an expired session" 401 "the session token is invalid or expired" GET /api/desktops "" "$expired"
expect "no session" 401 "not logged in" POST /api/desktops/office/connect
expect "a user outside the pool's groups" 403 "user '$outsider' is not in a group allowed to use pool 'office'" \
    POST /api/desktops/office/connect "" "$outsider_token"
expect "a non-admin on the admin API" 403 "administration needs membership of group '$admin_group'" \
    GET /api/admin/pools "" "$outsider_token"
printf '{"name": "Bad Name!", "golden-image": "/x"}' >"$tmp/badpool.json"
expect "an invalid pool definition" 400 "pool 'Bad Name!': name: expected" POST /api/admin/pools "$tmp/badpool.json" "$token"

rows_after=$(db_query "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM assignments), (SELECT count(*) FROM audit), (SELECT count(*) FROM pools)")
if [ "$(snapshot)" = "$before" ] && [ "$rows_after" = "$rows_before" ] &&
   [ "$(stat -c %a "$tmp/bs/broker.db")" = 600 ] && [ "$(stat -c %a "$tmp/bs")" = 700 ]; then
    ok "after every bad request the database (0600 in a 0700 dir) is unchanged (rows: $rows_after)"
else
    not_ok "after every bad request the database is unchanged" "$rows_before -> $rows_after"
fi

# ---- the admin API ------------------------------------------------------------------
cat >"$tmp/pool.json" <<EOF
{"name": "lab", "description": "Lab", "golden-image": "$tmp/golden.raw", "golden-format": "raw",
 "desktops": 2, "memory": 256, "persistent": true, "groups": ["$desk_group"]}
EOF
status=$(api POST /api/admin/pools "$tmp/pool.json" "$token")
list=$(api GET /api/desktops "" "$token")
if [ "$status" = 201 ] && [ "$list" = 200 ] && grep -q '"name":"lab"' "$tmp/body" &&
   [ "$(db_query "SELECT count(*) FROM audit WHERE event = 'admin-pool-add' AND detail = 'lab'")" = 1 ]; then
    ok "an admin adds a pool: 201, users see it, audited"
else
    not_ok "an admin adds a pool" "status=$status list=$list $(cat "$tmp/body")"
fi
status=$(api DELETE /api/admin/pools/office "" "$token")
if [ "$status" = 409 ] && grep -q "defined in $tmp/broker.conf" "$tmp/body"; then
    ok "a pool of the config file cannot be deleted through the API (409)"
else
    not_ok "a pool of the config file cannot be deleted through the API" "status=$status $(cat "$tmp/body")"
fi
status=$(api DELETE /api/admin/pools/lab "" "$token")
list=$(api GET /api/admin/pools "" "$token")
if [ "$status" = 204 ] && [ "$list" = 200 ] && ! grep -q '"name":"lab"' "$tmp/body" &&
   grep -q '"source":"config"' "$tmp/body" && [ "$(db_query "SELECT count(*) FROM pools")" = 0 ]; then
    ok "an admin deletes the pool: 204, gone from the list and the database"
else
    not_ok "an admin deletes the pool" "status=$status list=$list $(cat "$tmp/body")"
fi

# ---- the config file ------------------------------------------------------------------
printf '[pool typo]\ngolden-image = /x\ndesktop = 2\n' >"$tmp/typo.conf"
if ! "$broker" --check-config --config "$tmp/typo.conf" >"$tmp/check.out" 2>&1 &&
   grep -q "$tmp/typo.conf: \[pool typo\]: unknown key 'desktop'" "$tmp/check.out" &&
   ! "$broker" --config "$tmp/typo.conf" --state-dir "$tmp/bs2" --cert "$tmp/pki/server-cert.pem" \
       --key "$tmp/pki/server-key.pem" --port 0 >/dev/null 2>&1 && [ ! -e "$tmp/bs2" ]; then
    ok "a config with an unknown key is refused, naming file, pool and key; the broker does not start"
else
    not_ok "a config with an unknown key is refused" "$(cat "$tmp/check.out")"
fi
if "$broker" --check-config --config "$tmp/broker.conf" >"$tmp/check.out" 2>&1 &&
   grep -q "pool office: 2 stateless desktop(s) on $tmp/golden.raw" "$tmp/check.out"; then
    ok "--check-config lists the pools of a good config"
else
    not_ok "--check-config lists the pools of a good config" "$(cat "$tmp/check.out")"
fi

check_broker_stops
finish_orield
exit $((failures != 0))
