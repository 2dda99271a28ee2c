# SPDX-License-Identifier: MIT
"""The benchmark one level down: the paths run inside the board VM (Linux
6.12 under TCG, with vkms), each guest nested in it (TCG inside TCG), so that
kmsgate can run on vkms, the only KMS device with a real vblank and dmabuf
import here. Host CPU is read from the board's /proc by the board-side
script (BOARD_SH) when the host harness asks for it on the console.

Uses the e2e engineer's tests/vm/nested.py (QEMU inside the board) and the
rig's kgvm.py. stdlib only."""

import os
import re
import shlex

import kgvm
import nested
import results
from paths import XRES

# The board-side script: $1 = path key, $2 = guest frames, $3 = WxH.
# Console protocol (host -> board): 'sample' prints one BENCH-CPU line;
# the guest's lines come back prefixed with '[g] '.
BOARD_SH = r'''set -u
path=$1
vkms=
for c in /sys/class/drm/card[0-9]; do
	# vkms is a platform device named vkms without a bound driver (6.12).
	case $(readlink -f "$c/device") in */vkms*) vkms=/dev/dri/$(basename "$c") ;; esac
done
sock=/tmp/vgpu.sock
ready=$sock
bpid=
case $path in
kmsgate|kmsgate-blob)
	kmsgate-vgpu --socket $sock --output kms --device "$vkms" --stats /tmp/stats.json \
		>/tmp/backend.log 2>&1 &
	bpid=$! ;;
vhost-ref)
	# G_MESSAGES_DEBUG: it then logs which buffer back-end it picked (udmabuf here).
	G_MESSAGES_DEBUG=all /usr/lib/qemu/vhost-user-gpu --socket-path=$sock >/tmp/backend.log 2>&1 &
	bpid=$! ;;
sdl)
	# Xvfb compiles its keymap with xkbcomp into /var/lib/xkb.
	mkdir -p /var/lib/xkb
	Xvfb :1 -screen 0 1280x1024x24 -nolisten tcp -noreset >/tmp/backend.log 2>&1 &
	bpid=$!
	ready=/tmp/.X11-unix/X1 ;;
esac
if [ -n "$bpid" ]; then
	n=0
	while [ ! -S $ready ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
	[ -S $ready ] || { echo "BENCH-ERROR back-end did not listen"; cat /tmp/backend.log; exit 1; }
fi
# QEMU's own messages go to a file: on the console they would split the guest's lines.
sh /bench/guest-qemu $path </dev/null 2>/tmp/qemu.err | awk '{ gsub(/@@kgvm-/, "@@guest-"); print "[g] " $0; fflush() }' &
n=0; qpid=
while [ -z "$qpid" ] && [ $n -lt 100 ]; do qpid=$(pidof qemu-system-x86_64); sleep 0.1; n=$((n + 1)); done
echo "BENCH-PIDS qemu=$qpid backend=${bpid:-none} tck=$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu() { [ -n "${1:-}" ] && awk '{print $14 + $15}' /proc/$1/stat 2>/dev/null || echo -1; }
while read -r cmd; do
	case $cmd in
	sample) echo "BENCH-CPU qemu=$(cpu "$qpid") backend=$(cpu "$bpid") t=$(cut -d' ' -f1 /proc/uptime)" ;;
	quit) break ;;
	esac
done
n=0
while kill -0 $qpid 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill $qpid 2>/dev/null
echo "BENCH-QEMU-MESSAGES $(wc -l </tmp/qemu.err) lines, $(sort /tmp/qemu.err | uniq -c | sort -rn | head -3 | tr '\n' ';')"
if [ -n "$bpid" ]; then
	kill $bpid; wait $bpid
	[ -f /tmp/stats.json ] && tr -d '\n' </tmp/stats.json | sed 's/^/BENCH-STATS /' && echo
	grep -i -m3 'udmabuf\|fallback\|error' /tmp/backend.log | sed 's/^/BENCH-BACKEND /'
	tail -5 /tmp/backend.log
fi
'''

CPU_RE = re.compile(r'^BENCH-CPU qemu=(-?\d+) backend=(-?\d*)(?: t=([\d.]+))?')
PIDS_RE = re.compile(r'^BENCH-PIDS qemu=(\d*) backend=(\S+) tck=(\d+)')


# Where kmsgate-blob's QEMU module goes in the board (QEMU_MODULE_DIR).
BLOB_MODULE_DIR = '/opt/kg-qemu-modules'
BLOB_MODULE = 'hw-display-virtio-gpu.so'


