#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e: a 3D guest on the zero-copy path. Inside the board VM a nested QEMU
10 guest (the 3D guest image of tests/vm/guestimg.py, attached to the board
as a read-only disk) runs the unmodified Debian kmscube through its Mesa
virgl driver; its kmsgate-vgpu runs --virgl (virglrenderer on the board's
Mesa 25 llvmpipe, which exports render targets through /dev/udmabuf) and
drives the board's vkms card.

Checked: the guest negotiated virgl and kmscube renders with it; kmsgate-vgpu
exported the guest's render target as a dmabuf and scanned it out
(its log), and its --stats say path zero-copy with 0 bytes copied for at
least MIN_FRAMES shown frames; vkms' writeback (kg-wb-grab) reads back the
cube: not one flat colour, the four corners one background colour, most of
the centre another, and two readbacks a few frames apart differ (it spins).

--force-copy runs kmsgate-vgpu with KG_KMS_FORCE_COPY=1 (the copy path): the
"zero copy: " checks must fail then, and only they (tests/must-fail).

Usage: test-vkms-virgl.py BUILD_DIR [--force-copy] [--frames N] [--keep DIR]
Exit: 0 pass, 1 fail, 99 the rig or scene failed."""

import argparse
import os
import sys
import time
import zlib
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scene  # noqa: E402
from scene import kgvm  # noqa: E402

# The 3D guest's fbcon (its boot loads drm_kms_helper with busybox insmod,
# which ignores fbdev_emulation=0 on the kernel command line) flushes 2D
# frames (its blinking cursor) until kmscube takes the display: unbound
# first, so that what follows is kmscube's. kmscube stops on input on its
# stdin: it gets a FIFO that never has any.
GUEST_CMD = (
    'for v in /sys/class/vtconsole/vtcon*/bind; do echo 0 >$v; done 2>/dev/null; '
    'echo "VIRGL-FEATURE $(sed -n "s/^virgl *: *//p" '
    '/sys/kernel/debug/dri/0/virtio-gpu-features)"; '
    'mkfifo /tmp/idle; exec 3<>/tmp/idle; exec kmscube <&3')
# kmsgate-vgpu's log line of the guest's first 3D frame (vgpu-3d.c
# try_export: exported, not exportable, or stored upside down).
FIRST_3D = r'^\[vgpu-g\] .*vgpu: 3D resource \d+(:| is stored upside down)'
# Shown frames before the readbacks (kmscube on llvmpipe, TCG in TCG: a
# handful is what there is time for).
MIN_FRAMES = 5
# Frames between the two readbacks.
GAP_FRAMES = 2
# The nested boot (~90 s idle, ~300 s on a loaded machine) plus the guest's
# start from its disk: measured 135 s to the guest's first line (load ~2).
START_TIMEOUT = 600
# kmscube's start (Mesa from the nested disk) and its first frame: ~80 s idle.
FRAMES_TIMEOUT = 400
# Shown frames come at ~7 a second idle: a few frames within this, even loaded.
SHOWN_TIMEOUT = 120
# kmsgate-vgpu's log (relayed as [vgpu-g]): the render target exported, and
# the KMS output scanning that dmabuf out.
LOG_EXPORTED = 'exported as a dmabuf'
LOG_SCANNED = "zero copy, the renderer's dmabuf scanned out"


class Checks:
    def __init__(self):
        self.fails = []

    def check(self, ok, what):
        print(('ok   ' if ok else 'FAIL ') + what, flush=True)
        if not ok:
            self.fails.append(what)
        return ok


def wait_shown(sc, n, timeout):
    """Polls kmsgate-vgpu's stats until n frames were shown; the last stats."""
    end = time.monotonic() + timeout
    while True:
        st = sc.stats('g')
        so = ((st or {}).get('scanouts') or [{}])[0]
        if (so.get('shown') or 0) >= n or time.monotonic() > end:
            return st, so
        sc.pump(5)


