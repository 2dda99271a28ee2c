#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kmsgate-vgpu under a real guest, and the guest does not notice
(tracker issue 12; docs/reliability.md). QEMU 10's stock vhost-user-gpu-pci
(with --qemu-module-dir, qemu-patches/' blob module: the guest's flips are
fenced and wait for kmsgate-vgpu) and a Linux 6.12 guest running kg-frames
at 30 frames/s; kmsgate-vgpu on the headless output runs under kg-fdstore
(tests/vm/broker/kg-fdstore.c), which plays systemd's fd store: an
emulation of what sd_notify(3) and sd_listen_fds(3) document, not systemd.
While the guest flips, kmsgate-vgpu is killed KILLS times at random moments
(--seed, printed) and started again at once (Restart=always).

Checks: every restart served the same QEMU again and restored the guest's
resources; the guest saw every flip complete and kg-frames says RESULT ok;
the guest's kernel logged no virtio-gpu or DRM error; the PNG kmsgate-vgpu
writes on SIGUSR1 (the last restarted process) equals the guest's last
frame pixel for pixel; a clean stop empties the store. The guest's longest
flip (kg-frames max_us) is printed: paced, it is the longest pause a guest
saw, the recovery time as the guest feels it.

Usage: test-vgpu-guest-restart.py KMSGATE_VGPU KG_FRAMES KG_FDSTORE [--kills N]
       [--seed S] [--frames N] [--qemu-module-dir DIR]
