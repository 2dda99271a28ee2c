#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plain (flip-event) pacing against --pacing jit, side by side in one board
VM on vkms (60 Hz): for each case kmsgate-vgpu runs once with each pacing and
kg-frontend plays a guest whose draw time follows the case's --draw SPEC
(tests/common/drawtime.h; the same seed for both runs). From kmsgate-vgpu's
--stats: release-to-glass p50/p99, draw p50, missed frames, the pacer's
state; from kg-frontend: the frame rate and kmsgate-vgpu's CPU per frame.
Prints one table row per run.

Checks, per case (--check):
  faster F   jit's release-to-glass p50 is at most plain's / F, jit misses
             at most --max-misses per 1000 frames, its frame rate at least
             95 % of plain's, at least half the releases were jit ones
  recovers   (a draw time that jumps past the prediction, for most of the
             run) jit misses at most --max-jump-misses frames in all, and
             its release-to-glass p50 is below 92 % of plain's: it went on
             pacing just in time after the jump
  fallback   (an erratic guest) jit fell back to plain pacing at least once
  report     none beyond the common ones (bench/pacing/run)
Every run: one fence per frame, in order; every frame shown; kmsgate-vgpu
exits 0.

Usage: test-vgpu-pacing.py KMSGATE_VGPU KG_FRONTEND
           --case NAME:SPEC:FRAMES:CHECK[:F] ... [--max-misses N]
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

FENCE_RE = re.compile(r'^FENCE (\d+) t=(\d+)\.(\d{9})')
KV_RE = re.compile(r'(\w+)=(\S+)')

RUN = r'''
echo "RUN {name} {pacing}"
kmsgate-vgpu --socket /tmp/vg.sock --device $dev --pacing {pacing} {margin} --stats /tmp/st.json & pid=$!
kg-frontend --socket /tmp/vg.sock --backend-pid $pid --frames {frames} --seed 7 --draw {spec}
echo "FRONTEND exit=$?"
kill -TERM $pid; wait $pid; echo "BACKEND exit=$?"
echo "STATS $(tr -d '\n' < /tmp/st.json)"
rm -f /tmp/st.json
'''

HEAD = r'''
dev=; for c in /sys/class/drm/card[0-9]; do grep -q vkms $c/device/uevent 2>/dev/null && dev=/dev/dri/${c##*/}; done
echo "card: $dev"
'''


def parse_case(s):
    parts = s.split(':')
    # SPEC has a colon of its own (fixed:2): NAME:KIND:ARGS:FRAMES:CHECK[:F]
    if len(parts) < 5:
        raise argparse.ArgumentTypeError(f'--case {s}: NAME:SPEC:FRAMES:CHECK[:F]')
    name, spec, frames, check = parts[0], f'{parts[1]}:{parts[2]}', int(parts[3]), parts[4]
    factor = float(parts[5]) if len(parts) > 5 else 0
    if check not in ('faster', 'recovers', 'fallback', 'report'):
        raise argparse.ArgumentTypeError(f'--case {s}: check is faster, recovers, fallback '
                                         f'or report')
    return {'name': name, 'spec': spec, 'frames': frames, 'check': check, 'factor': factor}


def runs(lines):
    """Splits the console into the runs: {(name, pacing): [lines]}."""
    out, cur = {}, None
    for x in lines:
        if x.startswith('RUN '):
            _, name, pacing = x.split()
            cur = out.setdefault((name, pacing), [])
        elif cur is not None:
            cur.append(x)
    return out


