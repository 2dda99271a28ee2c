#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scene tools/demo runs: the whole kmsgate system in the board VM.

kmsgate-broker leases head 1 to guest a (kg-frames gradient) and head 2 to
guest b (solid colours); guest c flips on the board's vkms card through the
zero-copy path. Then b's kmsgate-vgpu is killed (kill -9), started again,
and b's QEMU restarted (QEMU 10.0.2 cannot resume a vhost-user-gpu device:
docs/e2e.md). Leaves in OUT: head0..3.png (all guests running),
head2-after-kill.png, head2-after-restart.png, latency.txt, latency.html,
latency.png, timeline.png, trace-<guest>.json (each kmsgate-vgpu's --trace;
a runs --pacing jit, b and c --pacing flip), summary.txt (what it prints at
the end), console.log (the board's console).

The board VM runs on KVM where kgvm.probe_kvm() boots a kernel with it
(--accel auto), else on TCG. The nested guests stay on TCG (inside the board:
not probed). While it waits it prints what each guest does and the expected
time left (PHASES below, or this machine's last run: demo-phases.json in the
rig's cache).

Usage: demo-scene.py --build DIR --out DIR [--no-vkms] [--no-restart] [--seconds S]
                     [--accel auto|kvm|tcg]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
import scene  # noqa: E402
from scene import kgvm  # noqa: E402

# The demo's phases, in order: setup (the board's initramfs and boot, up to
# the scene ready; a first run's kernel download and vkms build not counted),
# boot (the nested guests boot until each flips), collect (all flip for
# --seconds, screenshots), restart (kill -9 of b's kmsgate-vgpu, b restarted
# until it flips again; full demo only), end (stop, stats, report).
ORDER = ['setup', 'boot', 'collect', 'restart', 'end']
# Seconds per phase, measured with TCG (board and nested; /dev/kvm there
# does not work) on the 2-core test machine shared with other work (load
# average 2.3-2.7), 5 December 2026: tools/demo --quick (scene 3:07) and
# tools/demo (scene 10:38, whole run 10:51). The estimate a run prints uses
# the cache's demo-phases.json instead when an earlier run on this machine
# left one (per mode and accel); with KVM and no earlier run these TCG
# figures are an upper bound.
PHASES = {
    'quick': {'setup': 12, 'boot': 145, 'collect': 31, 'restart': 0, 'end': 2},
    'full': {'setup': 16, 'boot': 280, 'collect': 31, 'restart': 300, 'end': 2},
}
PROGRESS_EVERY = 20  # seconds between progress lines while waiting
# kmsgate-vgpu --pacing per guest: a just in time, b (and c) on the flip
# event, so the report shows the two side by side (docs/latency.md).
PACING = {'a': 'jit', 'b': 'flip', 'c': 'flip'}


def say(msg):
    print(f'[demo] {msg}', flush=True)


def mmss(s):
    s = max(0, int(round(s)))
    return f'{s // 60}:{s % 60:02d}'


class Progress:
    """The demo's clock: phases, the expected time left, and what each guest
    does, read from the board console the scene already relays (each guest's
    console as '[a] ...', its kmsgate-vgpu's log as '[vgpu-a] ...', its frames
    as LATS batches)."""

    def __init__(self, cache, mode, accel):
        self.path = os.path.join(cache, 'demo-phases.json')
        self.key = f'{mode} {accel}'
        self.expected, self.source = dict(PHASES[mode]), f'measured {mode} run (TCG), in the code'
        try:
            with open(self.path) as f:
                mine = json.load(f).get(self.key)
            if mine:
                self.expected.update({k: v for k, v in mine.items() if k in ORDER})
                self.source = f'this machine\'s last {mode} run ({self.path})'
        except (OSError, ValueError):
            pass
        self.t0 = time.monotonic()
        self.done = {}
        self.phase, self.t_phase = None, self.t0
        self.sc = None
        self.since = {}       # guest -> index in sc.seen where its current run began
        self.state = {}

    def start(self, phase):
        now = time.monotonic()
        if self.phase:
            self.done[self.phase] = now - self.t_phase
        self.phase, self.t_phase = phase, now

    def left(self):
        later = ORDER[ORDER.index(self.phase) + 1:]
        cur = self.expected.get(self.phase, 0) - (time.monotonic() - self.t_phase)
        return max(cur, 0) + sum(self.expected.get(p, 0) for p in later), cur < 0

    def total_expected(self):
        return sum(self.expected.values())

    def guest_state(self, name):
        """booting / kernel up / flipping N frames, from the guest's lines."""
        sc = self.sc
        if name in sc.flipping:
            n = sc.frames(name)
            return f'flipping, {n} frames' if n else 'flipping, first frames'
        prefix, vprefix = f'[{name}] ', f'[vgpu-{name}] '
        state, since = 'QEMU starting', None
        for t, line in sc.seen[self.since.get(name, 0):]:
            if line.startswith(vprefix) and 'front-end connected' in line:
                state, since = 'booting Linux', t
            elif line.startswith(prefix + 'GUEST-START'):
                state, since = 'Linux up, kg-frames starting', None
        if since is not None:
            state += f' ({mmss(time.monotonic() - since)})'
        return state

    def line(self):
        left, over = self.left()
        guests = '; '.join(f'{n}: {self.guest_state(n)}' for n in self.since)
        est = f'~{mmss(left)} left' + (' (slower than measured: busy machine?)' if over else '')
        say(f'{mmss(time.monotonic() - self.t0)} elapsed, {self.phase}: {guests}; {est}')

    def wait_flipping(self, names, timeout):
        """Like Scene.wait_flipping, with a progress line every PROGRESS_EVERY
        seconds and one when a guest's state changes."""
        sc, end = self.sc, time.monotonic() + timeout
        nxt = time.monotonic() + PROGRESS_EVERY
        while not all(n in sc.flipping for n in names):
            if time.monotonic() > end:
                raise kgvm.VMError(f'guests {names} not all flipping after {timeout} s')
            if sc.vm.status is not None:
                raise kgvm.VMError(f'board VM ended (status {sc.vm.status})')
            n0 = len(sc.seen)
            sc.pump(1)
            for _, ln in sc.seen[n0:]:
                if ln.startswith('E2E-FAIL'):
                    raise kgvm.VMError(f'board scene: {ln}')
            states = {n: self.guest_state(n).split(' (')[0].split(',')[0] for n in self.since}
            if states != self.state or time.monotonic() >= nxt:
                self.state = states
                self.line()
                nxt = time.monotonic() + PROGRESS_EVERY
        for n in names:
            sc.mark(f'guest {n} flipping')

    def save(self, timings):
        """Stores this run's phases for the next run's estimate."""
        self.start(None)
        mine = {k: round(v, 1) for k, v in self.done.items()}
        mine['setup'] = round(max(0, mine.get('setup', 0) - timings.get('kernel fetch', 0)
                                  - timings.get('vkms build', 0)), 1)
        mine['when'] = time.strftime('%Y-%m-%d')
        mine['load'] = os.getloadavg()[0]
        try:
            with open(self.path) as f:
                allruns = json.load(f)
        except (OSError, ValueError):
            allruns = {}
        allruns[self.key] = mine
        try:
            with open(self.path, 'w') as f:
                json.dump(allruns, f, indent=1)
        except OSError:
            pass


def heads(sc, out, names, suffix=''):
    for h in names:
        p = os.path.join(out, f'head{h}{suffix}.png')
        sc.vm.save_png(h, p)
        say(f'  screenshot of head {h}: {p}')


def run(sc, a, out, pr):
    names = [g.name for g in sc.guests]
    pr.sc = sc
    pr.since = {n: 0 for n in names}
    pr.start('boot')
    say('board VM up: kmsgate-broker holds the virtio-gpu card (4 heads); '
        'kmsgate-vgpu and a nested QEMU 10 guest per display are starting')
    say(f'the nested guests boot now, under TCG inside the board: ~{mmss(pr.expected["boot"])} '
        f'({pr.source}); a line every {PROGRESS_EVERY} s')
    pr.wait_flipping(names, timeout=1500)
    pr.start('collect')
    say(f'all guests flip; collecting {a.seconds:.0f} s of frame latencies')
    sc.pump(a.seconds)
    pr.line()
    heads(sc, out, range(4))
    if a.no_restart:
        return
    pr.start('restart')
    say('kill -9 of guest b\'s kmsgate-vgpu: the broker revokes its lease '
        '(on-release = keep: the last frame stays)')
    sc.kill_vgpu('b')
    sc.pump(5)
    heads(sc, out, [2], '-after-kill')
    say('kmsgate-vgpu b started again; QEMU 10.0.2 does not reconnect a vhost-user-gpu '
        'device, so guest b\'s QEMU is restarted (its guest boots again)')
    sc.start_vgpu('b')
    sc.restart_guest('b')
    pr.since['b'] = len(sc.seen)
    pr.wait_flipping(['b'], timeout=1500)
    sc.pump(10)
    heads(sc, out, [2], '-after-restart')


def shown_path(p):
    r = os.path.relpath(p)
    return p if r.startswith('..') else r


def summary(a, out, sc, pr, accel_line, files):
    """The last screen: what ran, where the files are, the key figures."""
    rows = report.table(sc)
    rel = shown_path(out)
    mode = ('quick: 2 guests' if a.no_vkms and a.no_restart
            else f'{len(sc.guests)} guests' + ('' if a.no_restart else ', kill -9 and restart'))
    heads_of = {'a': 'head 1 (Virtual-2)', 'b': 'head 2 (Virtual-3)'}
    lines = ['=' * 78,
             f'kmsgate demo ({mode}): scene done in {mmss(time.monotonic() - pr.t0)} '
             f'(expected ~{mmss(pr.total_expected())})',
             f'  board VM   Linux 6.12, virtio-gpu with 4 heads{"" if a.no_vkms else " + vkms"}, '
             'kmsgate-broker on the virtio-gpu card',
             '  accel      ' + accel_line.replace('; ', '\n             '),
             '  guests     Linux 6.12 + kg-frames in nested QEMU 10 '
             + ('(stock: not paced)' if a.stock_qemu else '+ qemu-patches/ (paced by the display)'),
             '',
             f'  {"guest":5} {"display":19} {"pattern":8} {"frames shown":>12} {"path":>10} '
             f'{"copied/frame":>13} {"latency p50/p90 (n)":>19}']
    for r in rows:
        disp = heads_of.get(r['guest'], r['display']) if r['display'] != 'vkms' else 'vkms (card1)'
        cp = r['copied']
        cp = f'{int(cp)} B' if isinstance(cp, (int, float)) else str(cp)
        lat = ('-' if r['p50'] != r['p50']
               else f'{r["p50"]:.0f}/{r["p90"]:.0f} ms ({r["flips"]})')
        lines.append(f'  {r["guest"]:5} {disp:19} {r["pattern"]:8} {str(r["shown"]):>12} '
                     f'{str(r["path"]):>10} {cp:>13} {lat:>19}')
    restarted = '' if a.no_restart else ' (b: since its restart)'
    lines += [f'  frames shown: kmsgate-vgpu --stats{restarted}',
              '  latency: kg-frames in the guest, commit -> flip event, over n frames', '',
              f'  {"guest":5} {"pacing":34} {"release-to-glass p50/p99":>24} {"draw p50":>9} '
              f'{"missed":>6}']
    for r in rows:
        g2g = ('-' if r['glass_p50'] != r['glass_p50']
               else f'{r["glass_p50"]:.0f}/{r["glass_p99"]:.0f} ms')
        draw = '-' if r['draw_p50'] != r['draw_p50'] else f'{r["draw_p50"]:.0f} ms'
        lines.append(f'  {r["guest"]:5} {r["pacing"]:34} {g2g:>24} {draw:>9} '
                     f'{str(r["missed"]):>6}')
    lines.append('  pacing, release-to-glass (fence answered -> flip), draw, missed: --stats')
    shots = ', '.join(sorted((f for f in os.listdir(out) if f.startswith('head') and
                              f.endswith('.png')), key=lambda f: (len(f), f)))
    rep = ', '.join(shown_path(f) for f in files if f.endswith(('.txt', '.html')))
    plot = next((shown_path(f) for f in files if f.endswith('latency.png')),
                'none (gnuplot missing)')
    tl = next((shown_path(f) for f in files if f.endswith('timeline.png')),
              'none (gnuplot missing, or no trace)')
    traces = ', '.join(os.path.basename(f) for f in files if f.endswith('.json'))
    lines += ['',
              f'  screenshots  {rel}/: {shots}',
              f'  report       {rep} (table, pacing, events)',
              f'  plot         {plot} (latency per frame, CPU per frame)',
              f'  timeline     {tl} ({report.TIMELINE_FRAMES} frames per guest: '
              'release, flush, flip)',
              f'  traces       {rel}/: {traces or "none"}' + (' (kmsgate-vgpu --trace)' if traces
                                                              else ''),
              *(['               open one in ui.perfetto.dev ("Open trace file") or '
                 'chrome://tracing ("Load")'] if traces else []),
              f'  console      {rel}/console.log',
              '  phases       ' + ', '.join(f'{p} {mmss(pr.done[p])}' for p in ORDER
                                            if p in pr.done),
              '=' * 78]
    text = '\n'.join(lines) + '\n'
    with open(os.path.join(out, 'summary.txt'), 'w') as f:
        f.write(text)
    print(text, end='', flush=True)


def choose_accel(want):
    """(accel for KG_VM_ACCEL or None, the one line that says what runs where)."""
    nested = 'nested guests TCG (not probed inside the board)'
    if want == 'tcg':
        return None, f'board VM TCG (--accel tcg); {nested}'
    ok, why = kgvm.probe_kvm()
    if ok:
        return 'kvm', f'board VM KVM ({why}); {nested}'
    if want == 'kvm':
        raise kgvm.VMError(f'--accel kvm: KVM does not work here: {why}')
    return None, f'board VM TCG, KVM probe failed ({why}); {nested}'


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
    p.add_argument('--accel', choices=['auto', 'kvm', 'tcg'], default='auto',
                   help='board VM: KVM where a probe boot works (auto), or force one')
    a = p.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    patch = not a.stock_qemu
    # Every kmsgate-vgpu writes its frame trace (report: timeline.png, the
    # trace-<guest>.json files); a is paced just in time, b and c on the flip.
    guests = [scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1,
                          qemu_patch=patch, trace=True, vgpu_args=f'--pacing {PACING["a"]}'),
              scene.Guest('b', 'solid', pipeline='b', connector='Virtual-3', crtc=2,
                          qemu_patch=patch, trace=True, vgpu_args=f'--pacing {PACING["b"]}')]
    if not a.no_vkms:
        guests.append(scene.Guest('c', 'gradient', device='vkms', qemu_patch=patch, trace=True,
                                  vgpu_args=f'--pacing {PACING["c"]}'))
    try:
        accel, accel_line = choose_accel(a.accel)
    except kgvm.VMError as e:
        say(f'failed: {e}')
        return 1
    say(accel_line)
    if accel:
        os.environ['KG_VM_ACCEL'] = accel
    mode = 'quick' if a.no_vkms and a.no_restart else 'full'
    pr = Progress(os.environ.get('KG_VM_CACHE') or kgvm.default_cache(), mode,
                  accel or 'tcg')
    pr.start('setup')
    say(f'expected: ~{mmss(pr.total_expected())} for the scene ({pr.source})')
    say('booting the board VM (Linux 6.12, virtio-gpu with 4 heads'
        + ('' if a.no_vkms else ', vkms') + ') with QEMU 10 inside')
    try:
        with scene.Scene(a.build, guests, vkms=not a.no_vkms, timeout=3000, echo=False,
                         log_path=os.path.join(out, 'console.log')) as sc:
            run(sc, a, out, pr)
            pr.start('end')
            for g in guests:
                sc.stats(g.name)
    except kgvm.VMError as e:
        say(f'failed: {e}')
        return 1
    files = report.write(out, sc)
    pr.save(sc.vm.timings)
    summary(a, out, sc, pr, accel_line, files)
    return 0


if __name__ == '__main__':
    sys.exit(main())
