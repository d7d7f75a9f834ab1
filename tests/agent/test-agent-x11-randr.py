#!/usr/bin/env python3
# oriel-agent-x11 applying MONITORS_CONFIG with XRandR on an X server that
# can change its screen size: Xephyr -resizeable, nested in an Xvfb (Xvfb
# itself cannot, see test-agent-x11.py).  The harness plays the SPICE side
# on a pty; xrandr reads the result.  TAP output.  With no agent running,
# no REPLY comes and the screen keeps its size.
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tty

from agent_harness import CAPS, MONITORS_CONFIG, REPLY, Port, Tap, message

build = os.environ['ORIEL_BUILD_DIR']
agent = os.path.join(build, 'agent', 'oriel-agent-x11')
CAP_BITS = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7)
SUCCESS, ERROR = 1, 2


def start_x(args, env, tmp, name):
    """An X server started with -displayfd; returns (process, ':N')."""
    rfd, wfd = os.pipe()
    proc = subprocess.Popen(args + ['-displayfd', str(wfd), '-nolisten', 'tcp'],
                            pass_fds=[wfd], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, name + '.log'), 'wb'))
    os.close(wfd)
    display = b''
    while not display.endswith(b'\n'):
        piece = os.read(rfd, 64)
        if not piece:
            break
        display += piece
    os.close(rfd)
    return proc, ':' + display.decode().strip()


def monitors(*mons):
    body = struct.pack('<II', len(mons), 0)
    for width, height, x, y in mons:
        body += struct.pack('<IIIii', height, width, 32, x, y)
    return message(MONITORS_CONFIG, body)


def main():
    tap = Tap(5)
    tmp = tempfile.mkdtemp(prefix='oriel-agent-randr.')
    log_path = os.path.join(tmp, 'agent.log')
    procs = []
    agent_proc = None
    try:
        xvfb, outer = start_x(['Xvfb', '-screen', '0', '2048x1600x24'], os.environ, tmp, 'xvfb')
        procs.append(xvfb)
        xephyr, inner = start_x(['Xephyr', '-screen', '1024x768', '-resizeable'],
                                dict(os.environ, DISPLAY=outer), tmp, 'xephyr')
        procs.append(xephyr)
        env = dict(os.environ, DISPLAY=inner)

        def screen():
            r = subprocess.run(['xrandr'], capture_output=True, env=env, timeout=20)
            m = re.search(r'current (\d+) x (\d+)', r.stdout.decode())
            return m and (int(m.group(1)), int(m.group(2)))

        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        agent_proc = subprocess.Popen([agent, '--port', os.ttyname(slave),
                                       '--socket', os.path.join(tmp, 'agent.sock'),
                                       '--no-xfer', '--verbose'],
                                      env=env, stderr=open(log_path, 'wb'))
        port = Port(master)
        port.read_message(timeout=20)
        port.send(message(CAPS, struct.pack('<II', 1, CAP_BITS)))
        port.wait_for(CAPS)
        before = screen()

        port.send(monitors((1280, 1024, 0, 0)))
        got = port.wait_for(REPLY, timeout=20)
        tap.result(before == (1024, 768) and got is not None and
                   got[2] == struct.pack('<II', MONITORS_CONFIG, SUCCESS) and
                   screen() == (1280, 1024),
                   'MONITORS_CONFIG 1280x1024: REPLY success, xrandr shows 1280 x 1024',
                   (before, got, screen()))

        port.send(monitors((800, 600, 0, 0)))
        got = port.wait_for(REPLY, timeout=20)
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, SUCCESS) and
                   screen() == (800, 600),
                   'a smaller MONITORS_CONFIG 800x600: the screen shrinks', (got, screen()))

        # No mode of that size: the agent adds one.
        port.send(monitors((1100, 700, 0, 0)))
        got = port.wait_for(REPLY, timeout=20)
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, SUCCESS) and
                   screen() == (1100, 700),
                   'MONITORS_CONFIG 1100x700, a size with no mode: a mode is added',
                   (got, screen()))

        # Beyond Xephyr's largest screen: refused, said so, nothing changed.
        port.send(monitors((4000, 3000, 0, 0)))
        got = port.wait_for(REPLY, timeout=20)
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, ERROR) and
                   screen() == (1100, 700),
                   'a size beyond the X server: REPLY error, the screen unchanged', (got, screen()))

        # Two monitors on an X server with one output: refused.
        port.send(monitors((800, 600, 0, 0), (800, 600, 800, 0)))
        got = port.wait_for(REPLY, timeout=20)
        log = open(log_path, 'rb').read().decode(errors='replace')
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, ERROR) and
                   'output(s)' in log and agent_proc.poll() is None,
                   'more monitors than outputs: REPLY error, the agent carries on', (got, log[-300:]))
    finally:
        if agent_proc and agent_proc.poll() is None:
            agent_proc.send_signal(signal.SIGTERM)
            try:
                agent_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent_proc.kill()
                agent_proc.wait()
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log = open(log_path, 'rb').read().decode(errors='replace') if os.path.exists(log_path) else ''
        if re.search(r'ERROR: \w+Sanitizer|runtime error', log):
            tap.result(False, 'the agent ran clean under the sanitizers', log)
        if tap.failures:
            sys.stderr.write(log[-3000:])
        subprocess.run(['rm', '-rf', tmp])
    return 1 if tap.failures else 0


if __name__ == '__main__':
    sys.exit(main())
