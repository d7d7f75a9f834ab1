#!/usr/bin/env python3
# oriel-agent-x11 on the host under Xvfb, a real X server, with a pty
# standing in for the virtio-serial port: this script plays the SPICE side
# of the VDAgent protocol on the pty (agent_harness.py) and real X clients
# (xclip, xrandr) play the guest's applications.  The test guest has no X
# server, so this is where the X11 backend is tested.  TAP output.
#
# Every check needs the agent: with no agent, nothing owns the selections
# for xclip -o, no GRAB reaches the harness and no REPLY comes back.
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tty
import zlib

from agent_harness import (CAPS, CLIENT_DISCONNECTED, CLIPBOARD, CLIPBOARD_SEL, GRAB,
                           MONITORS_CONFIG, PNG, PRIMARY_SEL, RELEASE, REPLY, REQUEST,
                           UTF8, VDP_SERVER_PORT, Port, Tap, message)

build = os.environ['ORIEL_BUILD_DIR']
agent = os.path.join(build, 'agent', 'oriel-agent-x11')

# monitors-config, reply, by-demand, selection, sparse monitors, lineend-lf
CAP_BITS = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8)
BIG = 2 * 1024 * 1024


def png_image(width=4, height=3):
    """A small real PNG."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    raw = b''.join(b'\x00' + b''.join(bytes((x * 60 % 256, y * 80 % 256, 200))
                                       for x in range(width)) for y in range(height))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def sel_head(selection):
    return bytes([selection, 0, 0, 0])


class Run:
    def __init__(self, tmp, display):
        self.tmp = tmp
        self.env = dict(os.environ, DISPLAY=display)

    def xclip_out(self, selection='clipboard', target='UTF8_STRING'):
        return subprocess.Popen(['xclip', '-o', '-selection', selection, '-t', target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)

    def xclip_in(self, data, selection='clipboard', target=None):
        path = os.path.join(self.tmp, 'xclip-in')
        with open(path, 'wb') as f:
            f.write(data)
        args = ['xclip', '-i', '-quiet', '-selection', selection]
        if target:
            args += ['-t', target]
        return subprocess.Popen(args + [path], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=self.env)

    def targets(self, selection='clipboard'):
        r = subprocess.run(['xclip', '-o', '-selection', selection, '-t', 'TARGETS'],
                           capture_output=True, env=self.env, timeout=20)
        return r.stdout.decode(errors='replace').split() if r.returncode == 0 else None

    def wait_targets(self, selection, want, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            got = self.targets(selection)
            if want(got):
                return got
            if time.monotonic() > deadline:
                return got
            time.sleep(0.1)


def paste(run, port, selection, target, answer_type=None, answer=None, sel_byte=0):
    """xclip -o of target while the harness answers the agent's request
    (if one comes) with answer.  Returns (stdout, request seen)."""
    proc = run.xclip_out(selection, target)
    seen = None
    if answer is not None:
        seen = port.wait_for(REQUEST, timeout=20)
        if seen is not None:
            port.send(message(CLIPBOARD, sel_head(sel_byte) +
                              struct.pack('<I', answer_type) + answer))
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, seen, proc.returncode


def main():
    tap = Tap(15)
    tmp = tempfile.mkdtemp(prefix='oriel-agent-x11.')
    log_path = os.path.join(tmp, 'agent.log')
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(['Xvfb', '-displayfd', str(wfd), '-screen', '0', '1024x768x24',
                             '-nolisten', 'tcp', '-noreset'], pass_fds=[wfd],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'xvfb.log'), 'wb'))
    os.close(wfd)
    display = ''
    while not display.endswith('\n'):
        piece = os.read(rfd, 64).decode()
        if not piece:
            break
        display += piece
    os.close(rfd)
    display = ':' + display.strip()
    run = Run(tmp, display)
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    agent_proc = subprocess.Popen([agent, '--port', os.ttyname(slave),
                                   '--socket', os.path.join(tmp, 'agent.sock'),
                                   '--no-xfer', '--verbose'],
                                  env=run.env, stderr=open(log_path, 'wb'))
    port = Port(master)
    inputs = []
    try:
        got = port.read_message(timeout=20)
        port.send(message(CAPS, struct.pack('<II', 1, CAP_BITS)))
        port.wait_for(CAPS)

        # ---- client to guest ----
        text = 'h\u00e9llo from the client \u20ac \u65e5\u672c\n'.encode()
        port.send(message(GRAB, sel_head(CLIPBOARD_SEL) + struct.pack('<I', UTF8)))
        targets = run.wait_targets('clipboard', lambda t: t is not None and 'UTF8_STRING' in t)
        tap.result(got is not None and got[1] == CAPS and targets is not None and
                   {'TARGETS', 'UTF8_STRING', 'text/plain;charset=utf-8', 'STRING'} <= set(targets),
                   'a client grab makes the agent own CLIPBOARD with the text targets', (got, targets))

        out, seen, rc = paste(run, port, 'clipboard', 'UTF8_STRING', UTF8, text)
        tap.result(seen is not None and seen[2] == sel_head(0) + struct.pack('<I', UTF8) and
                   out == text, 'xclip -o -t UTF8_STRING: the agent asks the client, X gets the text',
                   (seen, out))

        out, _, _ = paste(run, port, 'clipboard', 'STRING')
        out2, _, _ = paste(run, port, 'clipboard', 'text/plain;charset=utf-8')
        tap.result(out == 'h\u00e9llo from the client ? ??\n'.encode('latin-1') and out2 == text,
                   'STRING is the Latin-1 conversion; text/plain;charset=utf-8 the UTF-8 text',
                   (out, out2))

        big = (b'0123456789abcdef' * (BIG // 16 - 1) + 'end \u00e9\n'.encode())
        # A new grab of the same type: released first, so that no paste
        # can meet the previous grab's data.
        port.send(message(RELEASE, sel_head(CLIPBOARD_SEL)))
        released = run.wait_targets('clipboard', lambda t: t is None, timeout=10)
        port.send(message(GRAB, sel_head(CLIPBOARD_SEL) + struct.pack('<I', UTF8)))
        run.wait_targets('clipboard', lambda t: t is not None and 'UTF8_STRING' in t)
        out, seen, rc = paste(run, port, 'clipboard', 'UTF8_STRING', UTF8, big)
        log = open(log_path, 'rb').read().decode(errors='replace')
        tap.result(released is None and out == big and
                   'sending %d bytes incrementally' % len(big) in log,
                   'a 2 MiB text reaches X through INCR', (len(out), rc, log[-500:]))

        image = png_image()
        port.send(message(GRAB, sel_head(CLIPBOARD_SEL) + struct.pack('<I', PNG)))
        run.wait_targets('clipboard', lambda t: t is not None and 'image/png' in t)
        out, seen, rc = paste(run, port, 'clipboard', 'image/png', PNG, image)
        tap.result(seen is not None and seen[2][4:8] == struct.pack('<I', PNG) and out == image,
                   'a client PNG: xclip -o -t image/png gets it byte for byte', (seen, out[:16]))

        ptext = b'primary from the client'
        port.send(message(GRAB, sel_head(PRIMARY_SEL) + struct.pack('<I', UTF8)))
        run.wait_targets('primary', lambda t: t is not None and 'UTF8_STRING' in t)
        out, seen, rc = paste(run, port, 'primary', 'UTF8_STRING', UTF8, ptext, sel_byte=1)
        tap.result(seen is not None and seen[2][:1] == b'\x01' and out == ptext,
                   'PRIMARY: a client grab of primary is pasted from PRIMARY', (seen, out))

        before = run.targets('clipboard'), run.targets('primary')
        port.send(message(CLIENT_DISCONNECTED, struct.pack('<I', 0), port=VDP_SERVER_PORT))
        after = (run.wait_targets('clipboard', lambda t: t is None),
                 run.wait_targets('primary', lambda t: t is None))
        tap.result(before[0] is not None and before[1] is not None and after == (None, None),
                   'CLIENT_DISCONNECTED: the agent gives up both selections', (before, after))

        # The client comes back.
        port.send(message(CAPS, struct.pack('<II', 1, CAP_BITS)))
        port.wait_for(CAPS)

        # ---- guest to client ----
        gtext = 'copied in X \u00fc\u00df\n'.encode()
        inputs.append(run.xclip_in(gtext, 'clipboard', 'UTF8_STRING'))
        got = port.wait_for(GRAB, timeout=15)
        ok = got is not None and got[2] == sel_head(0) + struct.pack('<I', UTF8)
        port.send(message(REQUEST, sel_head(0) + struct.pack('<I', UTF8)))
        data = port.wait_for(CLIPBOARD, timeout=15)
        tap.result(ok and data is not None and data[2] == sel_head(0) + struct.pack('<I', UTF8) + gtext,
                   'xclip -i in X: GRAB with UTF8 text, a REQUEST returns the text', (got, data))

        glatin = bytes(range(0x20, 0x7f)) + bytes(range(0xa0, 0x100))
        inputs.append(run.xclip_in(glatin, 'clipboard', 'STRING'))
        got = port.wait_for(GRAB, timeout=15)
        port.send(message(REQUEST, sel_head(0) + struct.pack('<I', UTF8)))
        data = port.wait_for(CLIPBOARD, timeout=15)
        tap.result(got is not None and data is not None and
                   data[2][8:] == glatin.decode('latin-1').encode(),
                   'a STRING-only owner: the client gets the text converted to UTF-8',
                   (got, data and data[2][:40]))

        gbig = os.urandom(BIG // 2).hex().encode()
        inputs.append(run.xclip_in(gbig, 'clipboard', 'UTF8_STRING'))
        got = port.wait_for(GRAB, timeout=15)
        port.send(message(REQUEST, sel_head(0) + struct.pack('<I', UTF8)))
        data = port.wait_for(CLIPBOARD, timeout=60)
        log = open(log_path, 'rb').read().decode(errors='replace')
        tap.result(got is not None and data is not None and data[2][8:] == gbig and
                   'receiving CLIPBOARD incrementally' in log,
                   'a 2 MiB copy in X reaches the client through INCR',
                   (got, data and len(data[2]), log[-400:]))

        gimage = png_image(7, 5)
        inputs.append(run.xclip_in(gimage, 'clipboard', 'image/png'))
        got = port.wait_for(GRAB, timeout=15)
        port.send(message(REQUEST, sel_head(0) + struct.pack('<I', PNG)))
        data = port.wait_for(CLIPBOARD, timeout=15)
        tap.result(got is not None and got[2][4:] == struct.pack('<I', PNG) and
                   data is not None and data[2][8:] == gimage,
                   'an image/png copy in X: GRAB with PNG, the client gets the PNG', (got, data))

        inputs.append(run.xclip_in(b'selected in X', 'primary'))
        got = port.wait_for(GRAB, timeout=15)
        port.send(message(REQUEST, sel_head(1) + struct.pack('<I', UTF8)))
        data = port.wait_for(CLIPBOARD, timeout=15)
        tap.result(got is not None and got[2][:1] == b'\x01' and data is not None and
                   data[2] == sel_head(1) + struct.pack('<I', UTF8) + b'selected in X',
                   'PRIMARY in X: GRAB of primary, a REQUEST returns the selection', (got, data))

        # The owner goes away: the client hears a RELEASE.
        p = inputs.pop()
        p.terminate()
        p.wait()
        got = port.wait_for(RELEASE, timeout=15)
        tap.result(got is not None and got[2][:1] == b'\x01',
                   'the X owner of PRIMARY exits: RELEASE of primary', got)

        # ---- monitors ----
        def monitors(width, height):
            return message(MONITORS_CONFIG, struct.pack('<II', 1, 0) +
                           struct.pack('<IIIii', height, width, 32, 0, 0))

        def screen():
            r = subprocess.run(['xrandr'], capture_output=True, env=run.env, timeout=20)
            m = re.search(r'current (\d+) x (\d+)', r.stdout.decode())
            return m and (int(m.group(1)), int(m.group(2)))

        port.send(monitors(1024, 768))
        got = port.wait_for(REPLY, timeout=15)
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, 1) and
                   screen() == (1024, 768),
                   'MONITORS_CONFIG of the current size: REPLY success, xrandr agrees', (got, screen()))

        # Xvfb cannot change its screen size through RandR (its maximum is
        # its initial size): the agent must say so in the REPLY.
        port.send(monitors(1280, 1024))
        got = port.wait_for(REPLY, timeout=15)
        log = open(log_path, 'rb').read().decode(errors='replace')
        tap.result(got is not None and got[2] == struct.pack('<II', MONITORS_CONFIG, 2) and
                   screen() == (1024, 768) and 'outside the X server' in log,
                   'MONITORS_CONFIG Xvfb cannot apply: REPLY error, the screen unchanged',
                   (got, screen(), log[-300:]))
    finally:
        for p in inputs:
            p.kill()
            p.wait()
        alive = agent_proc.poll() is None
        if alive:
            agent_proc.send_signal(signal.SIGTERM)
            try:
                agent_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent_proc.kill()
                agent_proc.wait()
        xvfb.terminate()
        xvfb.wait()
        log = open(log_path, 'rb').read().decode(errors='replace')
        if re.search(r'ERROR: \w+Sanitizer|runtime error', log):
            tap.result(False, 'the agent ran clean under the sanitizers', log)
        if tap.failures:
            sys.stderr.write(log[-3000:])
        subprocess.run(['rm', '-rf', tmp])
    return 1 if tap.failures else 0


if __name__ == '__main__':
    sys.exit(main())
