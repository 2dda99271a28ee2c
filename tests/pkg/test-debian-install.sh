#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-debian-install.sh: the Debian packages (debian/) from a clean copy of
# the tree, installed and run.
#
#  1. copies the tree's tracked files (git ls-files, with their working-tree
#     contents: no build dirs, no untracked files) into a temporary directory
#     and runs dpkg-buildpackage -b -us -uc there;
#  2. lintian on the .changes: no errors (warnings are printed);
#  3. each package holds the files it must, and apt could install all of them
#     on this machine (apt-get install --simulate: every Depends resolves);
#  4. extracts the packages (dpkg -x) into an empty root and builds a client
#     (pkg-client.c) from libkmsgate-dev's header, pkg-config file and .so
#     only;
#  5. boots the board VM (tests/vm/kgvm.py: virtio-gpu with 4 outputs) with
#     that root as its file system (plus the host libraries the programs
#     link): the installed kmsgate-broker checks the installed example config
#     (it does not fit this device: exit 1, and no parse error) and runs with
#     the packaged /etc/kmsgate/kmsgate.conf; the installed kmsgatectl lists
#     the pipelines; pkg-client acquires and releases one through the
#     installed libkmsgate.so.0; the installed kmsgate-vgpu starts headless
#     and stops on SIGTERM.
#
# Why a VM and dpkg -x rather than dpkg -i into a chroot: the broker needs a
# KMS device (this host has no /dev/dri), and the board VM has one; a chroot
# made with debootstrap would need the network and minutes. The maintainer
# scripts are debhelper's own (dh_installsystemd), checked by lintian.
#
# Usage: test-debian-install.sh SOURCE_DIR
# Env: KG_VM_CACHE (the VM's kernel cache, as for the vm suite);
#      KG_PKG_KEEP=1 keeps the temporary directory.
# Exit: 0 pass, 1 a check failed, 99 the rig failed (missing tools, VM).
set -euo pipefail

src=${1:?usage: test-debian-install.sh SOURCE_DIR}
src=$(cd "$src" && pwd)
t_start=$SECONDS
problems=0
fail() { echo "FAIL $*"; problems=$((problems + 1)); }
rig() { echo "RIG FAILURE: $*" >&2; exit 99; }
step() { printf '[pkg] %s (at %ds)\n' "$*" $((SECONDS - t_start)); }

for tool in dpkg-buildpackage dh lintian dpkg-deb apt-get cc pkg-config python3; do
	command -v "$tool" >/dev/null ||
		rig "$tool not found: run tools/install-deps (packages debhelper, dpkg-dev, lintian, pkg-config)"
done

tmp=$(mktemp -d /tmp/kg-pkg.XXXXXX)
if [ "${KG_PKG_KEEP:-0}" = 1 ]; then
	echo "[pkg] keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi

# 1. A clean copy: tracked files as they are in the working tree.
step "copying $src to $tmp/src"
mkdir "$tmp/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z | tar --null -T - --ignore-failed-read -c 2>/dev/null) |
		tar -x -C "$tmp/src"
else
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./out' -c . |
		tar -x -C "$tmp/src"
fi
[ -f "$tmp/src/debian/control" ] || rig "no debian/control in the copy of $src"

step "dpkg-buildpackage -b -us -uc"
if ! (cd "$tmp/src" && dpkg-buildpackage -b -us -uc) >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log"
	echo "FAIL dpkg-buildpackage failed in the copy (log above). The copy holds the tracked" \
		"files only (git add a new file); missing build dependencies: run tools/install-deps"
	exit 1
fi
changes=$(echo "$tmp"/kmsgate_*.changes)
pkgs=(kmsgate-broker kmsgate-vgpu kmsgatectl libkmsgate0 libkmsgate-dev)
declare -A deb
for p in "${pkgs[@]}"; do
	deb[$p]=
	for d in "$tmp/${p}"_*.deb; do [ -f "$d" ] && deb[$p]=$d; done
	[ -n "${deb[$p]}" ] || fail "dpkg-buildpackage made no package $p"
done
[ "$problems" = 0 ] || exit 1

# 2. lintian: errors fail, warnings are shown.
step "lintian"
lintian --fail-on error "$changes" \
	>"$tmp/lintian.log" 2>&1 || lint=$?
sed 's/^/[lintian] /' "$tmp/lintian.log"
grep -q '^E: ' "$tmp/lintian.log" && fail "lintian reports errors (lines E: above)"
[ "${lint:-0}" = 0 ] || grep -q '^E: ' "$tmp/lintian.log" ||
	fail "lintian exited ${lint} without reporting an error"

