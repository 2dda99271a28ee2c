#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the broker's VM tests: boots the board VM with kmsgate-broker
and the kg-lessee test client, runs one scenario's guest script, and checks
what the guest prints and what QMP screendumps show on each head.

Usage: test-broker.py SCENARIO BROKER KG_LESSEE [--png-dir DIR]
Scenarios: two-clients isolation kill9 acl hostile cycles release sigterm hotplug vkms bench
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402

W, H = 1024, 768
RED, GREEN, BLUE, YELLOW = 0xff0000, 0x00ff00, 0x0000ff, 0xffff00

# head0..3 on Virtual-1..4 (= QMP heads 0..3), each at 1024x768. head1 keeps
# the last frame on release, head2 blanks, head3 is for uid 1000 (and root).
CONFIG = """
[broker]
allow-users = 0
[head0]
connector = Virtual-1
mode = 1024x768
[head1]
connector = Virtual-2
mode = 1024x768
on-release = keep
[head2]
connector = Virtual-3
mode = 1024x768
on-release = blank
[head3]
connector = Virtual-4
mode = 1024x768
allow-users = 1000
"""

# start_broker ARGS starts the broker (log in /tmp/broker.log, printed at
# the end), waits for its socket; $B is its pid. fdcount prints its open fds.
# Every scenario but vkms starts it on virtio-gpu with CONFIG.
PRELUDE = r"""
set -u
mkdir -p /run/kmsgate
start_broker() {
	kmsgate-broker "$@" --log-level debug 2>/tmp/broker.log &
	B=$!
	i=0; while [ ! -S /run/kmsgate/broker.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	[ -S /run/kmsgate/broker.sock ] || { echo "NO BROKER SOCKET"; cat /tmp/broker.log; exit 99; }
}
fdcount() { ls /proc/$B/fd | wc -l; }
finish() { kill -TERM $B 2>/dev/null; wait $B; echo "BROKER_EXIT=$?"; echo "--- broker log"; tail -n 60 /tmp/broker.log; }
# A lessee reading commands from a fifo: lessee N ARGS...; quit with: echo quit >&N+3
lessee() { n=$1; shift; mkfifo /tmp/q$n; eval "exec $((n+3))<>/tmp/q$n"; kg-lessee "$@" </tmp/q$n & eval "L$n=\$!"; }
hostwait() { echo "HOST $1"; read -r x; }
"""