def check_readback(c, tag, wb):
    """Not flat; the corners one background colour; the cube in the centre."""
    grid = wb['grid']
    if not c.check(wb['size'] is not None and len(grid) >= 8 and len(grid[0]) >= 8,
                   f'{tag}: vkms writeback read the screen back '
                   f'({wb["size"]}, {len(grid)} sample rows)'):
        print('\n'.join(wb['lines'][-20:]))
        return
    gh, gw = len(grid), len(grid[0])
    colours = {p for row in grid for p in row}
    c.check(len(colours) > 16, f'{tag}: not a flat colour ({len(colours)} colours sampled)')
    corners = [grid[0][0], grid[0][-1], grid[-1][0], grid[-1][-1]]
    bg = corners[0]
    c.check(all(p == bg for p in corners),
            f'{tag}: the 4 corners show one background colour ({[p.hex() for p in corners]})')
    centre = [grid[y][x] for y in range(gh * 3 // 8, gh * 5 // 8)
              for x in range(gw * 3 // 8, gw * 5 // 8)]
    differ = sum(p != bg for p in centre)
    c.check(differ > len(centre) // 2, f'{tag}: the cube is in the centre ({differ} of '
            f'{len(centre)} centre samples differ from the background {bg.hex()})')


def save_png(path, grid):
    """The samples as a small PNG (for a person to look at)."""
    h, w = len(grid), len(grid[0])
    raw = b''.join(b'\0' + b''.join(row) for row in grid)

    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('build')
    p.add_argument('--force-copy', action='store_true',
                   help='KG_KMS_FORCE_COPY=1 for kmsgate-vgpu: the zero-copy checks must fail')
    p.add_argument('--frames', type=int, default=MIN_FRAMES)
    p.add_argument('--vgpu-args', default='', help='more kmsgate-vgpu arguments (e.g. --gles)')
    p.add_argument('--keep', help='write the readbacks as PNGs (64x48 samples) here')
    a = p.parse_args()
    env = {'KG_KMS_FORCE_COPY': '1'} if a.force_copy else {}
    g = scene.Guest('g', 'none', device='vkms', gl_cmd=GUEST_CMD, vgpu_env=env,
                    vgpu_args=a.vgpu_args)
    c = Checks()
    t_start = time.monotonic()
    try:
        with scene.Scene(a.build, [g], vkms=True) as sc:
            m = sc.wait(r'^\[g\] (VIRGL-FEATURE (.*)|qemu-system-x86_64: .*)$',
                        timeout=START_TIMEOUT)
            if m.group(1).startswith('qemu-system'):
                raise kgvm.VMError(f'the nested QEMU failed: {m.group(1)}')
            sc.mark('3D guest up')
            if not c.check(m.group(2).strip() == 'yes', 'the guest negotiated virgl '
                           f'(debugfs virgl: {m.group(2).strip()!r})'):
                # Without virgl the guest's Mesa would draw on its own: the
                # rest would say nothing about kmsgate-vgpu's 3D.
                print(f'FAIL: {len(c.fails)} problem(s)')
                return 1
            m = sc.wait(r'^\[g\]\s*renderer: "(.*)"$', timeout=FRAMES_TIMEOUT)
            sc.mark('kmscube started')
            c.check(m.group(1).startswith('virgl'),
                    f'kmscube renders with virgl (GL renderer "{m.group(1)}")')
            # Frames before this one were the guest's 2D console's.
            sc.wait(FIRST_3D, timeout=FRAMES_TIMEOUT)
            sc.mark('first 3D frame')
            st0 = sc.stats('g')
            so0 = ((st0 or {}).get('scanouts') or [{}])[0]
            shown0 = so0.get('shown') or 0
            st, so = wait_shown(sc, shown0 + a.frames, SHOWN_TIMEOUT)
            sc.mark(f'{(so.get("shown") or 0) - shown0} 3D frames shown')
            wb1 = sc.writeback('g', '--save', '/tmp/wb1')
            shown1 = so.get('shown') or 0
            st, so = wait_shown(sc, shown1 + GAP_FRAMES, SHOWN_TIMEOUT)
            wb2 = sc.writeback('g', '--compare', '/tmp/wb1')
            st = sc.stats('g')
            events = list(sc.events)
            log = [ln for _, ln in sc.seen if ln.startswith('[vgpu-g] ')]
            guest = [ln for _, ln in sc.seen if ln.startswith('[g] ')]
    except kgvm.VMError as e:
        kgvm.log(f'error: {e}')
        return 99
    elapsed = time.monotonic() - t_start
    so = ((st or {}).get('scanouts') or [{}])[0]
    frames3d = (so.get('shown') or 0) - shown0
    copied3d = (so.get('bytes_copied') or 0) - (so0.get('bytes_copied') or 0)
    print(f'3D frames: {frames3d} shown after the first one, {copied3d} bytes copied for '
          f'them; before: {shown0} frames (2D console), {so0.get("bytes_copied")} bytes copied')
    print(f'kmsgate-vgpu on vkms: path {so.get("path")}, {so.get("frames")} frames, '
          f'{so.get("shown")} shown, {so.get("coalesced")} coalesced, '
          f'{so.get("bytes_copied")} bytes copied, zero-copy ratio {so.get("zero_copy_ratio")}')
    iv = so.get('intervals') or {}
    print('intervals: ' + ', '.join(f'{k} p50 {(v or {}).get("p50_us")} us'
                                    for k, v in sorted(iv.items())))
    for ln in guest:
        if 'Rendered' in ln:
            print(f'guest: {ln[4:]}')
    for i, wb in enumerate([wb1, wb2], 1):
        print(f'readback {i}: {wb["size"]}, commit to fence {wb["ms"]} ms, diff {wb["diff"]}')
        if a.keep and wb['grid']:
            os.makedirs(a.keep, exist_ok=True)
            save_png(os.path.join(a.keep, f'writeback-{i}.png'), wb['grid'])
    check_readback(c, 'readback 1', wb1)
    check_readback(c, 'readback 2', wb2)
    diff = wb2['diff']
    c.check(diff is not None and diff[0] > 0 and wb1['grid'] != wb2['grid'],
            f'the cube spins: the two readbacks differ ({diff[0] if diff else "?"} of '
            f'{diff[1] if diff else "?"} pixels)')
    c.check(any(LOG_EXPORTED in ln for ln in log),
            f'kmsgate-vgpu exported the render target ("{LOG_EXPORTED}" in its log)')
    # The property: the 3D frames reach vkms without a copy.
    c.check(any(LOG_SCANNED in ln for ln in log),
            f'zero copy: kmsgate-vgpu scanned the renderer\'s dmabuf out ("{LOG_SCANNED}" '
            'in its log)')
    c.check(str(so.get('path')) == 'zero-copy', f'zero copy: path {so.get("path")} '
            '(want zero-copy)')
    c.check(frames3d >= a.frames, f'kmsgate-vgpu showed {frames3d} 3D frames '
            f'(want >= {a.frames})')
    c.check(copied3d == 0 and so.get('bytes_copied') == 0,
            f'zero copy: {copied3d} bytes copied for {frames3d} 3D frames, '
            f'{so.get("bytes_copied")} in all (want 0)')
    print('timeline: ' + ', '.join(f'{what} {t:.0f} s' for t, what in events))
    print(f'test: {elapsed:.0f} s from start to the last check')
    print(f'FAIL: {len(c.fails)} problem(s)' if c.fails else 'PASS')
    return 1 if c.fails else 0


if __name__ == '__main__':
    sys.exit(main())
