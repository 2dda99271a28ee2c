#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e: the zero-copy path end to end. A nested QEMU 10 guest inside the
board VM flips kg-frames' gradient through its own virtio-gpu driver; its
kmsgate-vgpu drives the board's vkms card (real 60 Hz vblank, imports
udmabufs). The guest's QEMU loads the virtio-gpu module of qemu-patches/, so
the guest uses blob framebuffers and fences its flips. Checked: the guest's
flips complete, kmsgate-vgpu --stats reports the zero-copy path with 0 bytes
copied, and the guest is paced by vkms's vblank: every frame kmsgate-vgpu
got was fenced and its fence completed on its KMS flip event (or at once
when a newer frame replaced it), the guest's flip latency covers the time
the fence was held (flush received to flip event), each commit reached the
screen on the next vblank (commit to flip event), and frames reached the
screen at the rate this rig measured (MIN_RATE_HZ).

Usage: test-vkms-zero-copy.py BUILD_DIR [--guest-prog P] [--seconds S]
Exit: 0 pass, 1 fail, 99 the rig or scene failed."""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scene  # noqa: E402
from scene import kgvm  # noqa: E402

C = scene.Guest('c', 'gradient', device='vkms', qemu_patch=True)

# Frames kmsgate-vgpu showed on vkms per second over the 30 s window (its
# --stats before and after; the guest's own reports lag by a minute and
# more on the nested serial line). The nested guest draws each 1024x768
# frame in software under TCG in TCG: it, not the 60 Hz display, sets the
# rate, and the rate follows the machine's load. Measured 2026-12-04 on the
# 2-core rig, four runs: 1.60 and 1.57 Hz (a fuzzer on the other core),
# 0.97 Hz (other VM tests' load), 1.97 Hz. 0.7 Hz is 28 % under the slowest
# run and fails a path at half of it (0.49 Hz); a display at half rate is
# caught below (commit to flip), an unpaced one by the fences.
MIN_RATE_HZ = 0.7
# Commit to flip event, p90 over the run: vkms flips on the next vblank, at
# most 16.7 ms after the commit. Measured 2026-12-04, six runs: p90 14.41,
# 14.50, 14.98, 14.99, 15.21, 15.39 ms (p50 7.3 to 9.0 ms). 20 ms is 30 %
# over the largest; a path that lets every frame wait for a second vblank
# (half rate) puts all of them between 16.7 and 33.3 ms, its p90 near 31 ms.
MAX_COMMIT_TO_FLIP_P90_MS = 20.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument('build')
    p.add_argument('--guest-prog')
    p.add_argument('--seconds', type=float, default=30)
    a = p.parse_args()
    try:
        with scene.Scene(a.build, [C], vkms=True, guest_prog=a.guest_prog) as sc:
            sc.wait_flipping(['c'])
            st0 = sc.stats('c')
            t0 = time.monotonic()
            sc.pump(a.seconds)
            st = sc.stats('c')
            window = time.monotonic() - t0
            lat = sorted(v for _, v, _ in sc.lats['c'])
    except kgvm.VMError as e:
        kgvm.log(f'error: {e}')
        return 99
    so = ((st or {}).get('scanouts') or [{}])[0]
    print(f'kmsgate-vgpu on vkms: path {so.get("path")}, {so.get("shown")} frames shown, '
          f'{so.get("bytes_copied")} bytes copied, zero-copy ratio {so.get("zero_copy_ratio")}')
    if lat:
        print(f'guest: {len(lat)} flips, latency p50 {lat[len(lat) // 2] / 1000:.2f} ms, '
              f'max {lat[-1] / 1000:.2f} ms')
    so0 = ((st0 or {}).get('scanouts') or [{}])[0]
    shown = (so.get('shown') or 0) - (so0.get('shown') or 0)
    rate = shown / window if window > 0 else 0
    print(f'window: {shown} frames shown in {window:.1f} s: {rate:.2f} Hz')
    fails = []
    if not so.get('shown'):
        fails.append('no frame shown')
    if so.get('bytes_copied') != 0:
        fails.append(f'bytes copied: {so.get("bytes_copied")} (want 0)')
    if not str(so.get('path', '')).startswith('zero'):
        fails.append(f'path {so.get("path")} (want zero-copy)')
    if len(lat) < scene.BATCH:
        fails.append(f'only {len(lat)} guest flips reported')
    if rate < MIN_RATE_HZ:
        fails.append(f'{rate:.2f} frames a second reached the screen (want >= {MIN_RATE_HZ})')
    iv = so.get('intervals') or {}
    held = (iv.get('recv_to_fence') or {}).get('p50_us', 0)
    c2f = (iv.get('commit_to_flip') or {}).get('p90_us', 0) / 1000
    c2f50 = (iv.get('commit_to_flip') or {}).get('p50_us', 0) / 1000
    print(f'commit to flip event: p50 {c2f50:.2f} ms, p90 {c2f:.2f} ms')
    if not 0 < c2f <= MAX_COMMIT_TO_FLIP_P90_MS:
        fails.append(f'commit to flip event p90 {c2f:.2f} ms (want <= '
                     f'{MAX_COMMIT_TO_FLIP_P90_MS} ms): not flipped on the next vblank')
    # Exactly one fence per frame. The guest fences every flush of its blob
    # framebuffer and no other fenced command makes a frame, so each frame's
    # fence completes on its flip ("flip", sent in the same event: it is the
    # oldest owed) or, when a newer frame replaced it, right after the flip
    # of the frame before it ("replaced"). The stats are read while the
    # guest flips: a frame replaced during the last flip in flight may not
    # have its fence sent yet (coalesced - replaced is 0 or 1). An unfenced
    # or dropped frame breaks it. (The guest's own count lags: its batches
    # cross a slow serial line.)
    fences = (st or {}).get('fences') or {}
    print(f'kmsgate-vgpu: fences {fences}; frames {so.get("frames")}, shown '
          f'{so.get("shown")}, coalesced {so.get("coalesced")}; hold p50 {held} us')
    if not (fences.get('flip') == so.get('shown') and fences.get('dropped') == 0 and
            0 <= (so.get('coalesced') or 0) - (fences.get('replaced') or 0) <= 1 and
            so.get('frames') == so.get('shown', 0) + so.get('coalesced', 0)):
        fails.append(f'fences {fences} do not match the frames (frames {so.get("frames")}, '
                     f'shown {so.get("shown")}, coalesced {so.get("coalesced")}): not every '
                     f'frame was fenced and completed on its flip')
    if lat and lat[len(lat) // 2] < 0.9 * held:
        fails.append(f'guest flip latency p50 {lat[len(lat) // 2]:.0f} us is shorter than the '
                     f'fence hold p50 {held} us: the guest did not wait for the display')
    for f in fails:
        print('FAIL ' + f)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
