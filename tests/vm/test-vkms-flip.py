#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the vkms-flip test: boots the board VM with vkms, runs
vkms-flip, checks its flip events with kgvm.check_flips (~16.7 ms apart,
sequence +1 each, every event arrives, no flip misses its vblank) and its
writeback and fd-leak verdicts.

Usage: test-vkms-flip.py VKMS_FLIP_BINARY [-- GUEST ARGS...]
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgvm  # noqa: E402

FLIP_RE = re.compile(r'^FLIP n=(\d+) seq=(\d+) t=(\d+\.\d{6}) commit=(\d+\.\d{9})')
WB_RE = re.compile(r'^WRITEBACK pixels=(\d+) mismatches=(\d+)')
MODESETS_RE = re.compile(r'^MODESETS n=(\d+) in ([\d.]+) s')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--timeout', type=float, default=300)
    p.add_argument('prog')
    p.add_argument('guest_args', nargs='*')
    a = p.parse_args()
    opts = kgvm.Options(vkms=True, add=[f'{a.prog}:/bin/vkms-flip'], timeout=a.timeout)
    try:
        with kgvm.VM(opts, ['vkms-flip'] + a.guest_args) as vm:
            vm.wait_for(r'^/dev/dri/card\d+: driver vkms$', timeout=a.timeout)
            status = vm.wait()
            vm.print_timings()
            lines = vm.output
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}', file=sys.stderr)
        return 99

    problems = []
    events = []
    wb = None
    modesets = None
    for line in lines:
        m = MODESETS_RE.match(line)
        if m:
            modesets = int(m.group(1))
            print(f'modesets: {modesets} CRTC off/on turns in {m.group(2)} s')
        m = FLIP_RE.match(line)
        if m:
            events.append((int(m.group(2)), float(m.group(3)), float(m.group(4)),
                           int(m.group(1))))
        m = WB_RE.match(line)
        if m:
            wb = (int(m.group(1)), int(m.group(2)))
    ok, flip_problems, st = kgvm.check_flips(events)
    if st:
        print(f'flip interval: n={st["n"]} mean {st["mean_ms"]:.3f} ms, '
              f'min {st["min_ms"]:.3f} ms, max {st["max_ms"]:.3f} ms; per vblank '
              f'{st["vblank_ms"]:.3f} ms; late commits {st["late"]}, in-time commits that '
              f'missed their vblank {st["missed"]}, lost events {st["lost"]}')
        for m in st['missed_at']:
            print('note:', m)
    if len(events) < 60:
        problems.append(f'only {len(events)} flip events in the run (expected ~120)')
    problems += flip_problems
    if wb is None:
        problems.append('no WRITEBACK result line')
    elif wb[1]:
        problems.append(f'writeback: {wb[1]} of {wb[0]} pixels differ')
    else:
        print(f'writeback: {wb[0]} pixels, all equal')
    if '--modesets' in a.guest_args:
        want = int(a.guest_args[a.guest_args.index('--modesets') + 1])
        if modesets != want:
            problems.append(f'modesets: {modesets} of {want} done')
    if status != 0:
        problems.append(f'vkms-flip exited with status {status}')
    # All of them: tests/must-fail needs every failed check to tell why.
    for msg in problems:
        print('FAIL', msg)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
