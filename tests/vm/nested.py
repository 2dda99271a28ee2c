# SPDX-License-Identifier: MIT
"""nested: QEMU guests inside the board VM (TCG inside TCG).

The e2e suite and tools/demo run kmsgate the way a user does: QEMU 10 with a
vhost-user-gpu-pci device, a Linux guest, and kmsgate-vgpu as the device's
back-end, all inside the board VM (tests/vm/kgvm.py). This module puts what
that needs into the board VM's initramfs:

    import kgvm, nested
    adds = nested.qemu_adds()                       # QEMU, its modules, firmware
    kernel, initrd = nested.guest_initrd(cache_dir, out_dir,
                                         add=['build/tests/guest/kg-frames'],
                                         script=GUEST_SH)
    adds += [f'{kernel}:{nested.GUEST_KERNEL}', f'{initrd}:{nested.GUEST_INITRD}']
    with kgvm.VM(kgvm.Options(add=adds, mem=nested.BOARD_MEM, ...), ['sh /e2e/scene']):

The nested guest is the same Debian 6.12 kernel as the board (from the rig's
cache) with a busybox initramfs built by kgvm.build_initramfs: the guest
loads virtio_gpu, runs GUEST_SH and powers off. Its console carries the rig's
markers, so whoever relays it to the board console must rewrite them
(qemu_guest_cmd's relay does: '@@kgvm-' becomes '@@guest-').

stdlib only.
"""

import os
import subprocess

import kgvm

QEMU = '/usr/bin/qemu-system-x86_64'
# The only QEMU modules a vhost-user-gpu-pci guest with -display none opens
# (strace of QEMU 10.0.2); the other UI and audio modules are only probed.
QEMU_MODULES = ['hw-display-virtio-gpu', 'hw-display-virtio-gpu-pci']
# Firmware a -kernel boot of the pc machine reads (same strace): bzImage
# through linuxboot_dma.bin, an uncompressed PVH vmlinux through pvh.bin.
FIRMWARE = ['bios-256k.bin', 'kvmvapic.bin', 'linuxboot_dma.bin', 'pvh.bin']
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
REFERENCE_BACKEND = '/usr/lib/qemu/vhost-user-gpu'

# -display sdl on an Xvfb inside the board (bench/compare's (b) path), with
# SDL_VIDEODRIVER=x11 SDL_RENDER_DRIVER=software SDL_FRAMEBUFFER_ACCELERATION=0
# (SDL_ENV): what QEMU 10.0.2 opens then (strace): the sdl and opengl UI
# modules (ui-sdl depends on ui-opengl; no GL library is loaded), and the X
# libraries SDL2 dlopen()s, which ldd does not list. Xvfb runs xkbcomp on the
# xkb data and writes the compiled keymap to /var/lib/xkb.
SDL_QEMU_MODULES = ['ui-sdl', 'ui-opengl']
SDL_DLOPEN_LIBS = ['libX11.so.6', 'libX11-xcb.so.1', 'libXext.so.6', 'libXcursor.so.1',
                   'libXi.so.6', 'libXfixes.so.3', 'libXrandr.so.2', 'libXrender.so.1',
                   'libXss.so.1', 'libxkbcommon.so.0']
SDL_ENV = {'SDL_VIDEODRIVER': 'x11', 'SDL_RENDER_DRIVER': 'software',
           'SDL_FRAMEBUFFER_ACCELERATION': '0', 'SDL_AUDIODRIVER': 'dummy'}
X_PROGRAMS = ['/usr/bin/Xvfb', '/usr/bin/xkbcomp']
X_DATA = ['/usr/share/X11/xkb', '/usr/share/X11/locale']
LIB_DIR = '/lib/x86_64-linux-gnu'

# Where things live inside the board VM.
GUEST_KERNEL = '/nested/vmlinuz'
GUEST_INITRD = '/nested/initrd.gz'
# The board holds the initramfs (~150 MB unpacked) plus each guest's RAM.
BOARD_MEM = 2048
GUEST_MEM = 256


def _qemu_data_dirs():
    """QEMU's firmware search path, as the installed QEMU reports it."""
    out = kgvm.run([QEMU, '-L', 'help'], capture_output=True, text=True).stdout
    return [d for d in out.split() if os.path.isdir(d)]


def _qemu_module_dir():
    for d in ['/usr/lib/x86_64-linux-gnu/qemu', '/usr/lib64/qemu', '/usr/lib/qemu']:
        if os.path.exists(os.path.join(d, QEMU_MODULES[0] + '.so')):
            return d
    raise kgvm.VMError(f'QEMU module {QEMU_MODULES[0]}.so not found: install qemu-system-x86 '
                       'from bookworm-backports (tools/install-deps)')


