#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kmsgate-vgpu@test.service under real systemd 252 as PID 1,
again and again, and the guest does not notice (tracker issue 12; the board
VM of tests/vm/sdboard.py, the unit installed and run as shipped). The same
loop as tests/host/test-vgpu-restart.py, but systemd's own fd store,
Restart=always and RestartSec=100ms instead of kg-fdstore's emulation.

In the VM: vgpu.conf [guest test] output = headless; `systemctl start
kmsgate-vgpu@test`; kg-frontend (QEMU and the guest's driver: it exits
non-zero when an answer is lost or comes twice) connects to
/run/kmsgate/vgpu/test.sock and flips FRAMES frames at 60 Hz. Meanwhile
kg-kill9 sends SIGKILL to the unit's MainPID KILLS times (default 10), each
at a random moment (seeded, printed; --seed S replays the delays) at least
--min-gap s after the previous kill and only once the restarted process
has a new MainPID and the guest flipped again. Checked:

- kg-frontend exits 0 with RESULT frames=FRAMES, its fences numbered
  0..FRAMES-1 in order (no answer lost or doubled);
- NRestarts == KILLS, every restart a new MainPID, journal status=9/KILL;
- NFileDescriptorStore while the guest runs: the state memfd plus the
  connection's fds, the same after every restart as after the first setup;
  1 (the state) before the guest connected;
- the journal of every restarted instance says "serving the front-end of
  the previous kmsgate-vgpu again" and "the guest's resources and scanouts
  are back";
- recovery, kill -> the fence that ends the guest's pause (both
  CLOCK_MONOTONIC in the VM), p50/p99/max printed, p50 and max under
  RECOVERY_P50_MAX_MS and RECOVERY_MAX_MS (below);
- after `systemctl stop`: inactive, NFileDescriptorStore=0.

Why --min-gap defaults to 2.6 s: the shipped unit has systemd's default
start rate limit (StartLimitBurst=5 in StartLimitIntervalSec=10s), and
systemd counts every automatic restart as a start: a sixth start within
10 s of the window's first fails the unit ("Start request repeated too
quickly") and empties its fd store. With kills 2.6 s apart at most 4
restarts and the first start fall in one window. The loop itself cannot
kill faster than about every 1.9 s under TCG (it polls systemctl), so
--burst N shows the limit instead: N kills 0.7 s apart without waiting for
a flip; with 7, the fifth kill's restart was refused, the unit failed and
its store was emptied, and kg-frontend lost its answers
(docs/reliability.md, "Under real systemd 252").

Usage: test-systemd-vgpu-kill9.py --vgpu V --frontend F --kill9 K
           --vgpu-template UNIT --vgpu-conf PATH [--kills N] [--seed S]
           [--min-gap SEC] [--burst N]
