#!/usr/bin/env python3
"""tests/packaging/check-packaging.py: consistency checks of the Yocto layer
(packaging/yocto/meta-kmsgate) and the Buildroot tree (packaging/buildroot)
against the kmsgate tree they build. Not a linter and not a parse: it reads
the files as text and checks what drifts when the tree changes (a new meson
feature option, a new Debian package or installed file, a new QEMU patch, a
changed license file). The real linters (Buildroot's check-package,
bitbake's parser) need their own source trees: lint-upstream.sh.

Usage: check-packaging.py SRCROOT [--pretend-option NAME]
  --pretend-option NAME  act as if meson_options.txt had a feature option
                         NAME (the must-fail test: it must be reported).
Prints one line per problem ("FAIL ...") and exits 1 when there is any."""
import hashlib
import os
import re
import sys

problems = []


def bad(msg):
    problems.append(msg)


def read(root, path):
    with open(os.path.join(root, path)) as f:
        return f.read()


def feature_options(root):
    """The names of meson_options.txt's feature options."""
    return re.findall(r"option\('([\w-]+)',\s*type:\s*'feature'", read(root, 'meson_options.txt'))


def bb_value(text, name):
    """The value of a (possibly continued) assignment NAME = "..." or =+,
    ??=, ?= in a bitbake file, or None."""
    m = re.search(r'^' + re.escape(name) + r'\s*(?:=\+|\?\?=|\?=|=)\s*"((?:[^"\\]|\\.)*)"',
                  text, re.M | re.S)
    return None if m is None else m.group(1).replace('\\\n', ' ')


# Yocto's install paths (oe-core's bitbake.conf defaults) in debian/*.install's
# spelling; DEB_HOST_MULTIARCH has no counterpart (Yocto's libdir is flat).
YOCTO_DIRS = [
    ('${sbindir}', 'usr/sbin'), ('${bindir}', 'usr/bin'), ('${includedir}', 'usr/include'),
    ('${libdir}', 'usr/lib'), ('${datadir}', 'usr/share'), ('${sysconfdir}', 'etc'),
    ('${systemd_system_unitdir}', 'usr/lib/systemd/system'),
]


def debian_files(root, pkg):
    """The files debian/PKG.install installs, as usr/... paths."""
    out = []
    for line in read(root, 'debian/%s.install' % pkg).splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.split()
        src = parts[0].replace('/${DEB_HOST_MULTIARCH}', '')
        if src.startswith('debian/'):  # src DESTDIR: a file of debian/
            src = parts[1].strip('/') + '/' + os.path.basename(src)
        out.append(src)
    return out


def check_yocto(root, options):
    layer = 'packaging/yocto/meta-kmsgate'
    recipe = read(root, layer + '/recipes-graphics/kmsgate/kmsgate_git.bb')
    for o in options:
        m = re.search(r'^PACKAGECONFIG\[' + re.escape(o) + r'\]\s*=\s*"([^"]*)"', recipe, re.M)
        if m is None:
            bad('yocto: meson feature option %s has no PACKAGECONFIG[%s] in kmsgate_git.bb' % (o, o))
            continue
        on, off = (m.group(1).split(',') + ['', ''])[:2]
        if on.strip() != '-D%s=enabled' % o or off.strip() != '-D%s=disabled' % o:
            bad('yocto: PACKAGECONFIG[%s] is not "-D%s=enabled,-D%s=disabled,...": %s'
                % (o, o, o, m.group(1)))
    extra = bb_value(recipe, 'EXTRA_OEMESON') or ''
    for opt in ('-Dtests=false', '-Dvm-tests=false'):
        if opt not in extra.split():
            bad('yocto: EXTRA_OEMESON lacks %s' % opt)

    # The packages of debian/control, libkmsgate0 named libkmsgate.
    control = read(root, 'debian/control')
    deb_pkgs = re.findall(r'^Package:\s*(\S+)', control, re.M)
    want = [re.sub(r'^libkmsgate0$', 'libkmsgate', p) for p in deb_pkgs]
    have = (bb_value(recipe, 'PACKAGES') or '').split()
    if sorted(have) != sorted(want):
        bad('yocto: PACKAGES =+ %s, debian/control has %s' % (have, want))
    for deb in deb_pkgs:
        pkg = 'libkmsgate' if deb == 'libkmsgate0' else deb
        files = bb_value(recipe, 'FILES:' + pkg) or ''
        for y, d in YOCTO_DIRS:
            files = files.replace(y, d)
        files = files.replace('/', '', 1) if files.startswith('/') else files
        globs = [f.lstrip('/') for f in files.split()]
        for path in debian_files(root, deb):
            if path.startswith('usr/share/man/'):
                continue  # kmsgate-doc, as Yocto does (the recipe says so)
            if path.endswith('.a'):
                continue  # kmsgate-staticdev (Yocto's QA)
            if not any(re.fullmatch(re.escape(g).replace(r'\*', '.*'), path) for g in globs):
                bad('yocto: debian/%s.install installs %s; FILES:%s does not' % (deb, path, pkg))

    # Only the socket is enabled (debian/rules: dh_installsystemd).
    svc = bb_value(recipe, 'SYSTEMD_SERVICE:kmsgate-broker')
    if (svc or '').split() != ['kmsgate-broker.socket']:
        bad('yocto: SYSTEMD_SERVICE:kmsgate-broker should list the socket only: %s' % svc)
    for pkg, conf in (('kmsgate-broker', 'kmsgate.conf'), ('kmsgate-vgpu', 'vgpu.conf')):
        if '${sysconfdir}/kmsgate/' + conf not in (bb_value(recipe, 'CONFFILES:' + pkg) or ''):
            bad('yocto: CONFFILES:%s lacks ${sysconfdir}/kmsgate/%s' % (pkg, conf))

    # The QEMU patches: every patch of qemu-patches/10.0.2, from there.
    append_dir = os.path.join(root, layer, 'recipes-devtools/qemu')
    append = read(root, layer + '/recipes-devtools/qemu/qemu_%.bbappend')
    m = re.search(r'FILESEXTRAPATHS:prepend := "\$\{THISDIR\}/([^:"]+):"', append)
    if m is None:
        bad('yocto: qemu_%.bbappend has no FILESEXTRAPATHS:prepend := "${THISDIR}/...:"')
    else:
        d = os.path.realpath(os.path.join(append_dir, m.group(1)))
        if d != os.path.realpath(os.path.join(root, 'qemu-patches/10.0.2')):
            bad('yocto: qemu_%%.bbappend takes its patches from %s, not qemu-patches/10.0.2' % d)
    patches = sorted(p for p in os.listdir(os.path.join(root, 'qemu-patches/10.0.2'))
                     if p.endswith('.patch'))
    for p in patches:
        # oe-core's QA (patch-status, an error since whinlatter) wants it.
        if not re.search(r'^Upstream-Status: (Pending|Submitted|Backport|Denied|Inappropriate)',
                         read(root, 'qemu-patches/10.0.2/' + p), re.M):
            bad('yocto: qemu-patches/10.0.2/%s has no Upstream-Status: line' % p)
    listed = sorted(re.findall(r'file://(\S+\.patch)', append))
    if listed != patches:
        bad('yocto: qemu_%%.bbappend lists %s, qemu-patches/10.0.2 has %s' % (listed, patches))


