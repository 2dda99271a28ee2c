SUMMARY = "Each QEMU guest on its own display through KMS"
DESCRIPTION = "kmsgate-broker leases the display pipelines of a KMS device \
(rcar-du or any other) to clients; kmsgate-vgpu is a vhost-user virtio-gpu \
back-end for QEMU that scans a guest's frames out on a leased pipeline; \
kmsgatectl lists, revokes and uses the leases; libkmsgate is the client \
library of the broker."
SECTION = "graphics"
# kmsgate has no license file of its own yet (meson.build: license 'MIT';
# debian/copyright): check against the common MIT text.
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# PLACEHOLDER: kmsgate's own git repository. example.invalid does not
# resolve; set KMSGATE_GIT_URI and SRCREV (a commit of it) in your
# distro/local.conf, or build the tree this layer sits in with externalsrc
# (../../README.md, "Source").
KMSGATE_GIT_URI ?= "git://example.invalid/kmsgate.git;protocol=https;branch=main"
SRC_URI = "${KMSGATE_GIT_URI}"
# PLACEHOLDER as well: no such commit.
SRCREV ?= "0000000000000000000000000000000000000000"
PV = "0.1.0+git"

inherit meson pkgconfig systemd

DEPENDS = "libdrm libinih libpng"

# Each maps to the meson feature option of the same name (meson_options.txt):
# enabled or disabled, never auto, so a missing dependency fails the build
# instead of leaving the feature out quietly.
PACKAGECONFIG ??= "udev display-info man-pages \
    ${@bb.utils.filter('DISTRO_FEATURES', 'systemd', d)} \
    ${@bb.utils.contains('DISTRO_FEATURES', 'opengl', 'virgl', '', d)}"
PACKAGECONFIG[udev] = "-Dudev=enabled,-Dudev=disabled,udev"
PACKAGECONFIG[systemd] = "-Dsystemd=enabled,-Dsystemd=disabled,systemd"
PACKAGECONFIG[display-info] = "-Ddisplay-info=enabled,-Ddisplay-info=disabled,libdisplay-info"
PACKAGECONFIG[virgl] = "-Dvirgl=enabled,-Dvirgl=disabled,virglrenderer libepoxy virtual/libgbm"
PACKAGECONFIG[man-pages] = "-Dman-pages=enabled,-Dman-pages=disabled,scdoc-native"

# The unit suite runs in kmsgate's CI; the vm suites boot QEMU.
EXTRA_OEMESON = "-Dtests=false -Dvm-tests=false -Dfuzz=false"

do_install:append() {
	# The default configurations, as debian/ ships them: no pipeline
	# sections (one pipeline per connector, root only) and no guests.
	install -d ${D}${sysconfdir}/kmsgate
	install -m 0644 ${S}/debian/kmsgate.conf ${D}${sysconfdir}/kmsgate/kmsgate.conf
	install -m 0644 ${S}/debian/vgpu.conf ${D}${sysconfdir}/kmsgate/vgpu.conf

	# Without libsystemd meson puts the units in ${prefix}/lib/systemd/system;
	# move them to where this distro keeps units, so that systemd.bbclass
	# finds (or, without systemd, removes) them.
	if [ "${prefix}/lib/systemd/system" != "${systemd_system_unitdir}" ] && \
	   [ -d ${D}${prefix}/lib/systemd/system ]; then
		install -d ${D}${systemd_system_unitdir}
		mv ${D}${prefix}/lib/systemd/system/* ${D}${systemd_system_unitdir}/
		rmdir ${D}${prefix}/lib/systemd/system ${D}${prefix}/lib/systemd
	fi
}

# The packages of debian/control (libkmsgate0 is libkmsgate here, as Yocto
# names libraries; its static library stays in kmsgate-staticdev, where
# Yocto's QA wants it). Exact paths only: these come before ${PN}-dbg, and
# a glob would take the .debug files too. The man pages go to kmsgate-doc,
# as Yocto does (debian/ puts each in its program's package).
PACKAGES =+ "kmsgate-broker kmsgate-vgpu kmsgatectl libkmsgate libkmsgate-dev"

FILES:kmsgate-broker = "${sbindir}/kmsgate-broker \
    ${systemd_system_unitdir}/kmsgate-broker.service \
    ${systemd_system_unitdir}/kmsgate-broker.socket \
    ${sysconfdir}/kmsgate/kmsgate.conf"
FILES:kmsgate-vgpu = "${bindir}/kmsgate-vgpu \
    ${systemd_system_unitdir}/kmsgate-vgpu@.service \
    ${datadir}/bash-completion/completions/kmsgate-vgpu \
    ${datadir}/qemu/vhost-user/40-kmsgate-vgpu.json \
    ${sysconfdir}/kmsgate/vgpu.conf"
FILES:kmsgatectl = "${bindir}/kmsgatectl ${libdir}/kmsgate/libkmsgate-preload.so \
    ${datadir}/bash-completion/completions/kmsgatectl"
FILES:libkmsgate = "${libdir}/libkmsgate.so.*"
FILES:libkmsgate-dev = "${includedir}/kmsgate.h ${libdir}/libkmsgate.so \
    ${libdir}/pkgconfig/kmsgate.pc"

CONFFILES:kmsgate-broker = "${sysconfdir}/kmsgate/kmsgate.conf"
CONFFILES:kmsgate-vgpu = "${sysconfdir}/kmsgate/vgpu.conf"

RDEPENDS:libkmsgate-dev = "libkmsgate"
RRECOMMENDS:kmsgate-vgpu = "kmsgate-broker"
RRECOMMENDS:kmsgatectl = "kmsgate-broker"

# kmsgate itself is empty: IMAGE_INSTALL += "kmsgate" installs the programs.
ALLOW_EMPTY:${PN} = "1"
RDEPENDS:${PN} = "kmsgate-broker kmsgate-vgpu kmsgatectl"

# The socket starts the broker on the first connection: only the socket is
# listed, so only the socket is enabled (and started, and restarted on an
# upgrade). The service is packaged (FILES above) but not enabled, as in
# debian/rules.
SYSTEMD_PACKAGES = "kmsgate-broker"
SYSTEMD_SERVICE:kmsgate-broker = "kmsgate-broker.socket"
SYSTEMD_AUTO_ENABLE:kmsgate-broker = "enable"
