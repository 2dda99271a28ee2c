#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kmsgate-vgpu, again and again, and the guest does not notice
(tracker issue 12, item 1; docs/reliability.md). No VM: the headless output,
kg-frontend playing QEMU and the guest's driver (it checks every answer: a
chain answered twice or an answer it did not wait for is EPROTO, one never
answered a 10 s timeout, and either makes it exit non-zero), and kg-fdstore
playing systemd's fd store (tests/vm/broker/kg-fdstore.c: it is an
emulation of what sd_notify(3) and sd_listen_fds(3) document, not systemd).

kmsgate-vgpu is killed KILLS times (default 20; --kills 50 for the note's
figures) at random moments (--seed; printed, so a failure can be replayed)
while the guest flips at 60 Hz, and started again at once, as systemd does
with Restart=always. Checks:

- the guest flipped every frame: kg-frontend exits 0 with frames=N and its
  fences are numbered 0..N-1 in order (no frame lost, none answered twice,
  the frame counter never goes back);
- every restarted kmsgate-vgpu served the same front-end again (its log) and
  rebuilt the guest's resources from its journal;
- recovery: from the kill to the guest's next fence, p50/p99/max printed;
  max under RECOVERY_MAX_MS (below);
- no growth: the front-end's fd count is the same at the end as before the
  first kill; each restarted kmsgate-vgpu has as many fds as the first one
  after its setup; the store holds as many fds after the last restart as
  after the first setup; kmsgate-vgpu's RSS after the last restart within
  RSS_SLACK_KB of the first restart's.

With --churn the guest also makes a resource and drops the previous one
before each frame (kg-frontend --churn: RESOURCE_CREATE_2D, ATTACH_BACKING,
UNREF), so kills land in resource creation too; the test counts the kills
whose restarted process found such a command the dead one had taken, and
checks it answered each of them once (kg-frontend fails otherwise).

With --store-max 1 the store keeps kmsgate-vgpu's state but none of the
connection's fds (as a unit without FileDescriptorStoreMax= would): the
first restart cannot serve the front-end again and the guest must notice
(the must-fail case, tests/host/meson.build).

Usage: test-vgpu-restart.py KMSGATE_VGPU KG_FRONTEND KG_FDSTORE [--kills N]
       [--seed S] [--store-max N] [--churn]
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import os
import queue
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'vm'))
import kgvm  # noqa: E402  (verdict only: this test boots no VM)
import fdstore_rig  # noqa: E402

# Kill to the guest's next fence, on this 2-core machine with the headless
# output: p50 22.7-24.3 ms, max 26.3-31.8 ms in 7 runs (6 x 20 kills, 1 x
# 50; a restart is exec, the state memfd mapped, about 40 journal commands
# run again, then the next vblank of the 60 Hz grid); the bound leaves room
# for a loaded CI machine and is the target.
RECOVERY_MAX_MS = 250
# RSS of a restarted kmsgate-vgpu is that of a fresh one plus the journal
# pages it reads: measured within 300 KiB.
RSS_SLACK_KB = 2048


def reader(stream, q, tag):
    for line in stream:
        q.put((time.monotonic(), tag, line.rstrip('\n')))
    q.put((time.monotonic(), tag, None))


def fd_count(pid):
    try:
        return len(os.listdir(f'/proc/{pid}/fd'))
    except OSError:
        return -1


