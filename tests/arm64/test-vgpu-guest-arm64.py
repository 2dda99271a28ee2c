#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host test with a real arm64 guest (R-Car boards run arm64 guests):
kmsgate-vgpu (headless output) serves QEMU 10's qemu-system-aarch64 -M virt
(TCG) through vhost-user-gpu-pci or vhost-user-gpu (virtio-mmio); a Debian
Linux 6.12 arm64 guest runs kg-frames built for aarch64.

The checks are the x86 test's (tests/host/test-vgpu-guest.py, run here with
its guest VM swapped for armvm.GuestVM): every flip completes in the guest,
display info and EDID reach it, the PNG written on SIGUSR1 equals the last
frame pixel for pixel, the cursor reaches the output, the backend's stats
count the frames, and kmsgate-vgpu ends with the fds it started with.
Prints one "FAIL <check>" line per failed check (a guest without a display,
as on mmio-legacy, fails "the guest has a display" and nothing else). Exit 0
pass, 1 fail, 99 the rig failed; a traceback (a check that could not run) is
not a check result.

Usage: test-vgpu-guest-arm64.py [--transport pci|mmio|mmio-legacy] KMSGATE_VGPU KG_FRAMES_ARM64
       [any option of test-vgpu-guest.py]
"""
import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import armvm  # noqa: E402
import kgvm  # noqa: E402  (armvm put tests/vm on the path)


def load_x86_test():
    path = os.path.join(HERE, '..', 'host', 'test-vgpu-guest.py')
    spec = importlib.util.spec_from_file_location('test_vgpu_guest', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def is_arm64_static(path):
    out = kgvm.run(['file', '-L', path], capture_output=True, text=True).stdout
    return 'ARM aarch64' in out and 'statically linked' in out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], add_help=False)
    ap.add_argument('--transport', choices=sorted(armvm.TRANSPORTS), default='pci')
    args, rest = ap.parse_known_args()
    tvg = load_x86_test()
    transport = args.transport

    class ArmGuestVM(armvm.GuestVM):
        """What test-vgpu-guest.py boots: the arm64 guest on the transport
        asked for; reports its boot time when it ends."""

        def __init__(self, opts, argv, socket_path):
            super().__init__(opts, argv, socket_path, transport=transport)

        def close(self):
            super().close()
            boot = self.timings.get('boot to command')
            print(f'arm64 guest ({transport}: {armvm.TRANSPORTS[transport][0]}, kernel '
                  f'{getattr(self, "kernel_abi", "?")}): boot to command '
                  + (f'{boot:.1f} s' if boot is not None else 'not reached'), flush=True)
            self.print_timings()

    tvg.GuestVM = ArmGuestVM
    positional = [a for a in rest[:2] if not a.startswith('-')]
    if len(positional) >= 2 and not is_arm64_static(positional[1]):
        print(f'rig error: {positional[1]} is not a static aarch64 executable')
        return 99
    sys.argv = [sys.argv[0]] + rest
    return tvg.main()


if __name__ == '__main__':
    try:
        sys.exit(main())
    except kgvm.VMError as e:
        print(f'rig error: {e}')
        sys.exit(99)
