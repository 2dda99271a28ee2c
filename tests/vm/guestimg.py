# SPDX-License-Identifier: MIT
"""guestimg: the 3D guest, a Linux 6.12 guest whose root file system holds
Debian 12's Mesa guest GL stack (virgl: virtio_gpu_dri.so) and the unmodified
Debian programs kmscube and glmark2-es2-drm.

The root file system is an ext4 image (too large for an initramfs), built
once per set of package versions and cached in the board VM rig's cache:

    <cache>/gl-guest-<key>/root.ext4    key: sha256 of the .deb file names
                                        (name_version_arch) + busybox + init

How it is made: `apt-get install --download-only` of PACKAGES against an
empty dpkg status (so the whole dependency closure comes, with apt's own
configured sources), `dpkg -x` of every .deb into a tree, the host's
busybox-static with its applets in /kg/bin, /sbin/kg3d-init, `ldconfig -r`,
then `mke2fs -t ext4 -d TREE`. If apt cannot answer (offline) the newest
cached image is used, with a warning.

Boot: the rig's kernel (kgvm.Cache) with a per-run initramfs that loads
virtio_blk, ext4 and virtio_gpu (and what they depend on), mounts the image
(/dev/vda, QEMU snapshot=on: writes never reach the cached file) and
switch_roots to /sbin/kg3d-init, which mounts proc, sys, debugfs, tmpfs,
waits for /dev/dri/card0, runs the command given on the kernel command line
(kg3d.cmd=<base64 of a sh command>) with the serial console as stdin/stdout,
prints kgvm's markers and powers off. So kgvm.VM's console API works as is.

API (stdlib only; import with sys.path including tests/vm):

    import guestimg, kgvm
    opts = kgvm.Options(mem=1024, timeout=300)           # add= is copied into the root
    gpu = ['-chardev', 'socket,id=vgpu,path=S',
           '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0']
    with guestimg.GLGuestVM(opts, ['kmscube --count=100'], gpu_args=gpu) as vm:
        vm.wait_for(r'^GL_RENDERER')
        status = vm.wait()

Command line: python3 tests/vm/guestimg.py --help (build the image, or boot
it with virtio-gpu-pci or a vhost-user-gpu socket and run a command).
"""

import argparse
import base64
import glob
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgvm  # noqa: E402
from kgvm import VMError, log, run  # noqa: E402

# The guest GL stack: Mesa's DRI drivers (virtio_gpu_dri.so), GBM, EGL
# through glvnd, GLES 2, and two unmodified Debian GL programs.
PACKAGES = ['libgl1-mesa-dri', 'libgbm1', 'libegl1', 'libegl-mesa0', 'libgles2',
            'kmscube', 'glmark2-es2-drm']
# Loaded by the per-run initramfs before the switch to the image.
MODULES = ['virtio_blk', 'ext4', 'virtio_gpu']
# Bump when the image's layout changes (part of the cache key).
FORMAT = 1

IMAGE_INIT = r'''#!/bin/busybox sh
# kg3d-init: PID 1 of the 3D guest (tests/vm/guestimg.py).
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin:/kg/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /dev/pts /dev/shm /root
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
n=0
while [ $n -lt 50 ] && ! [ -e /dev/dri/card0 ]; do sleep 0.1; n=$((n + 1)); done
[ -e /dev/dri/card0 ] || echo "kg3d: no /dev/dri/card0" >/dev/console
cmd=$(sed -n 's/.*kg3d\.cmd=\([^ ]*\).*/\1/p' /proc/cmdline | base64 -d)
stty -F /dev/console -echo -onlcr 2>/dev/null
cd /tmp
echo "@@kgvm-run@@"
sh -c "$cmd" </dev/console >/dev/console 2>&1
echo "@@kgvm-exit=$?@@"
sync
poweroff -f
'''

BOOT_INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
while read -r mod args; do
	insmod /lib/kgvm/$mod.ko $args || echo "kg3d: insmod $mod failed" >/dev/console
done </kgvm/modules
n=0
while [ $n -lt 50 ] && ! [ -b /dev/vda ]; do sleep 0.1; n=$((n + 1)); done
mkdir -p /newroot
if ! mount -t ext4 /dev/vda /newroot; then
	echo "kg3d: cannot mount the root image /dev/vda" >/dev/console
	echo "@@kgvm-exit=99@@" >/dev/console
	poweroff -f
