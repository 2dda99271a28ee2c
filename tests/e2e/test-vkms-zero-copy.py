#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e: the zero-copy path end to end. A nested QEMU 10 guest inside the
board VM flips kg-frames' gradient through its own virtio-gpu driver; its
kmsgate-vgpu drives the board's vkms card (real 60 Hz vblank, imports
udmabufs). The guest's QEMU loads the virtio-gpu module of qemu-patches/, so
the guest uses blob framebuffers and fences its flips. Checked: the guest's
flips complete, kmsgate-vgpu --stats reports the zero-copy path with 0 bytes
copied, and the guest is paced by vkms's vblank: the frames it flipped were
fenced and kmsgate-vgpu completed the fences on the KMS flip events
(flip_to_fence samples), and the guest's flip latency covers the time the
fence was held (flush received to flip event).

Usage: test-vkms-zero-copy.py BUILD_DIR [--guest-prog P] [--seconds S]
Exit: 0 pass, 1 fail, 99 the rig or scene failed."""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scene  # noqa: E402
from scene import kgvm  # noqa: E402

C = scene.Guest('c', 'gradient', device='vkms', qemu_patch=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('build')
    p.add_argument('--guest-prog')
    p.add_argument('--seconds', type=float, default=30)
    a = p.parse_args()
    try:
        with scene.Scene(a.build, [C], vkms=True, guest_prog=a.guest_prog) as sc:
            sc.wait_flipping(['c'])
            sc.pump(a.seconds)
            st = sc.stats('c')
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
    fails = []
    if not so.get('shown'):
        fails.append('no frame shown')
    if so.get('bytes_copied') != 0:
        fails.append(f'bytes copied: {so.get("bytes_copied")} (want 0)')
    if not str(so.get('path', '')).startswith('zero'):
        fails.append(f'path {so.get("path")} (want zero-copy)')
    if len(lat) < scene.BATCH:
        fails.append(f'only {len(lat)} guest flips reported')
    iv = so.get('intervals') or {}
    fenced = (iv.get('flip_to_fence') or {}).get('samples', 0)
    held = (iv.get('recv_to_fence') or {}).get('p50_us', 0)
    print(f'kmsgate-vgpu: {fenced} fences completed on flip events, hold p50 {held} us')
    if fenced < len(lat):
        fails.append(f'{fenced} fenced frames for {len(lat)} guest flips: not paced by vblank')
    if lat and lat[len(lat) // 2] < 0.9 * held:
        fails.append(f'guest flip latency p50 {lat[len(lat) // 2]:.0f} us is shorter than the '
                     f'fence hold p50 {held} us: the guest did not wait for the display')
    for f in fails:
        print('FAIL ' + f)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
