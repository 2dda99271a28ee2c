#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the virtio-gpu seeds of fuzz-vhost (corpus/vhost/gpu-*): a guest
driver's session on kmsgate-vgpu's whole dispatch path, in the record
format of fuzz-vhost.c, with memory-table changes while fenced flushes
wait for their flips. Usage: gen-vhost-gpu-seeds.py [OUT_DIR]"""
import os
import struct
import sys

# Record kinds and command type indices of fuzz-vhost.c.
TABLE, GPU_SETUP, GPU_CMD, FLIPS = 6, 7, 8, 9
DISPLAY_INFO, CREATE_2D, UNREF, SET_SCANOUT, FLUSH, TRANSFER, ATTACH, DETACH, EDID, \
    CREATE_BLOB, SET_SCANOUT_BLOB = range(11)
UPDATE_CURSOR, MOVE_CURSOR = 0, 1
CURSOR_Q, FENCED, NO_KICK = 1, 2, 4
# Table changes (rec_table_change).
SAME, NEW_MEMFD, MOVED_GPA, MOVED_UVA, OTHER_OFFSET, SHRUNK, TWO_REGIONS, STANDARD = range(8)
XRGB = 2  # VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
BACKING = 0xA000  # fuzz-vhost.c: past the rings and command slots


def setup(feat=0x1c):  # EDID | BLOB, and the memory table first
    return bytes([GPU_SETUP, feat])


def cmd(t, body=b'', how=0):
    return bytes([GPU_CMD, how, t]) + struct.pack('<H', len(body)) + body


def rect(x, y, w, h):
    return struct.pack('<4I', x, y, w, h)


def create_2d(rid, w, h):
    return cmd(CREATE_2D, struct.pack('<4I', rid, XRGB, w, h))


def attach(rid, gpa, length):
    return cmd(ATTACH, struct.pack('<2I', rid, 1) + struct.pack('<QII', gpa, length, 0))


def attach_scattered(rid, gpa, length):
    """Two entries, the second half first in guest RAM (as a guest's
    scattered pages come)."""
    half = length // 2
    return cmd(ATTACH, struct.pack('<2I', rid, 2) + struct.pack('<QII', gpa + 0x1000, half, 0)
               + struct.pack('<QII', gpa, length - half, 0))


def set_scanout(sid, rid, w, h):
    return cmd(SET_SCANOUT, rect(0, 0, w, h) + struct.pack('<2I', sid, rid))


def flush(rid, w, h, how=FENCED):
    return cmd(FLUSH, rect(0, 0, w, h) + struct.pack('<2I', rid, 0), how)


def transfer(rid, w, h):
    return cmd(TRANSFER, rect(0, 0, w, h) + struct.pack('<QII', 0, rid, 0))


def flips(shown=True, every=False):
    return bytes([FLIPS, (1 if shown else 0) | (2 if every else 0)])


def hotplug():
    return bytes([FLIPS, 4])


def table(what, arg=0):
    return bytes([TABLE, what, arg])


def frame_2d(rid=1, w=16, h=16, sid=0, gpa=BACKING):
    return (create_2d(rid, w, h) + attach_scattered(rid, gpa, w * h * 4)
            + set_scanout(sid, rid, w, h) + transfer(rid, w, h))


def waiting_flushes(rid=1, w=16, h=16):
    """One frame with the output, one waiting, one replacing it (newest
    wins): three fences owed."""
    return flush(rid, w, h) + flush(rid, w, h) + flush(rid, w, h)


def seeds():
    s = {}
    s['gpu-frame-2d-fenced'] = (setup() + cmd(DISPLAY_INFO) + cmd(EDID, struct.pack('<2I', 0, 0))
                                + frame_2d() + waiting_flushes() + flips() + hotplug()
                                + cmd(DISPLAY_INFO) + flips(every=True)
                                + cmd(UNREF, struct.pack('<2I', 1, 0)) + flips(every=True))
    names = {NEW_MEMFD: 'new-memfd', MOVED_GPA: 'moved-gpa', MOVED_UVA: 'moved-uva',
             OTHER_OFFSET: 'other-offset', SHRUNK: 'shrunk', TWO_REGIONS: 'two-regions',
             SAME: 'same-table'}
    for what, name in names.items():
        # Fenced flushes wait while the table changes under them; the guest
        # attaches again and flips. Where the rings left guest RAM (another
        # host address, shrunk) the queues stop: QEMU sets them up again
        # (a device reset for the control queue).
        lost = what in (MOVED_UVA, SHRUNK)
        s[f'gpu-remap-{name}'] = (setup() + frame_2d() + waiting_flushes()
                                  + table(what, 3) + flips()
                                  + (setup(0x0c) + frame_2d() if lost else b'')
                                  + attach(1, BACKING, 1024) + flush(1, 16, 16)
                                  + flips(every=True) + table(STANDARD)
                                  + (setup(0x0c) + frame_2d() if lost else b'')
                                  + flush(1, 16, 16) + flips(every=True))
    blob = struct.pack('<4I', 2, 1, 0, 1) + struct.pack('<QQ', 0, 4096) \
        + struct.pack('<QII', BACKING, 4096, 0)
    sob = rect(0, 0, 16, 16) + struct.pack('<6I', 0, 2, 16, 16, XRGB, 0) \
        + struct.pack('<4I', 64, 0, 0, 0) + struct.pack('<4I', 0, 0, 0, 0)
    s['gpu-blob-fenced'] = (setup() + cmd(CREATE_BLOB, blob) + cmd(SET_SCANOUT_BLOB, sob)
                            + flush(2, 16, 16) + flush(2, 16, 16) + flips(every=True)
                            + table(NEW_MEMFD) + flush(2, 16, 16) + flips(every=True))
    cur = struct.pack('<4I', 0, 100, 50, 0) + struct.pack('<4I', 3, 2, 1, 0)
    s['gpu-cursor'] = (setup() + create_2d(3, 64, 64) + attach(3, BACKING, 64 * 64 * 4)
                       + cmd(UPDATE_CURSOR, cur, CURSOR_Q)
                       + cmd(MOVE_CURSOR, struct.pack('<4I', 0, 10, 20, 0) + bytes(16), CURSOR_Q))
    s['gpu-two-scanouts-batched'] = (setup() + frame_2d() + set_scanout(1, 1, 16, 16)
                                     + flush(1, 16, 16, FENCED | NO_KICK)
                                     + flush(1, 16, 16, FENCED | NO_KICK) + flush(1, 16, 16)
                                     + flips(False) + table(SHRUNK, 1) + flips(every=True)
                                     + cmd(SET_SCANOUT, rect(0, 0, 0, 0) + struct.pack('<2I', 0, 0))
                                     + flips(every=True))
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'vhost')
    for name, data in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
        print(f'{name}: {len(data)} bytes')


if __name__ == '__main__':
    main()
