#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host test of virgl 3D: kmsgate-vgpu --virgl (headless output) serves
QEMU 10's stock vhost-user-gpu-pci (TCG, memfd guest RAM, -display none); the
3D guest (tests/vm/guestimg.py: Debian 12's Mesa, unmodified kmscube) runs
kmscube on its virtio-gpu card through GBM/EGL and Mesa's virgl driver.

Checks: the guest negotiated VIRTIO_GPU_F_VIRGL; kmscube's GL renderer is
virgl (not the guest's own llvmpipe); two PNGs of scanout 0 taken a moment
apart (SIGUSR1, --png-dir) are not one flat colour, show the cube in the
centre (it differs from the background in the corners), and differ from each
other (the cube spins); kmsgate-vgpu exits cleanly.
Exit 0 pass, 1 fail, 99 the rig failed (an ERROR in meson).

Usage: test-vgpu-virgl.py KMSGATE_VGPU [--size WxH] [--keep DIR] [--gap S]
"""
import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import guestimg  # noqa: E402
import kgvm  # noqa: E402

_spec = importlib.util.spec_from_file_location('vgpu_guest',
                                               os.path.join(HERE, 'test-vgpu-guest.py'))
vgpu_guest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vgpu_guest)
png_rgb, wait_log, Checker = vgpu_guest.png_rgb, vgpu_guest.wait_log, vgpu_guest.Checker

MEM_MB = 1024
# kmscube draws until the host says "done" on the console; then it is
# killed. The guest prints what its driver negotiated first.
GUEST_CMD = (
    'echo "VIRGL-FEATURE $(sed -n "s/^virgl *: *//p" '
    '/sys/kernel/debug/dri/0/virtio-gpu-features)"; '
    'dmesg | grep -i -E "virgl|features:|cap sets"; '
    # kmscube stops on input on its stdin: give it one that never has any.
    'mkfifo /tmp/idle; exec 3<>/tmp/idle; kmscube <&3 & pid=$!; '
    'read -r line; '
    'if kill -0 $pid 2>/dev/null; then echo "KMSCUBE running"; kill $pid; wait $pid; '
    'else wait $pid; echo "KMSCUBE exited early, status $?"; fi')


def pixel(rows, x, y):
    return rows[y][3 * x:3 * x + 3]


def check_png(c, tag, w, h, rows):
    """Not flat; the centre (the cube) differs from the corners (background)."""
    step = max(1, min(w, h) // 64)
    colours = {pixel(rows, x, y) for y in range(0, h, step) for x in range(0, w, step)}
    c.check(len(colours) > 16, f'{tag}: not a flat colour ({len(colours)} colours sampled)')
    corners = [pixel(rows, x, y) for x, y in
               [(2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)]]
    bg = corners[0]
    c.check(all(p == bg for p in corners),
            f'{tag}: the 4 corners show one background colour ({[p.hex() for p in corners]})')
    # kmscube's cube fills much of the middle of the screen at every angle.
    x0, x1, y0, y1 = w * 3 // 8, w * 5 // 8, h * 3 // 8, h * 5 // 8
    n = differ = 0
    for y in range(y0, y1, 2):
        for x in range(x0, x1, 2):
            n += 1
            differ += pixel(rows, x, y) != bg
    c.check(differ > n // 2, f'{tag}: the cube is in the centre ({differ} of {n} centre pixels '
            f'differ from the background {bg.hex()})')


def run_guest(args, c, sock, backend, log_path, out_dir, width, height):
    """Boots the 3D guest on kmsgate-vgpu, takes the two PNGs while kmscube
    draws, checks them."""
    opts = kgvm.Options(mem=MEM_MB, timeout=300)
    gpu = ['-chardev', f'socket,id=vgpu,path={sock}',
           '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0', '-display', 'none']
    pngs = []
    with guestimg.GLGuestVM(opts, [GUEST_CMD], gpu_args=gpu) as vm:
        m = vm.wait_for(r'^VIRGL-FEATURE (.*)$', timeout=240)
        if not c.check(m.group(1).strip() == 'yes', 'the guest negotiated '
                       f'VIRTIO_GPU_F_VIRGL (debugfs virgl: {m.group(1).strip()!r})'):
            # Without virgl the guest's Mesa draws with its own llvmpipe:
            # nothing below would say anything about kmsgate-vgpu's 3D.
            vm.send('done')
            vm.wait(timeout=60)
            return
        m = vm.wait_for(r'^\s*renderer: "(.*)"$', timeout=120)
        c.check(m.group(1).startswith('virgl'),
                f'kmscube renders with virgl (GL renderer "{m.group(1)}")')
        time.sleep(args.warmup)
        for i in range(2):
            if i:
                time.sleep(args.gap)
            backend.send_signal(signal.SIGUSR1)
            ok = wait_log(log_path, 'PNG file', i + 1, 10)
            src = os.path.join(out_dir, 'scanout-0.png')
            dst = os.path.join(out_dir, f'kmscube-{i + 1}.png')
            if ok and os.path.exists(src):
                shutil.copy(src, dst)
                pngs.append(dst)
            else:
                c.check(False, f'PNG {i + 1}: SIGUSR1 wrote scanout-0.png')
        vm.send('done')
        status = vm.wait(timeout=60)
        vm.print_timings()
    text = '\n'.join(vm.output)
    report = (re.findall(r'KMSCUBE .*', text) or ['no report'])[0]
    c.check('KMSCUBE running' in text,
            f'kmscube was still drawing when the PNGs were taken ({report})')
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        raise kgvm.VMError(f'the guest did not finish (status {status})')
    decoded = []
    for i, p in enumerate(pngs):
        w, h, rows = png_rgb(p)
        c.check((w, h) == (width, height), f'PNG {i + 1}: size {w}x{h}')
        check_png(c, f'PNG {i + 1}', w, h, rows)
        decoded.append(rows)
    if len(decoded) == 2:
        diff = sum(1 for a, b in zip(decoded[0], decoded[1]) if a != b)
        c.check(diff > 0, f'the cube spins: the two PNGs {args.gap} s apart differ '
                f'({diff} of {len(decoded[0])} rows)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('vgpu')
    ap.add_argument('--size', default='640x480', help='headless output size')
    ap.add_argument('--keep', help='keep PNGs and logs in this directory')
    ap.add_argument('--gap', type=float, default=1.0, help='seconds between the two PNGs')
    ap.add_argument('--warmup', type=float, default=3.0,
                    help='seconds kmscube draws before the first PNG')
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split('x'))

    work = tempfile.mkdtemp(prefix='kg-virgl-')
    out_dir = args.keep or work
    os.makedirs(out_dir, exist_ok=True)
    sock = os.path.join(work, 'vgpu.sock')
    log_path = os.path.join(out_dir, 'kmsgate-vgpu.log')
    log = open(log_path, 'w')
    backend = subprocess.Popen(
        [args.vgpu, '--socket', sock, '--virgl', '--output', 'headless', '--headless-size',
         args.size, '--png-dir', out_dir, '--log-level', 'debug'],
        stdout=log, stderr=subprocess.STDOUT)
    c = Checker()
    try:
        for _ in range(100):
            if os.path.exists(sock) or backend.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(sock):
            text = open(log_path).read()
            refused = r'unrecognized option|unknown option|invalid option|built without'
            if backend.poll() is not None and re.search(refused, text):
                c.check(False, 'kmsgate-vgpu accepts --virgl (it does not: built without '
                        'virgl 3D support, or --virgl not implemented yet)')
            else:
                c.check(False, f'kmsgate-vgpu --virgl started and created its socket (exit '
                        f'status {backend.poll()})')
            print('kmsgate-vgpu log:\n' + text)
            print(f'FAIL: {len(c.failures)} check(s)')
            return 1
        run_guest(args, c, sock, backend, log_path, out_dir, width, height)
    finally:
        if backend.poll() is None:
            backend.send_signal(signal.SIGTERM)
            try:
                backend.wait(timeout=20)
            except subprocess.TimeoutExpired:
                backend.kill()
                backend.wait()
        log.close()
    c.check(backend.returncode == 0, f'kmsgate-vgpu exited cleanly ({backend.returncode})')
    if c.failures:
        print('backend log tail:\n' + '\n'.join(open(log_path).read().splitlines()[-30:]))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print('PASS' if not c.failures else f'FAIL: {len(c.failures)} check(s)')
    return 1 if c.failures else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except kgvm.VMError as e:
        print(f'rig error: {e}')
        sys.exit(99)