Exit: 0 pass, 1 a check failed, 99 the rig failed (no boot, timeout)."""

import argparse
import bisect
import os
import random
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402

# Kill -> the fence that ends the guest's pause, under TCG in the board VM,
# measured over 6 runs of 10 kills (seeds 1, 2, 3, 7, 8, 54783): p50 465,
# 496, 495, 507, 535, 535 ms; max 490, 515, 533, 999, 576, 643 ms. The max
# is the first restart after boot in 5 of them (seed 7's: 489 ms from
# "Starting" to kmsgate-vgpu's first log line, against about 210 ms later
# on). Where it goes (medians over seeds 1-3, journal and kernel log
# stamps): the SIGCHLD reaches systemd about 20 ms after the kill;
# RestartSec=100ms and systemd's own work to "Scheduled restart" 153-170
# ms; to "Starting" 40-45 ms; fork, the unit's sandbox (namespaces, mounts)
# and exec to kmsgate-vgpu's first log line 202-219 ms; to the resources
# being back 7 ms; to "serving the front-end ... again" 37-42 ms; then the
# next fence. The 250 ms is not reachable with RestartSec=100ms
# under TCG (kg-fdstore on the host, no TCG, no sandbox: 22 ms). The
# bounds are 1.5x the largest measured: p50 at most 800 ms, max at most
# 1500 ms.
RECOVERY_P50_MAX_MS = 800
RECOVERY_MAX_MS = 1500

VGPU_CONF = """[guest test]
output = headless
"""

UNIT_VARS = {'@SBINDIR@': '/usr/sbin', '@BINDIR@': '/usr/bin', '@SYSCONFDIR@': '/etc'}

SCRIPT = r"""
set -u
V=kmsgate-vgpu@test.service
S=/run/kmsgate/vgpu/test.sock
prop() { systemctl show -p "$2" --value "$1"; }
store() { prop $V NFileDescriptorStore; }
fences() { grep -c '^FENCE' /tmp/fe.out; }
# kg-frontend still running (not a zombie)
alive() { grep -q '^State:[[:space:]]*[^Z]' /proc/$FE/status 2>/dev/null; }
systemctl start $V; echo "START_EXIT=$?"
echo "UNIT=$(prop $V ActiveState)/$(prop $V SubState) PID0=$(prop $V MainPID)"
echo "SETTINGS restart=$(prop $V Restart) restartsec=$(prop $V RestartUSec) fdstoremax=$(prop $V FileDescriptorStoreMax) startlimit=$(prop $V StartLimitBurst)/$(prop $V StartLimitIntervalUSec)"
echo "STORE_IDLE=$(store)"
kg-frontend --socket $S --frames $FRAMES >/tmp/fe.out 2>&1 &
FE=$!
i=0; while [ "$(fences)" -lt 30 ] && [ $i -lt 600 ] && alive; do sleep 0.1; i=$((i+1)); done
echo "FENCES_SETUP=$(fences)"
P=$(prop $V MainPID)
echo "STORE_RUNNING=$(store) VGPU_FDS=$(ls /proc/$P/fd | wc -l)"
# --burst N: kill N times, each 0.6 s after the last restart's exec, no
# waiting for a flip (systemd's start rate limit, not a check of the guest).
b=0
while [ $b -lt $BURST ]; do
	b=$((b+1)); P=$(prop $V MainPID)
	[ "$P" = 0 ] && { sleep 0.3; P=$(prop $V MainPID); }
	[ "$P" = 0 ] && { echo "BURST $b no MainPID: $(prop $V ActiveState)/$(prop $V SubState)"; break; }
	echo "BURST $b $(kg-kill9 $P)"
	sleep 0.6
done
if [ $BURST -gt 0 ]; then
	sleep 2
	echo "BURST_END state=$(prop $V ActiveState)/$(prop $V SubState) result=$(prop $V Result) nrestarts=$(prop $V NRestarts) store=$(store)"
fi
k=0
for d in $DELAYS; do
	k=$((k+1))
	sleep $d
	alive || { echo "FRONTEND_ENDED_BEFORE_KILL $k"; break; }
	P=$(prop $V MainPID)
	n=$(fences)
	echo "KILL $k $(kg-kill9 $P) fences=$n"
	i=0
	while { [ "$(prop $V ActiveState)" != active ] || [ "$(prop $V MainPID)" = "$P" ]; } && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i+1))
	done
	Q=$(prop $V MainPID)
	i=0; while [ "$(fences)" -le "$n" ] && [ $i -lt 200 ] && alive; do sleep 0.05; i=$((i+1)); done
	echo "RESTARTED $k pid=$Q state=$(prop $V ActiveState)/$(prop $V SubState) nrestarts=$(prop $V NRestarts) store=$(store) fds=$(ls /proc/$Q/fd 2>/dev/null | wc -l) fences=$(fences)"