# 3. What each package must hold.
step "package contents"
expect() { # PACKAGE PATH...
	local p=$1; shift
	local list
	list=$(dpkg-deb -c "${deb[$p]}" | awk '{print $6}' | sed 's|^\./|/|')
	for f in "$@"; do
		grep -qx -- "$f" <<<"$list" || fail "package $p lacks $f"
	done
}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
expect kmsgate-broker /usr/sbin/kmsgate-broker /etc/kmsgate/kmsgate.conf \
	/lib/systemd/system/kmsgate-broker.service /lib/systemd/system/kmsgate-broker.socket \
	/usr/share/doc/kmsgate-broker/examples/kmsgate.conf.example \
	/usr/share/man/man8/kmsgate-broker.8.gz /usr/share/man/man5/kmsgate.conf.5.gz
expect kmsgate-vgpu /usr/bin/kmsgate-vgpu /usr/share/man/man8/kmsgate-vgpu.8.gz \
	/usr/share/man/man5/kmsgate-vgpu.conf.5.gz /etc/kmsgate/vgpu.conf \
	/usr/share/qemu/vhost-user/40-kmsgate-vgpu.json
expect kmsgatectl /usr/bin/kmsgatectl "/usr/lib/$ma/kmsgate/libkmsgate-preload.so" \
	/usr/share/man/man1/kmsgatectl.1.gz
expect libkmsgate0 "/usr/lib/$ma/libkmsgate.so.0.1.0" "/usr/lib/$ma/libkmsgate.so.0"
expect libkmsgate-dev /usr/include/kmsgate.h "/usr/lib/$ma/libkmsgate.so" \
	"/usr/lib/$ma/pkgconfig/kmsgate.pc"
dpkg-deb -I "${deb[kmsgate-broker]}" conffiles | grep -qx /etc/kmsgate/kmsgate.conf ||
	fail "kmsgate-broker: /etc/kmsgate/kmsgate.conf is not a conffile"
dpkg-deb -I "${deb[kmsgate-vgpu]}" conffiles | grep -qx /etc/kmsgate/vgpu.conf ||
	fail "kmsgate-vgpu: /etc/kmsgate/vgpu.conf is not a conffile"
for f in kmsgate-broker.service kmsgate-broker.socket; do
	dpkg-deb --fsys-tarfile "${deb[kmsgate-broker]}" | tar -xO "./lib/systemd/system/$f" |
		grep -q '^Documentation=man:kmsgate-broker(8)' || fail "$f does not point at kmsgate-broker(8)"
done
dpkg-deb --fsys-tarfile "${deb[kmsgate-broker]}" |
	tar -xO ./lib/systemd/system/kmsgate-broker.service |
	grep -qx 'ExecStart=/usr/sbin/kmsgate-broker --config /etc/kmsgate/kmsgate.conf' ||
	fail "kmsgate-broker.service does not start /usr/sbin/kmsgate-broker with /etc/kmsgate/kmsgate.conf"

step "apt-get install --simulate (do the dependencies resolve here?)"
if ! apt-get install -s -q --no-install-recommends "${deb[@]}" >"$tmp/apt.log" 2>&1; then
	sed 's/^/[apt] /' "$tmp/apt.log" | tail -n 20
	fail "apt-get could not install the packages on this machine (output above)"
fi

# 4. The installed tree, and a client built from libkmsgate-dev alone.
step "extracting the packages into $tmp/root"
root=$tmp/root
mkdir "$root"
for p in "${pkgs[@]}"; do dpkg -x "${deb[$p]}" "$root"; done
# libvirt starts the "binary" of the descriptor: the installed program.
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(d.get("type") != "gpu" or d.get("binary") != "/usr/bin/kmsgate-vgpu")' \
	"$root/usr/share/qemu/vhost-user/40-kmsgate-vgpu.json" ||
	fail "40-kmsgate-vgpu.json is not a gpu descriptor with binary /usr/bin/kmsgate-vgpu"
