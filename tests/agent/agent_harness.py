# The SPICE side of the VDAgent protocol for the agent's pty tests
# (test-agent-daemon.py, test-agent-x11.py): chunk framing both ways on the
# master side of a pty standing in for the virtio-serial port, and TAP
# output.
import os
import select
import struct
import sys
import time

VDP_CLIENT_PORT, VDP_SERVER_PORT = 1, 2
(MONITORS_CONFIG, REPLY, CLIPBOARD, CAPS, GRAB, REQUEST, RELEASE) = (2, 3, 4, 6, 7, 8, 9)
CLIENT_DISCONNECTED = 13
UTF8, PNG = 1, 2
CLIPBOARD_SEL, PRIMARY_SEL = 0, 1
CHUNK = 2048  # VD_AGENT_MAX_DATA_SIZE


class Tap:
    def __init__(self, planned):
        self.n = 0
        self.failures = 0
        print('1..%d' % planned)
        sys.stdout.flush()

    def result(self, ok, what, detail=''):
        self.n += 1
        if not ok:
            self.failures += 1
        print(('ok' if ok else 'not ok') + ' %d - %s' % (self.n, what))
        for line in str(detail).splitlines() if not ok else []:
            print('# ' + line)
        sys.stdout.flush()


def message(mtype, body, port=VDP_CLIENT_PORT):
    data = struct.pack('<IIQI', 1, mtype, 0, len(body)) + body
    out = []
    for i in range(0, len(data), CHUNK):
        piece = data[i:i + CHUNK]
        out.append(struct.pack('<II', port, len(piece)) + piece)
    return b''.join(out)


class Port:
    """The host side of the pty: chunk framing both ways, messages that
    span chunks reassembled."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()
        self.partial = {}

    def send(self, data):
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self.fd], [], 30)
            if not w:
                raise TimeoutError('the agent does not read its port')
            n = os.write(self.fd, view[:65536])
            view = view[n:]
            # Keep reading while writing: the agent may answer meanwhile.
            r, _, _ = select.select([self.fd], [], [], 0)
            if r:
                self.buf += os.read(self.fd, 1 << 20)

    def _take_chunk(self):
        if len(self.buf) < 8:
            return None
        port, size = struct.unpack('<II', self.buf[:8])
        if len(self.buf) < 8 + size:
            return None
        chunk = bytes(self.buf[8:8 + size])
        del self.buf[:8 + size]
        return port, chunk

    def read_message(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            got = self._take_chunk()
            while got:
                port, chunk = got
                data = self.partial.get(port, b'') + chunk
                if len(data) >= 20:
                    _, mtype, _, msize = struct.unpack('<IIQI', data[:20])
                    if len(data) >= 20 + msize:
                        self.partial[port] = data[20 + msize:]
                        return port, mtype, data[20:20 + msize]
                self.partial[port] = data
                got = self._take_chunk()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                self.buf += os.read(self.fd, 1 << 20)

    def wait_for(self, mtype, timeout=10):
        """The next message of mtype; others on the way are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.read_message(max(0.0, deadline - time.monotonic()))
            if got is None or got[1] == mtype:
                return got
