#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Is an X11 client handling its events?  Sends the window manager's
_NET_WM_PING to a window and waits for the client's answer (EWMH: the
client sends the message back to the root window), as a window manager
does to tell a hung application.  The X server answers property queries
itself; only this round trip needs the client's main loop.  Standard
library only (libX11 through ctypes).

  x11-ping.py WINDOW-ID TIMEOUT-SECONDS

Prints the round trip in ms and exits 0, or exits 1 when no answer came
in time (2 when the display or the window cannot be used)."""
import ctypes
import ctypes.util
import select
import sys
import time

window, timeout = int(sys.argv[1], 0), float(sys.argv[2])
x11 = ctypes.CDLL(ctypes.util.find_library('X11') or 'libX11.so.6')
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XDefaultRootWindow.restype = ctypes.c_ulong
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XInternAtom.restype = ctypes.c_ulong
x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x11.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
x11.XFlush.argtypes = [ctypes.c_void_p]
x11.XPending.argtypes = [ctypes.c_void_p]
x11.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
x11.XConnectionNumber.argtypes = [ctypes.c_void_p]
x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]

CLIENT_MESSAGE = 33
NO_EVENT_MASK = 0
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19


class ClientMessage(ctypes.Structure):
    _fields_ = [('type', ctypes.c_int), ('serial', ctypes.c_ulong), ('send_event', ctypes.c_int),
                ('display', ctypes.c_void_p), ('window', ctypes.c_ulong), ('message_type', ctypes.c_ulong),
                ('format', ctypes.c_int), ('data', ctypes.c_long * 5)]


class Event(ctypes.Union):
    _fields_ = [('type', ctypes.c_int), ('xclient', ClientMessage), ('pad', ctypes.c_long * 24)]


display = x11.XOpenDisplay(None)
if not display:
    print('x11-ping: cannot open the display', file=sys.stderr)
    sys.exit(2)
root = x11.XDefaultRootWindow(display)
wm_protocols = x11.XInternAtom(display, b'WM_PROTOCOLS', 0)
net_wm_ping = x11.XInternAtom(display, b'_NET_WM_PING', 0)
x11.XSelectInput(display, root, SUBSTRUCTURE_NOTIFY_MASK)
stamp = int(time.monotonic() * 1000) & 0x7fffffff

event = Event()
event.xclient.type = CLIENT_MESSAGE
event.xclient.window = window
event.xclient.message_type = wm_protocols
event.xclient.format = 32
event.xclient.data[0] = net_wm_ping
event.xclient.data[1] = stamp
event.xclient.data[2] = window
started = time.monotonic()
if not x11.XSendEvent(display, window, 0, NO_EVENT_MASK, ctypes.byref(event)):
    print('x11-ping: cannot send to window 0x%x' % window, file=sys.stderr)
    sys.exit(2)
x11.XSync(display, 0)

fd = x11.XConnectionNumber(display)
deadline = started + timeout
while True:
    while x11.XPending(display):
        answer = Event()
        x11.XNextEvent(display, ctypes.byref(answer))
        if (answer.type == CLIENT_MESSAGE and answer.xclient.message_type == wm_protocols and
                answer.xclient.data[0] == net_wm_ping and answer.xclient.data[1] == stamp):
            print('%d' % ((time.monotonic() - started) * 1000))
            sys.exit(0)
    left = deadline - time.monotonic()
    if left <= 0:
        print('x11-ping: no answer from window 0x%x within %g s' % (window, timeout), file=sys.stderr)
        sys.exit(1)
    select.select([fd], [], [], left)
