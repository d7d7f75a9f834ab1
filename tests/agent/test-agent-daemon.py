#!/usr/bin/env python3
# The agent daemon on the host, built with the project's sanitizers, with a
# pty standing in for the virtio-serial port: this script plays the SPICE
# server and client on the pty's master side and drives the control socket
# with the CLI.  Covers the daemon's I/O (port, control socket, waiting
# requests, garbage from the host) where the e2e test runs the static
# binary, which has no sanitizers.  TAP output.
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tty

build = os.environ['ORIEL_BUILD_DIR']
agent = os.path.join(build, 'agent', 'oriel-agent-host')

from agent_harness import CAPS, CLIPBOARD, GRAB, MONITORS_CONFIG, REPLY, REQUEST, UTF8, Port, message

CAP_BITS = (1 << 3) | (1 << 5) | (1 << 6) | (1 << 14)  # reply, by-demand, selection, detailed

n = 0
failures = 0


def result(ok, what, detail=''):
    global n, failures
    n += 1
    if not ok:
        failures += 1
    print(('ok' if ok else 'not ok') + ' %d - %s' % (n, what))
    for line in str(detail).splitlines() if not ok else []:
        print('# ' + line)
    sys.stdout.flush()


def cli(sock, *args, stdin=b''):
    env = dict(os.environ, ORIEL_AGENT_SOCKET=sock)
    return subprocess.run([agent] + list(args), input=stdin, capture_output=True,
                          env=env, timeout=30)


def main():
    print('1..8')
    tmp = tempfile.mkdtemp(prefix='oriel-agent-daemon.')
    sock = os.path.join(tmp, 'agent.sock')
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    port_path = os.ttyname(slave)
    proc = subprocess.Popen([agent, '--port', port_path, '--socket', sock,
                             '--xfer-dir', os.path.join(tmp, 'files'), '--verbose'],
                            stderr=open(os.path.join(tmp, 'agent.log'), 'wb'))
    port = Port(master)
    try:
        got = port.read_message()
        result(got is not None and got[1] == CAPS and struct.unpack('<I', got[2][:4])[0] == 1,
               'the daemon opens the port and announces its capabilities (request=1)', got)

        port.send(message(CAPS, struct.pack('<II', 1, CAP_BITS)))
        got = port.read_message()
        result(got is not None and got[1] == CAPS and struct.unpack('<I', got[2][:4])[0] == 0,
               'a capabilities request is answered', got)

        # The client grabs; `clip get --wait` in flight before the grab.
        getter = subprocess.Popen([agent, 'clip', 'get', '--wait', '10'], stdout=subprocess.PIPE,
                                  env=dict(os.environ, ORIEL_AGENT_SOCKET=sock))
        time.sleep(0.2)
        port.send(message(GRAB, bytes([0, 0, 0, 0]) + struct.pack('<I', UTF8)))
        got = port.read_message()
        ok = got is not None and got[1] == REQUEST and got[2] == bytes(4) + struct.pack('<I', UTF8)
        text = 'h\u00e9llo from the client \u20ac'.encode()
        port.send(message(CLIPBOARD, bytes(4) + struct.pack('<I', UTF8) + text))
        out, _ = getter.communicate(timeout=15)
        result(ok and getter.returncode == 0 and out == text,
               'clip get --wait: the request goes out when the client grabs, the answer comes back',
               (got, out))

        # The guest copies: a GRAB, and a client request is answered.
        r = cli(sock, 'clip', 'set', stdin=b'guest data')
        got = port.read_message()
        ok = r.returncode == 0 and got is not None and got[1] == GRAB
        port.send(message(REQUEST, bytes(4) + struct.pack('<I', UTF8)))
        got = port.read_message()
        result(ok and got is not None and got[1] == CLIPBOARD and got[2][8:] == b'guest data',
               'clip set takes the grab and serves the client', (r, got))

        # Garbage from the host: dropped, counted, the daemon carries on.
        port.send(struct.pack('<II', 9, 4) + b'junk' + message(GRAB, b'\x01') +
                  message(99, b'') + struct.pack('<II', 1, 20) + struct.pack('<IIQI', 7, 1, 0, 0))
        port.send(message(MONITORS_CONFIG, struct.pack('<II', 1, 0) +
                          struct.pack('<IIIii', 600, 800, 32, 0, 0)))
        got = port.read_message()
        r = cli(sock, 'status')
        status = r.stdout.decode()
        result(got is not None and got[1] == REPLY and 'monitor0: 800x600+0+0' in status and
               'dropped: 4' in status and proc.poll() is None,
               'malformed input is dropped and counted; the next message is handled', status)

        # A large clipboard both ways through the control socket.
        big = os.urandom(3 * 1024 * 1024)
        r = cli(sock, 'clip', 'set', '--selection', 'primary', '--type', 'png', stdin=big)
        port.read_message()
        r2 = cli(sock, 'clip', 'get', '--selection', 'primary', '--type', 'png')
        result(r.returncode == 0 and r2.stdout == big,
               'a 3 MiB PNG round-trips through the control socket', r2.stderr)

        r = cli(sock, 'clip', 'get', '--type', 'png')
        result(r.returncode != 0 and b'nothing of that type' in r.stderr,
               'asking for a type nobody offers fails', r)

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        r = cli(sock, 'status')
        result(proc.returncode == 0 and r.returncode != 0 and not os.path.exists(sock),
               'SIGTERM stops the daemon cleanly; the CLI then fails', (proc.returncode, r))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log = open(os.path.join(tmp, 'agent.log'), 'rb').read().decode(errors='replace')
        if 'ERROR: AddressSanitizer' in log or 'runtime error' in log:
            result(False, 'the daemon ran clean under the sanitizers', log)
        subprocess.run(['rm', '-rf', tmp])
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
