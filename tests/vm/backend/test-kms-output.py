#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the KMS output tests: boots the board VM, runs kms-output-vm
(the fake guest pushing frames through kmsgate's KMS output) and checks what
it reports against what was asked.

  --vkms                 on vkms: flips paced at 60 Hz (kgvm.check_flips on
                         the flip timestamps), writeback equal to the guest
  --screendump           on virtio-gpu: head 0's screendump equals the guest
  --expect-path P        zero-copy or copy: the path of the last frame and the
                         counters agree (zero copy: 0 bytes copied, no copied
                         frame; copy: bytes copied, no zero-copy frame)
  --expect-coalesced     some frames were replaced before their commit (and
                         completed as not shown)
  --no-pacing            skip the flip timing check (for must-fail tests aimed
                         at something else)

Usage: test-kms-output.py [options] PROG [-- GUEST ARGS...]
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402
import screendump  # noqa: E402

FLIP_RE = re.compile(r'^FLIP seq=(\d+) t=(\d+)\.(\d{6}) commit=(\d+)\.(\d{9})')
KV_RE = re.compile(r'(\w+)=(\S+)')


def parse(lines):
    flips, result, ranges, wb, fds, pixels = [], {}, {}, None, None, []
    for line in lines:
        m = FLIP_RE.match(line)
        if m:
            flips.append((int(m.group(1)), int(m.group(2)) + int(m.group(3)) / 1e6,
                          int(m.group(4)) + int(m.group(5)) / 1e9))
        elif line.startswith('RESULT '):
            result = dict(KV_RE.findall(line))
        elif line.startswith('RANGES '):
            ranges = dict(KV_RE.findall(line))
        elif line.startswith('WRITEBACK '):
            wb = dict(KV_RE.findall(line))
        elif line.startswith('FDS '):
            fds = dict(KV_RE.findall(line))
        elif pt := screendump.pixel(line):
            pixels.append(pt)
    return flips, result, ranges, wb, fds, pixels


def check_path(result, path, problems):
    if not result:
        problems.append('no RESULT line')
        return
    if result.get('path') != path:
        problems.append(f'path is {result.get("path")}, expected {path}')
    zc, cp, by = int(result['zero_copy']), int(result['copied']), int(result['bytes_copied'])
    if path == 'zero-copy' and (cp or by or not zc):
        problems.append(f'zero copy expected, got {zc} zero-copy frames, {cp} copied, '
                        f'{by} bytes copied')
    if path == 'copy' and (zc or not by or not cp):
        problems.append(f'copy expected, got {zc} zero-copy frames, {cp} copied, '
                        f'{by} bytes copied')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vkms', action='store_true')
    p.add_argument('--screendump', action='store_true')
    p.add_argument('--expect-path', choices=['zero-copy', 'copy'])
    p.add_argument('--expect-coalesced', action='store_true')
    p.add_argument('--no-pacing', action='store_true',
                   help='do not check the flip timing (must-fail tests aimed elsewhere)')
    p.add_argument('--timeout', type=float, default=150)
    p.add_argument('prog')
    p.add_argument('guest_args', nargs='*')
    a = p.parse_args()
    argv = ['kms-output-vm'] + a.guest_args
    if a.vkms:
        argv += ['--driver', 'vkms', '--writeback']
    else:
        argv += ['--driver', 'virtio_gpu']
    if a.screendump:
        argv += ['--screendump']
    opts = kgvm.Options(vkms=a.vkms, add=[f'{a.prog}:/bin/kms-output-vm'], timeout=a.timeout)
    # One run, no retry: kgvm.check_flips's limits come from what this rig
    # measured (see there), so a run that exceeds them is a failure.
    ret, problems, _ = attempt(a, opts, argv)
    # All of them: tests/must-fail needs every failed check to tell why.
    for msg in problems:
        print('FAIL', msg)
    if ret == 99:
        return 99
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


def attempt(a, opts, argv):
    """One VM run: (99 on a rig error else 0, problems, whether all problems
    are pacing ones)."""
    problems = []
    try:
        with kgvm.VM(opts, argv) as vm:
            if a.screendump:
                vm.wait_for(r'^READY$', timeout=a.timeout)
                flips, result, ranges, wb, fds, pixels = parse(vm.output)
                screendump.check(vm, pixels, problems)
                vm.send('done')
            status = vm.wait()
            vm.print_timings()
            lines = vm.output
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99, [], False
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}', file=sys.stderr)
        return 99, [], False
    flips, result, ranges, wb, fds, pixels = parse(lines)
    if ranges:
        print('ranges: ' + ' '.join(f'{k}={v}' for k, v in ranges.items()))
    if result:
        print('result: ' + ' '.join(f'{k}={v}' for k, v in result.items()))
    if a.expect_path:
        check_path(result, a.expect_path, problems)
    if a.expect_coalesced and not (result and int(result['replaced']) > 0 and
                                   int(result['not_shown_cb']) == int(result['replaced'])):
        problems.append(f'expected replaced frames completed as not shown: {result}')
    flip_problems = []
    if a.vkms:
        # The first event ends the modeset: its timestamp may predate the
        # CRTC's vblank timer, so pacing is checked from the second on.
        ok, flip_problems, st = kgvm.check_flips(flips[1:])
        if a.no_pacing:
            flip_problems = []
        if st:
            print(f'flip interval: n={st["n"]} mean {st["mean_ms"]:.3f} ms, '
                  f'per vblank {st["vblank_ms"]:.3f} ms, late {st["late"]}, '
                  f'missed {st["missed"]}')
        if wb is None:
            problems.append('no WRITEBACK line')
        elif int(wb['mismatches']):
            problems.append(f'writeback: {wb["mismatches"]} of {wb["pixels"]} pixels differ')
        else:
            print(f'writeback: {wb["pixels"]} pixels, all equal to the guest\'s')
    if not fds or fds['before'] != fds['after']:
        problems.append(f'fd leak or no FDS line: {fds}')
    # kms-output-vm exits 1 when its writeback differs; that was reported
    # above (every earlier failure of the program skips the WRITEBACK line),
    # so it is not a second problem. Any other exit is.
    if status == 1 and wb is not None and int(wb['mismatches']):
        print('kms-output-vm exited with status 1: its writeback differs (above)')
    elif status != 0:
        problems.append(f'kms-output-vm exited with status {status}')
    pacing_only = bool(flip_problems) and not problems
    return 0, problems + flip_problems, pacing_only

if __name__ == '__main__':
    sys.exit(main())