def rss_kb(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('vgpu')
    ap.add_argument('frontend')
    ap.add_argument('fdstore')
    ap.add_argument('--kills', type=int, default=20)
    ap.add_argument('--seed', type=int, default=int(time.time()) % 100000)
    ap.add_argument('--store-max', type=int, default=64,
                    help='fds the store keeps (FileDescriptorStoreMax=); 1 keeps only the '
                    'state: the must-fail case')
    ap.add_argument('--churn', action='store_true',
                    help='the guest makes and drops a resource before each frame')
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    frames = 90 + a.kills * 30  # about half a second of flips per kill
    print(f'seed {a.seed}, {a.kills} kills, {frames} frames')
    problems = []
    with tempfile.TemporaryDirectory(prefix='kg-restart-') as tmp:
        events = queue.Queue()
        sock = os.path.join(tmp, 'vg.sock')
        rig = fdstore_rig.FdStore(
            a.fdstore, a.store_max, os.path.join(tmp, 'notify'),
            [a.vgpu, '--output', 'headless', '--socket-path', sock],
            on_line=lambda t, line: events.put((t, 'store', line)))
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        else:
            rig.p.kill()
            print('rig error: no socket from kmsgate-vgpu under kg-fdstore')
            return 99
        fe = subprocess.Popen([a.frontend, '--socket', sock, '--frames', str(frames)] +
                              ['--churn'] * a.churn,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1)
        threading.Thread(target=reader, args=(fe.stdout, events, 'fe'), daemon=True).start()
        fences, fe_lines, kills, restarts = [], [], [], []
        fe_fds_end = -1
        pending = None  # a restarted kmsgate-vgpu that has not flipped yet
        first = None  # (fe fds, vgpu fds, vgpu rss, stored) once set up
        next_kill = None
        fe_done = False
        deadline = time.monotonic() + 60 + frames / 30
        while not fe_done and time.monotonic() < deadline:
            try:
                t, tag, line = events.get(timeout=0.02)
            except queue.Empty:
                t, tag, line = time.monotonic(), None, None
            if tag == 'fe':
                if line is None:
                    fe_done = True
                    continue
                fe_lines.append(line)
                m = re.match(r'FENCE (\d+) ', line)
                if m:
                    fences.append((t, int(m.group(1))))
                    if len(fences) == frames - 5:
                        fe_fds_end = fd_count(fe.pid)
                    # A restarted process in its steady state: flipping.
                    if pending:
                        restarts.append((t, pending, fd_count(pending), rss_kb(pending)))
                        pending = None
            elif tag == 'store' and line is not None:
                if line.startswith('FDSTORE KILLED'):
                    rig.cmd('start')
                elif line.startswith('FDSTORE READY') and kills:
                    pending = rig.pid
            # Setup done and 30 frames flipped: the baseline, then kills.
            if first is None and len(fences) >= 30 and rig.pid:
                first = (fd_count(fe.pid), fd_count(rig.pid), rss_kb(rig.pid), len(rig.stored))
                next_kill = time.monotonic() + rnd.uniform(0.1, 0.6)
            # The next kill once the last restart flipped again.
            if (next_kill and time.monotonic() >= next_kill and len(kills) < a.kills and
                    (not kills or (fences and fences[-1][0] > kills[-1]))):
                kills.append(time.monotonic())
                rig.cmd('kill9')
                next_kill = time.monotonic() + rnd.uniform(0.15, 0.6)
        try:
            fe.wait(timeout=15)
        except subprocess.TimeoutExpired:
            fe.kill()
            problems.append('kg-frontend did not finish: the guest hung')
        rig.finish()
    log = rig.lines
    if first is None:
        print('\n'.join(log[-40:] + fe_lines[-20:]))
        print('rig error: the guest never flipped 30 frames')
        return 99
    print(f'kills {len(kills)}, restarts {len(restarts)}, fences {len(fences)}')
    result = [ln for ln in fe_lines if ln.startswith('RESULT')]
    if fe.returncode != 0 or not result or f'frames={frames}' not in result[0]:
        # Everything else follows from it: not checked.
        print('\n'.join(log[-30:]))
        return kgvm.verdict([f'the guest noticed a restart: kg-frontend exit {fe.returncode}, '
                             f'{fe_lines[-2:]}'])
    numbers = [n for _, n in fences]
    if numbers != list(range(len(numbers))):
        bad = next(i for i, n in enumerate(numbers) if n != i)
        problems.append(f'fences out of order or lost at {bad}: {numbers[max(0, bad - 2):bad + 3]}')
    if len(kills) < a.kills:
        problems.append(f'only {len(kills)} of {a.kills} kills happened before the guest ended')
    served = sum(1 for ln in log if 'serving the front-end of the previous kmsgate-vgpu again'
                 in ln)
    restored = sum(1 for ln in log if "the guest's resources and scanouts are back" in ln)
    if served != len(kills) or restored != len(kills):
        problems.append(f'{len(kills)} kills, but {served} restarts served the front-end again '
                        f'and {restored} restored the resources')
    # A restart's log names each command the dead process had taken and not
    # answered (vgpu.c, submit_control()).
    taken, in_creation, seen = [], 0, False
    for ln in log:
        if ln.startswith('FDSTORE STARTED'):
            in_creation += seen
            seen = False
        elif "the previous process's RESOURCE_" in ln:
            taken.append(ln)
            seen = True
    in_creation += seen
    print(f'kills that landed in resource creation: {in_creation} of {len(kills)} (their '
          f'restarted process found {len(taken)} resource command(s) the dead one had taken: '
          f'{sum("had taken effect" in ln for ln in taken)} had taken effect and were answered, '
          f'the rest ran again)')
    if a.churn and not in_creation:
        problems.append('--churn: no kill landed in resource creation')
    rec = []
    for k in kills:
        after = [t for t, _ in fences if t > k]
        if after:
            rec.append((after[0] - k) * 1000)
    if rec:
        rs = sorted(rec)
        p99 = rs[min(len(rs) - 1, (len(rs) * 99 + 99) // 100 - 1)]
        print(f'recovery (kill -> next fence): p50 {statistics.median(rs):.1f} ms, p99 '
              f'{p99:.1f} ms, max {rs[-1]:.1f} ms over {len(rs)} kills')
        if rs[-1] > RECOVERY_MAX_MS:
            problems.append(f'recovery max {rs[-1]:.1f} ms over {RECOVERY_MAX_MS} ms')
    fe_fds, vgpu_fds, vgpu_rss, stored = first
    print(f'fds: front-end {fe_fds} -> {fe_fds_end}; kmsgate-vgpu first {vgpu_fds}, restarts '
          f'{sorted(set(r[2] for r in restarts))}; stored {stored} -> {len(rig.stored)} at '
          f'the end; RSS first {vgpu_rss} KiB, last restart {restarts[-1][3] if restarts else -1} KiB')
    if fe_fds_end != fe_fds:
        problems.append(f'the front-end has {fe_fds_end} fds, {fe_fds} before the kills')
    if any(r[2] != vgpu_fds for r in restarts):
        problems.append(f'the restarted kmsgate-vgpu\'s fd counts differ: '
                        f'{[r[2] for r in restarts]}')
    if restarts and restarts[-1][3] > restarts[0][3] + RSS_SLACK_KB:
        problems.append(f'RSS grew from {restarts[0][3]} to {restarts[-1][3]} KiB')
    stored_at_quit = [ln for ln in log if ln.startswith('FDSTORE REMOVED')]
    if rig.stored:
        problems.append(f'left in the store after a clean stop: {sorted(rig.stored)}')
    if 'FDSTORE EXITED status=0' not in log:
        problems.append(f'the last kmsgate-vgpu did not exit cleanly on SIGTERM: '
                        f'{[ln for ln in log if "EXITED" in ln]}')
    print(f'{len(stored_at_quit)} fds removed from the store, all at the clean stop or on '
          f'replacement')
    if problems:
        print('\n'.join(log[-30:]))
    return kgvm.verdict(problems)


if __name__ == '__main__':
    sys.exit(main())