def check_buildroot(root, options):
    br = 'packaging/buildroot'
    mk = read(root, br + '/package/kmsgate/kmsgate.mk')
    config = read(root, br + '/package/kmsgate/Config.in')
    # Every feature option set explicitly (never left to meson's auto);
    # man-pages is always disabled (Buildroot strips man pages).
    for o in options:
        if not re.search(r'-D%s=(enabled|disabled)\b' % re.escape(o), mk):
            bad('buildroot: kmsgate.mk never sets -D%s=enabled or disabled' % o)
    for opt in ('-Dtests=false', '-Dvm-tests=false'):
        if opt not in mk:
            bad('buildroot: kmsgate.mk lacks %s' % opt)
    for sub in ('UDEV', 'SYSTEMD', 'VIRGL'):
        if not re.search(r'^config BR2_PACKAGE_KMSGATE_%s$' % sub, config, re.M):
            bad('buildroot: Config.in has no BR2_PACKAGE_KMSGATE_%s' % sub)
        if 'ifeq ($(BR2_PACKAGE_KMSGATE_%s),y)' % sub not in mk:
            bad('buildroot: kmsgate.mk does not use BR2_PACKAGE_KMSGATE_%s' % sub)

    # The hash file covers the license file(s): they must match.
    m = re.search(r'^KMSGATE_LICENSE_FILES\s*=\s*(.+)$', mk, re.M)
    hashes = dict((f, h) for algo, h, f in re.findall(
        r'^(sha256)\s+([0-9a-f]{64})\s+(\S+)$', read(root, br + '/package/kmsgate/kmsgate.hash'),
        re.M))
    for f in (m.group(1).split() if m else []):
        with open(os.path.join(root, f), 'rb') as fh:
            got = hashlib.sha256(fh.read()).hexdigest()
        if hashes.get(f) != got:
            bad('buildroot: kmsgate.hash has %s for %s, the file hashes to %s'
                % (hashes.get(f), f, got))

    # BR2_GLOBAL_PATCH_DIR layout: patches/qemu/10.0.2 is qemu-patches/10.0.2.
    link = os.path.join(root, br, 'patches/qemu/10.0.2')
    if not os.path.isdir(link) or os.path.realpath(link) != os.path.realpath(
            os.path.join(root, 'qemu-patches/10.0.2')):
        bad('buildroot: patches/qemu/10.0.2 is not (a link to) qemu-patches/10.0.2')
    for d in os.listdir(os.path.join(root, br, 'patches/qemu')):
        if not os.path.isdir(os.path.join(root, 'qemu-patches', d)):
            bad('buildroot: patches/qemu/%s has no qemu-patches/%s' % (d, d))


def main():
    args = sys.argv[1:]
    pretend = []
    if '--pretend-option' in args:
        i = args.index('--pretend-option')
        pretend = [args[i + 1]]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    root = args[0]
    options = feature_options(root) + pretend
    if not options:
        bad('meson_options.txt: no feature options found (the pattern is stale)')
    check_yocto(root, options)
    check_buildroot(root, options)
    for p in problems:
        print('FAIL ' + p)
    if problems:
        return 1
    print('packaging: %d feature options, Yocto and Buildroot consistent with the tree'
          % len(options))
    return 0


if __name__ == '__main__':
    sys.exit(main())
