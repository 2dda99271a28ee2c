#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kmsgate-vgpu on a real KMS head, and the head never goes dark
(tracker issue 12; docs/reliability.md). In the board VM: kmsgate-vgpu
--output kms on the board's virtio-gpu card (head 0, the copy path), fed by
kg-frontend (QEMU and the guest, 30 frames/s), runs under kg-fdstore
--restart (tests/vm/broker/kg-fdstore.c: an EMULATION of systemd's fd store
and Restart=always, RestartSec=0). The host kills kmsgate-vgpu KILLS times
at seeded random moments (--seed, printed) and takes QMP screendumps of
head 0 all along, most of them in the 400 ms after each kill.

Checks: every screendump shows kg-frontend's frames (64 points, at least
60 of them each equal to its pattern for some frame; an unlit head is
black, a foreign buffer matches none); each restart served the same front-end
again, took the previous process's DRM device and said its frame stays on
screen; the guest got every fence, in order; kmsgate-vgpu exits cleanly on
SIGTERM.

Usage: test-vgpu-kms-restart.py KMSGATE_VGPU KG_FRONTEND KG_FDSTORE [--kills N]
       [--seed S]
Exit: 0 pass, 1 a check failed, 99 the rig failed."""

import argparse
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402
import screendump  # noqa: E402

SECONDS = 40  # kg-frontend's run at about 30 frames/s; the kills end well before
SCRIPT = r'''
dev=; for c in /sys/class/drm/card[0-9]; do grep -q virtio $c/device/uevent 2>/dev/null && dev=/dev/dri/${{c##*/}}; done
echo "card: $dev"
mkfifo /tmp/cmd
kg-fdstore --max 64 --restart /tmp/notify kmsgate-vgpu --socket /tmp/vg.sock --device $dev \
    --connector Virtual-1 </tmp/cmd >/tmp/store.log 2>&1 &
exec 3>/tmp/cmd
while [ ! -S /tmp/vg.sock ]; do sleep 0.1; done
kg-frontend --socket /tmp/vg.sock --frames {frames} --draw fixed:30 >/tmp/fe.log 2>&1 &
fe=$!
while [ "$(grep -c '^FENCE' /tmp/fe.log)" -lt 30 ]; do sleep 0.2; done
echo RUNNING
while read cmd; do
    case "$cmd" in
    kill) kill -9 $(pidof kmsgate-vgpu) && echo KILLED;;
    done) break;;
    esac
done
wait $fe; echo "FRONTEND exit=$?"
echo stop >&3; sleep 2; echo quit >&3; exec 3>&-; sleep 1
grep -E '^(FENCE|RESULT)' /tmp/fe.log
sed 's/^/STORE /' /tmp/store.log
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('vgpu')
    ap.add_argument('frontend')
    ap.add_argument('fdstore')
    ap.add_argument('--kills', type=int, default=10)
    ap.add_argument('--seed', type=int, default=int(time.time()) % 100000)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    print(f'seed {a.seed}, {a.kills} kills', flush=True)
    opts = kgvm.Options(timeout=SECONDS + 240, add=[
        f'{a.vgpu}:/bin/kmsgate-vgpu', f'{a.frontend}:/bin/kg-frontend',
        f'{a.fdstore}:/bin/kg-fdstore'])
    problems, dumps, frames_seen, kill_at = [], 0, [], []
    try:
        with kgvm.VM(opts, ['sh', '-c', SCRIPT.format(frames=SECONDS * 30)]) as vm:
            vm.wait_for(r'^RUNNING$', timeout=180)
            w, h, _ = vm.screendump(0)
            # 8 x 8 points over the guest's frame (the head's mode).
            points = screendump.grid(w, h)

            def sample(tag):
                nonlocal dumps
                w2, h2, rgb = vm.screendump(0)
                dumps += 1
                f, black = screendump.frame_shown(w2, h2, rgb, points, range(4096))
                if f is None:
                    problems.append(f'{tag}: head 0 shows no guest frame ({black} of 64 '
                                    f'points black)')
                else:
                    frames_seen.append(f)

            sample('before the kills')
            for k in range(a.kills):
                end = time.monotonic() + rnd.uniform(0.3, 1.0)
                while time.monotonic() < end:
                    sample(f'before kill {k + 1}')
                vm.send('kill')
                kill_at.append(time.monotonic())
                end = time.monotonic() + 0.4
                while time.monotonic() < end:
                    sample(f'kill {k + 1}, {1000 * (time.monotonic() - kill_at[-1]):.0f} ms after')
                if len(problems) > 10:
                    break
            vm.send('done')
            status = vm.wait(timeout=SECONDS + 120)
            lines = list(vm.output)
    except kgvm.VMError as e:
        print(f'rig error: {e}')
        return 99
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}')
        return 99
    text = '\n'.join(lines)
    kills = text.count('\nKILLED')
    print(f'{dumps} screendumps of head 0, frames seen {min(frames_seen, default=-1)}..'
          f'{max(frames_seen, default=-1)}; {kills} kills')
    fences = [int(m.group(1)) for m in re.finditer(r'^FENCE (\d+) ', text, re.M)]
    result = re.search(r'^RESULT frames=(\d+)', text, re.M)
    if (re.search(r'^FRONTEND exit=0$', text, re.M) is None or not result
            or fences != list(range(int(result.group(1))))):
        problems.append(f'the guest noticed: {re.findall(r"^FRONTEND .*$", text, re.M)}, '
                        f'{len(fences)} fences, {result.group(0) if result else "no RESULT"}')
    served = text.count('serving the front-end of the previous kmsgate-vgpu again')
    kept = text.count("the previous kmsgate-vgpu's frame stays on screen")
    if kills != a.kills or served != kills or kept != kills:
        problems.append(f'{kills} of {a.kills} kills; {served} restarts served the front-end '
                        f'again, {kept} kept the previous frame')
    if 'STORE FDSTORE EXITED status=0' not in text:
        problems.append('kmsgate-vgpu did not exit cleanly on SIGTERM')
    if problems:
        print('\n'.join(ln for ln in lines if ln.startswith('STORE '))[-3000:])
    return kgvm.verdict(problems)


if __name__ == '__main__':
    sys.exit(main())
