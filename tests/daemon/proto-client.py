#!/usr/bin/env python3
"""Raw-socket checks of orield's protocol for test-orield-protocol.sh.

Usage: proto-client.py SOCKET CHECK; prints one line per problem and exits
non-zero when there is any.
"""
import json
import os
import socket
import sys
import threading


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    return s


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def send(sock, text):
    sock.sendall(text.encode() if isinstance(text, str) else text)


def expect_error(lines, klass, id_=None, what=""):
    reply = lines.read()
    if not reply or "error" not in reply or reply["error"].get("class") != klass:
        return ["%s: wanted error %s, got %r" % (what, klass, reply)]
    if id_ is not None and reply.get("id") != id_:
        return ["%s: wanted id %r, got %r" % (what, id_, reply.get("id"))]
    if not reply["error"].get("desc"):
        return ["%s: the error has no desc" % what]
    return []


def check_bad_input(path):
    s = connect(path)
    lines = Lines(s)
    problems = []
    send(s, '{"execute": "domain-list", \n')
    problems += expect_error(lines, "ParseError", what="malformed JSON")
    send(s, '[1, 2, 3]\n')
    problems += expect_error(lines, "InvalidRequest", what="not an object")
    send(s, '{"execute": "no-such-command", "id": 41}\n')
    problems += expect_error(lines, "CommandNotFound", 41, "unknown command")
    send(s, '{"execute": "domain-start", "arguments": {"name": 5}, "id": "s"}\n')
    problems += expect_error(lines, "InvalidArgument", "s", "wrong argument type")
    send(s, '{"execute": "domain-start", "arguments": {}, "id": 42}\n')
    problems += expect_error(lines, "InvalidArgument", 42, "missing argument")
    send(s, '{"execute": "domain-pause", "arguments": {"name": "nope"}, "id": 43}\n')
    problems += expect_error(lines, "NotFound", 43, "missing domain")
    send(s, '{"execute": "domain-define", "arguments": {"config": {"name": "x", "memory": 8}}, "id": 44}\n')
    problems += expect_error(lines, "InvalidArgument", 44, "invalid config")
    send(s, '{"execute": 7, "id": 45}\n')
    problems += expect_error(lines, "InvalidRequest", 45, "execute not a string")
    send(s, '\xff\xfe\n'.encode("latin-1"))
    problems += expect_error(lines, "ParseError", what="invalid UTF-8")
    # Over the 1 MiB limit, sent in pieces; then the same connection works.
    send(s, '{"execute": "domain-list", "id": "' + "x" * (2 * 1024 * 1024) + '"}\n')
    problems += expect_error(lines, "TooLarge", what="oversize line")
    send(s, '{"execute": "domain-list", "id": 46}\n')
    reply = lines.read()
    if not reply or reply.get("id") != 46 or not isinstance(reply.get("return"), list):
        problems.append("after the errors the connection no longer serves: %r" % reply)
    s.close()
    return problems


def check_slow_reader(path):
    """A client that never reads is dropped; others keep being served."""
    slow = connect(path)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big_id = "y" * (900 * 1024)
    request = ('{"execute": "domain-list", "id": "%s"}\n' % big_id).encode()
    sent = 0
    dropped = False
    slow.settimeout(10)
    try:
        for _ in range(20):  # 18 MiB of replies, never read
            slow.sendall(request)
            sent += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        dropped = True
    problems = []
    other = connect(path)
    lines = Lines(other)
    send(other, '{"execute": "host-info", "id": 1}\n')
    reply = lines.read()
    if not reply or "return" not in reply:
        problems.append("another client is not served while one does not read: %r" % reply)
    other.close()
    # Reading now: the daemon must have closed the slow client's connection
    # after at most about its output bound.
    received = 0
    slow.settimeout(30)
    try:
        while True:
            chunk = slow.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
    except (ConnectionResetError, socket.timeout) as e:
        if isinstance(e, socket.timeout):
            problems.append("the slow client was not dropped (%d bytes so far)" % received)
    if received >= sent * len(request) - 1:
        problems.append("the slow client got every reply (%d bytes): not dropped" % received)
    slow.close()
    return problems


def check_concurrent(path, clients=40, requests=25):
    problems = []
    lock = threading.Lock()

    def run(index):
        try:
            s = connect(path)
            lines = Lines(s)
            # Pipelined: all requests, then all replies, in order.
            batch = "".join('{"execute": "%s", "id": "%d-%d"}\n' %
                            ("domain-list" if i % 2 else "host-info", index, i) for i in range(requests))
            send(s, batch)
            for i in range(requests):
                reply = lines.read()
                if not reply or reply.get("id") != "%d-%d" % (index, i) or "return" not in reply:
                    with lock:
                        problems.append("client %d request %d: %r" % (index, i, reply))
                    break
            s.close()
        except Exception as e:  # noqa: BLE001 - reported, not raised
            with lock:
                problems.append("client %d: %s" % (index, e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return problems


def check_concurrent_events(path, guest, clients=10):
    """Ten clients define domains and query concurrently while another
    follows events: every define gets its reply, the follower every event."""
    follower = connect(path)
    events = Lines(follower)
    send(follower, '{"execute": "subscribe-events", "id": 0}\n')
    first = events.read()
    if not first or "return" not in first:
        return ["subscribe-events: %r" % first]
    problems = check_concurrent(path, clients=clients, requests=10)
    lock = threading.Lock()

    def define(index):
        try:
            s = connect(path)
            lines = Lines(s)
            config = {"name": "ev-%02d" % index, "memory": 256, "kernel": guest + "/vmlinux",
                      "ramdisk": guest + "/initramfs.cpio.gz"}
            send(s, json.dumps({"execute": "domain-define", "arguments": {"config": config}, "id": index}) + "\n")
            send(s, '{"execute": "domain-list", "id": "l"}\n')
            reply, listed = lines.read(), lines.read()
            if not reply or reply.get("id") != index or "return" not in reply or "return" not in (listed or {}):
                with lock:
                    problems.append("define %d: %r %r" % (index, reply, listed))
            s.close()
        except Exception as e:  # noqa: BLE001
            with lock:
                problems.append("define %d: %s" % (index, e))

    threads = [threading.Thread(target=define, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = set()
    follower.settimeout(30)
    while len(seen) < clients:
        event = events.read()
        if event is None:
            problems.append("the follower's connection ended after %d events" % len(seen))
            break
        if event.get("event") == "DOMAIN_STATE" and event["data"].get("reason") == "defined":
            seen.add(event["data"]["name"])
    follower.close()
    return problems


def check_other_uid(path):
    """Run as root only: a process of another uid gets PermissionDenied."""
    if os.geteuid() != 0:
        return []
    os.chmod(path, 0o666)  # let it reach SO_PEERCRED
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                s = connect(path)
                reply = Lines(s).read()
                ok = reply and reply.get("error", {}).get("class") == "PermissionDenied"
                os._exit(0 if ok else 1)
            except Exception:  # noqa: BLE001
                os._exit(2)
        _, status = os.waitpid(pid, 0)
    finally:
        os.chmod(path, 0o600)
    if status != 0:
        return ["uid 65534 was not refused with PermissionDenied (status %d)" % status]
    return []


def main():
    path, check = sys.argv[1], sys.argv[2]
    if check == "concurrent-events":
        problems = check_concurrent_events(path, sys.argv[3])
    else:
        problems = {
            "bad-input": check_bad_input,
            "slow-reader": check_slow_reader,
            "concurrent": check_concurrent,
            "other-uid": check_other_uid,
        }[check](path)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