SCENARIOS = {
    # Two clients flip their own colour at the same time.
    'two-clients': r"""
lessee 0 --name red show head0 ff0000
lessee 1 --name green show head1 00ff00
sleep 2
hostwait snap
echo quit >&3; echo quit >&4; wait $L0 $L1
finish
""",
    # A lessee cannot see or use another pipeline's CRTC or plane, leased
    # by someone else or not.
    'isolation': r"""
lessee 1 show head1 00ff00
sleep 2
kg-lessee touch head0 head1; echo "TOUCH_EXIT=$?"
kg-lessee touch head0 head2; echo "TOUCH_EXIT=$?"
echo quit >&4; wait $L1
finish
""",
    # kill -9 of a lessee: revoked, and the next client gets the pipeline.
    'kill9': r"""
kg-lessee kill9 head0 50; echo "KILL9_EXIT=$?"
lessee 1 show head1 ff0000
sleep 2
kill -9 $L1
kg-lessee show head1 0000ff </dev/null; echo "NEXT_EXIT=$?"
finish
""",
    # Allow lists: uid 2000 may not use head3, uid 1000 may; uid 1000 may
    # not use head0 (root only) nor revoke.
    'acl': r"""
kg-lessee --uid 2000 acquire head3 </dev/null; echo "ACL_2000_HEAD3=$?"
kg-lessee --uid 1000 acquire head3 </dev/null; echo "ACL_1000_HEAD3=$?"
kg-lessee --uid 1000 acquire head0 </dev/null; echo "ACL_1000_HEAD0=$?"
lessee 0 acquire head0
sleep 1
kg-lessee --uid 1000 revoke head0; echo "ACL_1000_REVOKE=$?"
kg-lessee revoke head0; echo "ROOT_REVOKE=$?"
echo quit >&3; wait $L0
finish
""",
    # A hostile client does not disturb a lessee; no fd leaks from it.
    'hostile': r"""
lessee 0 show head0 ff0000
sleep 2
echo "FDS_BEFORE=$(fdcount)"
kg-lessee hostile 1000; echo "HOSTILE_EXIT=$?"
sleep 1
echo "FDS_AFTER=$(fdcount)"
hostwait snap
echo quit >&3; wait $L0
finish
""",
    # 1000 acquire/release cycles leave the broker's fd count unchanged,
    # on a keep pipeline and on a blank one.
    'cycles': r"""
kg-lessee acquire head1 </dev/null >/dev/null
echo "FDS_BEFORE=$(fdcount)"
kg-lessee cycles head1 1000; echo "CYCLES_EXIT=$?"
kg-lessee cycles head2 200; echo "CYCLES_EXIT=$?"
echo "FDS_AFTER=$(fdcount)"
finish
""",
    # Keep-last-frame (head1) and blank (head2), checked on screen; the next
    # lessee takes over from the kept frame.
    'release': r"""
lessee 1 show head1 ff0000
lessee 2 show head2 00ff00
sleep 2
echo quit >&4; echo quit >&5; wait $L1 $L2
sleep 1
echo "FDS_RELEASED=$(fdcount)"
hostwait released
lessee 6 show head1 0000ff
sleep 2
hostwait taken-over
kill -9 $L6
sleep 1
hostwait killed
finish
""",
    # SIGTERM: every lessee hears it is revoked, the broker exits 0 and
    # removes its socket.
    'sigterm': r"""
kmsgate-broker --config /etc/kmsgate.conf 2>/tmp/second.log; echo "SECOND_EXIT=$?"
echo "SECOND_LOCKED=$(grep -c 'another kmsgate-broker runs' /tmp/second.log)"
kmsgate-broker --check --config /etc/kmsgate.conf 2>/dev/null | sed 's/^/CHECK /'
lessee 0 show head0 ff0000
lessee 1 show head1 00ff00
sleep 2
kill -TERM $B; wait $B; echo "BROKER_EXIT=$?"
wait $L0 $L1
[ -S /run/kmsgate/broker.sock ] && echo "SOCKET_LEFT" || echo "SOCKET_GONE"
tail -n 30 /tmp/broker.log
""",
    # Hotplug: forcing a connector off and on reaches clients as
    # CONNECTOR_CHANGED, LIST shows it, and acquire refuses while it is off.
    'hotplug': r"""
lessee 0 show head0 ff0000
sleep 2
kg-lessee list | grep head0
echo quit >&3; wait $L0
kg-lessee events 8 > /tmp/events.txt &
E=$!
# Subscribed only once it says so: a loaded TCG host can take over a second
# to get there, and an event sent before then is not this client's.
i=0; while ! grep -q 'EVENTS READY' /tmp/events.txt && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
# Forcing a connector through sysfs re-probes it but sends no uevent;
# the synthetic change uevent stands in for the one a real HPD sends.
echo off > /sys/class/drm/card0-Virtual-3/status
echo change > /sys/class/drm/card0/uevent
sleep 1
kg-lessee list | grep head2
kg-lessee acquire head2 </dev/null; echo "ACQUIRE_OFF=$?"
echo on > /sys/class/drm/card0-Virtual-3/status
echo change > /sys/class/drm/card0/uevent
sleep 1
kg-lessee list | grep head2
kill -HUP $B
wait $E
cat /tmp/events.txt
finish
""",
    # vkms (the second card, real 60 Hz vblank, 8 overlays): the config
    # takes every overlay; the lease carries primary, 8 overlays and cursor
    # and a lessee flips at the display's rate through it.
    'vkms': r"""
kmsgate-broker --driver vkms --check 2>/dev/null > /tmp/check.txt; sed 's/^/VKCHECK /' /tmp/check.txt
C=$(sed -n '1s/.*connector=\([^ ]*\).*/\1/p' /tmp/check.txt)
printf '[vk]\nconnector = %s\nplanes = primary, overlays, cursor\nmode = 1024x768\n' "$C" > /tmp/vk.conf
start_broker --driver vkms --config /tmp/vk.conf
kg-lessee list
lessee 0 show vk 00ff00
sleep 3
echo quit >&3; wait $L0
finish
""",
    # Lease acquisition latency: connect -> lease fd in hand.
    'bench': r"""
kg-lessee cycles head0 1000; echo "CYCLES_EXIT=$?"
kg-lessee kill9 head1 100; echo "KILL9_EXIT=$?"
grep "revoked in" /tmp/broker.log | sed 's/.*revoked in \([0-9.]*\) ms.*/REVOKE_MS \1/'
finish
""",
}