def qemu_adds(reference_backend=True, sdl=False):
    """--add specs (kgvm.Options.add) that make QEMU 10 run inside the board
    VM: the binary and its modules (the rig copies what ldd lists for each),
    and the firmware files at the paths QEMU looks for them. sdl=True adds
    Xvfb and what QEMU's -display sdl needs (sdl_adds)."""
    if not os.path.exists(QEMU):
        raise kgvm.VMError(f'{QEMU} not found: run tools/install-deps')
    adds = [f'{QEMU}:{QEMU}']
    mdir = _qemu_module_dir()
    for m in QEMU_MODULES:
        p = os.path.join(mdir, m + '.so')
        adds.append(f'{p}:{p}')
    dirs = _qemu_data_dirs()
    for fw in FIRMWARE:
        hits = [os.path.join(d, fw) for d in dirs if os.path.exists(os.path.join(d, fw))]
        if not hits:
            raise kgvm.VMError(f'QEMU firmware {fw} not found in {dirs}: install seabios '
                               'and qemu-system-data')
        adds.append(f'{os.path.realpath(hits[0])}:{hits[0]}')
    if reference_backend and os.path.exists(REFERENCE_BACKEND):
        adds.append(f'{REFERENCE_BACKEND}:{REFERENCE_BACKEND}')
    if sdl:
        adds += sdl_adds(mdir)
    return adds


def sdl_adds(mdir):
    """--add specs for QEMU's -display sdl on an Xvfb in the board (about
    25 MB more initramfs; only the bench asks for it). Start QEMU with
    SDL_ENV and DISPLAY set."""
    adds = []
    for m in SDL_QEMU_MODULES:
        p = os.path.join(mdir, m + '.so')
        if not os.path.exists(p):
            raise kgvm.VMError(f'QEMU module {p} not found: install qemu-system-gui from '
                               'bookworm-backports (tools/install-deps)')
        adds.append(f'{p}:{p}')
    for p in X_PROGRAMS + X_DATA:
        if not os.path.exists(p):
            raise kgvm.VMError(f'{p} not found: install xvfb (tools/install-deps)')
        adds.append(f'{p}:{p}')
    for lib in SDL_DLOPEN_LIBS:
        p = os.path.join(LIB_DIR, lib)
        if not os.path.exists(p):
            raise kgvm.VMError(f'{p} (SDL2 opens it at run time) not found: install '
                               'libsdl2-2.0-0 and its X11 libraries (tools/install-deps)')
        adds.append(f'{p}:{p}')
    return adds


def guest_initrd(cache_dir, out_dir, add=(), script='true', edid=None):
    """Builds the nested guest's initramfs; returns (kernel, initrd) paths.

    script is the guest command (run by sh); add are kgvm --add specs.
    edid=(w, h): the guest's Virtual-1 gets an EDID of that one mode instead
    of the one its vhost-user-gpu device offers (drm.edid_firmware; busybox
    insmod ignores module options on the kernel command line, so it goes
    on drm's insmod line)."""
    timings = {}
    cache = kgvm.Cache(cache_dir or kgvm.default_cache())
    with cache:
        abi, root = cache.kernel(timings)
        mods = cache.modules(abi, root, None)
    os.makedirs(out_dir, exist_ok=True)
    add = list(add)
    params = {}
    if edid:
        path = os.path.join(out_dir, 'kmsgate-edid.bin')
        with open(path, 'wb') as f:
            f.write(edid_block(*edid))
        add.append(f'{path}:/lib/firmware/edid/kmsgate.bin')
        params['drm'] = 'edid_firmware=Virtual-1:edid/kmsgate.bin'
    initrd = os.path.join(out_dir, 'guest-initrd.gz')
    kgvm.build_initramfs(initrd, mods, add, [script], 1, params)
    vmlinuz = os.path.join(root, 'boot', f'vmlinuz-{abi}')
    return pvh_kernel(vmlinuz, os.path.join(cache.path, f'vmlinux-{abi}')), initrd


# VESA DMT timings (pixel clock kHz, h: active fp sync bp, v: active fp sync bp)
# of the modes edid_block knows.
DMT = {(1024, 768): (65000, 1024, 24, 136, 160, 768, 3, 6, 29),
       (1280, 1024): (108000, 1280, 48, 112, 248, 1024, 1, 3, 38),
       (1920, 1080): (148500, 1920, 88, 44, 148, 1080, 4, 5, 36)}


