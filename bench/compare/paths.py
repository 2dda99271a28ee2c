# SPDX-License-Identifier: MIT
"""The display paths the benchmark compares. Each path starts its host
processes, gives the QEMU arguments of its GPU device and display, and says
which copies of a frame it makes (counted where the code is ours, from the
known copies where the code is QEMU's).

A path is used as:  with path.host(tmp) as procs: ...  (procs: role -> Popen)
"""

import contextlib
import os
import shutil
import subprocess
import time

import nested  # tests/vm: SDL_ENV, the same SDL settings at both levels

VHOST_USER_GPU = '/usr/lib/qemu/vhost-user-gpu'
XVFB_SCREEN = '1280x1024x24'
# The guest's preferred mode on QEMU's devices (kg-frames takes the preferred
# mode; kmsgate's outputs and vkms offer 1024x768 too).
XRES = 'xres=1024,yres=768'


class PathError(Exception):
    """A path's host side could not start (missing program, socket never came)."""


def stop_proc(p, name, timeout=5):
    """Stops a process we started: SIGTERM, then SIGKILL after timeout."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@contextlib.contextmanager
def xvfb(tmp):
    """Starts Xvfb on a free display (-displayfd); yields (Popen, ':N')."""
    exe = shutil.which('Xvfb')
    if not exe:
        raise PathError('Xvfb not found: run tools/install-deps (package xvfb)')
    r, w = os.pipe()
    log = open(os.path.join(tmp, 'xvfb.log'), 'w')
    p = subprocess.Popen([exe, '-displayfd', str(w), '-screen', '0', XVFB_SCREEN,
                          '-nolisten', 'tcp', '-noreset'],
                         pass_fds=[w], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num.isdigit():
            raise PathError(f'Xvfb did not report a display number (see {log.name})')
        yield p, ':' + num
    finally:
        stop_proc(p, 'Xvfb')
        log.close()


def wait_socket(path, proc, what, timeout=10):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise PathError(f'{what} exited with status {proc.returncode} before listening')
        if time.monotonic() > end:
            raise PathError(f'{what}: no socket at {path} after {timeout} s')
        time.sleep(0.05)


class Path:
    key = ''
    title = ''
    level = ''  # where the guest and the host processes run

    def qemu_args(self, tmp, mem_mb):
        return []

    @contextlib.contextmanager
    def host(self, tmp):
        """Yields (procs, env): host processes (role -> Popen) besides QEMU,
        and the environment QEMU runs with."""
        yield {}, dict(os.environ)

    def copies(self, w, h, stats=None):
        """[(what, bytes per frame, source)] of one full-frame flip."""
        return []

    def not_shown(self):
        """(guest frames the host never showed, how that is known)."""
        return 0, 'every flush is copied to the display surface before the guest gets the reply'


def memfd_args(mem_mb):
    # vhost-user back-ends map guest RAM: it must be a shared memfd.
    return ['-object', f'memory-backend-memfd,id=mem,size={mem_mb}M,share=on',
            '-machine', 'memory-backend=mem']


class SdlVirtioGpu(Path):
    """(b) the stack kmsgate replaces: QEMU's built-in virtio-gpu shown in an
    SDL window on an X server (Xvfb here: no display on this machine)."""
    key = 'sdl'
    title = 'QEMU virtio-gpu-pci, -display sdl on Xvfb (SDL software renderer)'

    def qemu_args(self, tmp, mem_mb):
        return ['-device', 'virtio-gpu-pci,id=video0,' + XRES, '-display', 'sdl']

    @contextlib.contextmanager
    def host(self, tmp):
        with xvfb(tmp) as (xp, disp):
            # SDL's software renderer into an XShm window framebuffer, no GL
            # (the board level has no GL libraries): nested.SDL_ENV.
            env = dict(os.environ, DISPLAY=disp, **nested.SDL_ENV)
            yield {'Xvfb': xp}, env

    def copies(self, w, h, stats=None):
        f = w * h * 4
        return [
            ('guest pages -> host resource (TRANSFER_TO_HOST_2D)', f,
             'QEMU hw/display/virtio-gpu.c virtio_gpu_transfer_to_host_2d: iov_to_buf per row'),
            ('console surface -> SDL texture', f,
             'QEMU ui/sdl2-2d.c sdl2_2d_update: SDL_UpdateTexture of the flushed rectangle '
             '(here the whole frame)'),
            ('SDL texture -> window surface', f,
             'SDL2 software renderer: SDL_RenderCopy blits the texture into the window '
             'framebuffer (SDL_FRAMEBUFFER_ACCELERATION=0: an XShm image)'),
            ('window surface -> X server framebuffer', f,
             'SDL2 X11_UpdateWindowFramebuffer: XShmPutImage, Xvfb copies the shared image '
             'into its screen'),
        ]


class VhostUserGpuRef(Path):
    """(c) QEMU's reference vhost-user-gpu back-end. Its frames reach QEMU's
    console surface (VHOST_USER_GPU_UPDATE) but no window: QEMU 10 refuses to
    attach a display without DMABUF support to a vhost-user-gpu console
    ("The console requires display DMABUF support", ui/console.c), and the
    displays with DMABUF support (gtk/sdl with EGL dma-buf import,
    egl-headless, dbus with GL) need a GPU render node this host lacks."""
    key = 'vhost-ref'
    title = 'QEMU vhost-user-gpu (reference back-end), -display none'

    def qemu_args(self, tmp, mem_mb):
        sock = os.path.join(tmp, 'vgpu.sock')
        return memfd_args(mem_mb) + [
            '-chardev', f'socket,id=vgpu,path={sock}',
            '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0,' + XRES, '-display', 'none']

    @contextlib.contextmanager
    def host(self, tmp):
        if not os.access(VHOST_USER_GPU, os.X_OK):
            raise PathError(f'{VHOST_USER_GPU} not found: install qemu-system-gui '
                            '(tools/install-deps)')
        sock = os.path.join(tmp, 'vgpu.sock')
        log = open(os.path.join(tmp, 'vhost-user-gpu.log'), 'w')
        vp = subprocess.Popen([VHOST_USER_GPU, f'--socket-path={sock}'],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_socket(sock, vp, 'vhost-user-gpu')
            yield {'vhost-user-gpu': vp}, dict(os.environ)
        finally:
            stop_proc(vp, 'vhost-user-gpu')
            log.close()

    def copies(self, w, h, stats=None):
        f = w * h * 4
        return [
            ('guest pages -> back-end resource (TRANSFER_TO_HOST_2D)', f,
             'QEMU contrib/vhost-user-gpu/vhost-user-gpu.c vg_transfer_to_host_2d: iov_to_buf'),
            ('resource -> VHOST_USER_GPU_UPDATE message', f,
             'vhost-user-gpu.c vg_resource_flush: pixman_image_composite into the message '
             '(no udmabuf/GBM on this host, so no DMABUF_UPDATE)'),
            ('message through the UNIX socket (send + receive)', 2 * f,
             'kernel socket buffer: the back-end\'s sendmsg copies in, QEMU\'s read copies out'),
            ('message -> console surface', f,
             'QEMU hw/display/vhost-user-gpu.c, VHOST_USER_GPU_UPDATE: pixman_image_composite'),
        ]


class VirtioGpuNone(Path):
    """Control: (b)'s device without a window. (b) minus this is what the
    SDL/X11 part costs."""
    key = 'virtio-none'
    title = 'control: QEMU virtio-gpu-pci, -display none'

    def qemu_args(self, tmp, mem_mb):
        return ['-device', 'virtio-gpu-pci,id=video0,' + XRES, '-display', 'none']

    def copies(self, w, h, stats=None):
        return [('guest pages -> host resource (TRANSFER_TO_HOST_2D)', w * h * 4,
                 'QEMU hw/display/virtio-gpu.c virtio_gpu_transfer_to_host_2d: iov_to_buf per row')]


class KmsgateHeadless(Path):
    """kmsgate-vgpu with its headless output, at the same level as (b) and (c):
    the device side of kmsgate (vhost-user, virtio-gpu, fences) without KMS.
    The copies are what kmsgate-vgpu --stats counted."""
    key = 'kmsgate-headless'
    title = 'kmsgate-vgpu, headless output, -display none'

    def __init__(self):
        self.stats_file = None
        self.exe = None

    def qemu_args(self, tmp, mem_mb):
        sock = os.path.join(tmp, 'vgpu.sock')
        return memfd_args(mem_mb) + [
            '-chardev', f'socket,id=vgpu,path={sock}',
            '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0,' + XRES, '-display', 'none']

    @contextlib.contextmanager
    def host(self, tmp):
        if not self.exe or not os.access(self.exe, os.X_OK):
            raise PathError(f'kmsgate-vgpu not found at {self.exe}: build the tree')
        sock = os.path.join(tmp, 'vgpu.sock')
        self.stats_file = os.path.join(tmp, 'stats.json')
        log = open(os.path.join(tmp, 'kmsgate-vgpu.log'), 'w')
        vp = subprocess.Popen([self.exe, '--socket', sock, '--output', 'headless',
                               '--stats', self.stats_file],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_socket(sock, vp, 'kmsgate-vgpu')
            yield {'kmsgate-vgpu': vp}, dict(os.environ)
        finally:
            stop_proc(vp, 'kmsgate-vgpu')
            log.close()

    def not_shown(self):
        s = read_stats(self.stats_file)
        return (s['coalesced'] + s['dropped'],
                f"kmsgate-vgpu --stats: {s['coalesced']} coalesced (newest wins) + "
                f"{s['dropped']} dropped of {s['frames']} flushes")

    def copies(self, w, h, stats=None):
        s = read_stats(self.stats_file)
        per_flush = s['bytes_copied'] / s['frames'] if s['frames'] else 0
        return [('all copies kmsgate-vgpu made (its --stats), per guest flush', round(per_flush),
                 f"kmsgate-vgpu --stats: path {s['path']}, zero_copy_ratio "
                 f"{s['zero_copy_ratio']}, {s['frames']} flushes, {s['dropped']} dropped, "
                 f"{s['coalesced']} coalesced")]


def read_stats(path):
    """Scanout 0 of a kmsgate-vgpu --stats JSON file."""
    import json
    try:
        with open(path) as f:
            doc = json.load(f)
        return doc['scanouts'][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise PathError(f'kmsgate-vgpu --stats file {path}: {e}')


PATHS = {p.key: p for p in (SdlVirtioGpu(), VhostUserGpuRef(), VirtioGpuNone(),
                             KmsgateHeadless())}
