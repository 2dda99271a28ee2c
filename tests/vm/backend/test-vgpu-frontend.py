#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the whole-backend vm tests: boots the board VM, starts
kmsgate-vgpu on the vkms or virtio-gpu card and drives it with kg-frontend
(tests/frontend: QEMU's vhost-user side and a Linux guest's virtio-gpu command
stream, 2D resources with scattered backing pages, a fence per flip).

Checks: every frame's fence came back; kmsgate-vgpu's --stats JSON says the
expected path (zero copy: 0 bytes copied, zero_copy_ratio 1; copy: bytes
copied, ratio 0) and shown == frames; on vkms the fences are paced by the
display (never faster than the 16.7 ms vblank period); with --screendump,
head 0 equals the guest's pixels; kmsgate-vgpu exits cleanly on SIGTERM.
With --connector NAME (kmsgate-vgpu --connector) and --head N: head N
equals the guest's pixels, and no other of the 4 heads shows them.

Usage: test-vgpu-frontend.py [--vkms] [--screendump] [--expect-path P]
           [--connector NAME --head N] KMSGATE_VGPU KG_FRONTEND [-- FRONTEND ARGS...]
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import json
import os
import re
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402
import screendump  # noqa: E402

FENCE_RE = re.compile(r'^FENCE (\d+) t=(\d+)\.(\d{9})')
KV_RE = re.compile(r'(\w+)=(\S+)')

SCRIPT = r'''
dev=; for c in /sys/class/drm/card[0-9]; do grep -q {drv} $c/device/uevent 2>/dev/null && dev=/dev/dri/${{c##*/}}; done
echo "card: $dev"
kmsgate-vgpu --socket /tmp/vg.sock --device $dev {vgpu_args} --stats /tmp/st.json & pid=$!
kg-frontend --socket /tmp/vg.sock --backend-pid $pid {args}; rc=$?
kill -TERM $pid; wait $pid; echo "BACKEND exit=$?"
echo "STATS $(tr -d '\n' < /tmp/st.json)"
exit $rc
'''


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vkms', action='store_true')
    p.add_argument('--screendump', action='store_true')
    p.add_argument('--expect-path', choices=['zero-copy', 'copy'])
    p.add_argument('--expect-remaps', type=int, default=0,
                   help='memory tables kg-frontend must have sent (--remap-every)')
    p.add_argument('--connector', help='kmsgate-vgpu --connector NAME')
    p.add_argument('--head', type=int, default=0, help='the head the frame must be on')
    p.add_argument('--timeout', type=float, default=400)
    p.add_argument('vgpu')
    p.add_argument('frontend')
    p.add_argument('fe_args', nargs='*')
    a = p.parse_args()
    fe_args = a.fe_args + (['--screendump'] if a.screendump else [])
    vgpu_args = shlex.join(['--connector', a.connector]) if a.connector else ''
    script = SCRIPT.format(drv='vkms' if a.vkms else 'virtio', args=shlex.join(fe_args),
                           vgpu_args=vgpu_args)
    opts = kgvm.Options(vkms=a.vkms, timeout=a.timeout,
                        add=[f'{a.vgpu}:/bin/kmsgate-vgpu', f'{a.frontend}:/bin/kg-frontend'])
    problems = []
    try:
        with kgvm.VM(opts, ['sh', '-c', script]) as vm:
            if a.screendump:
                vm.wait_for(r'^READY$', timeout=a.timeout)
                pixels = [p for p in map(screendump.pixel, vm.output) if p]
                screendump.check(vm, pixels, problems, a.head)
                if a.connector:
                    for other in sorted({0, 1, 2, 3} - {a.head}):
                        n = screendump.shows(vm, pixels, other)
                        print(f'screendump: head {other} shows {n} of {len(pixels)} points')
                        # A few points may match by chance (black on an
                        # unlit head); half of them is the frame.
                        if n >= len(pixels) // 2:
                            problems.append(f'head {other} shows the guest frame too '
                                            f'({n} of {len(pixels)} points)')
                vm.send('done')
            status = vm.wait()
            vm.print_timings()
            lines = vm.output
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}', file=sys.stderr)
        return 99
    fences = [int(m.group(2)) + int(m.group(3)) / 1e9
              for m in (FENCE_RE.match(x) for x in lines) if m]
    result = next((dict(KV_RE.findall(x)) for x in lines if x.startswith('RESULT ')), {})
    backend = next((dict(KV_RE.findall(x)) for x in lines if x.startswith('BACKEND ')), {})
    stats = None
    for x in lines:
        if x.startswith('STATS '):
            try:
                stats = json.loads(x[6:])
            except ValueError as e:
                problems.append(f'stats JSON unreadable: {e}')
    frames = int(result.get('frames', 0))
    print('frontend: ' + ' '.join(f'{k}={v}' for k, v in result.items()))
    if not result or len(fences) != frames:
        problems.append(f'{len(fences)} fences for {frames} frames')
    if int(result.get('remaps', 0)) != a.expect_remaps:
        problems.append(f'{result.get("remaps")} memory tables sent, {a.expect_remaps} expected')
    if stats and stats.get('scanouts'):
        s = stats['scanouts'][0]
        print(f'backend stats: path={s["path"]} shown={s["shown"]} '
              f'coalesced={s["coalesced"]} bytes_copied={s["bytes_copied"]} '
              f'zero_copy_ratio={s["zero_copy_ratio"]} '
              f'recv_to_commit p50={s["intervals"]["recv_to_commit"].get("p50_us")} us '
              f'p99={s["intervals"]["recv_to_commit"].get("p99_us")} us')
        if s['shown'] != frames:
            problems.append(f'{s["shown"]} frames shown of {frames}')
        if a.expect_path == 'zero-copy' and (s['path'] != 'zero-copy' or s['bytes_copied']
                                              or s['zero_copy_ratio'] != 1):
            problems.append(f'zero copy expected: {s["path"]}, {s["bytes_copied"]} bytes')
        if a.expect_path == 'copy' and (s['path'] != 'copy' or not s['bytes_copied']):
            problems.append(f'copy expected: {s["path"]}, {s["bytes_copied"]} bytes')
    else:
        problems.append('no stats from kmsgate-vgpu')
    if a.vkms and len(fences) > 10:
        # Paced by the display: a fence completes on the flip, so the guest
        # can never run faster than the 60 Hz vblank (an unpaced device
        # answers in about a millisecond). A loaded TCG host may make it
        # slower (the guest's round trip misses a vblank): that is not a
        # pacing fault. Exact 60 Hz with kernel timestamps is checked by
        # kms-output-vkms-zero-copy-scattered.
        period = 1000 / 60
        iv = sorted((b - c) * 1000 for c, b in zip(fences, fences[1:]))
        med, mean = iv[len(iv) // 2], (fences[-1] - fences[0]) * 1000 / len(iv)
        print(f'fence interval: median {med:.3f} ms, mean {mean:.3f} ms over {len(iv)} '
              f'(vblank {period:.3f} ms)')
        if med < period - 1.5 or mean < period * 0.97:
            problems.append(f'fences faster than the display: median {med:.3f} ms, '
                            f'mean {mean:.3f} ms')
    if backend.get('exit') != '0':
        problems.append(f'kmsgate-vgpu exit status {backend.get("exit")}')
    if status != 0:
        problems.append(f'kg-frontend exited with status {status}')
    return kgvm.verdict(problems)


if __name__ == '__main__':
    sys.exit(main())