Exit: 0 pass, 1 a check failed, 77 the QEMU module is not built, 99 the rig
failed."""

import argparse
import importlib.util
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import kgvm  # noqa: E402
import fdstore_rig  # noqa: E402

_spec = importlib.util.spec_from_file_location('tvg', os.path.join(HERE, 'test-vgpu-guest.py'))
tvg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tvg)

SIZE = (800, 600)
# Guest kernel lines that would mean the device failed it (virtio-gpu's
# "*ERROR* response 0x.. (command 0x..)", a dequeue timeout, a DRM error).
GUEST_ERRORS = r'virtio_gpu|\[drm\]|virtio-pci'


def killer(store, rnd, kills, started, stop, done):
    """kill -9 at random moments once the guest flips, until stop is set."""
    started.wait()
    time.sleep(2)
    for _ in range(kills):
        if stop.wait(rnd.uniform(0.3, 1.0)):
            break
        n = store.count('FDSTORE READY')
        old = store.pid
        store.cmd('kill9')
        store.cmd('start')
        done.append(time.monotonic())
        # The next kill once this restart is serving.
        if not store.wait_count('FDSTORE READY', n + 1, 10):
            info = []
            with store.lock:
                new = [int(m.group(1)) for m in (re.search(r'FDSTORE STARTED pid=(\d+)', ln)
                                                 for ln in store.lines) if m][-1]
            for what in ('status', 'wchan', 'stack', 'cmdline', 'syscall'):
                try:
                    with open(f'/proc/{new}/{what}') as f:
                        text = f.read()
                    if what == 'status':
                        text = ' '.join(ln for ln in text.splitlines()
                                        if ln.startswith(('State', 'SigPnd', 'ShdPnd')))
                    info.append(f'{what}: ' + text.replace('\n', ' | ').strip())
                except OSError as e:
                    info.append(f'{what}: {e.strerror}')
            print(f'FAIL no restarted kmsgate-vgpu ready 10 s after kill -9 of pid {old}; '
                  f'the new one, pid {new}: {"; ".join(info)}', flush=True)
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('vgpu')
    ap.add_argument('kg_frames')
    ap.add_argument('fdstore')
    ap.add_argument('--kills', type=int, default=8)
    ap.add_argument('--seed', type=int, default=int(time.time()) % 100000)
    ap.add_argument('--frames', type=int, default=360)
    ap.add_argument('--qemu-module-dir')
    ap.add_argument('--keep', help='keep the logs and PNGs in this directory')
    args = ap.parse_args()
    if args.qemu_module_dir:
        mod = os.path.join(args.qemu_module_dir, 'hw-display-virtio-gpu.so')
        if not os.path.exists(mod):
            print(f'SKIP: {mod} is not built; run qemu-patches/build BUILD_DIR')
            return 77
        os.environ['QEMU_MODULE_DIR'] = os.path.abspath(args.qemu_module_dir)
    print(f'seed {args.seed}, {args.kills} kills, {args.frames} frames at 30/s', flush=True)
    rnd = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix='kg-restart-guest-')
    out_dir = args.keep or tmp
    os.makedirs(out_dir, exist_ok=True)
    c = tvg.Checker()
    started, stop, kills = threading.Event(), threading.Event(), []
    sock = os.path.join(tmp, 'vgpu.sock')
    store = fdstore_rig.FdStore(
        args.fdstore, 64, os.path.join(tmp, 'notify'),
        [args.vgpu, '--socket', sock, '--output', 'headless', '--headless-size',
         f'{SIZE[0]}x{SIZE[1]}', '--png-dir', out_dir, '--log-level', 'debug'],
        log_path=os.path.join(out_dir, 'kmsgate-vgpu.log'))
    try:
        if not store.wait_count('FDSTORE READY', 1, 10):
            print('rig error: kmsgate-vgpu did not start under kg-fdstore:\n' +
                  '\n'.join(store.lines[-20:]))
            return 99
        guest_cmd = (
            'echo "DRM $(ls /sys/class/drm 2>/dev/null | tr "\\n" " ")"; '
            f'kg-frames --frames {args.frames} --fps 30 --pattern gradient --quiet --hold; '
            f'dmesg | grep -E "{GUEST_ERRORS}" | grep -iE "error|fail|timeout|timed out" | '
            'sed "s/^/GUESTERR /"; echo GUESTLOG-END')
        params = {'drm_kms_helper': 'fbdev_emulation=0'} if args.qemu_module_dir else {}
        opts = kgvm.Options(add=[f'{args.kg_frames}:/bin/kg-frames'], mem=tvg.MEM_MB,
                            timeout=300, module_params=params)
        kt = threading.Thread(target=killer, args=(store, rnd, args.kills, started, stop, kills),
                              daemon=True)
        kt.start()
        t0 = time.monotonic()
        with tvg.GuestVM(opts, ['sh', '-c', guest_cmd], sock) as vm:
            vm.wait_for(r'^DRM ', timeout=240)
            started.set()
            vm.wait_for(r'^RESULT ', timeout=240)
            stop.set()
            kt.join(timeout=15)
            time.sleep(tvg.SETTLE_S)
            # The last restarted process shows the guest's last frame.
            n_png = store.count('PNG file')
            os.kill(store.pid, signal.SIGUSR1)
            png_ok = store.wait_count('PNG file', n_png + 1, 10)
            live = os.path.join(out_dir, 'scanout-0-live.png')
            if png_ok:
                shutil.copy(os.path.join(out_dir, 'scanout-0.png'), live)
            vm.send('done')
            vm.wait_for(r'^GUESTLOG-END', timeout=60)
            status = vm.wait(timeout=60)
            lines = list(vm.output)
        print(f'guest ran {time.monotonic() - t0:.1f} s, status {status}; {len(kills)} kills',
              flush=True)
        if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
            raise kgvm.VMError(f'the guest did not finish (status {status})')
        text = '\n'.join(lines)
        cards = tvg.guest_cards(lines)
        if not c.check(bool(cards), 'the guest has a display'):
            return 1
        served = store.count('serving the front-end of the previous kmsgate-vgpu again')
        restored = store.count("the guest's resources and scanouts are back")
        c.check(len(kills) == args.kills and served == len(kills) and restored == len(kills),
                f'{len(kills)} of {args.kills} kills; each restart served the same QEMU again '
                f'({served}) and restored the guest\'s resources ({restored})')
        m = re.search(r'^kg-frames: mode (\d+)x(\d+) frames (\d+) events (\d+) '
                      r'p50_us ([\d.]+) p99_us ([\d.]+) max_us ([\d.]+)', text, re.M)
        c.check(bool(m) and int(m.group(3)) == args.frames and int(m.group(4)) == args.frames,
                'the guest saw every flip complete' + (f' ({m.group(0)})' if m else ''))
        c.check(re.search(r'^RESULT ok$', text, re.M) is not None, 'kg-frames: RESULT ok')
        if m:
            print(f'guest flip latency: p50 {float(m.group(5)) / 1000:.1f} ms, p99 '
                  f'{float(m.group(6)) / 1000:.1f} ms, max {float(m.group(7)) / 1000:.1f} ms '
                  f'(paced: {bool(args.qemu_module_dir)})')
        errs = re.findall(r'^GUESTERR (.*)$', text, re.M)
        c.check(not errs, f'the guest kernel logged no virtio-gpu/DRM error ({errs[:3]})')
        if png_ok and os.path.exists(live):
            w, h, rows = tvg.png_rgb(live)
            bad = sum(1 for y in range(min(h, SIZE[1]))
                      if rows[y] != tvg.expected_row('gradient', args.frames - 1, y, w))
            c.check((w, h) == SIZE and bad == 0,
                    f'the restarted kmsgate-vgpu shows the guest\'s last frame '
                    f'{args.frames - 1} ({w}x{h}, {bad} rows differ)')
        else:
            c.check(False, 'the restarted kmsgate-vgpu wrote its PNG on SIGUSR1')
    finally:
        stop.set()
        store.finish()
    c.check(store.count('FDSTORE EXITED status=0') == 1 and not store.stored,
            f'a clean stop: exit 0 and an empty store (left: {sorted(store.stored)})')
    if c.failures:
        print('kmsgate-vgpu log tail:\n' + '\n'.join(store.lines[-30:]))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print('PASS' if not c.failures else f'FAIL: {len(c.failures)} check(s)')
    return 1 if c.failures else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except kgvm.VMError as e:
        print(f'rig error: {e}')
        sys.exit(99)