class Check:
    def __init__(self):
        self.problems = []

    def __call__(self, ok, msg):
        print(('ok   ' if ok else 'FAIL ') + msg, flush=True)
        if not ok:
            self.problems.append(msg)


def colour_at(w, rgb, x, y):
    o = (y * w + x) * 3
    return (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]


def head_is(vm, check, head, colour, label):
    """The head shows 1024x768 of one colour (checked on a grid of points)."""
    w, h, rgb = vm.screendump(head)
    if (w, h) != (W, H):
        check(False, f'{label}: head {head} is {w}x{h}, expected {W}x{H} of {colour:06x}')
        return
    bad = [(x, y) for y in range(0, H, 97) for x in range(0, W, 131)
           if colour_at(w, rgb, x, y) != colour]
    check(not bad, f'{label}: head {head} shows {colour:06x}'
          + (f' (wrong at {len(bad)} points, e.g. {bad[0]} = '
             f'{colour_at(w, rgb, *bad[0]):06x})' if bad else ''))


def head_is_blank(vm, check, head, label):
    """Off (the 640x480 placeholder) or all black."""
    w, h, rgb = vm.screendump(head)
    lit = [(x, y) for y in range(0, h, 61) for x in range(0, w, 67) if colour_at(w, rgb, x, y)]
    check((w, h) != (W, H) or not lit, f'{label}: head {head} blank ({w}x{h}, '
          f'{len(lit)} lit points)')


def value(vm, key):
    """The last KEY=VALUE line the guest printed."""
    found = None
    for line in vm.output:
        m = re.match(rf'^{key}=(\S+)', line)
        if m:
            found = m.group(1)
    return found


def lines(vm, prefix):
    return [ln for ln in vm.output if ln.startswith(prefix)]


def stats(line):
    return {k: float(v) for k, v in re.findall(r'(p50|p99|max)=([0-9.]+)', line)}


def run(args, scenario, check):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, 'kmsgate.conf')
        script = os.path.join(tmp, 'scenario.sh')
        with open(conf, 'w') as f:
            f.write(CONFIG)
        with open(script, 'w') as f:
            start = '' if scenario == 'vkms' else 'start_broker --config /etc/kmsgate.conf\n'
            f.write(PRELUDE + start + SCENARIOS[scenario])
        opts = kgvm.Options(add=[f'{args.broker}:/bin/kmsgate-broker',
                                 f'{args.lessee}:/bin/kg-lessee',
                                 f'{conf}:/etc/kmsgate.conf',
                                 f'{script}:/bin/scenario.sh'],
                            vkms=scenario == 'vkms', timeout=args.timeout)
        with kgvm.VM(opts, ['sh', '/bin/scenario.sh']) as vm:
            HOST[scenario](vm, check)
            status = vm.wait(timeout=args.timeout)
            vm.print_timings()
        check(status == 0, f'guest script exit status {status}')
        # The broker stops cleanly on SIGTERM (under ASan: also no leak).
        check(value(vm, 'BROKER_EXIT') == '0', f'broker exit status {value(vm, "BROKER_EXIT")}')
        return vm


def host_two_clients(vm, check):
    vm.wait_for(r'^HOST snap$', timeout=120)
    check(len(lines(vm, 'LEASED head0 1024x768')) == 1, 'client 1 leased head0 at 1024x768')
    check(len(lines(vm, 'LEASED head1 1024x768')) == 1, 'client 2 leased head1 at 1024x768')
    head_is(vm, check, 0, RED, 'client 1')
    head_is(vm, check, 1, GREEN, 'client 2')
    for head in (2, 3):
        w, h, rgb = vm.screendump(head)
        check((w, h) != (W, H) or colour_at(w, rgb, 10, 10) not in (RED, GREEN),
              f'head {head} shows neither client')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)
    flips = [int(ln.split()[1]) for ln in lines(vm, 'FLIPS ')]
    check(len(flips) == 2 and min(flips) >= 10, f'both clients flipped concurrently: {flips}')


