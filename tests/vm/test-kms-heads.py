#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the kms-heads test: boots the board VM with the kms-heads
program, waits for READY, screendumps heads 0-3 through QMP and checks each
one's size and pixels exactly against the pattern kms-heads paints.

Usage: test-kms-heads.py [--png-dir DIR] KMS_HEADS_BINARY [-- GUEST ARGS...]
Prints one "FAIL head N: ..." line per wrong head: its size or all points
black ("(head off?)"), else how many of the points are wrong and the first
ones.
Exit: 0 all heads right, 1 a check failed, 99 the rig failed (no boot, no
READY, the VM timed out)."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgvm  # noqa: E402

W, H = 1024, 768
PALETTE = [0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff, 0xffffff, 0x808080]
# Points on both sides of every edge of the pattern, and inside each area.
XS = [0, 1, 255, 510, 511, 512, 513, 700, 1022, 1023]
YS = [0, 7, 8, 100, 127, 128, 135, 136, 383, 384, 391, 392, 500, 639, 640, 647, 648, 767]


def expected(head, x, y):
    """The colour kms-heads paints (see kms-heads.c)."""
    if y % 128 < 8:
        return 0
    q = 2 * (y >= H // 2) + (x >= W // 2)
    return PALETTE[(2 * head + q) % 8]


def check_head(head, w, h, rgb):
    """What is wrong with one head's screendump, naming the head (None: right)."""
    if (w, h) != (W, H):
        return f'head {head}: size {w}x{h}, expected {W}x{H} (head off?)'
    bad, lit = [], False
    for y in YS:
        for x in XS:
            o = (y * w + x) * 3
            got = (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]
            want = expected(head, x, y)
            lit |= got != 0
            if got != want:
                bad.append(f'pixel ({x},{y}) is {got:06x}, expected {want:06x}')
    n = len(XS) * len(YS)
    if not bad:
        return None
    if not lit:
        # A head never lit can be reported at its connector's size, black.
        return f'head {head}: all {n} points black, {len(bad)} wrong (head off?)'
    return f'head {head}: {len(bad)} of {n} points wrong, e.g. ' + '; '.join(bad[:3])


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--png-dir', help='also save head<N>.png here')
    p.add_argument('--timeout', type=float, default=240)
    p.add_argument('prog')
    p.add_argument('guest_args', nargs='*')
    a = p.parse_args()
    opts = kgvm.Options(add=[f'{a.prog}:/bin/kms-heads'], timeout=a.timeout)
    problems = []
    try:
        with kgvm.VM(opts, ['kms-heads'] + a.guest_args) as vm:
            vm.wait_for(r'^READY$', timeout=a.timeout)
            for head in range(kgvm.HEADS):
                w, h, rgb = vm.screendump(head)
                bad = check_head(head, w, h, rgb)
                print(f'head {head}: {w}x{h}, {len(XS) * len(YS)} points checked: '
                      f'{"ok" if not bad else "wrong"}', flush=True)
                if bad:
                    problems.append(bad)
                if a.png_dir:
                    os.makedirs(a.png_dir, exist_ok=True)
                    print('saved', vm.save_png(head, os.path.join(a.png_dir, f'head{head}.png')))
            vm.send('done')
            status = vm.wait(timeout=60)
            vm.print_timings()
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}', file=sys.stderr)
        return 99
    if status != 0:
        problems.append(f'kms-heads exited with status {status}')
    # One line per failed check (a head, the exit status): tests/must-fail
    # tells from them which check failed.
    for msg in problems:
        print('FAIL', msg)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
