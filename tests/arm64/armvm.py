# SPDX-License-Identifier: MIT
"""armvm: an arm64 guest for kmsgate's host tests (R-Car boards run arm64
guests).

The board VM rig (tests/vm/kgvm.py) is x86: its kernel cache looks for the
amd64 kernel, its initramfs takes the host's busybox, its QEMU command line is
qemu-system-x86_64. This module reuses kgvm's console, markers, QMP, timings
and initramfs builder, and swaps only those three things:

- the kernel: Debian's newest linux-image-6.12.*+deb12-arm64-unsigned
  (apt-get download PKG:arm64, no install), cached next to the x86 one;
- busybox: busybox-static:arm64 (apt-get download, dpkg -x), cached; it goes
  into the initramfs as a second cpio archive appended to kgvm's, which the
  kernel unpacks over the first (the x86 busybox is replaced);
- QEMU: qemu-system-aarch64 -M virt -cpu max (TCG), console ttyAMA0,
  memfd guest RAM and a vhost-user-gpu device on PCI or on virtio-mmio.

    import armvm
    vm = armvm.GuestVM(kgvm.Options(add=['kg-frames:/bin/kg-frames'], mem=512),
                       ['kg-frames'], socket_path, transport='pci')  # or 'mmio'
    with vm:
        vm.wait_for(r'^RESULT ')   # then kgvm.VM's API
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import kgvm  # noqa: E402

# virtio_mmio is a module in Debian's arm64 kernel (virtio_pci is built in):
# without it the virtio-mmio transport finds no device.
MODULES = ['virtio_mmio', 'virtio_gpu']
# transport -> (QEMU device, more QEMU arguments). The virt machine's
# virtio-mmio slots offer the legacy (pre-1.0) interface unless told otherwise; Linux's
# virtio-gpu driver needs VIRTIO_F_VERSION_1 and stays unbound on them
# ('mmio-legacy' is kept to show that).
TRANSPORTS = {
    'pci': ('vhost-user-gpu-pci', []),
    'mmio': ('vhost-user-gpu', ['-global', 'virtio-mmio.force-legacy=false']),
    'mmio-legacy': ('vhost-user-gpu', []),
}


class Cache(kgvm.Cache):
    """kgvm's cache directory and lock, with the arm64 kernel and busybox."""

    ARCH = 'arm64'

    def busybox(self, timings):
        """Path of busybox-static:arm64's busybox; downloaded once."""
        t0 = time.monotonic()
        root = os.path.join(self.path, 'busybox-arm64')
        bb = os.path.join(root, 'bin', 'busybox')
        if os.path.exists(os.path.join(root, '.done')):
            return bb
        shutil.rmtree(root, ignore_errors=True)
        deb, = kgvm.apt_download(['busybox-static:arm64'], os.path.join(self.path, 'download'))
        kgvm.run(['dpkg', '-x', deb, root])
        os.unlink(deb)
        if not os.path.exists(bb):
            raise kgvm.VMError(f'busybox-static:arm64 has no bin/busybox ({root})')
        open(os.path.join(root, '.done'), 'w').close()
        timings['busybox fetch'] = time.monotonic() - t0
        return bb

    def modules(self, abi, root, vkms_ko=None):
        """MODULES and their dependencies, decompressed, in load order:
        list of (name, path)."""
        return self.resolve_modules(abi, root, MODULES)

def append_busybox(initrd, busybox):
    """Appends a gzip'd cpio holding /bin/busybox to initrd: the kernel
    unpacks concatenated archives in order, so this one replaces kgvm's
    (the host's x86) busybox."""
    stage = tempfile.mkdtemp(prefix='armvm-bb-')
    try:
        os.makedirs(os.path.join(stage, 'bin'))
        shutil.copy2(busybox, os.path.join(stage, 'bin', 'busybox'))
        with open(initrd, 'ab') as f:
            cpio = subprocess.Popen(['cpio', '-o', '-H', 'newc', '--quiet', '-R', '0:0'],
                                    cwd=stage, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            gz = subprocess.Popen(['gzip', '-1'], stdin=cpio.stdout, stdout=f)
            cpio.stdout.close()
            cpio.communicate(b'bin\nbin/busybox\n')
            if gz.wait() or cpio.returncode:
                raise kgvm.VMError('appending the arm64 busybox to the initramfs failed')
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class GuestVM(kgvm.VM):
    """An arm64 guest on qemu-system-aarch64 -M virt whose GPU is QEMU's
    vhost-user-gpu served over socket_path (by kmsgate-vgpu).
    transport: a key of TRANSPORTS: 'pci' (vhost-user-gpu-pci) or 'mmio'
    (vhost-user-gpu on a virtio-mmio slot of the virt machine)."""

    def __init__(self, opts, argv, socket_path, transport='pci'):
        super().__init__(opts, argv)
        if transport not in TRANSPORTS:
            raise kgvm.VMError(f'unknown transport {transport!r} ({", ".join(TRANSPORTS)})')
        self.socket_path = socket_path
        self.transport = transport

    def start(self):
        t0 = time.monotonic()
        with Cache(self.opts.cache or kgvm.default_cache()) as cache:
            abi, root = cache.kernel(self.timings)
            busybox = cache.busybox(self.timings)
            tm = time.monotonic()
            mods = cache.modules(abi, root)
            self.timings['modules'] = time.monotonic() - tm
        kernel = os.path.join(root, 'boot', f'vmlinuz-{abi}')
        t1 = time.monotonic()
        initrd = os.path.join(self.tmp, 'initrd.gz')
        kgvm.build_initramfs(initrd, mods, self.opts.add, self.argv, 1, self.opts.module_params)
        append_busybox(initrd, busybox)
        self.timings['initramfs build'] = time.monotonic() - t1
        self.kernel_abi = abi
        self._boot(kernel, initrd)
        self.timings['setup'] = time.monotonic() - t0
        return self

    def qemu_cmdline(self, kernel, initrd):
        append = ('console=ttyAMA0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
                  + ' '.join(self.opts.append)).strip()
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        mem = self.opts.mem
        device, extra = TRANSPORTS[self.transport]
        return ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'max', '-accel', 'tcg,thread=multi',
                '-m', f'{mem}M', '-smp', '2', '-nographic', '-no-reboot',
                '-monitor', 'none', '-serial', 'stdio', '-nic', 'none',
                '-qmp', f'unix:{self.qmp_path},server=on,wait=off',
                '-kernel', kernel, '-initrd', initrd, '-append', append,
                '-object', f'memory-backend-memfd,id=mem,size={mem}M,share=on',
                '-machine', 'memory-backend=mem',
                '-chardev', f'socket,id=vgpu,path={self.socket_path}',
                '-device', f'{device},chardev=vgpu,id=video0'] + extra + self.opts.qemu_args

    def _boot(self, kernel, initrd):
        if not shutil.which('qemu-system-aarch64'):
            raise kgvm.VMError('qemu-system-aarch64 not found: run tools/install-deps '
                               '(qemu-system-arm from bookworm-backports)')
        super()._boot(kernel, initrd)
