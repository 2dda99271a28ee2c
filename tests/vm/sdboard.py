# SPDX-License-Identifier: MIT
"""sdboard: the board VM with real systemd as PID 1 (tracker issue 12 item 3).

kgvm.Options(init='systemd') (tests/vm/run --systemd) boots the same kernel,
devices and kernel arguments as the busybox board, but PID 1 is Debian 12's
systemd 252, the version the boards' Debian has, so the shipped units
(kmsgate-broker.socket/.service, kmsgate-vgpu@.service) run exactly as on a
board: their sandboxing, Restart=, Type=notify and the fd store are systemd's
own, not an emulation (kg-fdstore).

Which systemd: the newest 252.* of package systemd that apt offers (Debian
12 and its point and security releases). The host may run a newer systemd
from bookworm-backports (254 here): that one is never taken, whatever apt's
candidate is; SYSTEMD_MAJOR pins the major version, apt's archive the point
release (a fixed point release would vanish from the archive with the next
one). Its dependency closure (no recommends, about 40 packages, with mount
and libc6) comes from `apt-get install --download-only` against an empty
dpkg status, as tests/vm/guestimg.py does for the 3D guest.

Why an initramfs and not a disk image: the root is small (about 43 MB
unpacked, 18 MB as gzip'd cpio), so it boots without virtio_blk, ext4 and a
switch_root, and every run gets a fresh, writable root (no snapshot
needed). The cached part is one cpio (cache/systemd-<key>/root.cpio.gz);
each run appends a second, small cpio (the kernel unpacks concatenated
archives in order, later files win) with the modules, the test's files and
the command. systemd runs on the initramfs (rootfs) itself: it has no
/etc/initrd-release, so systemd does not take it for an initrd and boots
to multi-user.target.

What the root holds: the packages unpacked (dpkg -x: no maintainer scripts
ran, so what they would do is done here: users and groups from sysusers.d,
a fixed /etc/machine-id so it is not a "first boot", ld.so.cache); the
host's busybox-static with its applets in /kg/bin, last in PATH (the test
scripts' shell and tools, as in the busybox board); units not needed in a
test VM masked (getty, udev is not installed, timers, first-boot and
update units: see MASK); journald forwards to the console (ForwardToConsole=,
so a unit's log lines reach the host like the command's output).

The command runs as kgvm-run.service (After=multi-user.target) with the
serial console as stdin and stdout, prints kgvm's markers, and the unit's
SuccessAction=poweroff-immediate ends the VM, so kgvm.VM's API works unchanged.
Kernel modules go to /lib/modules/ABI (depmod'ed per run) and are loaded by
systemd-modules-load.service from /etc/modules-load.d/kgvm.conf, their
parameters in /etc/modprobe.d/kgvm.conf. No udevd: device nodes are
devtmpfs' (root only, which is what the units run as).

Per-run files (Options.add) are copied as in the busybox board, with the
libraries ldd lists, except libraries the root already has: Debian's own
copies win (the host's libsystemd0 may be a newer one), as on a board.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import kgvm
from kgvm import VMError, log, run

# Debian 12 (bookworm) ships systemd 252: the boards' version.
SYSTEMD_MAJOR = '252'
# Bump when the root's layout changes (part of the cache key).
FORMAT = 1
ARCH = 'x86_64-linux-gnu'

# Units a test VM does not need (masked: linked to /dev/null). No getty on
# the console (the command has it), no timers, nothing for first boot or
# for updates of /usr (the root is fresh each boot), no swap, no network
# naming, no binfmt, no random seed file to keep.
MASK = [
    'getty@.service', 'serial-getty@.service', 'console-getty.service', 'getty.target',
    'systemd-firstboot.service', 'first-boot-complete.target',
    'systemd-machine-id-commit.service', 'systemd-sysusers.service',
    'ldconfig.service', 'systemd-update-done.service', 'systemd-hwdb-update.service',
    'systemd-journal-catalog-update.service', 'systemd-update-utmp.service',
    'systemd-update-utmp-runlevel.service', 'systemd-random-seed.service',
    'systemd-binfmt.service', 'proc-sys-fs-binfmt_misc.automount',
    'proc-sys-fs-binfmt_misc.mount', 'systemd-remount-fs.service',
    'systemd-pstore.service', 'systemd-boot-system-token.service',
    'systemd-pcrphase.service', 'systemd-pcrphase-sysinit.service',
    'systemd-pcrmachine.service', 'systemd-pcrfs-root.service', 'systemd-pcrfs@.service',
    'systemd-repart.service', 'systemd-boot-update.service', 'systemd-fsck-root.service',
    'systemd-tmpfiles-clean.timer', 'timers.target', 'apt-daily.timer',
    'apt-daily-upgrade.timer', 'e2scrub_all.timer', 'fstrim.timer', 'dpkg-db-backup.timer',
    'sys-kernel-debug.mount', 'sys-kernel-tracing.mount', 'sys-fs-fuse-connections.mount',
    'sys-kernel-config.mount', 'dev-hugepages.mount', 'dev-mqueue.mount',
    'systemd-ask-password-console.path', 'systemd-ask-password-wall.path',
    'systemd-logind.service', 'systemd-networkd.service', 'systemd-resolved.service',
    'systemd-timesyncd.service', 'systemd-network-generator.service',
    'cryptsetup.target', 'veritysetup.target', 'integritysetup.target', 'swap.target',
    'remote-fs.target', 'systemd-journal-flush.service', 'e2scrub_reap.service',
]

# The test command's unit. Ordered after multi-user.target: it starts once
# the board is up, as a login would.
RUN_UNIT = '''[Unit]
Description=kgvm: the test command
After=multi-user.target
# The wrapper always exits 0 after printing the command's status; then
# off at once, like the busybox board's poweroff -f: nothing on this
# throwaway root needs an orderly shutdown.
SuccessAction=poweroff-immediate
FailureAction=poweroff-immediate

[Service]
Type=exec
ExecStart=/kgvm/run
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
'''

# The wrapper: the same contract as kgvm.INIT's tail (cards, watchdog,
# markers).
RUN = r'''#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kg/bin
export HOME=/root
exec </dev/ttyS0 >/dev/ttyS0 2>&1
n=0
while [ $n -lt 100 ] && [ "$(ls /dev/dri/card* 2>/dev/null | wc -l)" -lt "$(cat /kgvm/cards)" ]; do
	sleep 0.1; n=$((n + 1))
done
stty -echo -onlcr 2>/dev/null
cd /tmp
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
	 systemctl --no-pager list-jobs
	 dmesg | tail -n 150) </dev/null 2>&1 &
	wd=$!
fi
echo "@@kgvm-run@@"
sh /kgvm/cmd
st=$?
[ -n "$wd" ] && kill $wd 2>/dev/null
echo "@@kgvm-exit=$st@@"
exit 0
'''

JOURNALD_CONF = '''[Journal]
# kgvm: the host reads the console; the journal stays in /run.
Storage=volatile
ForwardToConsole=yes
TTYPath=/dev/ttyS0
MaxLevelConsole=info
'''


def newest_version(pkg='systemd', major=SYSTEMD_MAJOR):
    """The newest version of pkg that apt offers with this major version."""
    out = run(['apt-cache', 'madison', pkg], capture_output=True, text=True).stdout
    vers = sorted({ln.split('|')[1].strip() for ln in out.splitlines() if ln.count('|') >= 2})
    vers = [v for v in vers if v.split('.')[0].split(':')[-1] == major]
    if not vers:
        raise VMError(f'apt offers no {pkg} {major}.*: run apt-get update (Debian 12 suites)')
    best = vers[0]
    for v in vers[1:]:
        if subprocess.run(['dpkg', '--compare-versions', v, 'gt', best]).returncode == 0:
            best = v
    return best


def packages():
    return [f'systemd={newest_version()}']


def cached_roots(cache_path):
    done = glob.glob(os.path.join(cache_path, 'systemd-*/.done'))
    done.sort(key=os.path.getmtime)
    return [os.path.dirname(d) for d in done]


def root_key(deb_names, busybox):
    h = hashlib.sha256()
    h.update(f'format {FORMAT}\n'.encode())
    for name in sorted(deb_names):
        h.update(name.encode() + b'\n')
    for text in (RUN_UNIT, RUN, JOURNALD_CONF, '\n'.join(MASK)):
        h.update(text.encode() + b'\0')
    with open(busybox, 'rb') as f:
        h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def sysusers(tree):
    """/etc/passwd, group, shadow, gshadow from the root's sysusers.d (what
    systemd-sysusers does on a real install; its unit is masked here).
    Fixed ids where the file gives one, else from 999 down."""
    users, groups = {}, {}
    free = [999]

    def alloc(want, taken):
        if want and want != '-' and want.isdigit():
            return int(want)
        while free[0] in taken:
            free[0] -= 1
        return free[0]

    lines = []
    for d in ('usr/lib/sysusers.d', 'lib/sysusers.d'):
        for f in sorted(glob.glob(os.path.join(tree, d, '*.conf'))):
            for ln in open(f):
                ln = ln.strip()
                if ln and not ln.startswith('#'):
                    lines.append(re.findall(r'"[^"]*"|\S+', ln))
    for f in lines:  # groups first: 'u' lines may name one as their gid
        if f[0] == 'g' and f[1] not in groups:
            groups[f[1]] = alloc(f[2] if len(f) > 2 else '-', set(groups.values()))
    for f in lines:
        if f[0] != 'u' or f[1] in users:
            continue
        idf = f[2] if len(f) > 2 else '-'
        uid_s, _, gid_s = idf.partition(':')
        uid = alloc(uid_s, set(users.values()) | set(groups.values()))
        if gid_s:
            gid = groups.get(gid_s, int(gid_s) if gid_s.isdigit() else uid)
        else:
            gid = groups.setdefault(f[1], uid)
        gecos = f[3].strip('"') if len(f) > 3 and f[3] != '-' else f[1]
        home = f[4] if len(f) > 4 and f[4] != '-' else ('/root' if uid == 0 else '/nonexistent')
        shell = f[5] if len(f) > 5 and f[5] != '-' else ('/bin/sh' if uid == 0
                                                          else '/usr/sbin/nologin')
        users[f[1]] = uid
        users[f[1] + '\0'] = (gid, gecos, home, shell)
    etc = os.path.join(tree, 'etc')
    os.makedirs(etc, exist_ok=True)
    names = [n for n in users if '\0' not in n]
    with open(os.path.join(etc, 'passwd'), 'w') as p, open(os.path.join(etc, 'shadow'), 'w') as s:
        for n in sorted(names, key=lambda n: users[n]):
            gid, gecos, home, shell = users[n + '\0']
            p.write(f'{n}:x:{users[n]}:{gid}:{gecos}:{home}:{shell}\n')
            s.write(f'{n}:{"" if users[n] == 0 else "!*"}:19000::::::\n')
    with open(os.path.join(etc, 'group'), 'w') as g, open(os.path.join(etc, 'gshadow'), 'w') as s:
        for n in sorted(groups, key=groups.get):
            g.write(f'{n}:x:{groups[n]}:\n')
            s.write(f'{n}:!*::\n')
    os.chmod(os.path.join(etc, 'shadow'), 0o640)
    os.chmod(os.path.join(etc, 'gshadow'), 0o640)
    return names, sorted(groups)


def write(tree, path, text, mode=0o644):
    p = os.path.join(tree, path.lstrip('/'))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if os.path.lexists(p):
        os.unlink(p)
    with open(p, 'w') as f:
        f.write(text)
    os.chmod(p, mode)


def symlink(tree, path, target):
    p = os.path.join(tree, path.lstrip('/'))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if os.path.lexists(p):
        os.unlink(p)
    os.symlink(target, p)


def build_tree(debs, tree, busybox, key):
    for d in debs:
        run(['dpkg', '-x', d, tree])
    shutil.copy2(busybox, os.path.join(tree, 'bin/busybox'))
    applets = run([busybox, '--list'], capture_output=True, text=True).stdout.split()
    kgbin = os.path.join(tree, 'kg/bin')
    os.makedirs(kgbin, exist_ok=True)
    for a in applets:
        os.symlink('/bin/busybox', os.path.join(kgbin, a))
    if not os.path.lexists(os.path.join(tree, 'bin/sh')):  # no dash here
        os.symlink('busybox', os.path.join(tree, 'bin/sh'))
    for d in ['dev', 'proc', 'sys', 'tmp', 'run', 'root', 'var/tmp', 'var/log', 'var/lib',
              'etc/modules-load.d', 'etc/modprobe.d', 'usr/local/bin', 'kgvm', 'home',
              'lib/modules']:
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    os.chmod(os.path.join(tree, 'tmp'), 0o1777)
    os.chmod(os.path.join(tree, 'var/tmp'), 0o1777)
    # PID 1: the kernel runs /init of an initramfs.
    symlink(tree, '/init', '/lib/systemd/systemd')
    symlink(tree, '/sbin/init', '/lib/systemd/systemd')
    # Not a first boot, not an initrd (no /etc/initrd-release).
    write(tree, '/etc/machine-id', hashlib.md5(key.encode()).hexdigest() + '\n', 0o444)
    write(tree, '/usr/lib/os-release',
          'PRETTY_NAME="Debian GNU/Linux 12 (bookworm), kmsgate board VM"\n'
          'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n'
          'VERSION_CODENAME=bookworm\nID=debian\nVARIANT_ID=kgvm\n')
    symlink(tree, '/etc/os-release', '../usr/lib/os-release')
    write(tree, '/etc/hostname', 'kgvm\n')
    write(tree, '/etc/fstab', '# kgvm: the root is the initramfs\n')
    sysusers(tree)
    # Packages keep /lib and /usr/lib apart (not merged here): the loader
    # finds both through ld.so.cache.
    write(tree, '/etc/ld.so.conf', f'/usr/lib/{ARCH}\n/lib/{ARCH}\n')
    run(['ldconfig', '-r', tree], capture_output=True)
    write(tree, '/etc/systemd/journald.conf.d/kgvm.conf', JOURNALD_CONF)
    sysdir = '/etc/systemd/system'
    for u in MASK:
        symlink(tree, f'{sysdir}/{u}', '/dev/null')
    symlink(tree, f'{sysdir}/default.target', '/lib/systemd/system/multi-user.target')
    write(tree, f'{sysdir}/kgvm-run.service', RUN_UNIT)
    symlink(tree, f'{sysdir}/multi-user.target.wants/kgvm-run.service',
            f'{sysdir}/kgvm-run.service')
    write(tree, '/kgvm/run', RUN, 0o755)
    # Documentation and locales only cost unpacking time.
    for d in ('usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info'):
        shutil.rmtree(os.path.join(tree, d), ignore_errors=True)


def cpio_gz(stage, out):
    with open(out, 'wb') as f:
        find = subprocess.Popen(['find', '.'], cwd=stage, stdout=subprocess.PIPE)
        cpio = subprocess.Popen(['cpio', '-o', '-H', 'newc', '--quiet', '-R', '0:0'],
                                cwd=stage, stdin=find.stdout, stdout=subprocess.PIPE)
        gz = subprocess.Popen(['gzip', '-1'], stdin=cpio.stdout, stdout=f)
        find.stdout.close()
        cpio.stdout.close()
        if gz.wait() or cpio.wait() or find.wait():
            raise VMError('building a cpio archive (find | cpio | gzip) failed')


def root(cache, timings):
    """The cached root's directory (root.cpio.gz, files.txt); built when no
    root of the current package versions is there. Call with the cache
    locked (kgvm.Cache)."""
    t0 = time.monotonic()
    busybox = shutil.which('busybox') or '/bin/busybox'
    if not os.path.exists(busybox):
        raise VMError('no busybox: run tools/install-deps (busybox-static)')
    import guestimg  # closure() and download(): the 3D guest's apt helpers
    try:
        pkgs = packages()
        debs = guestimg.closure(pkgs)
    except VMError as e:
        old = cached_roots(cache.path)
        if not old:
            raise
        log(f'warning: {e}; using the cached systemd root {old[-1]}')
        timings['systemd root (cached)'] = time.monotonic() - t0
        return old[-1]
    key = root_key([name for name, _ in debs], busybox)
    out = os.path.join(cache.path, f'systemd-{key}')
    if os.path.exists(os.path.join(out, '.done')):
        timings['systemd root (cached)'] = time.monotonic() - t0
        return out
    shutil.rmtree(out, ignore_errors=True)
    work = os.path.join(cache.path, 'systemd-build')
    shutil.rmtree(work, ignore_errors=True)
    try:
        files = guestimg.download(pkgs, os.path.join(work, 'debs'))
        got = sorted(os.path.basename(f) for f in files)
        want = sorted(name for name, _ in debs)
        if got != want:
            raise VMError('the downloaded packages are not the ones apt listed (apt-get update '
                          f'in between?): {sorted(set(got) ^ set(want))}')
        tree = os.path.join(work, 'tree')
        log(f'extracting {len(files)} packages ({pkgs[0]})')
        build_tree(files, tree, busybox, key)
        os.makedirs(out, exist_ok=True)
        cpio_gz(tree, os.path.join(out, 'root.cpio.gz'))
        with open(os.path.join(out, 'files.txt'), 'w') as f:
            for d, dirs, fs in os.walk(tree):
                for n in fs + dirs:
                    f.write('/' + os.path.relpath(os.path.join(d, n), tree) + '\n')
        with open(os.path.join(out, 'packages'), 'w') as f:
            f.write('\n'.join(want) + '\n')
        open(os.path.join(out, '.done'), 'w').close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings['systemd root build'] = time.monotonic() - t0
    return out


def build_overlay(out, rootdir, abi, kroot, modules, add, argv, cards, params, watchdog):
    """The per-run cpio: modules (+ depmod), modules-load.d and modprobe.d,
    the command, the added files and their libraries (not those the root
    has)."""
    have = set(open(os.path.join(rootdir, 'files.txt')).read().split('\n'))
    stage = tempfile.mkdtemp(prefix='kgvm-sd-')
    os.chmod(stage, 0o755)
    try:
        def put(src, dest):
            d = os.path.join(stage, dest.lstrip('/'))
            os.makedirs(os.path.dirname(d), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, d, symlinks=False, dirs_exist_ok=True)
            else:
                shutil.copy2(src, d)

        mdir = os.path.join(stage, 'lib/modules', abi)
        os.makedirs(os.path.join(mdir, 'kgvm'))
        for f in ('modules.builtin', 'modules.builtin.modinfo', 'modules.order'):
            src = os.path.join(kroot, 'lib/modules', abi, f)
            if os.path.exists(src):
                shutil.copy2(src, mdir)
        for name, path in modules:
            shutil.copy2(path, os.path.join(mdir, 'kgvm', name + '.ko'))
        run(['depmod', '-b', stage, abi], capture_output=True)
        # (file names say virtio-gpu, modules-load.d takes either spelling)
        roots = [m for m in kgvm.BASE_MODULES + ['vkms']
                 if any(name.replace('-', '_') == m for name, _ in modules)]
        os.makedirs(os.path.join(stage, 'etc/modules-load.d'))
        with open(os.path.join(stage, 'etc/modules-load.d/kgvm.conf'), 'w') as f:
            f.write(''.join(f'{m}\n' for m in roots))
        os.makedirs(os.path.join(stage, 'etc/modprobe.d'))
        with open(os.path.join(stage, 'etc/modprobe.d/kgvm.conf'), 'w') as f:
            for m, p in sorted(params.items()):
                if p:
                    f.write(f'options {m} {p}\n')
        os.makedirs(os.path.join(stage, 'kgvm'))
        with open(os.path.join(stage, 'kgvm/cmd'), 'w') as f:
            f.write((' '.join(argv) if len(argv) == 1 else kgvm.shlex.join(argv)) + '\n')
        with open(os.path.join(stage, 'kgvm/cards'), 'w') as f:
            f.write(f'{cards}\n')
        if watchdog:
            with open(os.path.join(stage, 'kgvm/watchdog'), 'w') as f:
                f.write(f'{int(watchdog)}\n')
        libs = set()
        for spec in add:
            src, dest = kgvm.parse_add(spec)
            put(src, dest)
            files = [src] if os.path.isfile(src) else [
                os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
            for f in files:
                if os.path.isfile(f) and not os.path.islink(f) and kgvm.is_dynamic_elf(f):
                    libs.update(kgvm.shared_libs(f))
        for lib in sorted(libs):
            if lib not in have:
                put(os.path.realpath(lib), lib)
        cpio_gz(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def start(vm):
    """kgvm.VM.start for Options(init='systemd')."""
    t0 = time.monotonic()
    opts = vm.opts
    cache = kgvm.Cache(opts.cache or kgvm.default_cache())
    with cache:
        abi, kroot = cache.kernel(vm.timings)
        vkms = cache.vkms(abi, kroot, vm.timings) if opts.vkms else None
        tm = time.monotonic()
        mods = cache.modules(abi, kroot, vkms)
        vm.timings['modules'] = time.monotonic() - tm
        rootdir = root(cache, vm.timings)
    t1 = time.monotonic()
    overlay = os.path.join(vm.tmp, 'overlay.cpio.gz')
    build_overlay(overlay, rootdir, abi, kroot, mods, opts.add, vm.argv, 2 if vkms else 1,
                  {'vkms': kgvm.VKMS_PARAMS if vkms else '', **opts.module_params},
                  max(5, opts.timeout - 25))
    initrd = os.path.join(vm.tmp, 'initrd')
    with open(initrd, 'wb') as f:
        for part in (os.path.join(rootdir, 'root.cpio.gz'), overlay):
            with open(part, 'rb') as p:
                shutil.copyfileobj(p, f)
    vm.timings['initramfs build'] = time.monotonic() - t1
    vm.kernel_abi = abi
    vm._boot(os.path.join(kroot, 'boot', f'vmlinuz-{abi}'), initrd)
    vm.timings['setup'] = time.monotonic() - t0
    return vm