mkdir -p "$root/usr/local/bin" "$root/kgpkg"
# shellcheck disable=SC2046 # pkg-config prints separate words
cc -o "$root/usr/local/bin/pkg-client" "$src/tests/pkg/pkg-client.c" \
	$(PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" \
		pkg-config --cflags --libs kmsgate) ||
	fail "pkg-client does not build against libkmsgate-dev (kmsgate.h, kmsgate.pc, libkmsgate.so)"
readelf -d "$root/usr/local/bin/pkg-client" | grep -q 'NEEDED.*\[libkmsgate\.so\.0\]' ||
	fail "pkg-client is not linked to libkmsgate.so.0"
[ "$problems" = 0 ] || { echo "FAIL: $problems problem(s)"; exit 1; }

# 5. In the board VM, from the installed paths only.
cat >"$root/kgpkg/guest.sh" <<'GUEST'
set -u
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/kmsgate /etc
# The groups the example config names, as on any Debian system (the
# initramfs has no group database of its own).
printf 'root:x:0:0:root:/root:/bin/sh\n' >/etc/passwd
printf 'root:x:0:\nsudo:x:27:\nvideo:x:44:\n' >/etc/group
kmsgate-broker --check --config /usr/share/doc/kmsgate-broker/examples/kmsgate.conf.example \
	>/tmp/example.log 2>&1
echo "EXAMPLE_CHECK_EXIT=$?"
sed 's/^/example: /' /tmp/example.log
kmsgate-broker --check --config /etc/kmsgate/kmsgate.conf; echo "CONF_CHECK_EXIT=$?"
kmsgate-broker --config /etc/kmsgate/kmsgate.conf 2>/tmp/broker.log &
B=$!
i=0; while [ ! -S /run/kmsgate/broker.sock ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
[ -S /run/kmsgate/broker.sock ] || { echo "NO BROKER SOCKET"; cat /tmp/broker.log; exit 99; }
kmsgatectl list; echo "LIST_EXIT=$?"
pkg-client Virtual-1; echo "CLIENT_EXIT=$?"
kmsgate-vgpu --socket /tmp/vgpu.sock --output headless 2>/tmp/vgpu.log &
V=$!
i=0; while [ ! -S /tmp/vgpu.sock ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
[ -S /tmp/vgpu.sock ] && echo "VGPU_LISTENS"
kill -TERM $V; wait $V; echo "VGPU_EXIT=$?"
sed 's/^/vgpu: /' /tmp/vgpu.log
kill -TERM $B; wait $B; echo "BROKER_EXIT=$?"
sed 's/^/broker: /' /tmp/broker.log
GUEST
step "booting the board VM with the installed tree"
status=0
python3 "$src/tests/vm/run" --timeout 240 --add "$root:/" -- sh /kgpkg/guest.sh \
	>"$tmp/vm.log" || status=$?
cat "$tmp/vm.log"
case $status in
99 | 124 | 125) rig "the VM run ended with status $status (log above)" ;;
esac
value() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$tmp/vm.log" | head -n1; }
check() { # KEY WANT WHAT
	local got
	got=$(value "$1")
	[ "$got" = "$2" ] || fail "$3: $1=${got:-none}, expected $2"
}
[ "$status" = 0 ] || fail "the guest script exited $status"
check EXAMPLE_CHECK_EXIT 1 "installed example config on a virtio-gpu card (its LVDS-1 is absent)"
grep -q "^example: .*config does not fit .*unknown connector 'LVDS-1'" "$tmp/vm.log" ||
	fail "the installed example config was not parsed whole and checked against the card (output above)"
check CONF_CHECK_EXIT 0 "kmsgate-broker --check with the packaged /etc/kmsgate/kmsgate.conf"
check LIST_EXIT 0 "the installed kmsgatectl list"
grep -Eq '^Virtual-1 +free' "$tmp/vm.log" || fail "kmsgatectl list shows no free pipeline Virtual-1"
check CLIENT_EXIT 0 "pkg-client (libkmsgate-dev, libkmsgate0) acquiring Virtual-1"
grep -q '^PKG_CLIENT_OK Virtual-1 [0-9]' "$tmp/vm.log" || fail "pkg-client never held the lease"
grep -qx VGPU_LISTENS "$tmp/vm.log" || fail "the installed kmsgate-vgpu never listened on its socket"
check VGPU_EXIT 0 "the installed kmsgate-vgpu stopped by SIGTERM"
check BROKER_EXIT 0 "the installed kmsgate-broker stopped by SIGTERM"

echo "[pkg] packages: $(for p in "${pkgs[@]}"; do printf '%s ' "${deb[$p]##*/}"; done)"
echo "[pkg] lintian: $(grep -c '^E: ' "$tmp/lintian.log" || true) errors," \
	"$(grep -c '^W: ' "$tmp/lintian.log" || true) warnings"
echo "[pkg] took $((SECONDS - t_start)) s"
if [ "$problems" != 0 ]; then
	echo "FAIL: $problems problem(s)"
	exit 1
fi
echo PASS
