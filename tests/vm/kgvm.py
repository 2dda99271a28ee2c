# SPDX-License-Identifier: MIT
"""kgvm: the board VM every kmsgate kernel-level test runs in.

A Debian 6.12 kernel (fetched by package name, never a fixed version) boots
under qemu-system-x86_64 (TCG) with a virtio-gpu-pci of 4 outputs, all forced
on, and optionally vkms built out of tree. A busybox initramfs loads the
modules, runs one command, prints an exit marker and powers off.

Command line: tests/vm/run --help (a thin wrapper around this module).

API for host-side tests (stdlib only; import with sys.path including tests/vm):

    import kgvm
    opts = kgvm.Options(cache=None,          # None: $KG_VM_CACHE, else <repo>/build/vm-cache
                        vkms=False,          # also build and load vkms (card order varies!)
                        add=['build/tests/vm/kms-heads:/bin/kms-heads'],  # SRC[:DEST]
                        qemu_args=[],        # more QEMU args, e.g. a second device
                        append=[],           # more kernel args
                        module_params={},    # module -> insmod args, e.g. {'drm_kms_helper':
                                             # 'fbdev_emulation=0'} (busybox insmod does not
                                             # read module.param= from the kernel command line)
                        mem=1024, timeout=300, qmp=None,  # qmp: socket path, None: private
                        heads=4,             # virtio-gpu max_outputs (1..16), all forced on
                        init='busybox')      # or 'systemd': Debian 12's systemd 252 as PID 1
                                             # (tests/vm/sdboard.py)
    with kgvm.VM(opts, ['kms-heads', '--wait']) as vm:   # boots; argv runs via sh
        vm.wait_for(r'^READY$', timeout=60)   # -> re.Match; raises kgvm.VMError on timeout/exit
        line = vm.readline(timeout=5)         # next console line (str, no EOL) or None
        vm.send('go')                         # a line to the guest command's stdin
        w, h, rgb = vm.screendump(head=0)     # QMP screendump (PPM), rgb: bytes, 3 per pixel
        vm.save_png(0, 'out/head0.png')       # QMP screendump format png
        status = vm.wait(timeout=60)          # the guest command's exit status
    vm.output                                 # every console line seen so far
    vm.timings                                # dict: name -> seconds

Console lines are echoed to sys.stdout while they arrive (Options.echo=False
to stop that). The guest command runs with the serial console as stdin,
stdout and stderr; the console does not echo what the host sends.
Exit status: the command's; kgvm.STATUS_TIMEOUT (124) after the timeout,
kgvm.STATUS_NO_MARKER (125) when the guest died without reporting one.
Errors of the rig itself (no kernel, no QEMU, build failed) raise VMError.

Artifacts are cached in the cache dir: the kernel package tree
(kernel-<abi>/), decompressed modules (modules-<abi>/) and vkms
(vkms-<abi>-<patches>/, <patches> = hash of tests/vm/vkms-patches/*.patch).
A file lock (cache/lock) makes concurrent runs wait for each other's fetch.
"""

import fcntl
import filecmp
import glob
import hashlib
import json
import math
import os
import queue
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

