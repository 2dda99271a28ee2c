#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kmsgate-vgpu on pipelines leased from kmsgate-broker, in the board VM.

Inside the VM (virtio-gpu, 4 heads): kmsgate-broker with two pipelines
("left" on Virtual-2, "right" on Virtual-3, 1024x768), kmsgate-vgpu
--broker --pipeline left,right (one KMS output per lease, joined), and
kg-frontend playing QEMU and a Linux guest on scanout 0. Checks: both
leases were acquired and released, every frame was shown, guest scanout 0
is on head 1 (Virtual-2) pixel for pixel by QMP screendump, head 0 was left
alone. Exit 0 pass, 1 fail, 99 rig error.

With --scanouts 2 the guest draws on both scanouts (its device has two
outputs), a different frame on each (every pixel differs): scanout 0 must be
on head 1 (left) and scanout 1 on head 2 (right), each head showing its own
scanout's frame and not the other's, every frame shown on both.
--pipelines gives kmsgate-vgpu another order (right,left: the must-fail).

Usage: test-vgpu-broker.py KMSGATE_BROKER KMSGATE_VGPU KG_FRONTEND [--head N]
           [--scanouts 2 [--pipelines A,B]]
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import kgvm  # noqa: E402

CONF = '''[left]
connector = Virtual-2
mode = 1024x768
[right]
connector = Virtual-3
mode = 1024x768
'''

SCRIPT = r'''
kmsgate-broker --device /dev/dri/card0 --config /etc/kg.conf --runtime-dir /tmp/kg &
bpid=$!
n=0; while [ ! -S /tmp/kg/broker.sock ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
kmsgate-vgpu --socket /tmp/vg.sock --broker /tmp/kg/broker.sock --pipeline {pipelines} \
    --stats /tmp/st.json & pid=$!
n=0; while [ ! -S /tmp/vg.sock ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
kg-frontend --socket /tmp/vg.sock --frames 20 --screendump --scanouts {scanouts}; rc=$?
kill -TERM $pid; wait $pid; echo "BACKEND exit=$?"
echo "STATS $(tr -d '\n' < /tmp/st.json)"
kill -TERM $bpid; wait $bpid; echo "BROKER exit=$?"
exit $rc
'''

# Where the guest's scanouts must be: left (Virtual-2) and right (Virtual-3).
SCANOUT_HEADS = [1, 2]


def colour(rgb, w, x, y):
    o = (y * w + x) * 3
    return (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]


def check_scanouts(vm, out, n, problems):
    """Each scanout's SCANOUT_PIXEL points on its own head, and none of
    another scanout's there."""
    want = {}
    for line in out:
        if line.startswith('SCANOUT_PIXEL '):
            s, x, y, v = line.split()[1:]
            want.setdefault(int(s), []).append((int(x), int(y), int(v, 16)))
    for s in range(n):
        head = SCANOUT_HEADS[s]
        w, h, rgb = vm.screendump(head)
        if (w, h) != (1024, 768) or not want.get(s):
            problems.append(f'head {head} is {w}x{h} ({len(want.get(s, []))} points to check)')
            continue
        for t in range(n):
            same = sum(colour(rgb, w, x, y) == v for x, y, v in want[t])
            print(f'screendump head {head}: {same} of {len(want[t])} points of scanout {t}')
            if t == s and same != len(want[t]):
                problems.append(f'head {head} does not show scanout {s}\'s frame '
                                f'({len(want[t]) - same} points differ)')
            if t != s and same:
                problems.append(f'head {head} shows scanout {t}\'s frame ({same} points)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('broker')
    ap.add_argument('vgpu')
    ap.add_argument('frontend')
    ap.add_argument('--head', type=int, default=1, help='head expected to show the frames')
    ap.add_argument('--scanouts', type=int, default=1, choices=(1, 2))
    ap.add_argument('--pipelines', default='left,right', help='kmsgate-vgpu --pipeline')
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='kg-broker-')
    conf = os.path.join(tmp, 'kg.conf')
    with open(conf, 'w') as f:
        f.write(CONF)
    opts = kgvm.Options(add=[a.broker, a.vgpu, a.frontend, f'{conf}:/etc/kg.conf'],
                        timeout=300)
    problems = []
    script = SCRIPT.format(pipelines=a.pipelines, scanouts=a.scanouts)
    with kgvm.VM(opts, ['sh', '-c', script]) as vm:
        vm.wait_for(r'^READY$', timeout=240)
        pixels = [tuple(int(v, 16) if i == 2 else int(v) for i, v in enumerate(l.split()[1:]))
                  for l in vm.output if l.startswith('PIXEL ')]
        if a.scanouts > 1:
            check_scanouts(vm, vm.output, a.scanouts, problems)
        w, h, rgb = vm.screendump(a.head)
        w0, h0, rgb0 = vm.screendump(0)
        vm.send('go')
        status = vm.wait(timeout=120)
        out = list(vm.output)
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        raise kgvm.VMError(f'the VM ended with status {status}')
    bad = sum(1 for x, y, want in pixels
              if not (x < w and y < h) or
              ((rgb[(y * w + x) * 3] << 16) | (rgb[(y * w + x) * 3 + 1] << 8) |
               rgb[(y * w + x) * 3 + 2]) != want)
    if a.scanouts == 1:
        print(f'screendump head {a.head}: {w}x{h}, {len(pixels)} points, {bad} wrong')
        if not pixels or bad or (w, h) != (1024, 768):
            problems.append(f'head {a.head} does not show the guest frame')
    if any(p == want for (x, y, want) in pixels[:16]
           for p in [(rgb0[(y * w0 + x) * 3] << 16) | (rgb0[(y * w0 + x) * 3 + 1] << 8)
                     | rgb0[(y * w0 + x) * 3 + 2]] if x < w0 and y < h0 and want):
        problems.append('head 0 shows guest pixels: a pipeline that was not leased')
    text = '\n'.join(out)
    for name in ('left', 'right'):
        if f'pipeline {name} leased to' not in text:
            problems.append(f'pipeline {name} was not leased')
        if f'pipeline {name}: lease of' not in text:
            problems.append(f'pipeline {name} was not released')
    stats = next((json.loads(l[6:]) for l in out if l.startswith('STATS ')), None)
    for i in range(a.scanouts):
        st = stats['scanouts'][i] if stats and len(stats.get('scanouts', [])) > i else None
        if not st or st['shown'] != 20:
            problems.append(f'scanout {i}: frames shown: {st["shown"] if st else None} of 20')
    if 'BACKEND exit=0' not in text:
        problems.append('kmsgate-vgpu did not exit cleanly')
    if status != 0:
        problems.append(f'guest command exit status {status}')
    for p in problems:
        print('FAIL ' + p)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except kgvm.VMError as e:
        print(f'rig error: {e}')
        sys.exit(99)
