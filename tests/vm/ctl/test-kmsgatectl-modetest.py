#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kmsgatectl in the board VM, against the real broker on virtio-gpu:

1. `list --json` and `show` describe the configured pipeline;
2. `run --preload head1 -- modetest -M virtio_gpu -s CONN@CRTC:1024x768 -v`
   runs libdrm's unmodified modetest on the lease: host screendumps of head 1
   catch both of modetest's page-flip buffers (SMPTE bars and its plain
   0x777777 fill) at 1024x768, and no other head shows them;
3. while it runs the pipeline is listed as leased to kmsgatectl, and a second
   `run` of the same pipeline is refused (busy, exit 1);
4. modetest quits (a key on its stdin): run exits 0 and the pipeline is free;
5. `run -- sh -c 'exit 3'` exits 3 (the program's status);
6. `revoke head1` while `run -- sleep` holds it: the program gets SIGTERM
   and run exits 143;
7. master-probe under `run --preload`: /dev/dri/card0 shows only the leased
   connector and CRTC, drmSetMaster works, DROP_MASTER is EINVAL from the
   kernel and made to succeed by the shim;
8. while `run -- sleep 1` holds head1, `run` fails (1) and `run --wait`
   gets the pipeline once it is released (0).

Usage: test-kmsgatectl-modetest.py [--no-preload] BROKER KMSGATECTL PRELOAD_SO MODETEST MASTER_PROBE
--no-preload runs modetest without the shim: it then opens the real device,
is not DRM master and cannot display, so its checks (head 1 shows its
buffers, it reports a page-flip rate) must fail, and nothing else: the meson
test of that runs through tests/must-fail. master-probe (7.) always runs with
the shim.
Exit: 0 pass, 1 a check failed, 77 skipped (no modetest), 99 the rig failed."""

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402

W, H = 1024, 768
SHIM = '/usr/lib/kmsgate/libkmsgate-preload.so'
CONFIG = """[broker]
allow-users = 0
[head1]
connector = Virtual-2
mode = 1024x768
"""

GUEST = r"""
set -u
chmod 755 /
mkdir -p /run/kmsgate /etc
cat >/etc/kmsgate.conf <<'CONF'
@CONFIG@CONF
kmsgate-broker --config /etc/kmsgate.conf --log-level debug 2>/tmp/broker.log &
B=$!
i=0; while [ ! -S /run/kmsgate/broker.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -S /run/kmsgate/broker.sock ] || { echo "NO BROKER SOCKET"; cat /tmp/broker.log; exit 99; }
json() { echo "JSON_BEGIN $1"; kmsgatectl list --json; echo "JSON_END $1"; }
json before
kmsgatectl show head1; echo "SHOW_EXIT=$?"
export KMSGATE_PRELOAD=@SHIM@
# modetest -v quits on any input: give it a fifo nobody writes to until the host says so.
mkfifo /tmp/keys; exec 5<>/tmp/keys
kmsgatectl run @PRELOAD@ head1 -- sh -c \
  'exec modetest -M virtio_gpu -s $KMSGATE_CONNECTOR_ID@$KMSGATE_CRTC_ID:1024x768 -v' \
  </tmp/keys >/tmp/modetest.log 2>&1 &
R=$!
i=0; while ! grep -q '^freq:' /tmp/modetest.log && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
json during
kmsgatectl run head1 -- true; echo "BUSY_EXIT=$?"
echo "HOST snap"; read -r x
echo q >&5
wait $R; echo "RUN_EXIT=$?"
echo "--- modetest"; cat /tmp/modetest.log; echo "--- end"
json after
kmsgatectl run head1 -- sh -c 'exit 3'; echo "STATUS_EXIT=$?"
kmsgatectl run --preload head1 -- master-probe; echo "PROBE_EXIT=$?"
# The holder runs until told (not for a fixed second: on a loaded host that
# raced the checks below), and the waiter must be queued before it ends.
mkfifo /tmp/hold
kmsgatectl run head1 -- sh -c 'read x </tmp/hold' &
W=$!
i=0; while ! kmsgatectl list | grep -q 'head1 *leased'; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || break; done
kmsgatectl run head1 -- true; echo "NOWAIT_EXIT=$?"
kmsgatectl run --wait head1 -- sh -c 'echo "WAITED_FOR=$KMSGATE_PIPELINE"' >/tmp/waited &
WW=$!
i=0; while ! grep -q 'waits for head1' /tmp/broker.log && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
grep -q 'waits for head1' /tmp/broker.log || echo "NO_WAITER"
echo go >/tmp/hold
wait $WW; echo "WAIT_EXIT=$?"
cat /tmp/waited
wait $W
kmsgatectl run head1 -- sleep 100 &
S=$!
i=0; while ! kmsgatectl list | grep -q 'head1 *leased'; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ] || break; done
kmsgatectl revoke head1; echo "REVOKE_EXIT=$?"
wait $S; echo "REVOKED_RUN_EXIT=$?"
kill -TERM $B; wait $B; echo "BROKER_EXIT=$?"
echo "--- broker log"; tail -n 30 /tmp/broker.log
"""

SMPTE_TOP = [0xc0c0c0, 0xc0c000, 0x00c0c0, 0x00c000, 0xc000c0, 0xc00000, 0x0000c0]
PLAIN = 0x777777


def pixel(w, rgb, x, y):
    o = (y * w + x) * 3
    return (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]


def classify(w, h, rgb):
    """'smpte', 'plain', or a description of what the head shows."""
    if (w, h) != (W, H):
        return f'{w}x{h} (not modeset)'
    bars = [pixel(w, rgb, W * (2 * i + 1) // 14, H // 6) for i in range(7)]
    if bars == SMPTE_TOP:
        return 'smpte'
    pts = [pixel(w, rgb, x, y) for x in (0, 511, 1023) for y in (0, 383, 767)]
    if all(p == PLAIN for p in pts):
        return 'plain'
    return 'other: ' + ' '.join(f'{p:06x}' for p in bars)


def json_block(lines, tag):
    out, inside = [], False
    for line in lines:
        if line == f'JSON_BEGIN {tag}':
            inside = True
        elif line == f'JSON_END {tag}':
            return json.loads('\n'.join(out))
        elif inside:
            out.append(line)
    raise ValueError(f'no JSON block "{tag}" in the output')


def value(lines, key):
    # Anywhere in a line: a background kmsgatectl's log line can share the
    # console line with the echo (seen: "... kmsgatectl warn: REVOKE_EXIT=0").
    for line in lines:
        m = re.search(rf'(?<![A-Z_]){key}=(-?\d+)\b', line)
        if m:
            return int(m.group(1))
    return None


def main():
    args = sys.argv[1:]
    preload = '--preload'
    if args and args[0] == '--no-preload':
        preload = ''
        args = args[1:]
    if len(args) != 5:
        print(__doc__, file=sys.stderr)
        return 99
    broker, ctl, shim, modetest, probe = args
    if not os.path.exists(modetest):
        print(f'SKIP: {modetest} missing (Debian package libdrm-tests)')
        return 77
    guest = GUEST.replace('@CONFIG@', CONFIG).replace('@SHIM@', SHIM).replace('@PRELOAD@', preload)
    opts = kgvm.Options(add=[f'{broker}:/bin/kmsgate-broker', f'{ctl}:/bin/kmsgatectl',
                             f'{shim}:{SHIM}', f'{modetest}:/bin/modetest',
                             f'{probe}:/bin/master-probe'], timeout=300)
    problems = []
    seen = {}
    try:
        with kgvm.VM(opts, [guest]) as vm:
            vm.wait_for(r'^HOST snap$', timeout=240)
            # modetest flips as fast as virtio-gpu takes frames: sample until
            # both buffers were caught (or give up after 3 s).
            t0 = time.monotonic()
            while len({'smpte', 'plain'} & set(seen)) < 2 and time.monotonic() - t0 < 3:
                kind = classify(*vm.screendump(1))
                seen[kind] = seen.get(kind, 0) + 1
            for head in (0, 2, 3):
                kind = classify(*vm.screendump(head))
                if kind in ('smpte', 'plain'):
                    problems.append(f'head {head} shows modetest\'s {kind} frame too')
            vm.send('go')
            status = vm.wait(timeout=120)
            lines = vm.output
    except kgvm.VMError as e:
        print(f'RIG FAILURE: {e}', file=sys.stderr)
        return 99
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'RIG FAILURE: the VM ended with status {status}', file=sys.stderr)
        return 99
    print(f'head 1 screendumps: {seen}')
    for want in ('smpte', 'plain'):
        if want not in seen:
            problems.append(f'head 1 never showed modetest\'s {want} buffer (saw {seen})')
    if status != 0:
        problems.append(f'guest script exit status {status}')
    try:
        before, during, after = (json_block(lines, t) for t in ('before', 'during', 'after'))
    except ValueError as e:
        problems.append(str(e))
        before = during = after = []
    pipes = {p['name']: p for p in before}
    if set(pipes) != {'head1'}:
        problems.append(f'list --json before: pipelines {sorted(pipes)}, expected head1')
    else:
        p = pipes['head1']
        if p['state'] != 'free' or p['connector']['name'] != 'Virtual-2' or not p['allowed']:
            problems.append(f'list --json before: head1 is {p}')
        if not any(pl['type'] == 'primary' for pl in p['planes']):
            problems.append('list --json: head1 has no primary plane')
    during = {p['name']: p for p in during}
    if during.get('head1', {}).get('state') != 'leased' or \
            (during['head1'].get('lessee') or {}).get('name') != 'kmsgatectl':
        problems.append(f'list --json during run: head1 is {during.get("head1")}')
    after = {p['name']: p for p in after}
    if after.get('head1', {}).get('state') != 'free':
        problems.append(f'list --json after run: head1 is {after.get("head1")}')
    for key, want in (('SHOW_EXIT', 0), ('BUSY_EXIT', 1), ('RUN_EXIT', 0), ('STATUS_EXIT', 3),
                      ('REVOKE_EXIT', 0), ('REVOKED_RUN_EXIT', 143), ('PROBE_EXIT', 0), ('NOWAIT_EXIT', 1),
                      ('WAIT_EXIT', 0)):
        got = value(lines, key)
        if got != want:
            problems.append(f'{key}={got}, expected {want}')
    if 'NO_WAITER' in lines:
        problems.append('run --wait was not queued by the broker within 20 s')
    if 'WAITED_FOR=head1' not in lines:
        problems.append('run --wait did not run its program on head1')
    if not any(re.match(r'^freq: [0-9.]+Hz$', line) for line in lines):
        problems.append('modetest never reported a page-flip rate')
    for p in problems:
        print(f'FAIL {p}')
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
