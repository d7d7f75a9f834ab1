#!/bin/bash
# Benchmark: 100 concurrent clients log in to oriel-broker (real PAM) and
# connect to already-running desktops (each connect issues a fresh SPICE
# ticket through orield), then connect again all at the same moment.
# Prints p50 and p99 of /connect as each client sees it (kept-alive HTTPS
# connection) in both phases, a lone client's connect as the reference, the
# p99s against the 100 ms target, login figures and the broker's RSS.
# Asserts nothing.
#
#   meson test -C build --benchmark bench-broker    (root: creates PAM users)
set -u
. "${ORIEL_SOURCE_DIR:?run through meson test --benchmark}/tests/daemon/lib.sh"
. "$ORIEL_SOURCE_DIR/tests/broker/lib.sh"

clients=${ORIEL_BENCH_CLIENTS:-100}
users=4   # one running desktop each: four idle TCG guests
group="obg$run_id"
password="Pw-$run_id-$RANDOM"
make_group "$group" || exit 1
for i in $(seq 1 $users); do make_user "obb$run_id$i" "$password" "$group" || exit 1; done

"$broker" --init-tls "$tmp/pki" --hostname localhost >/dev/null 2>&1 || exit 1
make_golden
write_broker_config "$tmp/broker.conf" "rate-limit-user = 100000" "rate-limit-address = 100000"
add_pool "$tmp/broker.conf" bench true "$group" $users
start_orield || exit 1
start_broker "$tmp/broker.conf" || exit 1

# Each user's desktop is started once (persistent assignment).
for i in $(seq 1 $users); do
    login "obb$run_id$i" "$password" >/dev/null
    status=$(api POST /api/desktops/bench/connect "" "$(cat "$tmp/token")")
    [ "$status" = 200 ] || { echo "bench: warm-up connect: $status $(cat "$tmp/body")"; exit 1; }
done
# Measured once the guests have booted (TCG boots take both CPUs).
for i in $(seq 1 $users); do
    guest_says "bench-$i" "booted-$i" || { echo "bench: desktop bench-$i did not boot"; exit 1; }
done

python3 - "$broker_port" "$tmp/pki/ca-cert.pem" "$clients" "$password" "obb$run_id" "$users" >"$tmp/result" <<'EOF'
import http.client, json, ssl, sys, threading, time
port, ca, clients, password, prefix, users = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
context = ssl.create_default_context(cafile=ca)
burst = threading.Barrier(clients)
login_ms, connect_ms, burst_ms, errors = [], [], [], []
lock = threading.Lock()

def connect(conn, token):
    t0 = time.monotonic()
    conn.request("POST", "/api/desktops/bench/connect", headers={"Authorization": f"Bearer {token}"})
    reply = conn.getresponse(); data = reply.read()
    if reply.status != 200 or b"password=" not in data:
        raise RuntimeError(f"connect {reply.status} {data[:200]!r}")
    return (time.monotonic() - t0) * 1000

# Each client logs in (PAM) and connects at once; then, once every client
# is logged in, all of them connect again at the same moment (the burst).
def client(n):
    try:
        conn = http.client.HTTPSConnection("localhost", int(port), context=context, timeout=120)
        body = json.dumps({"user": f"{prefix}{n % users + 1}", "password": password})
        t0 = time.monotonic()
        conn.request("POST", "/api/login", body, {"Content-Type": "application/json"})
        reply = conn.getresponse(); data = reply.read()
        t1 = time.monotonic()
        if reply.status != 200:
            raise RuntimeError(f"login {reply.status} {data[:200]!r}")
        token = json.loads(data)["token"]
        first = connect(conn, token)
        burst.wait()
        second = connect(conn, token)
        with lock:
            login_ms.append((t1 - t0) * 1000); connect_ms.append(first); burst_ms.append(second)
    except Exception as e:
        with lock: errors.append(str(e))
        try: burst.abort()
        except Exception: pass

# Reference in the same run: one client connecting 20 times in a row.
conn = http.client.HTTPSConnection("localhost", int(port), context=context, timeout=120)
conn.request("POST", "/api/login", json.dumps({"user": f"{prefix}1", "password": password}),
             {"Content-Type": "application/json"})
reply = conn.getresponse(); token = json.loads(reply.read())["token"]
sequential_ms = [connect(conn, token) for _ in range(20)]
conn.close()

threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
wall = time.monotonic() - start
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")
print(json.dumps({"ok": len(connect_ms), "errors": errors[:3], "n_errors": len(errors), "wall_s": wall,
                  "login_p50": pct(login_ms, 50), "login_p99": pct(login_ms, 99),
                  "connect_p50": pct(connect_ms, 50), "connect_p99": pct(connect_ms, 99),
                  "burst_p50": pct(burst_ms, 50), "burst_p99": pct(burst_ms, 99),
                  "sequential_p50": pct(sequential_ms, 50)}))
EOF
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$broker_pid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$broker_pid/status")
python3 - "$tmp/result" "$rss" "$hwm" "$clients" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); rss, hwm, clients = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"bench-broker: {clients} concurrent clients, {r['ok']} connected, {r['n_errors']} errors {r['errors']}")
print(f"  login (PAM)  p50 {r['login_p50']:.1f} ms  p99 {r['login_p99']:.1f} ms  (wall {r['wall_s']:.2f} s)")
print(f"  /connect after each login  p50 {r['connect_p50']:.1f} ms  p99 {r['connect_p99']:.1f} ms")
print(f"  /connect, all {clients} at once  p50 {r['burst_p50']:.1f} ms  p99 {r['burst_p99']:.1f} ms")
print(f"  /connect, one client alone (reference)  p50 {r['sequential_p50']:.1f} ms")
print(f"  broker RSS   {rss / 1024:.1f} MiB now, {hwm / 1024:.1f} MiB peak")
print(f"  connect p99 / 100 ms target: {r['connect_p99'] / 100:.2f} after login, "
      f"{r['burst_p99'] / 100:.2f} all at once (at most 1.0 meets it)")
EOF
kill -TERM "$broker_pid"; wait "$broker_pid"; broker_pid=""
kill -TERM "$orield_pid"; wait "$orield_pid" 2>/dev/null; orield_pid=""
