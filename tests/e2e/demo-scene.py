#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scene tools/demo runs: the whole kmsgate system in the board VM.

kmsgate-broker leases head 1 to guest a (kg-frames gradient) and head 2 to
guest b (solid colours); guest c flips on the board's vkms card through the
zero-copy path. Then b's kmsgate-vgpu is killed (kill -9), started again,
and b's QEMU restarted (QEMU 10.0.2 cannot resume a vhost-user-gpu device:
docs/e2e.md). Leaves in OUT: head0..3.png (all guests running),
head2-after-kill.png, head2-after-restart.png, latency.txt, latency.html,
latency.png, console.log (the board's console).

Usage: demo-scene.py --build DIR --out DIR [--no-vkms] [--no-restart] [--seconds S]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
import scene  # noqa: E402
from scene import kgvm  # noqa: E402


def say(msg):
    print(f'[demo] {msg}', flush=True)


def heads(sc, out, names, suffix=''):
    for h in names:
        p = os.path.join(out, f'head{h}{suffix}.png')
        sc.vm.save_png(h, p)
        say(f'  screenshot of head {h}: {p}')


def run(sc, a, out):
    say('board VM up: kmsgate-broker holds the virtio-gpu card (4 heads); '
        'kmsgate-vgpu and a nested QEMU 10 guest per display are starting')
    say('the nested guests boot under TCG inside TCG: about 2 minutes on an idle '
        '2-core machine, more when it is busy')
    names = [g.name for g in sc.guests]
    sc.wait_flipping(names, timeout=1500)
    say(f'all guests flip; collecting {a.seconds:.0f} s of frame latencies')
    sc.pump(a.seconds)
    heads(sc, out, range(4))
    if a.no_restart:
        return
    say('kill -9 of guest b\'s kmsgate-vgpu: the broker revokes its lease '
        '(on-release = keep: the last frame stays)')
    sc.kill_vgpu('b')
    sc.pump(5)
    heads(sc, out, [2], '-after-kill')
    say('kmsgate-vgpu b started again; QEMU 10.0.2 does not reconnect a vhost-user-gpu '
        'device, so guest b\'s QEMU is restarted (its guest boots again)')
    sc.start_vgpu('b')
    sc.restart_guest('b')
    sc.wait_flipping(['b'], timeout=1500)
    sc.pump(10)
    heads(sc, out, [2], '-after-restart')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--build', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--no-vkms', action='store_true', help='no guest on vkms')
    p.add_argument('--no-restart', action='store_true', help='skip the kill -9 / restart part')
    p.add_argument('--stock-qemu', action='store_true',
                   help='run the guests on stock QEMU, without qemu-patches/ (unpaced)')
    p.add_argument('--seconds', type=float, default=30,
                   help='how long all guests flip before the screenshots (default 30)')
    a = p.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    patch = not a.stock_qemu
    guests = [scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1,
                          qemu_patch=patch),
              scene.Guest('b', 'solid', pipeline='b', connector='Virtual-3', crtc=2,
                          qemu_patch=patch)]
    if not a.no_vkms:
        guests.append(scene.Guest('c', 'gradient', device='vkms', qemu_patch=patch))
    say('booting the board VM (Linux 6.12, virtio-gpu with 4 heads'
        + ('' if a.no_vkms else ', vkms') + ') with QEMU 10 inside')
    t0 = time.monotonic()
    try:
        with scene.Scene(a.build, guests, vkms=not a.no_vkms, timeout=3000, echo=False,
                         log_path=os.path.join(out, 'console.log')) as sc:
            run(sc, a, out)
            for g in guests:
                sc.stats(g.name)
    except kgvm.VMError as e:
        say(f'failed: {e}')
        return 1
    files = report.write(out, sc)
    say(f'scene done in {time.monotonic() - t0:.0f} s')
    with open(os.path.join(out, 'latency.txt')) as f:
        print(f.read())
    for f in files:
        say(f'report: {f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
