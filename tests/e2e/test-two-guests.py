#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e: two nested guests on two heads of the board; the broker and a
back-end killed again and again, then a back-end killed for good and
brought back.

In the board VM: kmsgate-broker on the virtio-gpu card, pipelines 'a'
(Virtual-2, head 1) and 'b' (Virtual-3, head 2); one kmsgate-vgpu and one
nested QEMU 10 guest (vhost-user-gpu-pci) per pipeline; guest a flips
kg-frames' gradient, guest b its solid colours. The broker and both
kmsgate-vgpu run under kg-fdstore --restart (an EMULATION of systemd's fd
store and Restart=always, tests/vm/broker/kg-fdstore.c). Checked by QMP
screendump of the board's heads:
  1. a's frames on head 1 and b's on head 2 at the same time; heads 0 and 3
     as they were before the guests started;
  2. the fault loop (tracker issue 12, item 4): kill -9 of the broker and of
     b's kmsgate-vgpu, --kills times each, shuffled, at seeded random
     moments (--seed, printed). Every screendump of both heads all along
     (densest in the 1.5 s after each kill) shows its guest's pixels, never
     black or anything else; b's shown frame never goes back; guest a's
     flips never stop (longest flip and longest gap between its reports
     under measured bounds); b's flips resume (its longest flip after each
     kill, bounded); each restarted kmsgate-vgpu took over its broker
     connection and lease, the broker revoked nothing; no guest kernel
     error; the same fds in each process and no RSS growth after the loop;
  3. kill -9 of b's kmsgate-vgpu together with its store (no systemd):
     head 2 keeps b's last frame (on-release = keep) or goes dark (blank),
     a keeps flipping on head 1;
  4. b's kmsgate-vgpu started again: QEMU 10.0.2 does not reconnect a
     vhost-user-gpu device (docs/e2e.md), so b stays frozen; restarting b's
     QEMU, as a user must, brings b's frames back on head 2.

Usage: test-two-guests.py BUILD_DIR [--on-release keep|blank] [--guest-prog P]
           [--kills N] [--seed S]
Exit: 0 pass, 1 fail, 99 the rig or scene failed."""

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scene  # noqa: E402
from scene import kgvm  # noqa: E402

A = scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1)
B = scene.Guest('b', 'solid', pipeline='b', connector='Virtual-3', crtc=2)
HEAD = {'a': 1, 'b': 2}
PATTERN = {'a': 'gradient', 'b': 'solid'}


class Check:
    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(f'{"ok  " if ok else "FAIL"} {what}', flush=True)
        if not ok:
            self.failed.append(what)
        return ok


def shown(sc, name, tries=5):
    """Frame index of guest name's pattern on its head, or None."""
    for _ in range(tries):
        w, h, rgb = sc.vm.screendump(HEAD[name])
        i = scene.match_frame(PATTERN[name], w, h, rgb)
        if i is not None:
            return i
        time.sleep(0.3)
    return None


def advancing(sc, name, seconds=20):
    """True when guest name's frame index on its head changes within seconds."""
    first = shown(sc, name)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sc.pump(2)
        now = shown(sc, name)
        if first is not None and now is not None and now != first:
            return True
    return False


# The fault loop (phase 2). Its bounds, from this rig (nested TCG guests
# in the TCG board VM, 2 host cores, 5 December 2026; docs/reliability.md):
KILLS = 5               # of each process (CI); --kills 50 for the count
WINDOW = 1.5            # s of screendumps after each kill
# A kill of b's kmsgate-vgpu to another b frame on head 2: b's own frame
# interval (about 0.85 s) plus the restart; a guest that stopped never
# gets there.
B_RESUME_MAX_S = 20
# The guests' longest flip (commit to flip event, measured in the guest)
# during the loop: measured max 83-446 ms (p50 23-29 ms) in 3 runs of 10,
# 10 and 100 kills; a flip stuck behind a dead back-end would take until
# the restart and more.
B_FLIP_MAX_MS = 1000
A_FLIP_MAX_MS = 1000
# Longest time between two reports of a's flips (kg-frames reports them in
# batches of 5, about 4 s apart at 1.2 flips/s): measured 6.7-11.4 s while
# the loop loads the machine; a stopped guest never reports again.
A_GAP_MAX_S = 20
# A process's RSS after the loop / before: measured 0.998-1.032.
RSS_GROWTH = 1.25


