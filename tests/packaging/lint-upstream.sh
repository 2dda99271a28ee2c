#!/usr/bin/env bash
# lint-upstream.sh SRCROOT: the linters of Buildroot and Yocto themselves on
# packaging/, when their source trees are given. Neither comes as a Debian
# package (Debian 12 has no bitbake, oelint-adv or Buildroot), and kmsgate
# vendors neither, so CI cannot run this: it is the suite packaging-lint,
# which tests/run does not run. Run it by hand with either or both of:
#   KG_BUILDROOT_SRC=DIR   a Buildroot source tree: utils/check-package -b on
#                          packaging/buildroot (needs python3-magic, flake8)
#   KG_YOCTO_SRC=DIR       DIR/bitbake (2.16), DIR/openembedded-core
#                          (whinlatter) and DIR/meta-openembedded
#                          (whinlatter): bitbake -e kmsgate and qemu, a full
#                          parse with oe-core's classes in a throw-away build
#                          directory (no fetch, no build)
#   meson test -C build --suite packaging-lint --print-errorlogs
# With neither it skips (77). KG_PYTHON: the python3 with magic and flake8
# (default /usr/bin/python3, Debian's).
set -uo pipefail
root=$(cd "${1:?usage: lint-upstream.sh SRCROOT}" && pwd)
py=${KG_PYTHON:-/usr/bin/python3}
ran=0 failed=0

if [ -n "${KG_BUILDROOT_SRC:-}" ]; then
	ran=1
	echo "== Buildroot utils/check-package -b ($KG_BUILDROOT_SRC)"
	(cd "$root/packaging/buildroot" &&
		"$py" "$KG_BUILDROOT_SRC/utils/check-package" -b \
			Config.in external.desc external.mk package/kmsgate/*) || failed=1
fi

# bitbake -e RECIPE into $work/RECIPE.env; its messages into RECIPE.err.
bb_env() {
	(cd "$work/build" && BBPATH=$PWD bitbake -e "$1" >"$work/$1.env" 2>"$work/$1.err")
	local rc=$?
	# bitbake -e prints parse warnings on stdout, before the environment.
	grep -hE '(WARNING|ERROR): ' "$work/$1.err"
	sed -n '1,20p' "$work/$1.env" | grep -E '(WARNING|ERROR): '
	return $rc
}

if [ -n "${KG_YOCTO_SRC:-}" ]; then
	ran=1
	echo "== bitbake -e kmsgate, qemu ($KG_YOCTO_SRC: bitbake, openembedded-core whinlatter, meta-oe)"
	work=$(mktemp -d "${TMPDIR:-/tmp}/kg-bitbake.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/build/conf"
	y=$KG_YOCTO_SRC
	cat >"$work/build/conf/bblayers.conf" <<-EOC
		BBLAYERS = "$y/openembedded-core/meta $y/meta-openembedded/meta-oe $root/packaging/yocto/meta-kmsgate"
	EOC
	# A parse only: no network, and the host checks of sanity.bbclass (it
	# refuses root, CI's user) are off, as an empty conf/sanity.conf does.
	cat >"$work/build/conf/local.conf" <<-'EOC'
		MACHINE = "qemuarm64"
		DISTRO_FEATURES:append = " systemd opengl usrmerge"
		INIT_MANAGER = "systemd"
		BB_NO_NETWORK = "1"
		HOSTTOOLS:remove = "chrpath"
	EOC
	: >"$work/build/conf/sanity.conf"
	# bitbake wants the en_US.UTF-8 locale; build it privately if missing.
	if ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
		mkdir -p "$work/locale" && localedef -i en_US -f UTF-8 "$work/locale/en_US.UTF-8"
		export LOCPATH=$work/locale BB_ENV_PASSTHROUGH_ADDITIONS=LOCPATH
	fi
	export LANG=en_US.UTF-8 PATH=$y/bitbake/bin:$PATH
	if bb_env kmsgate; then
		grep -E '^(PACKAGES|EXTRA_OEMESON|SYSTEMD_SERVICE:kmsgate-broker)=' "$work/kmsgate.env"
	else
		failed=1
	fi
	if bb_env qemu; then
		pv=$(sed -n 's/^PV="\(.*\)"$/\1/p' "$work/qemu.env")
		n=$(grep '^SRC_URI=' "$work/qemu.env" | grep -o 'file://[^ ]*vhost-user-gpu[^ ]*\.patch' | wc -l)
		echo "qemu $pv: $n kmsgate patches in SRC_URI"
		case "$pv" in
		10.0.*) [ "$n" = 2 ] || { echo "FAIL qemu $pv should get the 2 patches"; failed=1; } ;;
		*) [ "$n" = 0 ] || { echo "FAIL qemu $pv should get no patch"; failed=1; } ;;
		esac
	else
		failed=1
	fi
fi

if [ "$ran" = 0 ]; then
	echo "SKIP: neither KG_BUILDROOT_SRC nor KG_YOCTO_SRC is set (see the top of $0)"
	exit 77
fi
[ "$failed" = 0 ] && echo "packaging-lint: passed"
exit "$failed"