def guest_qemu_sh(mem, mode):
    """/bench/guest-qemu: starts the nested guest of path $1."""
    w, h = mode
    base = [nested.QEMU, '-accel', 'tcg', '-cpu', 'max', '-m', str(mem), '-smp', '1',
            '-no-reboot', '-monitor', 'none', '-serial', 'stdio',
            '-vga', 'none', '-nic', 'none',
            '-kernel', nested.GUEST_KERNEL, '-initrd', nested.GUEST_INITRD,
              '-append', 'console=ttyS0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
              f'video=Virtual-1:{w}x{h}@60e']
    common = base + ['-nographic', '-display', 'none']
    vu = ['-object', f'memory-backend-memfd,id=mem,size={mem}M,share=on',
          '-machine', 'memory-backend=mem', '-chardev', 'socket,id=vgpu,path=/tmp/vgpu.sock',
          '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0,' + XRES]
    vg = ['-device', 'virtio-gpu-pci,id=video0,' + XRES]
    # The same SDL settings as the host level's (b) (paths.SDL_ENV).
    sdl_env = ['env', 'DISPLAY=:1'] + [f'{k}={v}' for k, v in nested.SDL_ENV.items()]
    blob_env = ['env', f'QEMU_MODULE_DIR={BLOB_MODULE_DIR}']
    return (f'case $1 in\n'
            f'virtio-none) exec {shlex.join(common + vg)} ;;\n'
            f'sdl) exec {shlex.join(sdl_env + base + vg + ["-display", "sdl"])} ;;\n'
            f'kmsgate-blob) exec {shlex.join(blob_env + common + vu)} ;;\n'
            f'*) exec {shlex.join(common + vu)} ;;\n'
            f'esac\n')


BOARD_PATHS = {
    'kmsgate': ('(a) kmsgate-vgpu, KMS output on vkms (zero copy)', 'kmsgate-vgpu'),
    'kmsgate-blob': ("(a') kmsgate-vgpu on vkms, QEMU with the blob patch (guest fenced)",
                     'kmsgate-vgpu'),
    'sdl': ('(b) QEMU virtio-gpu-pci, -display sdl on Xvfb (SDL software renderer)', 'Xvfb'),
    'vhost-ref': ('(c) QEMU vhost-user-gpu (reference back-end), -display none',
                  'vhost-user-gpu'),
    'virtio-none': ('control: QEMU virtio-gpu-pci, -display none', None),
}

class SkipPath(Exception):
    """A board path that cannot run here (something optional not built)."""


LEVEL = 'L2: guest nested in the board VM (TCG in TCG); host processes in the board VM (L1)'