def host_isolation(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    t = lines(vm, 'TOUCH ')
    check(len(t) == 2 and all(x == 'TOUCH crtc=ENOENT plane=ENOENT' for x in t),
          f'other pipelines\' CRTC and plane give ENOENT through the lease: {t}')
    check(lines(vm, 'TOUCH_EXIT=0') and len(lines(vm, 'TOUCH_EXIT=0')) == 2, 'touch exit 0 twice')


def host_kill9(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    k = lines(vm, 'KILL9 ')
    check(value(vm, 'KILL9_EXIT') == '0' and len(k) == 1,
          f'50 x kill -9 of a lessee, next acquire succeeds: {k}')
    if k:
        print(f'MEASURED kill -9 -> next lease in hand: {k[0]}')
    check(bool(lines(vm, 'LEASED head1 1024x768')) and value(vm, 'NEXT_EXIT') is not None,
          'after kill -9 of a flipping lessee, the next one acquired head1')


def host_acl(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    check(value(vm, 'ACL_2000_HEAD3') == '1', 'uid 2000 refused on head3')
    refusals = [ln for ln in vm.output if ln.startswith('REFUSED ')]
    check(len(refusals) == 2 and all(ln.startswith('REFUSED EACCES uid ') and 'not allowed' in ln
                                     for ln in refusals),
          f'both refusals are the broker\'s EACCES: {refusals}')
    check(value(vm, 'ACL_1000_HEAD3') == '0', 'uid 1000 allowed on head3')
    check(value(vm, 'ACL_1000_HEAD0') == '1', 'uid 1000 refused on head0 (root only)')
    check(value(vm, 'ACL_1000_REVOKE') == '1', 'uid 1000 may not revoke')
    check(value(vm, 'ROOT_REVOKE') == '0', 'root may revoke')


def host_hostile(vm, check):
    vm.wait_for(r'^HOST snap$', timeout=240)
    head_is(vm, check, 0, RED, 'lessee during hostile client')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)
    check(value(vm, 'HOSTILE_EXIT') == '0', 'every abuse answered as documented')
    check(value(vm, 'FDS_BEFORE') == value(vm, 'FDS_AFTER'),
          f'broker fds {value(vm, "FDS_BEFORE")} before, {value(vm, "FDS_AFTER")} after')
    check(not lines(vm, 'REVOKED'), 'the lessee was not revoked')
    flips = [int(ln.split()[1]) for ln in lines(vm, 'FLIPS ')]
    check(flips and flips[0] >= 10, f'the lessee kept flipping: {flips}')


def host_cycles(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=400)
    c = lines(vm, 'CYCLES ')
    check(len(c) == 2 and c[0].startswith('CYCLES 1000 ') and c[1].startswith('CYCLES 200 '),
          f'all cycles done: {c}')
    check(value(vm, 'FDS_BEFORE') == value(vm, 'FDS_AFTER'),
          f'broker fds {value(vm, "FDS_BEFORE")} before, {value(vm, "FDS_AFTER")} after')
    for line in c:
        print(f'MEASURED {line}')


def host_release(vm, check):
    vm.wait_for(r'^HOST released$', timeout=120)
    head_is(vm, check, 1, RED, 'keep: after release')
    head_is_blank(vm, check, 2, 'blank: after release')
    vm.send('go')
    # Sample head 1 back to back while the next lessee starts and shows its
    # frame: every sample must be the old frame or the new one, never off.
    seen, deadline = {}, time.monotonic() + 60
    while time.monotonic() < deadline:
        w, h, rgb = vm.screendump(1)
        c = f'{colour_at(w, rgb, 500, 400):06x}' if (w, h) == (W, H) else f'off {w}x{h}'
        seen[c] = seen.get(c, 0) + 1
        if vm.readline(timeout=0.002) == 'HOST taken-over':
            break
    check(set(seen) == {f'{RED:06x}', f'{BLUE:06x}'},
          f'takeover from the kept frame without a blank one: samples {seen}')
    head_is(vm, check, 1, BLUE, 'keep: next lessee took over')
    vm.send('go')
    vm.wait_for(r'^HOST killed$', timeout=60)
    head_is(vm, check, 1, BLUE, 'keep: after kill -9')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)


def host_sigterm(vm, check):
    vm.wait_for(r'^SOCKET_', timeout=120)
    check(value(vm, 'SECOND_EXIT') == '1' and value(vm, 'SECOND_LOCKED') == '1',
          'a second broker on the same runtime directory stops at the lock')
    c = lines(vm, 'CHECK ')
    check(len(c) == 4 and c[1].startswith('CHECK head1 connector=Virtual-2 crtc=1'),
          f'--check prints the partition while a broker runs: {c}')
    check(value(vm, 'BROKER_EXIT') == '0', 'broker exits 0 on SIGTERM')
    r = sorted(lines(vm, 'REVOKED '))
    check(r == ['REVOKED head0 3', 'REVOKED head1 3'], f'both lessees revoked (shutdown): {r}')
    check(bool(lines(vm, 'SOCKET_GONE')), 'socket removed')


def host_hotplug(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    ev = lines(vm, 'EVENT CONNECTOR_CHANGED head2')
    check(ev[:2] == ['EVENT CONNECTOR_CHANGED head2 status=2',
                     'EVENT CONNECTOR_CHANGED head2 status=1'],
          f'off then on reached the client as CONNECTOR_CHANGED: {ev}')
    check(not lines(vm, 'EVENT CONNECTOR_CHANGED head0'), 'no event for untouched head0')
    pl = lines(vm, 'PIPELINE head2 ')
    check(len(pl) == 2 and 'state=2 status=2' in pl[0] and 'state=0 status=1' in pl[1],
          f'LIST shows head2 unavailable, then free: {pl}')
    h0 = lines(vm, 'PIPELINE head0 ')
    check(len(h0) == 1 and 'state=1' in h0[0] and 'current=1024x768' in h0[0],
          f'LIST shows a leased pipeline with its current mode: {h0}')
    check(value(vm, 'ACQUIRE_OFF') == '1' and bool(lines(vm, 'REFUSED ENODEV')),
          'acquire of a disconnected pipeline is refused (ENODEV)')


def host_vkms(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    vk = lines(vm, 'VKCHECK ')
    check(len(vk) == 1 and 'planes=' in vk[0] and len(vk[0].split('planes=')[1].split()[0]
                                                      .split(',')) == 2,
          f'default partition of vkms: one pipeline, primary + cursor: {vk}')
    pl = lines(vm, 'PIPELINE vk ')
    check(len(pl) == 1 and 'planes=10' in pl[0],
          f'config "primary, overlays, cursor" leases 10 planes: {pl}')
    check(bool(lines(vm, 'LEASED vk 1024x768')), 'a lessee got vk at 1024x768')
    flips = [int(ln.split()[1]) for ln in lines(vm, 'FLIPS ')]
    # 3 s at 60 Hz is 180 flips; TCG and start-up cost some.
    check(len(flips) == 1 and 60 <= flips[0] <= 200,
          f'flips through the lease paced by the real vblank: {flips}')


def host_bench(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=500)
    for line in lines(vm, 'CYCLES ') + lines(vm, 'KILL9 '):
        print(f'BENCH {line}')
    rv = sorted(float(ln.split()[1]) for ln in lines(vm, 'REVOKE_MS '))
    if rv:
        print(f'BENCH REVOKE {len(rv)} p50={rv[len(rv) // 2]:.3f} '
              f'p99={rv[min(len(rv) - 1, int(len(rv) * 0.99))]:.3f} max={rv[-1]:.3f} ms '
              '(broker: drmModeRevokeLease + keep/blank, per release)')
    check(value(vm, 'CYCLES_EXIT') == '0' and value(vm, 'KILL9_EXIT') == '0', 'bench ran')


HOST = {
    'two-clients': host_two_clients, 'isolation': host_isolation, 'kill9': host_kill9,
    'acl': host_acl, 'hostile': host_hostile, 'cycles': host_cycles,
    'release': host_release, 'sigterm': host_sigterm, 'bench': host_bench,
    'hotplug': host_hotplug, 'vkms': host_vkms,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('scenario', choices=sorted(SCENARIOS))
    p.add_argument('broker')
    p.add_argument('lessee')
    p.add_argument('--timeout', type=float, default=500)
    args = p.parse_args()
    check = Check()
    try:
        run(args, args.scenario, check)
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    print('PASS' if not check.problems else f'FAIL: {len(check.problems)} problem(s)')
    return 1 if check.problems else 0


if __name__ == '__main__':
    sys.exit(main())