def measure(lines, frames, problems, tag):
    fences = [(int(m.group(1)), int(m.group(2)) + int(m.group(3)) / 1e9)
              for m in (FENCE_RE.match(x) for x in lines) if m]
    result = next((dict(KV_RE.findall(x)) for x in lines if x.startswith('RESULT ')), {})
    ends = {k: v for x in lines if x.startswith(('FRONTEND ', 'BACKEND '))
            for k, v in [(x.split()[0], dict(KV_RE.findall(x)).get('exit'))]}
    stats = None
    for x in lines:
        if x.startswith('STATS '):
            try:
                stats = json.loads(x[6:])
            except ValueError as e:
                problems.append(f'{tag}: stats JSON unreadable: {e}')
    if [n for n, _ in fences] != list(range(len(fences))) or len(fences) != frames:
        problems.append(f'{tag}: {len(fences)} fences for {frames} frames, or out of order')
    if ends.get('FRONTEND') != '0' or ends.get('BACKEND') != '0':
        problems.append(f'{tag}: exit status kg-frontend {ends.get("FRONTEND")}, '
                        f'kmsgate-vgpu {ends.get("BACKEND")}')
    if not stats or not stats.get('scanouts'):
        problems.append(f'{tag}: no stats')
        return None
    s = stats['scanouts'][0]
    if s['shown'] != frames:
        problems.append(f'{tag}: {s["shown"]} of {frames} frames shown')
    iv = s['intervals']
    span = fences[-1][1] - fences[0][1] if len(fences) > 1 else 0
    return {
        'glass50': iv['release_to_glass'].get('p50_us', 0) / 1e3,
        'glass99': iv['release_to_glass'].get('p99_us', 0) / 1e3,
        'draw50': iv['draw'].get('p50_us', 0) / 1e3,
        'samples': iv['release_to_glass']['samples'],
        'missed': s['missed'],
        'fps': (len(fences) - 1) / span if span else 0,
        'cpu': float(result.get('backend_cpu_ms_per_frame', -1)),
        'pacing': s.get('pacing', {}),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--case', type=parse_case, action='append', required=True)
    # Per 1000 frames, for a steady guest (the goal: 1).
    p.add_argument('--max-misses', type=float, default=1)
    p.add_argument('--max-jump-misses', type=int, default=3)
    p.add_argument('--margin', type=int, help='kmsgate-vgpu --pacing-margin (ms) for jit')
    p.add_argument('--timeout', type=float, default=400)
    p.add_argument('vgpu')
    p.add_argument('frontend')
    a = p.parse_args()
    script = HEAD + ''.join(
        RUN.format(name=c['name'], pacing=m, frames=c['frames'], spec=shlex.quote(c['spec']),
                   margin=f'--pacing-margin {a.margin}' if a.margin and m == 'jit' else '')
        for c in a.case for m in ('flip', 'jit'))
    opts = kgvm.Options(vkms=True, timeout=a.timeout,
                        add=[f'{a.vgpu}:/bin/kmsgate-vgpu', f'{a.frontend}:/bin/kg-frontend'])
    ran = kgvm.run_command(opts, ['sh', '-c', script])
    if not ran:
        return 99
    lines = ran[1]
    problems = []
    by_run = runs(lines)
    print(f'{"case":10} {"draw":18} {"pacing":6} {"glass p50":>9} {"p99":>7} {"draw p50":>8} '
          f'{"missed":>6} {"/1000":>6} {"fps":>6} {"CPU/frame":>9} {"jit rel":>7} '
          f'{"fallbacks":>9}')
    for c in a.case:
        got = {}
        for m in ('flip', 'jit'):
            tag = f'{c["name"]} {m}'
            if (c['name'], m) not in by_run:
                problems.append(f'{tag}: did not run')
                continue
            r = measure(by_run[(c['name'], m)], c['frames'], problems, tag)
            if not r:
                continue
            got[m] = r
            pc = r['pacing']
            print(f'{c["name"]:10} {c["spec"]:18} {m:6} {r["glass50"]:7.2f}ms {r["glass99"]:5.2f}ms '
                  f'{r["draw50"]:6.2f}ms {r["missed"]:6} '
                  f'{1000 * r["missed"] / max(r["samples"], 1):6.1f} {r["fps"]:6.2f} '
                  f'{r["cpu"]:7.3f}ms {pc.get("jit_releases", 0):7} {pc.get("fallbacks", 0):9}')
        if len(got) < 2:
            continue
        plain, jit = got['flip'], got['jit']
        pc, tag = jit['pacing'], c['name']
        if pc.get('mode') != 'jit' or plain['pacing'].get('mode') != 'flip':
            problems.append(f'{tag}: the stats do not name the pacing asked for '
                            f'({plain["pacing"].get("mode")}, {pc.get("mode")})')
        if c['check'] == 'faster':
            per_k = 1000 * jit['missed'] / max(jit['samples'], 1)
            if jit['glass50'] > plain['glass50'] / c['factor']:
                problems.append(f'{tag}: jit release-to-glass p50 {jit["glass50"]:.2f} ms is '
                                f'not {c["factor"]}x below plain {plain["glass50"]:.2f} ms')
            if per_k > a.max_misses:
                problems.append(f'{tag}: jit missed {jit["missed"]} of {jit["samples"]} '
                                f'frames ({per_k:.1f}/1000 > {a.max_misses})')
            if jit['fps'] < 0.95 * plain['fps']:
                problems.append(f'{tag}: jit frame rate {jit["fps"]:.2f} < 95 % of plain '
                                f'{plain["fps"]:.2f}')
            # A burst of host noise may make it fall back for a second.
            if pc.get('jit_releases', 0) < c['frames'] // 2:
                problems.append(f'{tag}: the pacer made {pc.get("jit_releases")} jit releases '
                                f'of {c["frames"]} ({pc.get("fallbacks")} fallbacks)')
        elif c['check'] == 'recovers':
            if jit['missed'] > a.max_jump_misses:
                problems.append(f'{tag}: jit missed {jit["missed"]} frames with the jump '
                                f'(at most {a.max_jump_misses})')
            if jit['glass50'] > 0.92 * plain['glass50']:
                problems.append(f'{tag}: jit release-to-glass p50 {jit["glass50"]:.2f} ms is not '
                                f'below 92 % of plain {plain["glass50"]:.2f} ms: it did not go '
                                f'on pacing after the jump')
        elif c['check'] == 'fallback':
            if not pc.get('fallbacks'):
                problems.append(f'{tag}: an erratic guest did not make jit fall back')
    return kgvm.verdict(problems)


if __name__ == '__main__':
    sys.exit(main())
