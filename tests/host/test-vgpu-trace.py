#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kmsgate-vgpu --trace and --pacing jit on this machine, no VM: the headless
output (60 Hz, vblanks on a fixed grid) and kg-frontend playing a guest that
draws for 2 ms (--draw fixed:2). Checks:

- the trace file is what trace viewers (ui.perfetto.dev, chrome://tracing)
  read: a JSON array of Trace Event Format events, each with a string name,
  ph "X" (with a non-negative number dur) or "i" (with s "t"), integer pid
  and tid, a number ts (microseconds); the names are kmsgate's (draw, queue,
  scanout, fence, release, superseded, dropped); per track the X slices of
  one kind do not go back in time;
- jit pacing shows in it: "release" instants, and each "draw" slice after
  the warm-up starts at the release before it, a few milliseconds before
  the vblank, not at the flip;
- --stats agrees: pacing mode jit with jit releases, and release-to-glass
  p50 well under a refresh (headless has no TCG noise: bound 12 ms, measured
  about 5 ms against 16.7 ms under flip pacing).

Usage: test-vgpu-trace.py KMSGATE_VGPU KG_FRONTEND
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'vm'))
import kgvm  # noqa: E402  (verdict only: this test boots no VM)

NAMES = {'draw', 'queue', 'scanout', 'fence', 'release', 'superseded', 'dropped'}
FRAMES = 180


def check_events(ev, problems):
    if not isinstance(ev, list) or not ev:
        problems.append('the trace is not a non-empty JSON array')
        return
    last = {}
    for i, e in enumerate(ev):
        where = f'event {i} {e!r:.120}'
        if not isinstance(e, dict):
            problems.append(f'{where}: not an object')
            continue
        if not isinstance(e.get('name'), str) or e['name'] not in NAMES:
            problems.append(f'{where}: name')
        if not isinstance(e.get('pid'), int) or not isinstance(e.get('tid'), int):
            problems.append(f'{where}: pid/tid not integers')
        if not isinstance(e.get('ts'), (int, float)) or e['ts'] < 0:
            problems.append(f'{where}: ts')
        if e.get('ph') == 'X':
            if not isinstance(e.get('dur'), (int, float)) or e['dur'] < 0:
                problems.append(f'{where}: an X event without a duration')
            key = (e.get('tid'), e.get('name'))
            if key in last and e['ts'] < last[key]:
                problems.append(f'{where}: goes back in time on its track')
            last[key] = e.get('ts', 0)
        elif e.get('ph') == 'i':
            if e.get('s') != 't':
                problems.append(f'{where}: an instant without scope "t"')
        else:
            problems.append(f'{where}: ph {e.get("ph")!r}')
        if len(problems) > 10:
            return


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 99
    vgpu, frontend = sys.argv[1:]
    problems = []
    with tempfile.TemporaryDirectory(prefix='kg-trace-') as tmp:
        sock, trace, stats = (os.path.join(tmp, n) for n in ('vg.sock', 'trace.json',
                                                             'stats.json'))
        b = subprocess.Popen([vgpu, '--output', 'headless', '--socket-path', sock,
                              '--pacing', 'jit', '--trace', trace, '--stats', stats],
                             stderr=subprocess.PIPE, text=True)
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        else:
            b.kill()
            print(f'rig error: no socket from kmsgate-vgpu: {b.communicate()[1]}')
            return 99
        f = subprocess.run([frontend, '--socket', sock, '--frames', str(FRAMES), '--draw',
                            'fixed:2', '--seed', '7'], capture_output=True, text=True,
                           timeout=120)
        b.terminate()
        err = b.communicate(timeout=20)[1]
        if f.returncode != 0 or b.returncode != 0:
            print(f.stdout[-2000:], f.stderr[-2000:], err[-2000:])
            print(f'rig error: kg-frontend exit {f.returncode}, kmsgate-vgpu {b.returncode}')
            return 99
        try:
            with open(trace) as fp:
                ev = json.load(fp)
            with open(stats) as fp:
                st = json.load(fp)
        except (OSError, ValueError) as e:
            problems.append(f'trace or stats unreadable as JSON: {e}')
            ev, st = [], {}
    check_events(ev, problems)
    releases = sorted(e['ts'] for e in ev if e.get('name') == 'release')
    draws = [e for e in ev if e.get('name') == 'draw']
    at_release = sum(1 for d in draws if d['ts'] in releases)
    print(f'trace: {len(ev)} events, {len(releases)} release instants, {len(draws)} draw '
          f'slices, {at_release} of them start at a release')
    if len(releases) < FRAMES // 2 or at_release < len(releases) - 1:
        problems.append(f'jit does not show in the trace: {len(releases)} releases, '
                        f'{at_release} draws start at one (of {FRAMES} frames)')
    s = (st.get('scanouts') or [{}])[0]
    pc = s.get('pacing', {})
    glass = s.get('intervals', {}).get('release_to_glass', {})
    print(f'stats: pacing {pc}, release_to_glass {glass}')
    if pc.get('mode') != 'jit' or pc.get('jit_releases', 0) < FRAMES // 2:
        problems.append(f'stats: pacing {pc.get("mode")}, {pc.get("jit_releases")} jit '
                        f'releases of {FRAMES}')
    if not glass.get('p50_us') or glass['p50_us'] > 12000:
        problems.append(f'release-to-glass p50 {glass.get("p50_us")} us, not under 12 ms')
    return kgvm.verdict(problems)


if __name__ == '__main__':
    sys.exit(main())