def solid_colours():
    return {scene.solid_pixel(i) for i in range(256)}


SOLID = solid_colours()


def own_pixels(name, w, h, rgb, step=37):
    """The sampled points of a screendump that are guest name's pattern for
    some frame (a head between two of its frames passes), and how many."""
    pts = [(x, y) for y in range(0, h, step) for x in range(0, w, step)]
    good = 0
    for x, y in pts:
        p = scene.pixel(rgb, w, x, y)
        if PATTERN[name] == 'solid':
            good += p in SOLID
        else:
            i = (p[2] ^ x ^ y) & 255
            good += p == scene.gradient_pixel(x, y, i)
    return good, len(pts)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float('nan')


def fault_loop(sc, check, kills, seed):
    """Phase 2: kill -9 of the broker and of b's kmsgate-vgpu, kills each."""
    rnd = random.Random(seed)
    # The first kill of each comes first: the processes that started with
    # the board inherit its shell's fds, the restarted ones do not, so the
    # fds are compared between restarted processes (after these two).
    rest = ['broker'] * (kills - 1) + ['b'] * (kills - 1)
    rnd.shuffle(rest)
    order = ['broker', 'b'] + rest
    print(f'fault loop: {kills} kills of the broker and {kills} of kmsgate-vgpu b, seed {seed} '
          f'(replay: --kills {kills} --seed {seed})', flush=True)
    sc.pump(3)
    n_a0, n_b0 = sc.frames('a'), sc.frames('b')
    t_start = time.monotonic()
    dumps, bad, last_b, back = 0, [], None, 0
    kill_times, resume, before = [], [], None
    for k, who in enumerate(order):
        if k == 2:
            sc.pump(3)
            before = sc.proc_info()
        sc.pump(rnd.uniform(0.2, 2.0))
        # What head 2 shows just before the kill (b flips about once a
        # second: the last window's view is old).
        w, h, rgb = sc.vm.screendump(HEAD['b'])
        at_kill = scene.match_frame('solid', w, h, rgb)
        t = sc.kill9(who)
        if t is None:
            raise kgvm.VMError(f'kill {k + 1} of {who}: no E2E-KILLED')
        kill_times.append((t, who))
        end = time.monotonic() + WINDOW
        changed = None
        # Screendumps for WINDOW s; after a kill of b's back-end, on until
        # head 2 shows another of b's frames (its flips resumed).
        while time.monotonic() < end or (who == 'b' and changed is None and
                                          time.monotonic() < t + B_RESUME_MAX_S):
            for name in ('b', 'a', 'b'):
                w, h, rgb = sc.vm.screendump(HEAD[name])
                dumps += 1
                good, of = own_pixels(name, w, h, rgb)
                if good != of:
                    bad.append(f'kill {k + 1} ({who}), {time.monotonic() - t:.2f} s after: '
                               f'head {HEAD[name]} shows {of - good} of {of} points that are '
                               f'not guest {name}\'s ({sum(1 for v in rgb if v) == 0 and "black" or "other"})')
                if name == 'b':
                    i = scene.match_frame('solid', w, h, rgb)
                    if i is not None and last_b is not None and 0 < (last_b - i) % 256 < 128:
                        back += 1
                        bad.append(f'kill {k + 1} ({who}): head 2 went back from b\'s frame '
                                   f'{last_b} to {i}')
                    if i is not None:
                        last_b = i
                    if i is not None and at_kill is not None and i != at_kill and changed is None:
                        changed = time.monotonic() - t
        if who == 'b':
            resume.append(changed)
        sc.pump(0.1)
    t_end = time.monotonic()
    sc.pump(5)
    after = sc.proc_info()
    sc.mark(f'fault loop done: {len(order)} kills, {dumps} screendumps')

    check(not bad, f'every one of {dumps} screendumps of heads 1 and 2 shows its guest\'s '
          f'pixels, b\'s frame never goes back ({len(bad)} bad' +
          (f': {"; ".join(bad[:5])}' if bad else '') + ')')
    # The guests' own view: each flip's latency (commit to flip event in
    # the guest) with the time its report arrived.
    lats = {n: [(ts, v / 1000) for _, v, ts in sc.lats[n] if t_start <= ts <= t_end + 5]
            for n in ('a', 'b')}
    check(sc.frames('a') > n_a0 and sc.frames('b') > n_b0,
          f'both guests flipped during the loop (a {sc.frames("a") - n_a0}, '
          f'b {sc.frames("b") - n_b0} flips)')
    a_max = max((v for _, v in lats['a']), default=float('inf'))
    a_ts = sorted({ts for ts, _ in lats['a']} | {t_start, t_end})
    a_gap = max(b - a for a, b in zip(a_ts, a_ts[1:]))
    print(f'guest a during the loop: {len(lats["a"])} flips, flip p50 '
          f'{pct([v for _, v in lats["a"]], 0.5):.1f} ms, max {a_max:.1f} ms; longest gap '
          f'between its reports {a_gap:.1f} s', flush=True)
    check(a_max <= A_FLIP_MAX_MS and a_gap <= A_GAP_MAX_S,
          f'guest a never stops flipping: longest flip {a_max:.0f} ms (bound '
          f'{A_FLIP_MAX_MS}), longest gap {a_gap:.1f} s (bound {A_GAP_MAX_S})')
    # b: after each kill of its back-end, how long until head 2 showed
    # another of b's frames (b's frame interval is part of it).
    got = sorted(v for v in resume if v is not None)
    b_lat = [v for _, v in lats['b']]
    print(f'guest b, kill of its kmsgate-vgpu to another of its frames on head 2 (its frame '
          f'interval included): p50 '
          f'{pct(got, 0.5):.2f} s, p99 {pct(got, 0.99):.2f} s, max '
          f'{max(got, default=float("nan")):.2f} s ({len(got)} of {len(resume)} kills); its '
          f'flips during the loop: {len(b_lat)}, p50 {pct(b_lat, 0.5):.1f} ms, max '
          f'{max(b_lat, default=float("nan")):.1f} ms, {len(b_lat) / (t_end - t_start):.2f} '
          f'flips/s', flush=True)
    check(len(got) == len(resume) and max(b_lat, default=0) <= B_FLIP_MAX_MS,
          f'guest b flips again after every kill of its kmsgate-vgpu ({len(got)} of '
          f'{len(resume)} within {B_RESUME_MAX_S} s), longest flip '
          f'{max(b_lat, default=float("nan")):.0f} ms (bound {B_FLIP_MAX_MS})')
    # The processes: restarted every time, took their state over.
    text = [ln for _, ln in sc.seen]
    took = sum('took over the previous kmsgate-vgpu\'s connection' in ln for ln in text
               if ln.startswith('[vgpu-b]'))
    again = sum('leasing' in ln and 'again' in ln for ln in text if ln.startswith('[vgpu-'))
    revoked = [ln for ln in text if ln.startswith('[broker]') and
               ('revoked' in ln or 'ended' in ln)]
    n_b = order.count('b')
    check(took == n_b and again == 0,
          f'each restarted kmsgate-vgpu b took over its broker connection and lease ({took} of '
          f'{n_b}, {again} leased again)')
    check(not revoked, f'the broker revoked nothing ({"; ".join(revoked[:3]) or "none"})')
    errors = [ln for ln in text if ln[:3] in ('[a]', '[b]') and
              any(e in ln for e in ('error', 'ERROR', 'timed out', 'Call Trace', 'BUG'))]
    check(not errors, f'no guest kernel error ({"; ".join(errors[:3]) or "none"})')
    for name in ('broker', 'a', 'b'):
        b0, b1 = before.get(name, {}), after.get(name, {})
        rss0, rss1 = int(b0.get('rss') or 0), int(b1.get('rss') or 0)
        print(f'{name}: before pid {b0.get("pid")} fds {b0.get("fds")} ({b0.get("kinds")}) rss '
              f'{rss0} kB; after pid {b1.get("pid")} fds {b1.get("fds")} ({b1.get("kinds")}) '
              f'rss {rss1} kB', flush=True)
        check(b0 and b0.get('fds') == b1.get('fds') and b0.get('kinds') == b1.get('kinds') and
              0 < rss1 <= rss0 * RSS_GROWTH,
              f'{name}: the same fds after the loop ({b0.get("fds")} -> {b1.get("fds")}), RSS '
              f'{rss0} -> {rss1} kB (bound x{RSS_GROWTH})')