fi
[ -d /kgvm/root ] && cp -a /kgvm/root/. /newroot/
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/kg3d-init
'''


def closure(pkgs):
    """[(file name, URI)] of pkgs and their whole dependency closure (no
    recommends), as apt would fetch it into an empty system."""
    with tempfile.TemporaryDirectory(prefix='kg3d-apt-') as tmp:
        status = os.path.join(tmp, 'status')
        open(status, 'w').close()
        out = run(['apt-get', '-q', '-y', '--print-uris', '-o', f'Dir::State::status={status}',
                   '-o', f'Dir::Cache::archives={tmp}', '-o', 'Debug::NoLocking=1',
                   '-o', 'APT::Install-Recommends=false', 'install', '--download-only'] + pkgs,
                  capture_output=True, text=True).stdout
    debs = re.findall(r"^'(\S+)' (\S+\.deb) \d+", out, re.M)
    if not debs:
        raise VMError(f'apt-get --print-uris install {" ".join(pkgs)}: no packages listed')
    return [(name, uri) for uri, name in debs]


def download(pkgs, dest):
    """apt-get install --download-only of pkgs' closure into dest (an empty
    dpkg status: everything comes); returns the .deb paths."""
    os.makedirs(os.path.join(dest, 'partial'), exist_ok=True)
    # apt's _apt user must be able to write here when we run as root.
    for d in (dest, os.path.join(dest, 'partial')):
        os.chmod(d, 0o777)
    status = os.path.join(dest, 'status')
    open(status, 'w').close()
    log(f'downloading {" ".join(pkgs)} and their dependencies')
    run(['apt-get', '-q', '-y', '-o', f'Dir::State::status={status}',
         '-o', f'Dir::Cache::archives={dest}', '-o', 'Debug::NoLocking=1',
         '-o', 'APT::Install-Recommends=false', 'install', '--download-only'] + pkgs,
        capture_output=True)
    return sorted(glob.glob(os.path.join(dest, '*.deb')))


def busybox_path():
    bb = shutil.which('busybox') or '/bin/busybox'
    if not os.path.exists(bb):
        raise VMError('no busybox: run tools/install-deps (busybox-static)')
    return bb


def image_key(deb_names, busybox):
    h = hashlib.sha256()
    h.update(f'format {FORMAT}\n'.encode())
    for name in sorted(deb_names):
        h.update(name.encode() + b'\n')
    h.update(IMAGE_INIT.encode())
    with open(busybox, 'rb') as f:
        h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def cached_images(cache_path):
    """Built images, oldest first."""
    done = glob.glob(os.path.join(cache_path, 'gl-guest-*/.done'))
    done.sort(key=os.path.getmtime)
    return [os.path.join(os.path.dirname(d), 'root.ext4') for d in done]


def build_tree(debs, tree, busybox):
    for d in debs:
        run(['dpkg', '-x', d, tree])
    # busybox: the shell, mount, insmod's friends; its applets come last in PATH.
    os.makedirs(os.path.join(tree, 'bin'), exist_ok=True)
    shutil.copy2(busybox, os.path.join(tree, 'bin/busybox'))
    applets = run([busybox, '--list'], capture_output=True, text=True).stdout.split()
    kgbin = os.path.join(tree, 'kg/bin')
    os.makedirs(kgbin, exist_ok=True)
    for a in applets:
        os.symlink('/bin/busybox', os.path.join(kgbin, a))
    for d in ['dev', 'proc', 'sys', 'tmp', 'run', 'root', 'sbin', 'etc', 'usr/local/bin']:
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    init = os.path.join(tree, 'sbin/kg3d-init')
    with open(init, 'w') as f:
        f.write(IMAGE_INIT)
    os.chmod(init, 0o755)
    # Packages keep their /lib and /usr/lib apart (no merged /usr here):
    # the loader finds both through ld.so.cache.
    with open(os.path.join(tree, 'etc/ld.so.conf'), 'w') as f:
        f.write('include /etc/ld.so.conf.d/*.conf\n/usr/lib/x86_64-linux-gnu\n'
                '/lib/x86_64-linux-gnu\n')
    run(['ldconfig', '-r', tree], capture_output=True)
    with open(os.path.join(tree, 'etc/passwd'), 'w') as f:
        f.write('root:x:0:0:root:/root:/bin/sh\n')
    with open(os.path.join(tree, 'etc/group'), 'w') as f:
        f.write('root:x:0:\nvideo:x:44:\nrender:x:105:\n')


def tree_size(tree):
    """Bytes in 4 KiB blocks; hard links (Mesa's DRI drivers are one file
    under many names) count once."""
    total, seen = 0, set()
    for d, dirs, files in os.walk(tree):
        for n in files + dirs:
            st = os.lstat(os.path.join(d, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += (st.st_size + 4095) // 4096 * 4096
    return total


def image(cache, timings):
    """The root image's path; built only when no image of the current package
    versions is cached. Call with the cache locked (kgvm.Cache)."""
    t0 = time.monotonic()
    busybox = busybox_path()
    try:
        debs = closure(PACKAGES)
    except VMError as e:
        old = cached_images(cache.path)
        if not old:
            raise
        log(f'warning: {e}; using the cached image {old[-1]}')
        timings['image (cached)'] = time.monotonic() - t0
        return old[-1]
    key = image_key([name for name, _ in debs], busybox)
    out = os.path.join(cache.path, f'gl-guest-{key}')
    img = os.path.join(out, 'root.ext4')
    if os.path.exists(os.path.join(out, '.done')):
        timings['image (cached)'] = time.monotonic() - t0
        return img
    shutil.rmtree(out, ignore_errors=True)
    work = os.path.join(cache.path, 'gl-guest-build')
    shutil.rmtree(work, ignore_errors=True)
    try:
        files = download(PACKAGES, os.path.join(work, 'debs'))
        got = sorted(os.path.basename(f) for f in files)
        want = sorted(name for name, _ in debs)
        if got != want:
            raise VMError('the downloaded packages are not the ones apt listed (apt-get update '
                          f'in between?): {sorted(set(got) ^ set(want))}')
        tree = os.path.join(work, 'tree')
        log(f'extracting {len(files)} packages')
        build_tree(files, tree, busybox)
        # Room for what a test writes (QEMU's snapshot=on keeps it off the file).
        size_mb = tree_size(tree) * 12 // 10 // 2**20 + 64
        os.makedirs(out, exist_ok=True)
        log(f'mke2fs -d: {size_mb} MiB ext4')
        run(['mke2fs', '-q', '-t', 'ext4', '-O', '^has_journal', '-L', 'kg3d', '-m', '0',
             '-E', 'root_owner=0:0', '-d', tree, img + '.tmp', f'{size_mb}M'],
            capture_output=True)
        os.rename(img + '.tmp', img)
        with open(os.path.join(out, 'packages'), 'w') as f:
            f.write('\n'.join(want) + '\n')
        open(os.path.join(out, '.done'), 'w').close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings['image build'] = time.monotonic() - t0
    return img


def build_boot_initramfs(out, modules, add):
    """The per-run initramfs: busybox, the modules, BOOT_INIT; the files
    given as SRC[:DEST] (kgvm.parse_add) are copied into the root image's
    tree at boot (no libraries come along: the image has its own)."""
    stage = tempfile.mkdtemp(prefix='kg3d-initrd-')
    os.chmod(stage, 0o755)
    try:
        for d in ['bin', 'dev', 'proc', 'sys', 'lib/kgvm', 'kgvm']:
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        shutil.copy2(busybox_path(), os.path.join(stage, 'bin/busybox'))
        with open(os.path.join(stage, 'init'), 'w') as f:
            f.write(BOOT_INIT)
        os.chmod(os.path.join(stage, 'init'), 0o755)
        for name, path in modules:
            shutil.copy2(path, os.path.join(stage, 'lib/kgvm', name + '.ko'))
        with open(os.path.join(stage, 'kgvm/modules'), 'w') as f:
            f.write(''.join(f'{name}\n' for name, _ in modules))
        for spec in add:
            src, dest = kgvm.parse_add(spec)
            d = os.path.join(stage, 'kgvm/root', dest.lstrip('/'))
            os.makedirs(os.path.dirname(d), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, d, dirs_exist_ok=True)
            else:
                shutil.copy2(src, d)
        with open(out, 'wb') as f:
            find = subprocess.Popen(['find', '.'], cwd=stage, stdout=subprocess.PIPE)
            cpio = subprocess.Popen(['cpio', '-o', '-H', 'newc', '--quiet', '-R', '0:0'],
                                    cwd=stage, stdin=find.stdout, stdout=subprocess.PIPE)
            gz = subprocess.Popen(['gzip', '-1'], stdin=cpio.stdout, stdout=f)
            find.stdout.close()
            cpio.stdout.close()
            if gz.wait() or cpio.wait() or find.wait():
                raise VMError('building the initramfs (find | cpio | gzip) failed')
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class GLGuestVM(kgvm.VM):
    """A kgvm.VM whose root is the cached GL image. gpu_args are the QEMU
    arguments of the GPU (default: QEMU's own 2D virtio-gpu-pci); guest RAM
    is always a shared memfd, as vhost-user needs."""

    def __init__(self, opts, argv, gpu_args=None):
        super().__init__(opts, argv)
        self.gpu_args = list(gpu_args or ['-device', 'virtio-gpu-pci,id=video0'])
        self.image = None

    def start(self):
        t0 = time.monotonic()
        cache = kgvm.Cache(self.opts.cache or kgvm.default_cache())
        with cache:
            abi, root = cache.kernel(self.timings)
            tm = time.monotonic()
            mods = cache.resolve_modules(abi, root, MODULES)
            self.timings['modules'] = time.monotonic() - tm
            self.image = image(cache, self.timings)
        kernel = os.path.join(root, 'boot', f'vmlinuz-{abi}')
        t1 = time.monotonic()
        initrd = os.path.join(self.tmp, 'initrd.gz')
        build_boot_initramfs(initrd, mods, self.opts.add)
        self.timings['initramfs build'] = time.monotonic() - t1
        self.kernel_abi = abi
        self._boot(kernel, initrd)
        self.timings['setup'] = time.monotonic() - t0
        return self

    def qemu_cmdline(self, kernel, initrd):
        cmd = self.argv[0] if len(self.argv) == 1 else shlex.join(self.argv)
        b64 = base64.b64encode(cmd.encode()).decode()
        append = ('console=ttyS0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
                  f'kg3d.cmd={b64} ' + ' '.join(self.opts.append)).strip()
        if len(append) > 2000:
            raise VMError(f'the guest command is too long for the kernel command line '
                          f'({len(append)} bytes)')
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        mem = self.opts.mem
        return ['qemu-system-x86_64', '-accel', 'tcg,thread=multi', '-cpu', 'max',
                '-m', str(mem), '-smp', '2', '-nographic', '-no-reboot',
                '-monitor', 'none', '-serial', 'stdio', '-vga', 'none', '-nic', 'none',
                '-object', f'memory-backend-memfd,id=mem,size={mem}M,share=on',
                '-machine', 'memory-backend=mem',
                '-drive', f'file={self.image},format=raw,if=virtio,snapshot=on',
                '-qmp', f'unix:{self.qmp_path},server=on,wait=off',
                '-kernel', kernel, '-initrd', initrd, '-append', append
                ] + self.gpu_args + self.opts.qemu_args


def main():
    ap = argparse.ArgumentParser(
        description='Build the 3D guest image, or boot it and run a command.',
        epilog='Examples: guestimg.py --build-only;  guestimg.py -- kmscube --count=10;  '
               'guestimg.py --vhost-user /tmp/vgpu.sock -- "dmesg | grep -i virgl"')
    ap.add_argument('--cache', help='cache dir (default $KG_VM_CACHE, else build/vm-cache)')
    ap.add_argument('--build-only', action='store_true', help='build (or find) the image, '
                    'print its path')
    ap.add_argument('--vhost-user', metavar='SOCK', help='GPU: vhost-user-gpu-pci on the '
                    'back-end socket SOCK (default: QEMU virtio-gpu-pci)')
    ap.add_argument('--gpu-arg', action='append', default=[], metavar='ARG',
                    help='GPU: these QEMU arguments instead (repeatable, one argv element each)')
    ap.add_argument('--add', action='append', default=[], metavar='SRC[:DEST]')
    ap.add_argument('--append', action='append', default=[], metavar='ARG')
    ap.add_argument('--qemu-arg', action='append', default=[], metavar='ARG')
    ap.add_argument('--mem', type=int, default=1024)
    ap.add_argument('--timeout', type=int, default=300)
    ap.add_argument('cmd', nargs='*')
    args = ap.parse_args()
    try:
        if args.build_only:
            timings = {}
            with kgvm.Cache(args.cache or kgvm.default_cache()) as cache:
                img = image(cache, timings)
            st = os.stat(img)
            log(f'image {img}: {st.st_size / 2**20:.0f} MiB '
                f'({st.st_blocks * 512 / 2**20:.0f} MiB on disk); '
                + ', '.join(f'{k} {v:.1f} s' for k, v in timings.items()))
            print(img)
            return 0
        gpu = args.gpu_arg or None
        if args.vhost_user:
            gpu = ['-chardev', f'socket,id=vgpu,path={args.vhost_user}',
                   '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0']
        opts = kgvm.Options(cache=args.cache, add=args.add, qemu_args=args.qemu_arg,
                            append=args.append, mem=args.mem, timeout=args.timeout)
        with GLGuestVM(opts, args.cmd or ['true'], gpu_args=gpu) as vm:
            status = vm.wait()
            vm.print_timings()
        return status
    except VMError as e:
        log(f'error: {e}')
        return 99


if __name__ == '__main__':
    sys.exit(main())
