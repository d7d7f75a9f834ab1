#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for oriel-broker's HTTPS API that takes its time, for
test-viewer-broker-async.sh: the thing under test is the viewer's window
while a call waits, not the broker (test-viewer-broker.sh runs the real
one).  Standard library only.

  slow-broker.py CERT KEY PORTFILE LOG DELAY

Listens on 127.0.0.1 (a free port, written to PORTFILE once it listens).
POST /api/login {"user", "password"}: the password must be "pw" (else 401
as the broker answers); users whose name starts with "slowlogin" wait
DELAY seconds first.  GET /api/desktops: one pool, "desk".  Users
starting with "twopools" get a second pool, "lab" (and their connects are
logged with the pool's name).  POST /api/desktops/POOL/connect: a .vv
pointing at a closed port; users starting with "slowconnect" wait DELAY
seconds first.  POST /api/logout.
Each request is logged to LOG as it arrives ("login USER", "list USER",
"connect USER", "logout USER") and again once answered ("... done")."""
import http.server
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import time

cert, key, port_file, log_file, delay = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
tokens = {}
lock = threading.Lock()


def log(line):
    with lock, open(log_file, 'a') as out:
        out.write(line + '\n')


def closed_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        pass

    def reply(self, status, body, content_type='application/json'):
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the viewer gave up (cancelled): nobody reads the answer

    def user(self):
        auth = self.headers.get('Authorization', '')
        with lock:
            return tokens.get(auth[len('Bearer '):]) if auth.startswith('Bearer ') else None

    def body(self):
        length = int(self.headers.get('Content-Length', '0'))
        return self.rfile.read(length) if length else b''

    def do_POST(self):
        body = self.body()
        if self.path == '/api/login':
            request = json.loads(body)
            user = request.get('user', '')
            log('login ' + user)
            if user.startswith('slowlogin'):
                time.sleep(delay)
            if request.get('password') != 'pw':
                self.reply(401, json.dumps({'error': 'wrong user name or password'}))
            else:
                token = secrets.token_hex(16)
                with lock:
                    tokens[token] = user
                self.reply(200, json.dumps({'token': token, 'user': user, 'expires': 3600}))
            log('login %s done' % user)
            return
        user = self.user()
        if user is None:
            self.reply(401, json.dumps({'error': 'not logged in'}))
            return
        if self.path.startswith('/api/desktops/') and self.path.endswith('/connect'):
            log('connect %s %s' % (user, self.path.split('/')[3]) if user.startswith('twopools') else
                'connect ' + user)
            if user.startswith('slowconnect'):
                time.sleep(delay)
            vv = ('[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport=%d\npassword=%s\ntitle=desk\n'
                  % (closed_port(), secrets.token_hex(8)))
            self.reply(200, vv, 'application/x-virt-viewer')
            log('connect %s done' % user)
        elif self.path == '/api/logout':
            log('logout ' + user)
            self.reply(200, '{}')
        else:
            self.reply(404, json.dumps({'error': 'no such thing'}))

    def do_GET(self):
        user = self.user()
        if user is None:
            self.reply(401, json.dumps({'error': 'not logged in'}))
        elif self.path == '/api/desktops':
            log('list ' + user)
            pools = [{'name': 'desk', 'description': 'Test desktops', 'free': 1, 'persistent': False}]
            if user.startswith('twopools'):
                pools.append({'name': 'lab', 'description': 'Lab desktops', 'free': 2, 'persistent': True})
            self.reply(200, json.dumps({'pools': pools}))
        else:
            self.reply(404, json.dumps({'error': 'no such thing'}))


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
server.daemon_threads = True
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + '.tmp', 'w') as out:
    out.write('%d\n' % server.server_address[1])
os.rename(port_file + '.tmp', port_file)
server.serve_forever()
