#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e: a nested QEMU 10 guest boots inside the board VM (TCG inside TCG) with
a vhost-user-gpu-pci device served by QEMU's reference back-end
(/usr/lib/qemu/vhost-user-gpu), and its Linux virtio-gpu driver sees a
connected output. Proves the nested infrastructure on its own, without any
kmsgate component, and measures how long a nested boot takes.

Exit: 0 pass, 1 fail, 99 the rig failed (ERROR), 77 skipped."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'vm'))
import kgvm  # noqa: E402
import nested  # noqa: E402

GUEST_SH = ('echo GUEST-UP; modetest -M virtio_gpu -c | '
            'awk \'$3 == "connected" {print "GUEST-CONNECTOR", $4, $5}\'; echo GUEST-DONE')

SCENE = f'''set -u
{nested.REFERENCE_BACKEND} --socket-path=/tmp/ref.sock >/tmp/ref.log 2>&1 &
n=0; while [ ! -S /tmp/ref.sock ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
echo E2E-GUEST-START
timeout 600 {nested.qemu_guest_cmd('ref', '/tmp/ref.sock', reconnect_ms=0)}
echo E2E-GUEST-END
cat /tmp/ref.log
'''


def main():
    work = tempfile.mkdtemp(prefix='kg-e2e-')
    try:
        kernel, initrd = nested.guest_initrd(None, work, add=['/usr/bin/modetest'],
                                             script=GUEST_SH)
        scene = os.path.join(work, 'scene')
        with open(scene, 'w') as f:
            f.write(SCENE)
        adds = nested.qemu_adds() + [f'{kernel}:{nested.GUEST_KERNEL}',
                                     f'{initrd}:{nested.GUEST_INITRD}',
                                     f'{scene}:/e2e/scene']
        opts = kgvm.Options(add=adds, mem=nested.BOARD_MEM, timeout=900)
        with kgvm.VM(opts, ['sh /e2e/scene']) as vm:
            vm.wait_for(r'^E2E-GUEST-START$', timeout=300)
            t0 = time.monotonic()
            vm.wait_for(r'^\[ref\] .*@@guest-run@@', timeout=600)
            boot = time.monotonic() - t0
            conn = vm.wait_for(r'^\[ref\] GUEST-CONNECTOR (\S+) (\S+)', timeout=120)
            vm.wait_for(r'^\[ref\] .*@@guest-exit=0@@', timeout=60)
            status = vm.wait(timeout=120)
        vm.print_timings()
    except kgvm.VMError as e:
        kgvm.log(f'error: {e}')
        return 1
    finally:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(f'nested guest: booted to its command in {boot:.1f} s; sees {conn.group(1)} '
          f'{conn.group(2)} on vhost-user-gpu-pci (reference back-end)')
    return 0 if status == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