class BoardRun:
    """One board VM boot per path."""

    def __init__(self, a, workload, work):
        self.a = a
        self.work = work
        self.mode = tuple(int(x) for x in a.mode.split('x'))
        self.kernel, self.initrd = nested.guest_initrd(
            a.cache, work, add=[workload.add], script=workload.cmd)
        for name, text in (('scene', BOARD_SH), ('guest-qemu', guest_qemu_sh(256, self.mode))):
            with open(os.path.join(work, name), 'w') as f:
                f.write(text)

    def blob_module(self):
        """The patched QEMU module kmsgate-blob needs (qemu-patches/build BUILD),
        or None."""
        p = getattr(self.a, 'blob_module', None) or os.path.join(
            self.a.build, 'qemu-patches', 'modules', BLOB_MODULE)
        return p if os.path.isfile(p) else None

    def adds(self, key):
        adds = nested.qemu_adds(reference_backend=(key == 'vhost-ref'), sdl=(key == 'sdl'))
        adds += [f'{self.kernel}:{nested.GUEST_KERNEL}', f'{self.initrd}:{nested.GUEST_INITRD}',
                 f'{self.work}/scene:/bench/scene', f'{self.work}/guest-qemu:/bench/guest-qemu']
        if key == 'kmsgate-blob':
            mod = self.blob_module()
            if not mod:
                raise SkipPath(f'the patched QEMU module {BLOB_MODULE} is not built (make '
                               f'it with qemu-patches/build {self.a.build}, or pass '
                               '--blob-module FILE)')
            adds.append(f'{mod}:{BLOB_MODULE_DIR}/{BLOB_MODULE}')
        if key in ('kmsgate', 'kmsgate-blob'):
            exe = os.path.join(self.a.build, 'backend', 'kmsgate-vgpu')
            if not os.access(exe, os.X_OK):
                raise kgvm.VMError(f'{exe} not built')
            adds.append(f'{exe}:/bin/kmsgate-vgpu')
        return adds

    def run(self, key, log):
        opts = kgvm.Options(cache=self.a.cache, vkms=True, add=self.adds(key),
                            mem=nested.BOARD_MEM, timeout=self.a.timeout + 300,
                            echo=self.a.verbose)
        probe = results.ProbeOutput()
        lines = []
        with kgvm.VM(opts, [f'sh /bench/scene {key} {self.a.frames} {self.a.mode}']) as vm:
            while vm.status is None:
                line = vm.readline(timeout=5)
                if line is None:
                    continue
                lines.append(line)
                if PIDS_RE.match(line):
                    log(f'board/{key}: nested guest started, booting (minutes)')
                if line.startswith('[g] '):
                    ev = probe.feed(line[4:])
                    if ev in ('begin', 'end'):
                        vm.send('sample')
                    if ev == 'begin':
                        log(f'board/{key}: flipping {self.a.frames} frames')
                    if '@@guest-exit=' in line:
                        vm.send('quit')
                elif line.startswith('BENCH-ERROR'):
                    log(f'board/{key}: {line}')
        with open(os.path.join(self.a.out, f'board-{key}.log'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return parse_log(key, lines, f'status {vm.status}; see {self.a.out}/board-{key}.log')


def parse_log(key, lines, where=''):
    """(title, probe, cpu, stats JSON text, lines) from the board console of
    one run (live, or a saved board-KEY.log). The CPU window is the board's:
    its uptime at the two samples."""
    title, backend_role = BOARD_PATHS[key]
    probe = results.ProbeOutput(clock=lambda: None)
    samples, stats, tck = [], None, 100
    for line in lines:
        m = PIDS_RE.match(line)
        if m:
            tck = int(m.group(3))
        m = CPU_RE.match(line)
        if m:
            samples.append(m.groups())
        if line.startswith('BENCH-STATS '):
            stats = line[len('BENCH-STATS '):]
        if line.startswith('[g] '):
            probe.feed(line[4:])
    if not probe.complete() or len(samples) < 2:
        raise RuntimeError(f'board/{key}: no complete run ({where})')
    (q0, b0, t0), (q1, b1, t1) = samples[0], samples[1]
    probe.t_begin, probe.t_end = (float(t0), float(t1)) if t0 and t1 else (None, None)
    cpu = {'QEMU': (int(q1) - int(q0)) / tck}
    if backend_role:
        cpu[backend_role] = (int(b1) - int(b0)) / tck
    return title, probe, cpu, stats, lines


def copies(key, w, h, stats_json, board_lines):
    """(copies, (not shown, source)) of a board path after its run."""
    f = w * h * 4
    if key in ('kmsgate', 'kmsgate-blob'):
        import json
        try:
            st = json.loads(stats_json)['scanouts'][0]
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise RuntimeError(f'board/{key}: no usable --stats JSON ({e})')
        per = st['bytes_copied'] / st['frames'] if st['frames'] else 0
        return ([('all copies kmsgate-vgpu made (its --stats), per guest flush', round(per),
                  f"kmsgate-vgpu --stats: path {st['path']}, zero_copy_ratio "
                  f"{st['zero_copy_ratio']}")],
                (st['coalesced'] + st['dropped'],
                 f"kmsgate-vgpu --stats: {st['coalesced']} coalesced (newest wins) + "
                 f"{st['dropped']} dropped of {st['frames']} flushes"))
    transfer = ('guest pages -> host resource (TRANSFER_TO_HOST_2D)', f,
                'QEMU virtio_gpu_transfer_to_host_2d / vhost-user-gpu vg_transfer_to_host_2d: '
                'iov_to_buf')
    if key == 'sdl':
        return ([transfer,
                 ('console surface -> SDL texture', f,
                  'QEMU ui/sdl2-2d.c sdl2_2d_update: SDL_UpdateTexture of the flushed '
                  'rectangle (here the whole frame)'),
                 ('SDL texture -> window surface', f,
                  'SDL2 software renderer: SDL_RenderCopy blits the texture into the '
                  'window framebuffer (SDL_FRAMEBUFFER_ACCELERATION=0: an XShm image)'),
                 ('window surface -> X server framebuffer', f,
                  'SDL2 X11_UpdateWindowFramebuffer: XShmPutImage, Xvfb copies the shared '
                  'image into its screen')],
                (0, 'QEMU draws every flush into the SDL window before the guest gets the reply'))
    if key == 'vhost-ref':
        udmabuf = any('udmabuf' in line for line in board_lines)
        no_gl = any(line.startswith('BENCH-QEMU-MESSAGES') and "doesn't support GL" in line
                    for line in board_lines)
        if udmabuf:
            return ([transfer],
                    (None, 'the back-end keeps the resource in a udmabuf and hands QEMU the '
                           'dmabuf (DMABUF_SCANOUT, DMABUF_UPDATE answered by QEMU); QEMU with '
                           '-display none cannot show a dmabuf' +
                           (" (it logs \"console doesn't support GL!\" for each)" if no_gl
                            else '') + ': no frame is shown anywhere'))
        return ([transfer, ('resource -> UPDATE message, socket, console surface', 4 * f,
                            'as on the host level (no udmabuf back-end)')],
                (0, 'every UPDATE is composed into the console surface'))
    return [transfer], (0, 'every flush is copied to the console surface (no window)')