def run(sc, check, on_release, kills, seed):
    base = {h: sc.vm.screendump(h) for h in (0, 3)}
    sc.wait_flipping(['a', 'b'])
    sc.pump(3)
    check(shown(sc, 'a') is not None, "guest a's gradient frames on head 1")
    check(shown(sc, 'b') is not None, "guest b's solid frames on head 2")
    for h in (0, 3):
        check(sc.vm.screendump(h) == base[h], f'head {h} untouched')
    check(advancing(sc, 'a'), 'guest a flips (head 1 changes)')
    if kills:
        fault_loop(sc, check, kills, seed)

    n_a = sc.frames('a')
    last_b = shown(sc, 'b')
    sc.kill_vgpu('b')
    t_kill = time.monotonic()
    sc.pump(3)
    w, h, rgb = sc.vm.screendump(HEAD['b'])
    if on_release == 'keep':
        # The frame kept is b's last: the one seen just before the kill or
        # one b flipped between that screendump and the SIGKILL (b flips a
        # few frames a second under TCG in TCG; 16 is far more than the
        # gap allows), and it no longer changes.
        kept = scene.match_frame('solid', w, h, rgb)
        sc.pump(3)
        later = shown(sc, 'b')
        check(kept is not None and last_b is not None and (kept - last_b) % 256 < 16
              and later == kept,
              f"on-release=keep: b's last frame stays on head 2 after kill -9 (frame "
              f"{last_b} before the kill, {kept} after, {later} 3 s later)")
    else:
        dark = scene.is_placeholder(w, h, rgb) or not any(rgb)
        check(dark, 'on-release=blank: head 2 dark after kill -9')
    check(advancing(sc, 'a'), 'guest a keeps flipping while b is dead')
    # The guest reports its flips in batches (scene.BATCH): give a slow
    # nested guest time for the next batch instead of a fixed window.
    end = time.monotonic() + 60
    while sc.frames('a') <= n_a and time.monotonic() < end:
        sc.pump(2)
    check(sc.frames('a') > n_a, "guest a's flip events keep completing")
    sc.mark(f'b killed {time.monotonic() - t_kill:.1f} s ago; a at {sc.frames("a")} frames')

    sc.start_vgpu('b')
    n_b = sc.frames('b')
    sc.pump(15)
    frozen = sc.frames('b') == n_b
    print(f'info: after kmsgate-vgpu b restarted, guest b {"stays frozen" if frozen else "resumed"}'
          f' (QEMU reconnect), head 2 frame {shown(sc, "b")} (was {last_b})', flush=True)
    sc.restart_guest('b')
    t_restart = time.monotonic()
    sc.wait_flipping(['b'])
    sc.mark(f'guest b back after {time.monotonic() - t_restart:.1f} s (QEMU restart + boot)')
    sc.pump(3)
    check(shown(sc, 'b') is not None, "guest b's frames back on head 2 after its restart")
    check(shown(sc, 'a') is not None, "guest a's frames still on head 1")
    for name in ('a', 'b'):
        st = sc.stats(name)
        sc_ = (st or {}).get('scanouts') or [{}]
        check(bool(st) and sc_[0].get('shown', 0) > 0,
              f'kmsgate-vgpu {name} --stats: {sc_[0].get("shown")} frames shown, '
              f'path {sc_[0].get("path")}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('build')
    p.add_argument('--on-release', default='keep', choices=['keep', 'blank'])
    p.add_argument('--guest-prog')
    p.add_argument('--kills', type=int, default=KILLS,
                   help=f'phase 2: kills of the broker and of kmsgate-vgpu b, each ({KILLS})')
    p.add_argument('--seed', type=int, default=int(time.time()) % 100000)
    a = p.parse_args()
    check = Check()
    try:
        with scene.Scene(a.build, [A, B], on_release=a.on_release,
                         guest_prog=a.guest_prog, fdstore=True) as sc:
            run(sc, check, a.on_release, a.kills, a.seed)
            lat = {n: [v for _, v, _ in sc.lats[n]] for n in ('a', 'b')}
    except kgvm.VMError as e:
        kgvm.log(f'error: {e}')
        return 99
    for n, v in lat.items():
        if v:
            v = sorted(v)
            print(f'guest {n}: {len(v)} flips, latency p50 {v[len(v) // 2] / 1000:.2f} ms, '
                  f'max {v[-1] / 1000:.2f} ms')
    for t, what in sc.events:
        print(f'  {t:7.1f} s  {what}')
    if check.failed:
        print(f'{len(check.failed)} check(s) failed: ' + '; '.join(check.failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
