#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pixel checks for the viewer's e2e tests, with no dependency beyond the
standard library: reads 8-bit PNG (RGB or RGBA, the viewer's screenshots)
and binary PPM (spice-probe's).

  image-tool.py size FILE            print WIDTHxHEIGHT
  image-tool.py bands FILE           the guest's test pattern: 8 grey bands
                                     of 96 rows, value 16 + 32 * band
  image-tool.py same A B [MAXFRAC]   at most MAXFRAC (default 0.01) of the
                                     pixels differ by more than 8 per channel
  image-tool.py exact FILE PATTERN   1024x768 and every pixel exactly the
                                     pattern: grey-bands (the above) or
                                     colour-bands (4 bands of 192 rows: red,
                                     green, blue, white); grey-bands spares
                                     the console cursor's cell (top left)
Exit 0 when the check holds, 1 otherwise (with the reason on stderr)."""
import struct
import sys
import zlib


def read_png(data):
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    pos, idat, width = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError('only 8-bit RGB/RGBA non-interlaced PNG')
            channels = 3 if colour == 2 else 4
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        ftype = raw[i]
        row = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if ftype == 1:
                row[x] = (row[x] + a) & 0xff
            elif ftype == 2:
                row[x] = (row[x] + b) & 0xff
            elif ftype == 3:
                row[x] = (row[x] + (a + b) // 2) & 0xff
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[x] = (row[x] + pred) & 0xff
        prev = row
        if channels == 4:
            out += bytes(v for k, v in enumerate(row) if k % 4 != 3)
        else:
            out += row
    return width, height, bytes(out)


def read_ppm(data):
    parts = data.split(maxsplit=4)
    if parts[0] != b'P6':
        raise ValueError('not a binary PPM')
    width, height = int(parts[1]), int(parts[2])
    pixels = parts[4] if len(parts) > 4 else b''
    return width, height, pixels[:width * height * 3]


def read_image(path):
    data = open(path, 'rb').read()
    return read_png(data) if data[:4] == b'\x89PNG' else read_ppm(data)


def pixel(image, x, y):
    width, _, pixels = image
    i = 3 * (y * width + x)
    return pixels[i:i + 3]


def expected(pattern, x, y):
    if pattern == 'grey-bands':
        v = 16 + 32 * (y // 96)
        return (v, v, v)
    if pattern == 'colour-bands':
        return ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255))[y // 192]
    raise ValueError('unknown pattern %s' % pattern)


def exact(path, pattern):
    width, height, pixels = read_image(path)
    if (width, height) != (1024, 768):
        print('%s is %dx%d, expected 1024x768' % (path, width, height), file=sys.stderr)
        return 1
    bad, first = 0, None
    for y in range(height):
        row = pixels[3 * width * y:3 * width * (y + 1)]
        for x in range(width):
            if pattern == 'grey-bands' and x < 16 and y < 32:
                continue
            want = expected(pattern, x, y)
            if tuple(row[3 * x:3 * x + 3]) != want:
                bad += 1
                if first is None:
                    first = (x, y, tuple(row[3 * x:3 * x + 3]), want)
    if bad:
        print('%s: %d pixels differ from %s; first at (%d,%d): got %s, expected %s'
              % ((path, bad, pattern) + first), file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == 'exact':
        return exact(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == 'size':
        w, h, _ = read_image(argv[2])
        print('%dx%d' % (w, h))
        return 0
    if len(argv) >= 3 and argv[1] == 'bands':
        image = read_image(argv[2])
        if image[0] < 1024 or image[1] < 768:
            print('image is %dx%d, expected at least 1024x768' % image[:2], file=sys.stderr)
            return 1
        for band in range(8):
            want = 16 + 32 * band
            # Sample the middle rows of each band, away from the console's
            # cursor in the top-left corner.
            for y in (band * 96 + 30, band * 96 + 60):
                for x in (100, 500, 1000):
                    got = pixel(image, x, y)
                    if any(abs(v - want) > 4 for v in got):
                        print('band %d at (%d,%d): got %s, expected grey %d'
                              % (band, x, y, tuple(got), want), file=sys.stderr)
                        return 1
        return 0
    if len(argv) >= 4 and argv[1] == 'same':
        a, b = read_image(argv[2]), read_image(argv[3])
        limit = float(argv[4]) if len(argv) > 4 else 0.01
        if a[:2] != b[:2]:
            print('sizes differ: %dx%d vs %dx%d' % (a[:2] + b[:2]), file=sys.stderr)
            return 1
        total = a[0] * a[1]
        pa, pb = a[2], b[2]
        differ = sum(1 for i in range(0, 3 * total, 3)
                     if any(abs(pa[i + k] - pb[i + k]) > 8 for k in range(3)))
        if differ > limit * total:
            print('%d of %d pixels differ' % (differ, total), file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
