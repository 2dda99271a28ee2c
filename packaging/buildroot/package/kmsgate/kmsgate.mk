################################################################################
#
# kmsgate
#
################################################################################

# The kmsgate tree this BR2_EXTERNAL sits in (packaging/buildroot/), copied
# with rsync at each build: no download, so no archive hash (kmsgate.hash).
# To build another tree: KMSGATE_OVERRIDE_SRCDIR in local.mk.
KMSGATE_VERSION = 0.1.0
KMSGATE_SITE = $(BR2_EXTERNAL_KMSGATE_PATH)/../..
KMSGATE_SITE_METHOD = local
KMSGATE_LICENSE = MIT
KMSGATE_LICENSE_FILES = debian/copyright
KMSGATE_INSTALL_STAGING = YES
KMSGATE_DEPENDENCIES = host-pkgconf inih libdrm libpng

# The unit suite runs in kmsgate's CI, the vm suites boot QEMU. Buildroot
# removes man pages from the target, so scdoc is not needed.
KMSGATE_CONF_OPTS = \
	-Dtests=false \
	-Dvm-tests=false \
	-Dfuzz=false \
	-Dman-pages=disabled

# Each feature is enabled or disabled, never auto: a missing dependency
# fails the build instead of leaving the feature out quietly.
ifeq ($(BR2_PACKAGE_KMSGATE_UDEV),y)
KMSGATE_CONF_OPTS += -Dudev=enabled
KMSGATE_DEPENDENCIES += udev
else
KMSGATE_CONF_OPTS += -Dudev=disabled
endif

ifeq ($(BR2_PACKAGE_KMSGATE_SYSTEMD),y)
KMSGATE_CONF_OPTS += -Dsystemd=enabled
KMSGATE_DEPENDENCIES += systemd
else
KMSGATE_CONF_OPTS += -Dsystemd=disabled
endif

ifeq ($(BR2_PACKAGE_KMSGATE_VIRGL),y)
KMSGATE_CONF_OPTS += -Dvirgl=enabled
KMSGATE_DEPENDENCIES += libepoxy libgbm virglrenderer
else
KMSGATE_CONF_OPTS += -Dvirgl=disabled
endif

ifeq ($(BR2_PACKAGE_LIBDISPLAY_INFO),y)
KMSGATE_CONF_OPTS += -Ddisplay-info=enabled
KMSGATE_DEPENDENCIES += libdisplay-info
else
KMSGATE_CONF_OPTS += -Ddisplay-info=disabled
endif

# The default configurations, as debian/ ships them: no pipeline sections
# (one pipeline per connector, root only) and no guests.
define KMSGATE_INSTALL_CONFIG
	$(INSTALL) -D -m 0644 $(@D)/debian/kmsgate.conf \
		$(TARGET_DIR)/etc/kmsgate/kmsgate.conf
	$(INSTALL) -D -m 0644 $(@D)/debian/vgpu.conf \
		$(TARGET_DIR)/etc/kmsgate/vgpu.conf
endef
KMSGATE_POST_INSTALL_TARGET_HOOKS += KMSGATE_INSTALL_CONFIG

# meson installs both units; systemctl preset-all enables only the socket,
# which starts the broker on the first connection (as debian/rules does).
define KMSGATE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(KMSGATE_PKGDIR)/50-kmsgate.preset \
		$(TARGET_DIR)/usr/lib/systemd/system-preset/50-kmsgate.preset
endef

$(eval $(meson-package))
