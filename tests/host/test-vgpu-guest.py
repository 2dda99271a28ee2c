#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host test with a real guest: kmsgate-vgpu (headless output) serves QEMU
10's stock vhost-user-gpu-pci; a Linux 6.12 guest runs kg-frames, which
draws known frames into dumb buffers and page-flips them through the
guest's own virtio-gpu driver.

Checks: the PNG of scanout 0 equals the guest's last frame pixel for pixel;
the guest saw every flip complete; display info (the headless size) and
EDID (the headless output's, name "kmsgate") reached the guest; the cursor
image and position reached the output; the backend's statistics count the
frames. Exit 0 pass, 1 fail, 99 the rig failed (an ERROR in meson).

Usage: test-vgpu-guest.py KMSGATE_VGPU KG_FRAMES [--frames N] [--pattern P]
       [--size WxH] [--guest-arg ARG] [--boots N] [--keep DIR] [--expect-frame I]
       [--qemu-module-dir DIR] [--paced] [--vgpu-arg ARG]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import kgvm  # noqa: E402

MEM_MB = 512
# Several refreshes of the headless output (60 Hz).
SETTLE_S = 0.25


class GuestVM(kgvm.VM):
    """The board VM's kernel and initramfs, but the GPU is QEMU's
    vhost-user-gpu-pci served by kmsgate-vgpu instead of virtio-gpu-pci."""

    def __init__(self, opts, argv, socket_path):
        super().__init__(opts, argv)
        self.socket_path = socket_path

    def qemu_cmdline(self, kernel, initrd):
        cmd = super().qemu_cmdline(kernel, initrd)
        out = []
        skip = False
        for i, a in enumerate(cmd):
            if skip:
                skip = False
                continue
            if a == '-device' and i + 1 < len(cmd) and cmd[i + 1].startswith('virtio-gpu-pci'):
                skip = True
                continue
            if i > 0 and cmd[i - 1] == '-append':
                # The board's video= arguments force virtio-gpu modes; here
                # the mode must come from the device's display info.
                a = ' '.join(w for w in a.split() if not w.startswith('video='))
            out.append(a)
        return out + [
            '-object', f'memory-backend-memfd,id=mem,size={MEM_MB}M,share=on',
            '-machine', 'memory-backend=mem',
            '-chardev', f'socket,id=vgpu,path={self.socket_path}',
            '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0']


def png_rgb(path):
    """(w, h, rows of RGB bytes) of an 8-bit RGB non-interlaced PNG."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat = 8, b''
    w = h = 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], 'big')
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h = int.from_bytes(body[0:4], 'big'), int.from_bytes(body[4:8], 'big')
            assert body[8] == 8 and body[9] == 2 and body[12] == 0, 'want 8-bit RGB'
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * 3
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - 3] if x >= 3 else 0
            b = prev[x]
            c = prev[x - 3] if x >= 3 else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows


def expected_row(pattern, i, y, w):
    """Row y of kg-frames' frame i as RGB bytes (see tests/guest/kg-frames.c)."""
    if pattern == 'solid':
        return bytes(((37 * i) & 255, (255 - 11 * i) & 255, (91 * i) & 255)) * w
    row = bytearray(w * 3)
    g = (y + 13 * i) & 255
    for x in range(w):
        row[3 * x] = (x + 7 * i) & 255
        row[3 * x + 1] = g
        row[3 * x + 2] = (x ^ y ^ i) & 255
    return bytes(row)


def wait_log(path, text, count, timeout):
    """Waits until text occurs count times in the file."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(path) as f:
            if f.read().count(text) >= count:
                return True
        time.sleep(0.1)
    return False


def guest_cards(lines):
    """The DRM cards the guest listed on its 'DRM ...' line."""
    for line in lines:
        if line.startswith('DRM '):
            return [d for d in line.split()[1:] if re.match(r'^card\d+$', d)]
    raise kgvm.VMError('the guest command printed no DRM line')


def run_guest(args, c, boot, guest_cmd, sock, backend, log_path, out_dir, width, height):
    """Boots the guest once, runs kg-frames, checks what the guest saw.
    Returns False when the guest had no display (the other checks would only
    repeat that); raises kgvm.VMError when the guest did not finish."""
    # Paced: the guest's fbdev console goes, so that every fenced flip is one
    # of kg-frames' frames. With it the kernel's fbdev client flips its own
    # framebuffer, fenced, 6 to 9 times at boot and once when kg-frames exits
    # (its restore). The board's drm_kms_helper.fbdev_emulation=0 on the
    # kernel command line does not reach a module loaded by busybox insmod.
    params = {'drm_kms_helper': 'fbdev_emulation=0'} if args.paced else {}
    opts = kgvm.Options(add=[f'{args.kg_frames}:/bin/kg-frames'], mem=MEM_MB, timeout=240,
                        module_params=params)
    t0 = time.monotonic()
    tag = f'boot {boot + 1}: '
    with GuestVM(opts, ['sh', '-c', guest_cmd], sock) as vm:
        vm.wait_for(r'^RESULT ', timeout=240)
        cards = guest_cards(vm.output)
        # Without a display kg-frames does not hold: the guest ends by itself
        # (an arm64 guest's last console lines can be lost at power-off).
        if cards:
            # Stock QEMU completes the guest's flip before kmsgate-vgpu shows it
            # (no fence without blob resources), and the output shows at most
            # one frame a refresh: the last frame can reach the output two
            # refreshes after kg-frames saw its event. The guest holds it.
            time.sleep(SETTLE_S)
            # While the guest still shows its last frame and cursor: PNGs.
            backend.send_signal(signal.SIGUSR1)
            png_ready = wait_log(log_path, 'PNG file', boot + 1, 10)
            live_png = os.path.join(out_dir, 'scanout-0-live.png')
            # No scanout-0.png: the guest never set a scanout (checked below).
            if png_ready and os.path.exists(os.path.join(out_dir, 'scanout-0.png')):
                shutil.copy(os.path.join(out_dir, 'scanout-0.png'), live_png)
            vm.send('done')
        status = vm.wait(timeout=60)
        lines = list(vm.output)
    print(f'{tag}guest ran in {time.monotonic() - t0:.1f} s, status {status}', flush=True)
    # First: without a display every other check would only repeat this one.
    if not c.check(bool(cards), f'{tag}the guest has a display: its virtio-gpu driver bound '
                   f'(DRM devices: {" ".join(cards) or "none"})'):
        return False
    if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
        raise kgvm.VMError(f'{tag}the guest did not finish (status {status})')
    text = '\n'.join(lines)
    c.check(png_ready, tag + 'SIGUSR1 wrote the PNGs while the guest ran')
    m = re.search(r'^MODES (.*)$', text, re.M)
    modes = m.group(1).split() if m else []
    c.check(f'{width}x{height}' in modes,
            f'{tag}display info reached the guest: {args.size} in modes {modes}')
    m = re.search(r'^EDID ([0-9a-f]*)$', text, re.M)
    edid = bytes.fromhex(m.group(1)) if m else b''
    c.check(len(edid) == 128 and edid[:8] == bytes.fromhex('00ffffffffffff00')
            and b'kmsgate' in edid and sum(edid) % 256 == 0,
            f'{tag}EDID reached the guest ({len(edid)} bytes, name kmsgate, checksum)')
    m = re.search(r'^kg-frames: mode (\d+)x(\d+) frames (\d+) events (\d+) '
                  r'p50_us ([\d.]+) p99_us ([\d.]+) max_us ([\d.]+)( fps [\d.]+)?$', text, re.M)
    c.check(bool(m) and int(m.group(3)) == args.frames and int(m.group(4)) == args.frames,
            tag + 'the guest saw every flip complete' + (f' ({m.group(0)})' if m else ''))
    c.check(re.search(r'^RESULT ok$', text, re.M) is not None, tag + 'kg-frames: RESULT ok')
    if m:
        args.guest_p50_us = float(m.group(5))
    c.check(re.search(r'^cursor shown', text, re.M) is not None, tag + 'the guest set a cursor')
    return True


def check_paced(c, args, blog, stats, s0):
    """The guest was held to the output's refresh: it used blob resources
    (Linux fences primary-plane flushes only for those), every frame it
    flipped came with a fence that the output completed on its refresh, and
    the guest's own flip latency covers the time the fence was held. The
    checks start with "paced: " (the must-fail test on stock QEMU expects
    those and no other)."""
    c.check(re.search(r'features edid=1 blob=1', blog) is not None,
            'paced: the guest negotiated VIRTIO_GPU_F_RESOURCE_BLOB')
    c.check('RESOURCE_CREATE_BLOB' in blog and 'SET_SCANOUT_BLOB' in blog,
            'paced: the guest made its framebuffers blobs (RESOURCE_CREATE_BLOB, '
            'SET_SCANOUT_BLOB)')
    # Exactly one fence per guest frame. kg-frames presents N frames a boot,
    # one atomic commit each (the first is also the modeset: SET_SCANOUT_BLOB
    # before its flush). The guest driver turns each into one fenced
    # RESOURCE_FLUSH of the blob framebuffer, which kmsgate-vgpu makes one
    # frame of scanout 0, whose fence completes either on that frame's flip
    # ("flip") or, when a newer frame replaced it before it reached the
    # output ("replaced", newest wins), at once. kg-frames waits for each flip
    # event, but the driver waits only 50 ms for a flush's fence, so under
    # load a frame can be replaced. Hence:
    #     flip + replaced == N * boots, dropped == 0.
    # Every other fence is "other" (the cursor's fenced TRANSFER_TO_HOST_2D),
    # and with fbdev off (run_guest) no other client flips.
    fences = stats['fences']
    n = args.frames * args.boots
    c.check(fences['flip'] + fences['replaced'] == n and fences['dropped'] == 0,
            f'paced: every guest frame was fenced and completed by the output: flip '
            f'{fences["flip"]} + replaced {fences["replaced"]} == {n} frames, dropped '
            f'{fences["dropped"]} (other fences {fences["other"]}; scanout 0: frames '
            f'{s0["frames"]}, shown {s0["shown"]}, coalesced {s0["coalesced"]})')
    held = s0['intervals']['recv_to_fence'].get('p50_us', 0)
    p50 = args.guest_p50_us
    c.check(p50 is not None and held > 0 and p50 >= 0.9 * held,
            f'paced: the guest waited for the output: its flip latency p50 {p50} us covers '
            f'the fence hold p50 {held} us')


class Checker:
    def __init__(self):
        self.failures = []

    def check(self, ok, what):
        """Prints "ok   WHAT" or "FAIL WHAT" (read by tests/must-fail); returns ok."""
        print(('ok   ' if ok else 'FAIL ') + what, flush=True)
        if not ok:
            self.failures.append(what)
        return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('vgpu')
    ap.add_argument('kg_frames')
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--pattern', default='gradient')
    ap.add_argument('--size', default='800x600')
    ap.add_argument('--guest-arg', action='append', default=[],
                    help='one more kg-frames argument (e.g. --guest-arg=--legacy)')
    ap.add_argument('--boots', type=int, default=1,
                    help='boot the guest this many times against one kmsgate-vgpu')
    ap.add_argument('--keep', help='keep PNGs, stats and logs in this directory')
    ap.add_argument('--expect-frame', type=int, default=None,
                    help='frame the PNG must show (default: the last); for the must-fail test')
    ap.add_argument('--qemu-module-dir',
                    help='run QEMU with QEMU_MODULE_DIR=DIR (qemu-patches/build output)')
    ap.add_argument('--vgpu-arg', action='append', default=[],
                    help='one more argument for kmsgate-vgpu (repeatable); with --virgl the '
                         'guest must negotiate virgl and the 2D checks still hold')
    ap.add_argument('--paced', action='store_true',
                    help='check that the guest was paced by the output (blob resources, '
                         'fenced flushes)')
    args = ap.parse_args()
    args.guest_p50_us = None
    if args.qemu_module_dir:
        mod = os.path.join(args.qemu_module_dir, 'hw-display-virtio-gpu.so')
        if not os.path.exists(mod):
            print(f'SKIP: {mod} is not built; run qemu-patches/build BUILD_DIR')
            return 77
        # QEMU looks for its modules here first, then in its own directory.
        os.environ['QEMU_MODULE_DIR'] = os.path.abspath(args.qemu_module_dir)
    width, height = (int(v) for v in args.size.split('x'))
    expect = args.frames - 1 if args.expect_frame is None else args.expect_frame

    work = tempfile.mkdtemp(prefix='kg-host-')
    out_dir = args.keep or work
    os.makedirs(out_dir, exist_ok=True)
    sock = os.path.join(work, 'vgpu.sock')
    stats = os.path.join(out_dir, 'stats.json')
    log_path = os.path.join(out_dir, 'kmsgate-vgpu.log')
    log = open(log_path, 'w')
    backend = subprocess.Popen(
        [args.vgpu, '--socket', sock, '--output', 'headless', '--headless-size', args.size,
         '--png-dir', out_dir, '--stats', stats, '--log-level', 'debug'] + args.vgpu_arg,
        stdout=log, stderr=subprocess.STDOUT)
    c = Checker()
    try:
        for _ in range(100):
            if os.path.exists(sock) or backend.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(sock):
            print('kmsgate-vgpu did not create its socket; log:\n' + open(log_path).read())
            return 99
        guest_cmd = (
            'echo "DRM $(ls /sys/class/drm 2>/dev/null | tr "\\n" " ")"; '
            # The mode list is filled by a probe: without the fbdev client
            # (--paced) no one has probed yet, so ask for one.
            'C=/sys/class/drm/card0-Virtual-1; echo detect >$C/status; '
            'echo "MODES $(cat $C/modes | tr "\\n" " ")"; '
            'echo "EDID $(od -An -tx1 -v $C/edid | tr -d " \\n")"; '
            f'kg-frames --frames {args.frames} --pattern {args.pattern} --cursor --quiet --hold '
            + ' '.join(args.guest_arg))
        fds0 = len(os.listdir(f'/proc/{backend.pid}/fd'))
        for boot in range(args.boots):
            # Each boot is a new QEMU on the same kmsgate-vgpu: the device
            # must serve a new front-end after the old one went away.
            if not run_guest(args, c, boot, guest_cmd, sock, backend, log_path, out_dir,
                             width, height):
                print(f'FAIL: {len(c.failures)} check(s)')
                return 1
            gone = wait_log(log_path, 'front-end disconnected', boot + 1, 10)
            fds = len(os.listdir(f'/proc/{backend.pid}/fd'))
            c.check(gone and fds == fds0,
                    f'boot {boot + 1}: QEMU gone, kmsgate-vgpu back to {fds0} fds ({fds})')
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
    blog = open(log_path).read()
    if '--virgl' in args.vgpu_arg:
        # 3D offered and taken: the 2D checks above must hold all the same.
        c.check(re.search(r'features edid=1 blob=\d virgl=1', blog) is not None,
                'the guest negotiated VIRTIO_GPU_F_VIRGL (kmsgate-vgpu --virgl)')
    # The PNG written on SIGUSR1, while the guest still showed its last frame
    # (after kg-frames exits the guest's own teardown changes the scanout).
    png = os.path.join(out_dir, 'scanout-0-live.png')
    if os.path.exists(png):
        w, h, rows = png_rgb(png)
        c.check((w, h) == (width, height), f'PNG size {w}x{h}')
        bad = sum(1 for y in range(min(h, height))
                  if rows[y] != expected_row(args.pattern, expect, y, w))
        c.check(bad == 0 and h == height, f'PNG equals frame {expect} ({bad} rows differ)')
    else:
        c.check(False, 'kmsgate-vgpu wrote scanout-0.png on SIGUSR1')
    c.check(os.path.exists(os.path.join(out_dir, 'scanout-0.png')), 'PNG written at exit')
    m = re.search(r'cursor scanout 0: visible (\d) at (-?\d+),(-?\d+) hot (-?\d+),(-?\d+) '
                  r'image ([0-9a-f]{8}) ([0-9a-f]{8})', blog)
    c.check(bool(m) and m.group(1) == '1' and (m.group(2), m.group(3)) == ('100', '50')
            and (m.group(4), m.group(5)) == ('3', '4')
            and m.group(6) == 'ffffffff' and m.group(7) == '00000000',
            'the cursor reached the output' + (f' ({m.group(0)})' if m else ''))
    try:
        st = json.load(open(stats))
        s0 = st['scanouts'][0]
        c.check(s0['shown'] >= 1 and
                s0['shown'] + s0['coalesced'] + s0['dropped'] >= args.frames * args.boots,
                f"stats: frames {s0['frames']} shown {s0['shown']} coalesced {s0['coalesced']}")
        print('backend intervals:', json.dumps(s0['intervals']))
        if args.paced:
            check_paced(c, args, blog, st, s0)
    except (OSError, ValueError, KeyError, IndexError) as e:
        c.check(False, f'stats JSON readable ({e})')
    if c.failures:
        print('backend log tail:\n' + '\n'.join(blog.splitlines()[-30:]))
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
