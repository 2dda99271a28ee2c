#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shipped units under real systemd (tracker issue 12 item 3): the board
VM with Debian 12's systemd 252 as PID 1 (kgvm.Options(init='systemd'),
tests/vm/sdboard.py), the units installed as the Debian package installs
them (/lib/systemd/system, binaries in /usr/sbin and /usr/bin, the broker's
config in /etc/kmsgate), their sandboxing as shipped.

Scenarios:
  broker-kill9  kmsgate-broker.socket started; a client (kg-lessee) connects,
                which starts kmsgate-broker.service, acquires head1 and
                flips red. kill -9 of the service's MainPID; systemd restarts
                it (Restart=on-failure) and hands it its fd store. Checked:
                the stored fds (systemd's count), the client flipping across
                the kill and the restart on the same connection, head1 red
                (QMP screendump) after both, the restarted broker's journal
                saying it adopted the lease and the connection from the
                store, LIST, and `systemctl stop` revoking a lease and
                leaving the store empty.
  vgpu-ready    kmsgate-vgpu@test.service with a vgpu.conf that puts guest
                "test" on the broker's pipeline head2: starts under its
                shipped sandboxing, reaches READY (Type=notify: active only
                after READY=1), its socket listens, head2 is leased to it;
                stopping it frees head2.

Usage: test-systemd.py SCENARIO --broker B --lessee L --vgpu V
           --units BROKER_SERVICE BROKER_SOCKET VGPU_TEMPLATE --vgpu-conf PATH
Exit: 0 pass, 1 a check failed, 99 the rig failed (no boot, timeout)."""

import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402

W, H = 1024, 768
RED = 0xff0000

# As test-broker.py's CONFIG: head0..3 on Virtual-1..4, root only.
CONFIG = """[broker]
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
"""

VGPU_CONF = """[guest test]
broker = /run/kmsgate/broker.sock
pipeline = head2
"""

# What the Debian package does to the units (debian/rules: prefix /usr,
# sysconfdir /etc; debian/*.install: /lib/systemd/system).
UNIT_VARS = {'@SBINDIR@': '/usr/sbin', '@BINDIR@': '/usr/bin', '@SYSCONFDIR@': '/etc'}

PRELUDE = r"""
set -u
U=kmsgate-broker.service
prop() { systemctl show -p "$2" --value "$1"; }
# lessee N ARGS...: kg-lessee reading commands from fd N+3, output on the
# console and in /tmp/lN.out.
lessee() {
	n=$1; shift; mkfifo /tmp/q$n /tmp/o$n; eval "exec $((n+3))<>/tmp/q$n"
	tee /tmp/l$n.out </tmp/o$n & eval "T$n=\$!"
	kg-lessee "$@" </tmp/q$n >/tmp/o$n & eval "L$n=\$!"
}
lquit() { for n; do echo quit >&$((n+3)); done; for n; do eval "wait \$L$n \$T$n"; done; }
wait_file() { i=0; while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; grep -q "$2" "$1"; }
wait_lessee() { wait_file /tmp/l$1.out "$2"; }
# flips N TAG: lessee N's flip count now, printed as TAG=n.
flips() {
	c=$(grep -c '^FLIPS_NOW' /tmp/l$1.out); echo flips >&$(($1+3))
	i=0; while [ "$(grep -c '^FLIPS_NOW' /tmp/l$1.out)" = "$c" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	echo "$2=$(sed -n 's/^FLIPS_NOW \([0-9]*\).*/\1/p' /tmp/l$1.out | tail -n 1)"
}
hostwait() { echo "HOST $1"; read -r x; }
# How many fds systemd holds in the service's fd store (252 has the
# property); dump_store: the same as systemd-analyze dump says it.
store() { prop $U NFileDescriptorStore; }
dump_store() { systemd-analyze dump 2>/dev/null | sed -n "/^-> Unit $U:/,/^-> Unit /s/.*File Descriptor Store Current: *//p" | head -n 1; }
journal() { journalctl -b -u $U -o cat --no-pager; }
"""

BROKER_KILL9 = r"""
systemctl start kmsgate-broker.socket
echo "SOCKET=$(prop kmsgate-broker.socket ActiveState) SERVICE=$(prop $U ActiveState)"
lessee 1 --name survivor show head1 ff0000
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
i=0; while [ "$(prop $U ActiveState)" != active ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
P1=$(prop $U MainPID)
echo "SERVICE=$(prop $U ActiveState) PID1=$P1 NRESTARTS=$(prop $U NRestarts)"
echo "FDSTOREMAX=$(prop $U FileDescriptorStoreMax)"
i=0; while [ "$(store)" != 3 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "STORE_BEFORE=$(store) DUMP_STORE=$(dump_store)"
echo "BROKER_FDS=$(ls /proc/$P1/fd | wc -l)"
echo "SANDBOX=$(prop $U ProtectSystem),$(prop $U PrivateNetwork),$(prop $U DevicePolicy),$(prop $U NoNewPrivileges)"
grep -E '^(NoNewPrivs|Seccomp):' /proc/$P1/status | tr -s '\t ' ' ' | sed 's/^/PROC /'
flips 1 FLIPS_BEFORE
hostwait leased
kill -9 $P1
echo "KILLED=$P1"
sleep 0.3
flips 1 FLIPS_DEAD
echo "STATE_AFTER_KILL=$(prop $U ActiveState)/$(prop $U SubState)"
hostwait killed
i=0; while { [ "$(prop $U ActiveState)" != active ] || [ "$(prop $U MainPID)" = "$P1" ]; } && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
P2=$(prop $U MainPID)
echo "SERVICE=$(prop $U ActiveState) PID2=$P2 NRESTARTS=$(prop $U NRestarts)"
i=0; while [ "$(store)" != 3 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "STORE_AFTER=$(store)"
sleep 0.5
flips 1 FLIPS_AFTER
echo list >&4
wait_lessee 1 '^LIST_DONE' || echo "NO_LIST_DONE"
grep '^PIPELINE head1 ' /tmp/l1.out | tail -n 1 | sed 's/^/SURVIVOR_LIST /'
kg-lessee list | sed 's/^/AFTER_RESTART /'
hostwait restarted
# A second client holds head0 while the service stops: the stop revokes it.
lessee 2 --name victim acquire head0
wait_lessee 2 '^LEASED head0' || echo "NO_LEASE head0"
lquit 1
grep '^RELEASE' /tmp/l1.out | sed 's/^/SURVIVOR_/'
systemctl stop $U
echo "STOPPED=$(prop $U ActiveState) STORE_STOPPED=$(store) SOCKET=$(prop kmsgate-broker.socket ActiveState)"
wait_lessee 2 '^REVOKED' && echo "VICTIM_REVOKED=yes" || echo "VICTIM_REVOKED=no"
echo quit >&5 2>/dev/null; wait $L2 $T2
echo "--- journal"
journal | sed 's/^/JOURNAL /'
systemctl stop kmsgate-broker.socket
"""

VGPU_READY = r"""
V=kmsgate-vgpu@test.service
systemctl start kmsgate-broker.socket
systemctl start $V; echo "START_EXIT=$?"
echo "VGPU=$(prop $V ActiveState)/$(prop $V SubState) TYPE=$(prop $V Type) PID=$(prop $V MainPID)"
echo "VGPU_SANDBOX=$(prop $V ProtectSystem),$(prop $V PrivateNetwork),$(prop $V DevicePolicy)"
[ -S /run/kmsgate/vgpu/test.sock ] && echo "VGPU_SOCKET=yes" || echo "VGPU_SOCKET=no"
kg-lessee list | sed 's/^/LIST /'
systemctl stop $V; echo "STOP_EXIT=$?"
sleep 0.5
kg-lessee list | sed 's/^/AFTER_STOP /'
echo "--- journal"
journalctl -b -u $V -u $U -o cat --no-pager | sed 's/^/JOURNAL /'
systemctl stop $U kmsgate-broker.socket
"""


class Check:
    def __init__(self):
        self.problems = []

    def __call__(self, ok, msg):
        print(('ok   ' if ok else 'FAIL ') + msg, flush=True)
        if not ok:
            self.problems.append(msg)


def value(vm, key):
    found = None
    for line in vm.output:
        m = re.search(rf'(?:^| ){key}=(\S*)', line)
        if m:
            found = m.group(1)
    return found


def lines(vm, prefix):
    return [ln for ln in vm.output if ln.startswith(prefix)]


def head_is(vm, check, head, colour, label):
    w, h, rgb = vm.screendump(head)
    if (w, h) != (W, H):
        check(False, f'{label}: head {head} is {w}x{h}, expected {W}x{H} of {colour:06x}')
        return
    bad = []
    for y in range(0, H, 97):
        for x in range(0, W, 131):
            o = (y * w + x) * 3
            if (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2] != colour:
                bad.append((x, y))
    check(not bad, f'{label}: head {head} shows {colour:06x}'
          + (f' (wrong at {len(bad)} points)' if bad else ''))


def as_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def host_broker_kill9(vm, check):
    vm.wait_for(r'^HOST leased$', timeout=240)
    head_is(vm, check, 1, RED, 'the client\'s lease')
    vm.send('go')
    vm.wait_for(r'^HOST killed$', timeout=120)
    head_is(vm, check, 1, RED, 'after kill -9 of the broker')
    vm.send('go')
    vm.wait_for(r'^HOST restarted$', timeout=120)
    head_is(vm, check, 1, RED, 'after systemd restarted the broker')
    vm.send('go')
    vm.wait_for(r'^--- journal$', timeout=120)
    status = vm.wait(timeout=120)
    out = '\n'.join(vm.output)
    journal = '\n'.join(ln[len('JOURNAL '):] for ln in lines(vm, 'JOURNAL '))

    check(value(vm, 'SOCKET') is not None and 'SERVICE=active' in out,
          'a connection to kmsgate-broker.socket started kmsgate-broker.service')
    check(value(vm, 'FDSTOREMAX') == '1231', f'FileDescriptorStoreMax={value(vm, "FDSTOREMAX")} '
          '(as shipped)')
    print(f'note: systemd-analyze dump says {value(vm, "DUMP_STORE")} fds in the store')
    check(value(vm, 'STORE_BEFORE') == '4',
          f'systemd holds 4 fds of the broker (drm-master, lease-table, the client\'s '
          f'connection, the broker\'s copy of its lease fd, and no kmsgate-listen: '
          f'socket-activated): {value(vm, "STORE_BEFORE")}')
    print('note: ' + ' '.join(lines(vm, 'PROC ')) + f' sandbox {value(vm, "SANDBOX")}')
    check(value(vm, 'SANDBOX') == 'strict,yes,closed,yes',
          f'the broker runs with the shipped sandboxing: {value(vm, "SANDBOX")}')
    p1, p2 = as_int(value(vm, 'PID1')), as_int(value(vm, 'PID2'))
    check(bool(p1 and p2 and p1 != p2),
          f'systemd restarted the broker after kill -9 (MainPID {p1} -> {p2}, '
          f'NRestarts {value(vm, "NRESTARTS")})')
    check(value(vm, 'NRESTARTS') == '1', f'one restart (NRestarts={value(vm, "NRESTARTS")})')
    f0, f1, f2 = (as_int(value(vm, k)) for k in ('FLIPS_BEFORE', 'FLIPS_DEAD', 'FLIPS_AFTER'))
    check(f0 is not None and f1 is not None and f2 is not None and f0 < f1 < f2,
          f'the client flips on across the kill and the restart: {f0} -> {f1} -> {f2}')
    gaps = [ln.split('gap=')[1] for ln in lines(vm, 'FLIPS_NOW ') if 'gap=' in ln]
    if gaps:
        print(f'note: longest time between flip events up to each count: {gaps} ms')
    # kg-lessee prints "FLIPS n" when it stops showing: on its quit, after
    # the restart, not when the broker's connection closed.
    end = [i for i, ln in enumerate(vm.output) if re.match(r'^FLIPS \d+', ln)]
    restarted = [i for i, ln in enumerate(vm.output) if ln == 'HOST restarted']
    check(bool(end and restarted) and end[0] > restarted[0]
          and not any(re.match(r'^(BROKER_GONE|FLIP_FAILED|REVOKED head1)', ln)
                      for ln in vm.output),
          'the client never lost its connection or its lease (it showed until its quit)')
    check(value(vm, 'STORE_AFTER') == '4',
          f'the restarted broker\'s fds are in the store again: {value(vm, "STORE_AFTER")}')
    check('systemd\'s fd store passed a DRM master fd (drm-master and the lease table), '
          '1 connection(s)' in journal,
          'the restarted broker got its master fd, table and connection from systemd')
    check(bool(re.search(r'pipeline head1: adopted the kernel\'s lease \(lessee \d+\) with its '
                         r'client\'s connection client-\d+', journal)),
          'the restarted broker adopted head1\'s lease with the client\'s connection (journal)')
    check(bool(re.search(r'took back connection client-\d+ from the fd store: .*"survivor"',
                         journal)),
          'it took back survivor\'s connection from the fd store (journal)')
    mine = lines(vm, 'SURVIVOR_LIST ')
    check(bool(mine) and 'state=1' in mine[-1] and 'mine=1' in mine[-1],
          f'LIST on the surviving connection shows head1 as its own: {mine}')
    other = ' '.join(lines(vm, 'AFTER_RESTART '))
    check('PIPELINE head1 state=1' in other and 'PIPELINE head0 state=0' in other,
          'a new client sees head1 leased, head0 free')
    check(value(vm, 'SURVIVOR_RELEASE') == 'ok' or 'SURVIVOR_RELEASE ok' in out,
          f'the client releases head1: {lines(vm, "SURVIVOR_RELEASE")}')
    check(value(vm, 'VICTIM_REVOKED') == 'yes', 'systemctl stop revoked the lease of head0')
    check(value(vm, 'STOPPED') == 'inactive' and value(vm, 'STORE_STOPPED') == '0',
          f'after systemctl stop: service {value(vm, "STOPPED")}, store '
          f'{value(vm, "STORE_STOPPED")} fds')
    check('status=9/KILL' in journal, 'systemd saw the SIGKILL (journal)')
    return status


def host_vgpu_ready(vm, check):
    vm.wait_for(r'^--- journal$', timeout=240)
    status = vm.wait(timeout=120)
    journal = '\n'.join(lines(vm, 'JOURNAL '))
    check(value(vm, 'START_EXIT') == '0', 'systemctl start kmsgate-vgpu@test returned 0 '
          '(Type=notify: after READY=1)')
    check(value(vm, 'VGPU') == 'active/running', f'the unit is {value(vm, "VGPU")}')
    check(value(vm, 'TYPE') == 'notify', f'Type={value(vm, "TYPE")}')
    check(value(vm, 'VGPU_SANDBOX') == 'strict,yes,closed',
          f'with the shipped sandboxing: {value(vm, "VGPU_SANDBOX")}')
    check(value(vm, 'VGPU_SOCKET') == 'yes', 'its socket /run/kmsgate/vgpu/test.sock is there')
    head2 = [ln for ln in lines(vm, 'LIST PIPELINE head2 ')]
    check(bool(head2) and 'state=1' in head2[0], f'head2 is leased to it: {head2}')
    after = [ln for ln in lines(vm, 'AFTER_STOP PIPELINE head2 ')]
    check(bool(after) and 'state=0' in after[0], f'stopping it frees head2: {after}')
    check(value(vm, 'STOP_EXIT') == '0', 'systemctl stop returned 0')
    check('serving vhost-user-gpu on /run/kmsgate/vgpu/test.sock' in journal,
          'its journal says it serves on its socket')
    return status


SCENARIOS = {'broker-kill9': (BROKER_KILL9, host_broker_kill9),
             'vgpu-ready': (VGPU_READY, host_vgpu_ready)}


def unit_text(path):
    with open(path) as f:
        text = f.read()
    for k, v in UNIT_VARS.items():
        text = text.replace(k, v)
    if '@' in re.sub(r'kmsgate-vgpu@|%i|@\.service', '', text):
        raise kgvm.VMError(f'{path}: a @VARIABLE@ the test does not fill')
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument('scenario', choices=sorted(SCENARIOS))
    p.add_argument('--broker', required=True)
    p.add_argument('--lessee', required=True)
    p.add_argument('--vgpu', required=True)
    p.add_argument('--units', nargs=3, required=True,
                   metavar=('BROKER_SERVICE', 'BROKER_SOCKET', 'VGPU_TEMPLATE'))
    p.add_argument('--vgpu-conf', required=True,
                   help='where this build\'s kmsgate-vgpu reads vgpu.conf (its sysconfdir)')
    p.add_argument('--timeout', type=float, default=400)
    args = p.parse_args()
    script, host = SCENARIOS[args.scenario]
    check = Check()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            def put(name, text):
                path = os.path.join(tmp, name)
                with open(path, 'w') as f:
                    f.write(text)
                return path
            add = [f'{args.broker}:/usr/sbin/kmsgate-broker',
                   f'{args.vgpu}:/usr/bin/kmsgate-vgpu',
                   f'{args.lessee}:/usr/bin/kg-lessee',
                   f'{put("conf", CONFIG)}:/etc/kmsgate/kmsgate.conf',
                   f'{put("vgpu.conf", VGPU_CONF)}:{args.vgpu_conf}',
                   f'{put("scenario.sh", PRELUDE + script)}:/usr/bin/scenario.sh']
            for src, name in zip(args.units, ('kmsgate-broker.service', 'kmsgate-broker.socket',
                                              'kmsgate-vgpu@.service')):
                add.append(f'{put(name, unit_text(src))}:/lib/systemd/system/{name}')
            opts = kgvm.Options(add=add, init='systemd', timeout=args.timeout)
            with kgvm.VM(opts, ['sh', '/usr/bin/scenario.sh']) as vm:
                status = host(vm, check)
                vm.print_timings()
            if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
                raise kgvm.VMError(f'the VM ended with status {status}')
            check(status == 0, f'guest script exit status {status}')
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    print('PASS' if not check.problems else f'FAIL: {len(check.problems)} problem(s)')
    return 1 if check.problems else 0


if __name__ == '__main__':
    sys.exit(main())
