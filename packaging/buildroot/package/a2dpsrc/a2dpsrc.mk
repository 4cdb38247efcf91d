################################################################################
#
# a2dpsrc
#
################################################################################

# Built from the a2dpsrc checkout this br2-external tree lives in
# (<a2dpsrc>/packaging/buildroot). To build a release instead, copy this
# package into your own tree and set A2DPSRC_SITE to its tarball (with an
# a2dpsrc.hash) or git URL, A2DPSRC_VERSION to the tag, and drop
# A2DPSRC_SITE_METHOD.
A2DPSRC_VERSION = 0.1.0
A2DPSRC_SITE = $(BR2_EXTERNAL_A2DPSRC_PATH)/../..
A2DPSRC_SITE_METHOD = local
# the checkout's own build products (host objects, cross builds) stay out
A2DPSRC_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude /build
A2DPSRC_LICENSE = MIT
A2DPSRC_LICENSE_FILES = LICENSE
A2DPSRC_DEPENDENCIES = host-pkgconf alsa-lib bluez5_utils dbus sbc systemd

# The project's Makefile takes the usual variables: Buildroot's CC, AR,
# CPPFLAGS, CFLAGS, LDFLAGS and PKG_CONFIG (its wrapper knows the staging
# sysroot) come with TARGET_CONFIGURE_OPTS. The same PREFIX for the build
# and the install, so that the unit starts /usr/sbin/a2dpsrcd. WERROR=: the
# project builds with -Werror, and this toolchain's compiler may warn where
# the project's CI compiler does not. MAN=no: Buildroot strips
# /usr/share/man from the target anyway, and then no host scdoc is needed.
A2DPSRC_MAKE_OPTS = \
	$(TARGET_CONFIGURE_OPTS) \
	PREFIX=/usr \
	SYSCONFDIR=/etc \
	WERROR= \
	MAN=no \
	WITH_LDAC=$(if $(BR2_PACKAGE_LIBLDAC),yes,no)

# LDAC is built in when the tree has a libldac (Sony's libldacBT_enc and
# libldacBT_abr with their ldacBT-enc.pc and ldacBT-abr.pc); they are loaded
# at run time, so only their headers are needed
# to build
ifeq ($(BR2_PACKAGE_LIBLDAC),y)
A2DPSRC_DEPENDENCIES += libldac
endif

ifeq ($(BR2_PACKAGE_A2DPSRC_AAC),y)
A2DPSRC_DEPENDENCIES += ffmpeg
else
A2DPSRC_MAKE_OPTS += WITH_AAC=no
endif
# aptX and aptX HD: libfreeaptx's header to build, the library loaded at
# run time
ifeq ($(BR2_PACKAGE_A2DPSRC_APTX),y)
A2DPSRC_DEPENDENCIES += libfreeaptx
A2DPSRC_MAKE_OPTS += WITH_APTX=yes
else
A2DPSRC_MAKE_OPTS += WITH_APTX=no
endif

define A2DPSRC_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(A2DPSRC_MAKE_OPTS) all
endef

# /usr/sbin/a2dpsrcd, /usr/bin/a2dpsrcctl,
# /usr/lib/systemd/system/a2dpsrcd.service,
# /usr/lib/sysusers.d/a2dpsrc.conf,
# /usr/share/dbus-1/system.d/org.a2dpsrc.conf,
# /usr/share/dbus-1/system-services/org.a2dpsrc.service,
# /usr/share/dbus-1/interfaces/org.a2dpsrc.Manager1.xml,
# /usr/share/bash-completion/completions/a2dpsrcctl,
# /etc/a2dpsrcd.conf.example: packaging/install-manifest.txt, which
# tools/cross-check.sh holds `make install` to (there with the man pages,
# which MAN=no leaves out).
define A2DPSRC_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(A2DPSRC_MAKE_OPTS) \
		DESTDIR=$(TARGET_DIR) install
endef

# The unit runs as a2dpsrc with Group=audio; the D-Bus policy lets the
# a2dpsrc group control the daemon. No login, no home: systemd creates
# /var/lib/a2dpsrcd (StateDirectory=). The same user as the installed
# sysusers.d entry, made here at image build time so that a read-only
# rootfs has it too.
define A2DPSRC_USERS
	a2dpsrc -1 a2dpsrc -1 * - - audio a2dpsrc daemon
endef

ifeq ($(BR2_PACKAGE_A2DPSRC_SND_ALOOP),y)
define A2DPSRC_LINUX_CONFIG_FIXUPS
	$(call KCONFIG_ENABLE_OPT,CONFIG_SOUND)
	$(call KCONFIG_ENABLE_OPT,CONFIG_SND)
	$(call KCONFIG_ENABLE_OPT,CONFIG_SND_DRIVERS)
	$(call KCONFIG_ENABLE_OPT,CONFIG_SND_ALOOP)
endef
endif

$(eval $(generic-package))