done
wait $FE; echo "FE_EXIT=$?"
echo "NRESTARTS=$(prop $V NRestarts) AFTER_GUEST=$(prop $V ActiveState)/$(prop $V SubState) STORE_AFTER_GUEST=$(store)"
systemctl stop $V; echo "STOP_EXIT=$?"
echo "STOPPED=$(prop $V ActiveState) STORE_STOPPED=$(store)"
grep -v '^FENCE' /tmp/fe.out | sed 's/^/FE /'
echo "--- fences"
grep '^FENCE' /tmp/fe.out | sed 's/^/F /'
echo "--- journal"
journalctl -b -u $V -o cat --no-pager | sed 's/^/JOURNAL /'
echo "--- end"
"""


class Check:
    def __init__(self):
        self.problems = []

    def __call__(self, ok, msg):
        print(('ok   ' if ok else 'FAIL ') + msg, flush=True)
        if not ok:
            self.problems.append(msg)


def value(out, key):
    found = None
    for line in out:
        m = re.search(rf'(?:^| ){key}=(\S*)', line)
        if m:
            found = m.group(1)
    return found


def unit_text(path):
    with open(path) as f:
        text = f.read()
    for k, v in UNIT_VARS.items():
        text = text.replace(k, v)
    if '@' in re.sub(r'kmsgate-vgpu@|%i|@\.service', '', text):
        raise kgvm.VMError(f'{path}: a @VARIABLE@ the test does not fill')
    return text


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, (len(s) * p + 99) // 100 - 1)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vgpu', required=True)
    p.add_argument('--frontend', required=True)
    p.add_argument('--kill9', required=True)
    p.add_argument('--vgpu-template', required=True)
    p.add_argument('--vgpu-conf', required=True,
                   help='where this build\'s kmsgate-vgpu reads vgpu.conf (its sysconfdir)')
    p.add_argument('--kills', type=int, default=10)
    p.add_argument('--seed', type=int, default=int(time.time()) % 100000)
    p.add_argument('--min-gap', type=float, default=2.6,
                   help='seconds between kills at least (systemd\'s start rate limit: above)')
    p.add_argument('--timeout', type=float, default=400)
    p.add_argument('--burst', type=int, default=0,
                   help='instead of the loop: N kills 0.6 s apart; shows the start limit')
    p.add_argument('--replay', metavar='LOG', help=argparse.SUPPRESS)  # re-check a saved log
    a = p.parse_args()
    if a.replay:
        with open(a.replay) as f:
            out = f.read().splitlines()
        return verdict(a, out, int(re.search(r'kills, (\d+) frames', out[0]).group(1)), 0,
                       Check())
    rnd = random.Random(a.seed)
    delays = [round(rnd.uniform(0.2, 0.8), 2)]  # after the guest's first 30 frames
    delays += [round(a.min_gap + rnd.uniform(0, 1.0), 2) for _ in range(a.kills - 1)]
    # 60 Hz for the whole loop, a second per kill for the restarts and the
    # polling, and 3 s after the last kill.
    frames = int(60 * (sum(delays) + a.kills * 1.0 + 3)) + 30
    print(f'seed {a.seed}, {a.kills} kills, {frames} frames, delays {delays} s', flush=True)
    check = Check()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            def put(name, text, mode=0o644):
                path = os.path.join(tmp, name)
                with open(path, 'w') as f:
                    f.write(text)
                os.chmod(path, mode)
                return path
            if a.burst:
                delays = []
            script = (f'FRAMES={frames}\nBURST={a.burst}\n'
                      f'DELAYS="{" ".join(map(str, delays))}"\n' + SCRIPT)
            add = [f'{a.vgpu}:/usr/bin/kmsgate-vgpu',
                   f'{a.frontend}:/usr/bin/kg-frontend',
                   f'{a.kill9}:/usr/bin/kg-kill9',
                   f'{put("vgpu.conf", VGPU_CONF)}:{a.vgpu_conf}',
                   f'{put("unit", unit_text(a.vgpu_template))}:'
                   '/lib/systemd/system/kmsgate-vgpu@.service',
                   f'{put("scenario.sh", script)}:/usr/bin/scenario.sh']
            opts = kgvm.Options(add=add, init='systemd', timeout=a.timeout)
            with kgvm.VM(opts, ['sh', '/usr/bin/scenario.sh']) as vm:
                vm.wait_for(r'^--- end$', timeout=a.timeout)
                status = vm.wait(timeout=60)
                out = list(vm.output)
                vm.print_timings()
            if status == kgvm.STATUS_NO_MARKER and '--- end' in out:
                # Seen once in 5 runs: the board powered off before the
                # wrapper's exit marker left the serial port (sdboard's
                # SuccessAction=poweroff-immediate right after its echo).
                # Everything checked was printed before '--- end'.
                print('note: the exit marker was lost after the script\'s end (rig); '
                      'the script\'s status is not checked')
                status = 0
            if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
                raise kgvm.VMError(f'the VM ended with status {status}')
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    return verdict(a, out, frames, status, check)


def verdict(a, out, frames, status, check):
    if a.burst:
        print('\n'.join(ln for ln in out if ln.startswith(('BURST', 'FE_EXIT', 'NRESTARTS'))))
        check(any('Start request repeated too quickly' in ln for ln in out),
              'systemd\'s start rate limit ended the restarts (journal)')
        return 1 if check.problems else 0
    if value(out, 'START_EXIT') != '0' or value(out, 'FENCES_SETUP') in (None, '0'):
        print('rig error: the unit did not start or the guest never flipped: '
              f'START_EXIT={value(out, "START_EXIT")} FENCES_SETUP={value(out, "FENCES_SETUP")}',
              file=sys.stderr)
        return 99
    journal = [ln[len('JOURNAL '):] for ln in out if ln.startswith('JOURNAL ')]
    fe = [ln[3:] for ln in out if ln.startswith('FE ')]
    fences = []
    for ln in out:
        m = re.match(r'^F FENCE (\d+) t=(\d+\.\d+)$', ln)
        if m:
            fences.append((int(m.group(1)), float(m.group(2))))
    kills = []
    for ln in out:
        m = re.match(r'^KILL (\d+) pid=(\d+) t=(\d+\.\d+) fences=(\d+)$', ln)
        if m:
            kills.append((int(m.group(2)), float(m.group(3))))
    restarted = [ln for ln in out if ln.startswith('RESTARTED ')]
    print('note: ' + ' '.join(ln for ln in out if ln.startswith('SETTINGS ')))

    result = [ln for ln in fe if ln.startswith('RESULT ')]
    check(value(out, 'FE_EXIT') == '0' and bool(result) and f'frames={frames}' in result[0],
          f'kg-frontend exits 0 with all {frames} frames (exit {value(out, "FE_EXIT")}, '
          f'{result[0] if result else fe[-3:]})')
    numbers = [n for n, _ in fences]
    bad = next((i for i, n in enumerate(numbers) if n != i), None)
    check(len(numbers) == frames and bad is None,
          f'fences 0..{frames - 1} in order, none lost or doubled ({len(numbers)} fences'
          + (f', wrong at {bad}: {numbers[max(0, bad - 2):bad + 3]}' if bad is not None else '')
          + ')')
    check(len(kills) == a.kills, f'{len(kills)} of {a.kills} kills done')
    pids = [int(m.group(1)) for ln in restarted for m in [re.search(r'pid=(\d+)', ln)] if m]
    killed = [pid for pid, _ in kills]
    check(len(pids) == len(kills) and all(q not in killed[:i + 1] and q > 0
                                           for i, q in enumerate(pids)),
          f'every kill was followed by a new MainPID: killed {killed}, restarted {pids}')
    check(value(out, 'NRESTARTS') == str(a.kills),
          f'NRestarts={value(out, "NRESTARTS")} == {a.kills} kills')
    check(sum('status=9/KILL' in ln for ln in journal) == a.kills,
          f'systemd saw {sum("status=9/KILL" in ln for ln in journal)} SIGKILLs (journal)')
    served = sum('serving the front-end of the previous kmsgate-vgpu again' in ln
                 for ln in journal)
    back = sum("the guest's resources and scanouts are back" in ln for ln in journal)
    check(served == a.kills and back == a.kills,
          f'{a.kills} restarts: {served} served the front-end again, {back} brought the '
          'resources and scanouts back (journal)')
    kept = [m.group(1) for ln in journal
            for m in [re.search(r'\((\d+) kept command\(s\) run again\)', ln)] if m]
    if kept:
        print(f'note: kept commands run again per restart: {kept}')
    idle, running = value(out, 'STORE_IDLE'), value(out, 'STORE_RUNNING')
    stores = [m.group(1) for ln in restarted for m in [re.search(r'store=(\d+)', ln)] if m]
    fds = [m.group(1) for ln in restarted for m in [re.search(r'fds=(\d+)', ln)] if m]
    check(idle == '1', f'before the guest connected the store holds the state: {idle} fd(s)')
    check(running is not None and running.isdigit() and int(running) > 2
          and all(s == running for s in stores),
          f'with the guest: {running} fds stored (state + connection), after each restart '
          f'{stores}')
    print(f'note: kmsgate-vgpu\'s fds: first {value(out, "VGPU_FDS")}, after each restart {fds}')
    print(f'note: after the guest left: {value(out, "AFTER_GUEST")}, store '
          f'{value(out, "STORE_AFTER_GUEST")}')
    # Recovery: from the kill to the fence that ends the guest's pause (the
    # longest time between two fences up to 3 s after the kill). Not simply
    # the next fence: one the dead process had answered just before the
    # SIGKILL may reach the guest right after it (seen: 1 ms).
    rec, pauses, early = [], [], 0
    ts = [ft for _, ft in fences]
    for _, t in kills:
        i = bisect.bisect(ts, t)
        win = [(ts[j] - ts[j - 1], j) for j in range(max(i, 1), len(ts)) if ts[j] < t + 3]
        if not win:
            continue
        gap, j = max(win)
        rec.append((ts[j] - t) * 1000)
        pauses.append(gap * 1000)
        early += j > i
    if rec:
        print(f'recovery (kill -> the fence that ends the guest\'s pause): p50 '
              f'{statistics.median(rec):.1f} ms, p99 {pct(rec, 99):.1f} ms, max {max(rec):.1f} ms '
              f'over {len(rec)} kills; all {[round(r) for r in rec]}')
        print(f'the guest\'s pause (longest time between two fences): p50 '
              f'{statistics.median(pauses):.1f} ms, max {max(pauses):.1f} ms; {early} kill(s) '
              'with a fence the dead process had answered still arriving after the kill')
        check(statistics.median(rec) <= RECOVERY_P50_MAX_MS and max(rec) <= RECOVERY_MAX_MS,
              f'recovery p50 {statistics.median(rec):.1f} ms <= {RECOVERY_P50_MAX_MS} ms, '
              f'max {max(rec):.1f} ms <= {RECOVERY_MAX_MS} ms')
    else:
        check(False, 'no recovery measured (no fence after any kill)')
    ivs = sorted(b - a_ for (_, a_), (_, b) in zip(fences, fences[1:]))
    if ivs:
        print(f'note: fence interval p50 {statistics.median(ivs) * 1000:.1f} ms')
    check(value(out, 'STOPPED') == 'inactive' and value(out, 'STORE_STOPPED') == '0',
          f'after systemctl stop: {value(out, "STOPPED")}, {value(out, "STORE_STOPPED")} fds '
          'stored')
    check(status == 0, f'guest script exit status {status}')
    if check.problems:
        print('\n'.join(ln for ln in out if not ln.startswith(('F FENCE', 'JOURNAL ')))[-6000:])
        print('\n'.join(journal[-40:]))
    print('PASS' if not check.problems else f'FAIL: {len(check.problems)} problem(s)')
    return 1 if check.problems else 0


if __name__ == '__main__':
    sys.exit(main())