STATUS_TIMEOUT = 124
STATUS_NO_MARKER = 125
EXIT_MARKER = '@@kgvm-exit='
RUN_MARKER = '@@kgvm-run@@'
HEADS = 4
ANSI_RE = re.compile(r'\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Modules the init loads, in modprobe --show-depends order per root module.
BASE_MODULES = ['virtio_gpu']
VKMS_PARAMS = 'enable_writeback=1 enable_overlay=1 enable_cursor=1'
# Patches to 6.12's vkms (patch -p1 in the kernel source tree), applied in
# name order (docs/test-rig.md, "vkms patches").
VKMS_PATCHES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vkms-patches')


class VMError(Exception):
    """The rig could not do what was asked (not a failure of the guest command)."""


def log(msg):
    print(f'[kgvm] {msg}', file=sys.stderr, flush=True)


def run(cmd, **kw):
    """Runs a host command; a failure raises VMError naming the command."""
    kw.setdefault('check', True)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode(errors='replace') if isinstance(e.stderr, bytes) else (e.stderr or '')
        raise VMError(f'{shlex.join(cmd)} failed with status {e.returncode}: {err.strip()}')
    except FileNotFoundError as e:
        raise VMError(f'{cmd[0]} not found ({e}); run tools/install-deps')


class Options:
    def __init__(self, cache=None, vkms=False, add=None, qemu_args=None, append=None,
                 mem=1024, timeout=300, qmp=None, echo=True, module_params=None,
                 heads=HEADS, init='busybox'):
        self.cache = cache
        self.vkms = vkms
        self.add = list(add or [])
        self.qemu_args = list(qemu_args or [])
        self.append = list(append or [])
        self.mem = mem
        self.timeout = timeout
        self.qmp = qmp
        self.echo = echo
        self.module_params = dict(module_params or {})
        # virtio-gpu outputs (max_outputs, 1..16), each connector forced on.
        self.heads = heads
        # PID 1: 'busybox' (INIT below) or 'systemd' (Debian 12's systemd
        # 252 with the shipped units as on a board: tests/vm/sdboard.py).
        if init not in ('busybox', 'systemd'):
            raise VMError(f"Options(init={init!r}): 'busybox' or 'systemd'")
        self.init = init


def default_cache():
    env = os.environ.get('KG_VM_CACHE')
    if env:
        return env
    return os.path.join(REPO, 'build', 'vm-cache')


# ---------------------------------------------------------------- kernel ----

def kernel_re(arch):
    return re.compile(r'^linux-image-(6\.12\.(\d+)\+deb12)-' + arch + '-unsigned$')


def newest_kernel(arch='amd64'):
    """(package, version-base, abi): the newest 6.12 kernel of Debian
    architecture arch that apt offers now."""
    pat = kernel_re(arch)
    out = run(['apt-cache', 'pkgnames', 'linux-image-6.12.'], capture_output=True,
              text=True).stdout
    found = []
    for name in out.split():
        m = pat.match(name)
        if m:
            found.append((int(m.group(2)), name, m.group(1)))
    if not found:
        raise VMError(f'apt offers no linux-image-6.12.*+deb12-{arch}-unsigned: run apt-get '
                      'update (Debian 12 security or backports suites must be configured'
                      + ('' if arch == 'amd64' else f', and the {arch} architecture added by '
                         'tools/install-deps') + ')')
    found.sort()
    _, name, base = found[-1]
    return name, base, f'{base}-{arch}'


def pkg_version(name):
    out = run(['apt-cache', 'show', '--no-all-versions', name], capture_output=True,
              text=True).stdout
    m = re.search(r'^Version: (\S+)', out, re.M)
    if not m:
        raise VMError(f'apt-cache show {name}: no Version field')
    return m.group(1)


def _deb_glob(dest, pkg):
    """The .deb files apt-get download leaves for pkg (name[:arch][=version])."""
    name, _, arch = pkg.split('=')[0].partition(':')
    return glob.glob(os.path.join(dest, f'{name}_*_{arch}.deb' if arch else f'{name}_*.deb'))


def apt_download(pkgs, dest):
    """apt-get download into dest; returns the .deb paths in the order of pkgs
    (a package may name its architecture: busybox-static:arm64)."""
    os.makedirs(dest, exist_ok=True)
    # apt's _apt user must be able to write here when we run as root.
    os.chmod(dest, 0o777)
    for p in pkgs:  # an older download left behind must not be taken
        for old in _deb_glob(dest, p):
            os.unlink(old)
    log(f'downloading {" ".join(pkgs)}')
    run(['apt-get', 'download', '-q'] + pkgs, cwd=dest, capture_output=True)
    debs = []
    for p in pkgs:
        hits = _deb_glob(dest, p)
        if not hits:
            raise VMError(f'apt-get download {p}: no .deb appeared in {dest}')
        debs.append(hits[0])
    return debs


class Cache:
    """The kernel, its modules and vkms, fetched and built once per cache dir."""

    ARCH = 'amd64'  # the kernel's Debian architecture

    def __init__(self, path):
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        self._lockf = None

    def __enter__(self):
        self._lockf = open(os.path.join(self.path, 'lock'), 'w')
        fcntl.flock(self._lockf, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self._lockf.close()

    def cached_kernels(self):
        found = []
        for d in glob.glob(os.path.join(self.path, f'kernel-6.12.*+deb12-{self.ARCH}/.done')):
            abi = os.path.basename(os.path.dirname(d))[len('kernel-'):]
            found.append((int(abi.split('.')[2].split('+')[0]), abi))
        return [abi for _, abi in sorted(found)]

    def kernel(self, timings):
        """Returns (abi, kernel tree); downloads only when not cached."""
        t0 = time.monotonic()
        pkg, base, abi = newest_kernel(self.ARCH)
        root = os.path.join(self.path, f'kernel-{abi}')
        stamp = os.path.join(root, '.done')
        if os.path.exists(stamp):
            timings['kernel (cached)'] = time.monotonic() - t0
            return abi, root
        shutil.rmtree(root, ignore_errors=True)
        dl = os.path.join(self.path, 'download')
        try:
            deb, = apt_download([f'{pkg}:{self.ARCH}'], dl)
        except VMError as e:
            # Offline, or the archive moved on since apt-get update: an
            # older kernel that is already here beats no test at all.
            old = self.cached_kernels()
            if not old:
                raise
            log(f'warning: {e}; using the cached kernel {old[-1]} instead')
            timings['kernel (cached)'] = time.monotonic() - t0
            return old[-1], os.path.join(self.path, f'kernel-{old[-1]}')
        run(['dpkg', '-x', deb, root])
        run(['depmod', '-b', root, abi])
        os.unlink(deb)
        open(stamp, 'w').close()
        timings['kernel fetch'] = time.monotonic() - t0
        return abi, root

    def vkms(self, abi, base_root, timings):
        """Builds vkms.ko out of tree against the same kernel version, with
        the patches of VKMS_PATCHES applied; cached per kernel and patch set."""
        t0 = time.monotonic()
        patches = sorted(glob.glob(os.path.join(VKMS_PATCHES, '*.patch')))
        out = os.path.join(self.path, f'vkms-{abi}-{files_hash(patches)}')
        ko = os.path.join(out, 'vkms.ko')
        if os.path.exists(ko):
            timings['vkms (cached)'] = time.monotonic() - t0
            return ko
        base = abi[:-len('-amd64')]
        image = f'linux-image-{abi}-unsigned'
        ver = pkg_version(image)
        work = os.path.join(self.path, f'vkms-build-{abi}')
        shutil.rmtree(work, ignore_errors=True)
        pkgs = [f'linux-source-6.12={ver}', f'linux-headers-{abi}',
                f'linux-headers-{base}-common', f'linux-kbuild-{base}']
        debs = apt_download(pkgs, os.path.join(work, 'debs'))
        root = os.path.join(work, 'root')
        for d in debs[1:]:
            run(['dpkg', '-x', d, root])
        run(['dpkg', '-x', debs[0], os.path.join(work, 'src')])
        tarball = glob.glob(os.path.join(work, 'src/usr/src/linux-source-6.12*.tar.*'))
        if not tarball:
            raise VMError(f'linux-source-6.12={ver}: no source tarball inside')
        log('extracting drivers/gpu/drm/vkms from the kernel source')
        run(['tar', '-xf', tarball[0], '-C', work, '--wildcards', '*/drivers/gpu/drm/vkms/*'])
        vdir = glob.glob(os.path.join(work, '*/drivers/gpu/drm/vkms'))[0]
        src = vdir[:-len('/drivers/gpu/drm/vkms')]
        for p in patches:
            log(f'applying {os.path.basename(p)}')
            with open(p, 'rb') as f:
                r = run(['patch', '-p1', '--batch', '--forward', '-d', src], stdin=f,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
            if r.returncode:
                raise VMError(f'{p} does not apply to linux-source-6.12={ver}:\n'
                              + r.stdout.decode(errors='replace').strip())
        hdr = os.path.join(root, 'usr/src', f'linux-headers-{abi}')
        relocate_tree(root, hdr)
        log('building vkms.ko (about 20 s)')
        run(['make', '-s', '-j2', '-C', hdr, f'M={vdir}', 'CONFIG_DRM_VKMS=m', 'modules'],
            capture_output=True)
        os.makedirs(out, exist_ok=True)
        run(['strip', '--strip-debug', '-o', ko + '.tmp', os.path.join(vdir, 'vkms.ko')])
        os.rename(ko + '.tmp', ko)
        shutil.rmtree(work, ignore_errors=True)
        timings['vkms build'] = time.monotonic() - t0
        return ko

    def modules(self, abi, root, vkms_ko):
        """Decompressed modules in load order: list of (name, path)."""
        if vkms_ko:
            extra = os.path.join(root, 'lib/modules', abi, 'updates')
            os.makedirs(extra, exist_ok=True)
            dst = os.path.join(extra, 'vkms.ko')
            # A vkms.ko of another patch set may be there: replace it.
            if not os.path.exists(dst) or not filecmp.cmp(vkms_ko, dst, shallow=False):
                shutil.copy(vkms_ko, dst + '.tmp')
                os.rename(dst + '.tmp', dst)
                run(['depmod', '-b', root, abi])
        return self.resolve_modules(abi, root, BASE_MODULES + (['vkms'] if vkms_ko else []))

    def resolve_modules(self, abi, root, wanted):
        """The modules wanted and what they depend on (modprobe's view of the
        kernel tree in root), decompressed into the cache, in load order:
        list of (name, path)."""
        order = []
        for mod in wanted:
            out = run(['modprobe', '-d', root, '-S', abi, '--show-depends', mod],
                      capture_output=True, text=True).stdout
            for line in out.splitlines():
                f = line.split()
                if len(f) >= 2 and f[0] == 'insmod' and f[1] not in order:
                    order.append(f[1])
        cache = os.path.join(self.path, f'modules-{abi}')
        os.makedirs(cache, exist_ok=True)
        res = []
        for src in order:
            name = re.sub(r'\.ko(\.xz)?$', '', os.path.basename(src))
            dst = os.path.join(cache, name + '.ko')
            # Uncompressed sources (vkms.ko in updates/) can change: compare.
            if not os.path.exists(dst) or (not src.endswith('.xz') and
                                           not filecmp.cmp(src, dst, shallow=False)):
                with open(dst + '.tmp', 'wb') as f:
                    if src.endswith('.xz'):
                        run(['xz', '-dc', src], stdout=f)
                    else:
                        shutil.copyfileobj(open(src, 'rb'), f)
                os.rename(dst + '.tmp', dst)
            res.append((name, dst))
        return res


def files_hash(paths):
    """12 hex digits of sha256 over the files' names and contents ('none'
    for no files): part of a cache key."""
    if not paths:
        return 'none'
    h = hashlib.sha256()
    for p in paths:
        with open(p, 'rb') as f:
            h.update(os.path.basename(p).encode() + b'\0' + f.read() + b'\0')
    return h.hexdigest()[:12]


def relocate_tree(root, hdr):
    """The headers package refers to /usr/src and /usr/lib by absolute path:
    point those references at the extracted tree."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                t = os.readlink(p)
                if t.startswith('/usr/'):
                    os.unlink(p)
                    os.symlink(root + t, p)
    for d in os.listdir(os.path.dirname(hdr)):
        mk = os.path.join(os.path.dirname(hdr), d, 'Makefile')
        if os.path.isfile(mk) and not os.path.islink(mk):
            txt = open(mk).read()
            new = re.sub(r'(?<![\w/])/usr/src/', root + '/usr/src/', txt)
            if new != txt:
                open(mk, 'w').write(new)


# ------------------------------------------------------------ initramfs ----

INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /tmp /run && mount -t tmpfs tmp /tmp
while read -r mod args; do
	insmod /lib/kgvm/$mod.ko $args || echo "kgvm: insmod $mod failed" >/dev/console
done </kgvm/modules
# Wait until the DRM devices the modules created are there.
n=0
while [ $n -lt 50 ] && [ "$(ls /dev/dri/card* 2>/dev/null | wc -l)" -lt "$(cat /kgvm/cards)" ]; do
	sleep 0.1; n=$((n + 1))
done
stty -F /dev/console -echo -onlcr 2>/dev/null
cd /tmp
# A command that hangs leaves evidence: shortly before the host's timeout the
# watchdog prints each process's kernel stack and the blocked tasks.
wd=
if [ -s /kgvm/watchdog ]; then
	(sleep "$(cat /kgvm/watchdog)"
	 echo "kgvm watchdog: the command still runs; kernel stacks follow"
	 for d in /proc/[0-9]*; do
		readlink $d/exe >/dev/null || continue # not a kernel thread
		echo "== ${d#/proc/} $(cat $d/comm) wchan=$(cat $d/wchan)"
		cat $d/stack
	 done
	 echo w >/proc/sysrq-trigger
	 dmesg | tail -n 150) </dev/null >/dev/console 2>&1 &
	wd=$!
fi
echo "@@kgvm-run@@"
sh /kgvm/cmd </dev/console >/dev/console 2>&1
st=$?
[ -n "$wd" ] && kill $wd 2>/dev/null
echo "@@kgvm-exit=$st@@"
sync
poweroff -f
'''


def is_dynamic_elf(path):
    with open(path, 'rb') as f:
        head = f.read(4)
    if head != b'\x7fELF':
        return False
    out = run(['file', '-L', path], capture_output=True, text=True).stdout
    return 'dynamically linked' in out


def shared_libs(path):
    """Absolute paths of the libraries (and loader) ldd lists for path."""
    out = run(['ldd', path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r'=>\s*(/\S+)', line) or re.match(r'\s*(/\S+)', line)
        if m:
            libs.append(m.group(1))
    return libs


def parse_add(spec):
    if ':' in spec:
        src, dest = spec.split(':', 1)
    else:
        src, dest = spec, '/bin/' + os.path.basename(spec)
    if not os.path.exists(src):
        raise VMError(f'--add {spec}: {src} does not exist')
    if not dest.startswith('/'):
        dest = '/' + dest
    return src, dest


def build_initramfs(out, modules, add, argv, cards, extra_params=None, watchdog=None):
    """Writes a gzip'd newc cpio to out; argv (list) is the guest command."""
    stage = tempfile.mkdtemp(prefix='kgvm-initrd-')
    # mkdtemp makes it 0700, and it becomes the guest's /: other uids
    # (access-control tests) must be able to reach /run and /tmp.
    os.chmod(stage, 0o755)
    try:
        def put(src, dest):
            d = os.path.join(stage, dest.lstrip('/'))
            os.makedirs(os.path.dirname(d), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, d, symlinks=False, dirs_exist_ok=True)
            else:
                shutil.copy2(src, d)

        for d in ['bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'lib/kgvm', 'kgvm', 'usr/bin']:
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        busybox = shutil.which('busybox') or '/bin/busybox'
        put(busybox, '/bin/busybox')
        with open(os.path.join(stage, 'init'), 'w') as f:
            f.write(INIT)
        os.chmod(os.path.join(stage, 'init'), 0o755)
        lines = []
        for name, path in modules:
            put(path, f'/lib/kgvm/{name}.ko')
            params = (extra_params or {}).get(name, '')
            lines.append(f'{name} {params}'.rstrip())
        with open(os.path.join(stage, 'kgvm/modules'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(os.path.join(stage, 'kgvm/cards'), 'w') as f:
            f.write(f'{cards}\n')
        with open(os.path.join(stage, 'kgvm/cmd'), 'w') as f:
            f.write((shlex.join(argv) if len(argv) != 1 else argv[0]) + '\n')
        if watchdog:
            with open(os.path.join(stage, 'kgvm/watchdog'), 'w') as f:
                f.write(f'{int(watchdog)}\n')
        libs = set()
        for spec in add:
            src, dest = parse_add(spec)
            put(src, dest)
            files = [src] if os.path.isfile(src) else [
                os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
            for f in files:
                if os.path.isfile(f) and not os.path.islink(f) and is_dynamic_elf(f):
                    libs.update(shared_libs(f))
        for lib in sorted(libs):
            put(os.path.realpath(lib), lib)
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


# -------------------------------------------------------------------- QMP ----

class QMP:
    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise VMError(f'QMP socket {path}: {e}')
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b''
        self._recv()  # greeting
        self.cmd('qmp_capabilities')

    def _recv(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise VMError('QMP: QEMU closed the socket')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._recv()
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise VMError(f'QMP {name}: {r["error"].get("desc")}')
            # asynchronous events: ignore

    def close(self):
        self.sock.close()


def parse_ppm(data):
    """(width, height, rgb bytes) of a binary P6 PPM with maxval 255."""
    m = re.match(rb'P6\s+(\d+)\s+(\d+)\s+(\d+)\s', data)
    if not m or int(m.group(3)) != 255:
        raise VMError('screendump: not a P6 PPM with maxval 255')
    w, h = int(m.group(1)), int(m.group(2))
    px = data[m.end():]
    if len(px) < w * h * 3:
        raise VMError(f'screendump: {len(px)} bytes of pixels, expected {w * h * 3}')
    return w, h, px[:w * h * 3]


# --------------------------------------------------------------------- VM ----

class VM:
    def __init__(self, opts, argv):
        self.opts = opts
        self.argv = list(argv) or ['true']
        self.timings = {}
        self.output = []
        self.status = None
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix='kgvm-')
        self.qmp_path = opts.qmp or os.path.join(self.tmp, 'qmp.sock')
        self._lines = queue.Queue()
        self._qmp = None
        self._t_start = time.monotonic()
        self._deadline = None
        self._ran = None

    # Setup: fetch, build, boot.
    def start(self):
        if getattr(self.opts, 'init', 'busybox') == 'systemd':
            import sdboard  # noqa: E402 (next to this file)
            return sdboard.start(self)
        t0 = time.monotonic()
        cache = Cache(self.opts.cache or default_cache())
        with cache:
            abi, root = cache.kernel(self.timings)
            vkms = cache.vkms(abi, root, self.timings) if self.opts.vkms else None
            tm = time.monotonic()
            mods = cache.modules(abi, root, vkms)
            self.timings['modules'] = time.monotonic() - tm
        kernel = os.path.join(root, 'boot', f'vmlinuz-{abi}')
        t1 = time.monotonic()
        initrd = os.path.join(self.tmp, 'initrd.gz')
        build_initramfs(initrd, mods, self.opts.add, self.argv, 2 if vkms else 1,
                        {'vkms': VKMS_PARAMS, **self.opts.module_params},
                        # Fires before the host's deadline (counted from
                        # boot; a TCG boot takes ~3 s, the dump a few).
                        watchdog=max(5, self.opts.timeout - 25))
        self.timings['initramfs build'] = time.monotonic() - t1
        self.kernel_abi = abi
        self._boot(kernel, initrd)
        self.timings['setup'] = time.monotonic() - t0
        return self

    def qemu_cmdline(self, kernel, initrd):
        video = ' '.join(f'video=Virtual-{n}:1024x768@60e' for n in range(1, self.opts.heads + 1))
        append = ('console=ttyS0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
                  f'{video} ' + ' '.join(self.opts.append)).strip()
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        # KG_VM_ACCEL=kvm: only where probe_kvm() said yes (tools/demo); tests: TCG.
        accel = os.environ.get('KG_VM_ACCEL') or 'tcg,thread=multi'
        return ['qemu-system-x86_64', '-accel', accel, '-cpu', 'max',
                '-m', str(self.opts.mem), '-smp', '2', '-nographic', '-no-reboot',
                '-monitor', 'none', '-serial', 'stdio', '-vga', 'none', '-nic', 'none',
                '-device', f'virtio-gpu-pci,max_outputs={self.opts.heads},id=video0',
                '-qmp', f'unix:{self.qmp_path},server=on,wait=off',
                '-kernel', kernel, '-initrd', initrd, '-append', append] + self.opts.qemu_args

    def _boot(self, kernel, initrd):
        cmd = self.qemu_cmdline(kernel, initrd)
        self._t_boot = time.monotonic()
        self._deadline = self._t_boot + self.opts.timeout
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise VMError('qemu-system-x86_64 not found: run tools/install-deps')
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._err_reader, daemon=True).start()

    def _reader(self):
        for raw in iter(self.proc.stdout.readline, b''):
            line = raw.decode(errors='replace').rstrip('\r\n').replace('\r', '')
            # SeaBIOS clears the terminal: drop escape sequences.
            self._lines.put(ANSI_RE.sub('', line))
        self._lines.put(None)

    def _err_reader(self):
        for raw in iter(self.proc.stderr.readline, b''):
            sys.stderr.write('[qemu] ' + raw.decode(errors='replace'))
            sys.stderr.flush()

    # Console.
    def readline(self, timeout=None):
        """Next line of the guest command's output, or None on timeout/VM exit.
        Handles the rig's markers (they are consumed, not returned)."""
        while True:
            if self.status is not None and self._lines.empty():
                return None
            left = self._deadline - time.monotonic()
            if timeout is not None:
                left = min(left, timeout)
            try:
                line = self._lines.get(timeout=max(left, 0))
            except queue.Empty:
                return None
            if line is None:
                self._finish(STATUS_NO_MARKER)
                return None
            self.output.append(line)
            if RUN_MARKER in line:
                self._ran = time.monotonic()
                self.timings['boot to command'] = self._ran - self._t_boot
                continue
            m = re.search(re.escape(EXIT_MARKER) + r'(\d+)@@', line)
            if m:
                self._finish(int(m.group(1)))
                return None
            if self.opts.echo:
                sys.stdout.write(line + '\n')
                sys.stdout.flush()
            return line

    def wait_for(self, regex, timeout=60):
        """Reads lines until one matches regex (re.search); returns the match."""
        pat = re.compile(regex)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise VMError(f'timed out after {timeout} s waiting for /{regex}/')
            line = self.readline(timeout=left)
            if line is None:
                if self.status is not None:
                    raise VMError(f'VM exited (status {self.status}) before /{regex}/ appeared')
                if time.monotonic() >= self._deadline:
                    raise VMError(f'VM timeout ({self.opts.timeout} s) waiting for /{regex}/')
                continue
            m = pat.search(line)
            if m:
                return m

    def send(self, line):
        """Writes one line to the guest command's stdin (the serial console)."""
        self.proc.stdin.write(line.encode() + b'\n')
        self.proc.stdin.flush()

    # Screens.
    def qmp(self):
        if self._qmp is None:
            self._qmp = QMP(self.qmp_path)
        return self._qmp

    def screendump(self, head):
        """(width, height, rgb bytes) of what QEMU shows on head (= CRTC index)."""
        f = os.path.join(self.tmp, f'head{head}.ppm')
        self.qmp().cmd('screendump', filename=f, device='video0', head=head)
        with open(f, 'rb') as fp:
            data = fp.read()
        os.unlink(f)
        return parse_ppm(data)

    def save_png(self, head, path):
        path = os.path.abspath(path)
        self.qmp().cmd('screendump', filename=path, device='video0', head=head, format='png')
        return path

    # End.
    def wait(self, timeout=None):
        """Drains output until the guest command exits; returns its status."""
        end = time.monotonic() + timeout if timeout is not None else self._deadline
        while self.status is None:
            now = time.monotonic()
            if now >= self._deadline or now >= end:
                self._finish(STATUS_TIMEOUT)
                break
            self.readline(timeout=min(end, self._deadline) - now)
        return self.status

    def _finish(self, status):
        if self.status is not None:
            return
        self.status = status
        if self._ran is not None:
            self.timings['command'] = time.monotonic() - self._ran
        if status == STATUS_TIMEOUT:
            log(f'timeout: stopping QEMU after {time.monotonic() - self._t_boot:.1f} s')
        elif status == STATUS_NO_MARKER:
            log('QEMU exited without the exit marker (guest crashed or panicked?)')
        self.stop(grace=0 if status == STATUS_TIMEOUT else 5)

    def stop(self, grace=5):
        """Ends QEMU: the guest powers off by itself after the command; after
        grace seconds (0: at once) QEMU is terminated, then killed."""
        if self._qmp:
            self._qmp.close()
            self._qmp = None
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.timings['total'] = time.monotonic() - self._t_start

    def print_timings(self):
        order = ['kernel fetch', 'kernel (cached)', 'vkms build', 'vkms (cached)', 'modules',
                 'systemd root build', 'systemd root (cached)', 'initramfs build',
                 'boot to command', 'command', 'total']
        parts = [f'{k} {self.timings[k]:.1f} s' for k in order if k in self.timings]
        log('timings: ' + ', '.join(parts))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.status is None and self.proc:
            self._finish(STATUS_TIMEOUT if time.monotonic() >= (self._deadline or 0)
                         else STATUS_NO_MARKER)
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------- KVM probe ----

def probe_kvm(cache=None, timeout=30, accel='kvm'):
    """(ok, one-line reason): does KVM really run a guest here? Opening
    /dev/kvm is not enough: some hosts have one on which an ordinary kernel
    stops at once with "KVM internal error ... emulation failure" (and QEMU
    hangs). So this boots the rig's kernel with -accel kvm and no initramfs:
    it panics on the missing root file system and panic=-1 with -no-reboot
    ends QEMU (~2 s under KVM). accel='tcg' checks the probe itself."""
    if accel == 'kvm' and not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return False, '/dev/kvm is missing or not accessible'
    with Cache(cache or default_cache()) as c:
        abi, root = c.kernel({})
    cmd = ['qemu-system-x86_64', '-accel', accel, '-cpu', 'max', '-m', '256', '-nographic',
           '-no-reboot', '-monitor', 'none', '-serial', 'stdio', '-nic', 'none',
           '-kernel', os.path.join(root, 'boot', f'vmlinuz-{abi}'),
           '-append', 'console=ttyS0 panic=-1 loglevel=4']
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    except FileNotFoundError:
        return False, 'qemu-system-x86_64 not found'
    out, fail = b'', re.compile(rb'KVM internal error|emulation failure|failed to initialize')
    try:
        while p.poll() is None and time.monotonic() < t0 + timeout and not fail.search(out):
            if select.select([p.stdout], [], [], 0.5)[0]:
                out += os.read(p.stdout.fileno(), 65536)
    finally:
        p.kill()
        out += p.communicate()[0]
    text, secs = ANSI_RE.sub('', out.decode(errors='replace')), time.monotonic() - t0
    if 'Kernel panic' in text:
        return True, f'Linux {abi} booted under {accel} in {secs:.1f} s'
    m = re.search(r'.*(KVM internal error|emulation failure|failed to initialize).*', text)
    return False, m.group(0).strip() if m else f'no kernel boot under {accel} in {timeout} s'


# --------------------------------------------------------------- checkers ----

# What the rig does (2-core TCG host, vkms at 60 Hz, ~120 flips a run),
# measured December 2026: vkms-flip 0 late and 0 missed in each of 3 runs;
# kms-output-vkms-zero-copy-scattered 2 late (1.7 %) and 0 missed in each of
# 3 runs, and 0 of either in each of the CI runs; with five builds running
# beside the VM (November 2026) 2 to 7 of ~110 flips missed (up to 6.4 %).
# The limits are about 1.5 times the worst of those: a path that drops or
# delays one flip in ten fails, and so does a half-rate (30 Hz) display,
# whose every flip lands a vblank late.
FLIP_MAX_LATE = 0.10
FLIP_MAX_MISSED = 0.10
FLIP_MAX_OFF = 0.15


def run_command(opts, argv):
    """Boots the board VM, runs argv to its end and returns (status, output
    lines); None after printing "rig error: ..." when the rig failed (the
    VM did not boot, or the command timed out or never ended): the test then
    exits 99, an ERROR, never a pass or a fail."""
    try:
        with VM(opts, argv) as vm:
            status = vm.wait()
            vm.print_timings()
            lines = vm.output
    except VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return None
    if status in (STATUS_TIMEOUT, STATUS_NO_MARKER):
        print(f'rig error: VM ended with status {status}', file=sys.stderr)
        return None
    return status, lines


def verdict(problems, limit=20):
    """Prints each failed check as "FAIL message" (tests/must-fail reads
    them), then PASS or the count; returns the exit status, 0 or 1."""
    for msg in problems[:limit]:
        print('FAIL', msg)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


def check_flips(events, period_ms=1000 / 60, tolerance_ms=2.0, slack_ms=8.0,
                max_late_fraction=FLIP_MAX_LATE, max_missed_fraction=FLIP_MAX_MISSED,
                max_off_fraction=FLIP_MAX_OFF):
    """Checks the flip events of one CRTC:
    [(sequence, vblank_time_s[, commit_time_s[, commit_no]]), ...]
    (commit_time_s: CLOCK_MONOTONIC when the flip was committed, or None;
    commit_no: the program's count of its flip commits, or None).

    - every commit gets its event: commit numbers go up by exactly 1;
    - sequences must increase; the vblank times must be sequence-gap * period
      apart (within tolerance): the display is paced at period;
    - a flip committed in time for the next vblank (slack_ms before it at the
      latest; the default, half a frame, leaves room for TCG's stalls of the
      guest kernel) must land on that vblank: a larger gap is a missed flip.
      commit_time_s must be taken right before the atomic commit ioctl, not
      before work the program does first (a copy), or slack_ms must cover it.
      Under TCG on a loaded host the guest kernel's commit work itself can
      stall past a vblank (seen: 0 in 120 flips on an idle host,
      with 5 builds running: 2-7 in ~110, once a 216 ms stall), so up to
      max_missed_fraction of the flips may miss, and late + missed together
      may be up to max_off_fraction (FLIP_MAX_* above: from those
      measurements); a display that does not flip at every vblank (e.g.
      30 Hz) still fails. max_missed_fraction=0 makes it strict
      (real hardware). Every miss is reported in stats['missed_at'];
    - a flip committed late (the program itself was slow, e.g. its vCPU was
      not scheduled) may land later; those are counted as "late", and fail the
      check only when they are more than max_late_fraction of all flips.
    Returns (ok, problems, stats) with stats = {n, mean_ms, min_ms, max_ms
    (event to event), vblank_ms (interval per vblank, mean), late, missed,
    missed_at (descriptions), lost (events that never came)}."""
    problems = []
    if len(events) < 2:
        return False, [f'only {len(events)} flip events'], {}
    iv, per_vblank, late, missed, lost, missed_at = [], [], 0, 0, 0, []
    for prev, cur in zip(events, events[1:]):
        (s0, t0), (s1, t1), commit = prev[:2], cur[:2], (cur[2] if len(cur) > 2 else None)
        n0, n1 = (prev[3] if len(prev) > 3 else None), (cur[3] if len(cur) > 3 else None)
        if n0 is not None and n1 is not None and n1 != n0 + 1:
            lost += 1
            problems.append(f'commit {n0} -> {n1}: {n1 - n0 - 1} flip event(s) lost')
            continue
        gap = s1 - s0
        d = (t1 - t0) * 1000
        iv.append(d)
        if gap <= 0:
            problems.append(f'sequence {s0} -> {s1}: not increasing')
            continue
        per_vblank.append(d / gap)
        if abs(d - gap * period_ms) > tolerance_ms:
            problems.append(f'interval {d:.3f} ms for {gap} vblank(s) after sequence {s0} '
                            f'(expected {gap * period_ms:.3f} +- {tolerance_ms} ms)')
        allowed = 1
        if commit is not None:
            since = (commit - t0) * 1000
            allowed = max(1, math.ceil((since + slack_ms) / period_ms))
        if gap > allowed:
            missed += 1
            when = f'committed {since:.1f} ms after' if commit is not None else 'after'
            missed_at.append(f'sequence {s0} -> {s1}: missed vblank {s0 + allowed} '
                             f'({when} vblank {s0})')
        elif gap > 1:
            late += 1
    n = len(events) - 1
    if missed > max_missed_fraction * n:
        problems += missed_at
        problems.append(f'{missed} of {n} flips committed in time missed their vblank '
                        f'(allowed: {max_missed_fraction:.0%})')
    if late > max_late_fraction * n:
        problems.append(f'{late} of {n} flips committed late: the run says nothing about pacing')
    if late + missed > max_off_fraction * n:
        problems.append(f'{late + missed} of {n} flips did not land on the next vblank '
                        f'(allowed: {max_off_fraction:.0%})')
    if not iv:
        return False, problems, {}
    stats = {'n': len(events), 'mean_ms': sum(iv) / len(iv), 'min_ms': min(iv),
             'max_ms': max(iv), 'late': late, 'missed': missed, 'lost': lost,
             'missed_at': missed_at,
             'vblank_ms': sum(per_vblank) / len(per_vblank) if per_vblank else 0}
    return not problems, problems, stats