def edid_block(w, h):
    """A 128-byte EDID 1.3 whose only (and preferred) timing is w x h @ 60."""
    clk, ha, hfp, hs, hbp, va, vfp, vs, vbp = DMT[(w, h)]
    hb, vb = hfp + hs + hbp, vfp + vs + vbp
    e = bytearray(b'\x00\xff\xff\xff\xff\xff\xff\x00')
    e += bytes([0x2d, 0xa7, 1, 0, 0, 0, 0, 0, 1, 34, 1, 3, 0x80, 34, 27, 0x78, 0x0a])
    e += bytes([0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54])
    e += bytes(3) + b'\x01\x01' * 8
    dtd = bytearray(18)
    dtd[0:2] = (clk // 10).to_bytes(2, 'little')
    dtd[2], dtd[3], dtd[4] = ha & 255, hb & 255, (ha >> 8) << 4 | hb >> 8
    dtd[5], dtd[6], dtd[7] = va & 255, vb & 255, (va >> 8) << 4 | vb >> 8
    dtd[8], dtd[9], dtd[10] = hfp & 255, hs & 255, (vfp & 15) << 4 | vs & 15
    dtd[11] = (hfp >> 8) << 6 | (hs >> 8) << 4 | (vfp >> 4) << 2 | vs >> 4
    dtd[12], dtd[13], dtd[14] = 340 & 255, 270 & 255, (340 >> 8) << 4 | 270 >> 8
    dtd[17] = 0x18
    e += dtd
    e += b'\x00\x00\x00\xfc\x00' + b'kmsgate\n'.ljust(13, b' ')
    e += b'\x00\x00\x00\xfd\x00' + bytes([56, 76, 30, 83, 16, 0, 0x0a]) + b' ' * 6
    e += b'\x00\x00\x00\x10\x00' + bytes(13)
    e += b'\x00'
    e.append((256 - sum(e) % 256) % 256)
    assert len(e) == 128
    return bytes(e)


def pvh_kernel(vmlinuz, vmlinux):
    """The uncompressed kernel (an ELF with a PVH entry: QEMU boots it through
    pvh.bin), extracted once from the bzImage's zstd payload; vmlinuz itself
    when that fails. A nested guest then skips decompressing ~57 MB under TCG
    inside TCG: its boot is ~20 % shorter."""
    if os.path.exists(vmlinux):
        return vmlinux
    with open(vmlinuz, 'rb') as f:
        data = f.read()
    at = data.find(ZSTD_MAGIC)
    if at < 0:
        return vmlinuz
    # zstd complains about the bzImage's bytes after the payload: judge the
    # output, not the exit status.
    r = subprocess.run(['zstd', '-dc'], input=data[at:], capture_output=True)
    if r.stdout[:4] != b'\x7fELF':
        kgvm.log(f'{vmlinuz}: no ELF in its zstd payload; nested guests boot the bzImage')
        return vmlinuz
    tmp = f'{vmlinux}.{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(r.stdout)
    os.rename(tmp, vmlinux)
    return vmlinux


def qemu_guest_args(sock, mem=GUEST_MEM, append='', reconnect_ms=0):
    """The board-side shell words that start a nested guest with a
    vhost-user-gpu-pci device on the vhost-user socket `sock`, its console
    on stdout. reconnect_ms > 0 adds QEMU's chardev reconnect, which QEMU
    10.0.2's vhost-user-gpu-pci does not survive (see docs/e2e.md)."""
    chardev = f'socket,id=vgpu,path={sock}'
    if reconnect_ms:
        chardev += f',reconnect-ms={reconnect_ms}'
    args = [QEMU, '-accel', 'tcg', '-cpu', 'max', '-m', str(mem), '-smp', '1',
            '-nographic', '-no-reboot', '-monitor', 'none', '-serial', 'stdio',
            '-vga', 'none', '-nic', 'none', '-display', 'none',
            '-object', f'memory-backend-memfd,id=mem,size={mem}M,share=on',
            '-machine', 'memory-backend=mem',
            '-chardev', chardev, '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0',
            '-kernel', GUEST_KERNEL, '-initrd', GUEST_INITRD,
            '-append', ('console=ttyS0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
                        + append).strip()]
    return ' '.join(_sh_quote(a) for a in args)


def qemu_guest_cmd(name, sock, mem=GUEST_MEM, append='', reconnect_ms=0):
    """qemu_guest_args with the guest's console relayed to the board console,
    prefixed '[name] ', the rig's markers rewritten (they would end the board
    VM's run)."""
    relay = ("awk '{ gsub(/@@kgvm-/, \"@@guest-\"); print \"[" + name + "] \" $0; fflush() }'")
    return f'{qemu_guest_args(sock, mem, append, reconnect_ms)} </dev/null 2>&1 | {relay}'


def _sh_quote(s):
    if s and all(c.isalnum() or c in '-_./=,:@' for c in s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"
