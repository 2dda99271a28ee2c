# SPDX-License-Identifier: MIT
"""scene: the whole kmsgate system inside the board VM, driven from the host.

Inside the board VM (tests/vm/kgvm.py): kmsgate-broker on the virtio-gpu card
(4 heads), one kmsgate-vgpu per guest, and one nested QEMU 10 guest per
kmsgate-vgpu (tests/vm/nested.py) running kg-frames (tests/guest/) with its
own pattern. A guest either takes a broker pipeline (a lease of one head) or
drives a card directly (--device, used for vkms, which the broker does not
own here).

    import scene
    guests = [scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1),
              scene.Guest('b', 'solid', pipeline='b', connector='Virtual-3', crtc=2)]
    with scene.Scene(build_dir, guests, on_release='keep') as sc:   # boots the board
        sc.wait_flipping(['a', 'b'])          # both guests' frames are flowing
        w, h, rgb = sc.vm.screendump(1)
        sc.kill_vgpu('b'); sc.start_vgpu('b'); sc.restart_guest('b')
        stats = sc.stats('a')                 # kmsgate-vgpu --stats JSON (dict)
    sc.lats['a']                # [(frame, latency_us, host time)] from the guest
    sc.traces['a']              # Guest(trace=True): its kmsgate-vgpu --trace file (str)
    sc.cpu                      # [(host time, board uptime, name, vgpu_s, qemu_s)]

Board-side the scene is a busybox sh script (board_script) that starts
everything, relays each process's log to the console with a '[name] '
prefix, and then obeys one-line commands the host sends on the console.
"""

import base64
import binascii
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'vm'))
import guestimg  # noqa: E402
import kgvm  # noqa: E402
import nested  # noqa: E402

RUN = '/run/kmsgate'
# kg-frames flips this many frames at most (it stops then, keeping the last
# frame up with --hold); a scene ends long before.
FRAMES = 100000
# The guest prints its per-frame latencies in batches of this many frames.
BATCH = 5
# Inside the board: QEMU's virtio-gpu module built with qemu-patches/.
PATCHED_MODULE_DIR = '/nested/qemu-patched'
# 3D guests (Guest(gl_cmd=...)): their kernel and boot initramfs inside the
# board; their root is the 3D guest image (tests/vm/guestimg.py), attached
# to the board as a read-only virtio disk (/dev/vda) that the nested QEMU
# opens with snapshot=on (QEMU 10 puts the overlay in /var/tmp, whatever
# TMPDIR says: a tmpfs here; the image is never written). The board loads
# virtio_blk for it (GL_BOARD_MODULES, from /e2e/mod) and kmsgate-vgpu
# --virgl finds Mesa's EGL (GL_BOARD_LIBS: what libepoxy and libglvnd
# dlopen(); the rig copies what ldd lists for each, libgallium and libLLVM
# among them) and glvnd's vendor file.
GL_INITRD = '/nested/gl-initrd.gz'
GL_DISK = '/dev/vda'
GL_MEM = 512
GL_BOARD_MEM = 3072
GL_BOARD_MODULES = ['virtio_blk']
GL_BOARD_LIBS = ['libEGL.so.1', 'libEGL_mesa.so.0', 'libGL.so.1', 'libGLESv2.so.2']
GL_BOARD_DATA = ['/usr/share/glvnd/egl_vendor.d/50_mesa.json', '/usr/share/drirc.d']
# A 3D guest on QEMU's own 3D path (Guest(display='sdl-gl'), bench/virgl):
# virtio-gpu-gl-pci with -display sdl,gl=on on an Xvfb in the board instead
# of kmsgate-vgpu. QEMU's GL device modules, the GLX vendor library SDL's
# libGL picks for Xvfb, and the swrast DRI driver Xvfb's GLX loads (the rig
# copies what ldd lists for each: libgallium, libvirglrenderer).
SDL_GL_DISPLAY = ':1'
SDL_GL_QEMU_MODULES = ['hw-display-virtio-gpu-gl', 'hw-display-virtio-gpu-pci-gl']
SDL_GL_BOARD_LIBS = ['libGLX_mesa.so.0', 'libGLX.so.0']
SDL_GL_DRI = '/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so'

# The guests get their EDID from kmsgate-vgpu. The board's virtio-gpu EDID
# prefers another mode than the pipeline's 1024x768 (what GET_DISPLAY_INFO
# says), and Linux's virtio-gpu driver drops a preferred mode that differs
# from the display info; kmsgate-vgpu then offers an EDID of its own that
# prefers the pipeline's mode (backend/output/edid.c), so kg-frames runs at
# 1024x768 without any help from the guest side.

# The nested guest's command: pattern and frame count come from the kernel
# command line (one initramfs for every guest). kg-frames' per-frame lines
# are folded into 'LATS first l0 l1 ...' batches: the serial line of a nested
# guest is slow and the board console carries all guests.
GUEST_SH = r'''p=gradient; n=60; watch=0
for a in $(cat /proc/cmdline); do
	case "$a" in
	kg.pattern=*) p=${a#kg.pattern=} ;;
	kg.frames=*) n=${a#kg.frames=} ;;
	kg.watch-connector=1) watch=1 ;;
	esac
done
echo "GUEST-START pattern $p frames $n"
# The guest's view of its display: a line each time its connector's status
# changes (hotplug forwarded by kmsgate-vgpu and QEMU). It probes the
# connector as a compositor does on a hotplug uevent (no udev here): the
# driver answers from the display info it last got from the device, which
# it asks for again only when the device raises a display event. Only for
# the guests that ask (kg.watch-connector=1): probing costs a nested guest.
[ $watch = 1 ] && (o=; while :; do
	for c in /sys/class/drm/card*-Virtual-1/status; do echo detect >"$c"; done 2>/dev/null
	s=$(cat /sys/class/drm/card*-Virtual-1/status 2>/dev/null)
	[ "$s" != "$o" ] && echo "GUEST-CONNECTOR $s"
	o=$s; sleep 1
done) &
sleep 999999 | kg-frames --pattern "$p" --frames "$n" --hold |
awk -v b=%(batch)d '/^frame / {
	if (!started) { started = 1; print "GUEST-FLIPPING"; fflush() }
	if (!k) first = $2
	lat[k++] = $4
	if (k == b) { s = "LATS " first; for (i = 0; i < k; i++) s = s " " lat[i]; print s; fflush(); k = 0 }
	next
}
{ print; fflush() }'
''' % {'batch': BATCH}


class Guest:
    """One nested guest and its kmsgate-vgpu.

    pipeline: broker pipeline name (with connector and crtc for the broker's
    config); or device: a card path inside the board (e.g. 'vkms' to find
    the vkms card) that kmsgate-vgpu drives directly."""

    def __init__(self, name, pattern, pipeline=None, connector=None, crtc=None, device=None,
                 frames=FRAMES, qemu_patch=False, watch_connector=False, gl_cmd=None,
                 vgpu_env=None, vgpu_args='', display=None, trace=False):
        self.name = name
        # kmsgate-vgpu --trace /tmp/NAME-trace.json; the scene's end sends
        # the file to the host (Scene.traces): gzip'd, base64, on the console.
        self.trace = trace
        # 'sdl-gl' (3D guests only): no kmsgate-vgpu; QEMU's virtio-gpu-gl-pci
        # shown with -display sdl,gl=on on an Xvfb in the board, which takes
        # kmsgate-vgpu's place in the script (E2E-CPU's first figure is Xvfb's).
        self.display = display
        # A 3D guest: the 3D guest image runs gl_cmd (a sh command; no
        # kg-frames, pattern unused) and its kmsgate-vgpu runs --virgl.
        self.gl_cmd = gl_cmd
        # Environment of this guest's kmsgate-vgpu (e.g. KG_KMS_FORCE_COPY).
        self.vgpu_env = dict(vgpu_env or {})
        # More kmsgate-vgpu arguments (shell words).
        self.vgpu_args = vgpu_args
        # The guest prints GUEST-CONNECTOR <status> when its connector changes.
        self.watch_connector = watch_connector
        # Run this guest's QEMU with qemu-patches/ (QEMU_MODULE_DIR): blob
        # framebuffers, so its flips are fenced and paced by the display.
        self.qemu_patch = qemu_patch
        self.pattern = pattern
        self.pipeline = pipeline
        self.connector = connector
        self.crtc = crtc
        self.device = device
        self.frames = frames


def broker_config(guests, on_release):
    lines = ['[broker]', f'on-release = {on_release}', '']
    for g in guests:
        if g.pipeline:
            lines += [f'[{g.pipeline}]', f'connector = {g.connector}', f'crtc = {g.crtc}',
                      'planes = primary', 'mode = 1024x768', '']
    return '\n'.join(lines)


def gl_guest_args(sock, cmd, mem=GL_MEM, display=None):
    """The board-side shell words that start a 3D guest (tests/vm/guestimg.py's
    image on GL_DISK, its boot initramfs GL_INITRD) running the sh command
    cmd, on a vhost-user-gpu-pci device at sock, its console on stdout; with
    display='sdl-gl', on QEMU's virtio-gpu-gl-pci (1024x768, the mode
    kmsgate-vgpu offers) in an SDL GL window on SDL_GL_DISPLAY instead."""
    b64 = base64.b64encode(cmd.encode()).decode()
    if display == 'sdl-gl':
        env = [f'DISPLAY={SDL_GL_DISPLAY}', 'SDL_VIDEODRIVER=x11', 'SDL_AUDIODRIVER=dummy']
        gpu = ['-device', 'virtio-gpu-gl-pci,id=video0,xres=1024,yres=768',
               '-display', 'sdl,gl=on']
    else:
        env = []
        gpu = ['-nographic', '-display', 'none',
               '-object', f'memory-backend-memfd,id=mem,size={mem}M,share=on',
               '-machine', 'memory-backend=mem',
               '-chardev', f'socket,id=vgpu,path={sock}',
               '-device', 'vhost-user-gpu-pci,chardev=vgpu,id=video0']
    args = env + [nested.QEMU, '-accel', 'tcg', '-cpu', 'max', '-m', str(mem), '-smp', '1',
                  '-no-reboot', '-monitor', 'none', '-serial', 'stdio',
                  '-vga', 'none', '-nic', 'none'] + gpu + [
            '-drive', f'file={GL_DISK},format=raw,if=virtio,snapshot=on',
            '-kernel', nested.GUEST_KERNEL, '-initrd', GL_INITRD,
            '-append', 'console=ttyS0 quiet panic=-1 drm_kms_helper.fbdev_emulation=0 '
            f'kg3d.cmd={b64}']
    return ' '.join(nested._sh_quote(a) for a in args)


def board_script(guests, broker=True, fdstore=False):
    """The busybox sh program the board VM runs (see the module doc).
    fdstore: the broker and each kmsgate-vgpu run under kg-fdstore --restart
    (tests/vm/broker/kg-fdstore.c, an emulation of systemd's fd store and
    Restart=always); `kill9 broker|NAME` kills the service and kg-fdstore
    restarts it with what it kept; `procs` prints each service's fds and RSS."""
    out = [r'''set -u
relays=""
relay() { # NAME FILE: FILE's lines on the console, prefixed, markers defused
	: >>"$2"
	tail -n +1 -f "$2" | awk -v p="[$1] " '{ gsub(/@@kgvm-/, "@@guest-"); print p $0; fflush() }' &
	relays="$relays $!"
}
wait_sock() { # PATH: wait up to 20 s for a listening socket
	n=0
	while [ ! -S "$1" ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
	[ -S "$1" ]
}
card_of() { # DRIVER: /dev/dri/cardN of the first card of that kernel driver
	for c in /sys/class/drm/card[0-9]; do
		# vkms is a bare platform device: no driver link, the device is named vkms
		for l in $c/device/driver $c/device; do
			case "$(readlink $l)" in */"$1") echo /dev/dri/${c##*/}; return 0 ;; esac
		done
	done
	return 1
}
ticks() { # PID: utime + stime in clock ticks (0 when gone)
	[ -r /proc/$1/stat ] && awk '{ print $14 + $15 }' /proc/$1/stat || echo 0
}
svc_pid() { # LOG: the service kg-fdstore started last
	awk '/FDSTORE (STARTED|READY) pid=/ { sub(/.*pid=/, ""); sub(/ .*/, ""); p = $0 } END { print p }' "$1"
}
proc_line() { # NAME PID: its fds (by kind) and VmRSS in kB
	k=$(for f in /proc/$2/fd/*; do readlink $f; done 2>/dev/null | sed 's/:\[[0-9]*\]//; s/^\/dev\/dri.*/drm/; s/^\/memfd.*/memfd/; s/^anon_inode:.*/anon/; s/^\/.*/file/' | sort | uniq -c | awk '{ printf "%s=%s,", $2, $1 }')
	echo "E2E-PROC $1 pid=$2 fds=$(ls /proc/$2/fd 2>/dev/null | wc -l) kinds=$k rss=$(awk '/VmRSS/ { print $2 }' /proc/$2/status 2>/dev/null)"
}
''']
    if any(g.gl_cmd for g in guests):
        # The 3D guests' disk (the rig loads virtio_gpu and vkms only).
        out.append('''for m in $(cat /e2e/mod/order); do insmod /e2e/mod/$m.ko 2>/dev/null; done
n=0; while [ ! -b ''' + GL_DISK + ''' ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -b ''' + GL_DISK + ''' ] || echo "E2E-FAIL no 3D guest disk ''' + GL_DISK + '''"
mkdir -p /var/tmp
''')
    store = 'kg-fdstore --max 64 --restart'
    if broker:
        run_broker = (f'mkfifo /tmp/broker.cmd; exec 7<>/tmp/broker.cmd\n{store} /tmp/broker.notify '
                      if fdstore else '')
        out.append(f'''mkdir -p {RUN}
relay broker /tmp/broker.log
{run_broker}kmsgate-broker --driver virtio_gpu --config /e2e/kmsgate.conf --runtime-dir {RUN} \\
	{'<&7 ' if fdstore else ''}>>/tmp/broker.log 2>&1 &
broker_pid=$!
wait_sock {RUN}/broker.sock || {{ echo "E2E-FAIL broker did not come up"; exit 1; }}
''')
    for i, g in enumerate(guests):
        n = g.name
        if g.pipeline:
            how = f'--broker {RUN}/broker.sock --pipeline {g.pipeline}'
        else:
            how = f'--device "$(card_of {g.device})"'
        append = f'kg.pattern={g.pattern} kg.frames={g.frames}'
        if g.watch_connector:
            append += ' kg.watch-connector=1'
        qemu = nested.qemu_guest_args(f'/tmp/{n}.sock', append=append, reconnect_ms=0)
        if g.gl_cmd:
            how += ' --virgl'
            qemu = gl_guest_args(f'/tmp/{n}.sock', g.gl_cmd, display=g.display)
        if g.vgpu_args:
            how += ' ' + g.vgpu_args
        if g.trace:
            how += f' --trace /tmp/{n}-trace.json'
        env = ''.join(f'{k}={nested._sh_quote(v)} ' for k, v in sorted(g.vgpu_env.items()))
        if g.qemu_patch:
            qemu = f'QEMU_MODULE_DIR={PATCHED_MODULE_DIR} {qemu}'
        # fdstore: its commands come on fd 8, 9, ... (kg-fdstore's stdin).
        fd = 8 + i
        wrap = f'{store} /tmp/{n}.notify ' if fdstore else ''
        start = (f'''{env}{wrap}kmsgate-vgpu --socket /tmp/{n}.sock {how} --output kms --stats /tmp/{n}.json \\
		{f'<&{fd} ' if fdstore else ''}>>/tmp/vgpu-{n}.log 2>&1 &
	vgpu_{n}=$!
	wait_sock /tmp/{n}.sock''')
        if fdstore:
            start = f'[ -p /tmp/{n}.cmd ] || mkfifo /tmp/{n}.cmd; exec {fd}<>/tmp/{n}.cmd\n\t' + start
        if g.display == 'sdl-gl':
            # Xvfb compiles its keymap with xkbcomp into /var/lib/xkb.
            d = SDL_GL_DISPLAY[1:]
            start = (f'''mkdir -p /var/lib/xkb
	Xvfb :{d} -screen 0 1280x1024x24 -nolisten tcp -noreset >>/tmp/vgpu-{n}.log 2>&1 &
	vgpu_{n}=$!
	wait_sock /tmp/.X11-unix/X{d}''')
        out.append(f'''relay vgpu-{n} /tmp/vgpu-{n}.log
relay {n} /tmp/guest-{n}.log
vgpu_{n}=0; guest_{n}=0
start_vgpu_{n}() {{
	rm -f /tmp/{n}.sock
	{start}
}}
start_guest_{n}() {{
	{qemu} </dev/null >>/tmp/guest-{n}.log 2>&1 &
	guest_{n}=$!
}}
''')
    names = ' '.join(g.name for g in guests)
    # kg-fdstore's quit stops its service (SIGTERM) and empties its store.
    stop_vgpus = '\n'.join(
        (f'echo quit >&{8 + i}; ' if fdstore else f'kill $vgpu_{g.name} 2>/dev/null; ') +
        f'wait $vgpu_{g.name}' for i, g in enumerate(guests))
    traced = ' '.join(g.name for g in guests if g.trace)
    for g in guests:
        out.append(f'start_vgpu_{g.name} || echo "E2E-FAIL vgpu {g.name} did not come up"\n')
    for g in guests:
        out.append(f'start_guest_{g.name}\n')
    out.append(f'''(while sleep 5; do
	for n in {names}; do
		eval "v=\\$vgpu_$n; q=\\$guest_$n"
		echo "E2E-CPU $(cut -d' ' -f1 /proc/uptime) $n $(ticks $v) $(ticks $q)"
	done
done) &
sampler=$!
echo "E2E-READY $(getconf CLK_TCK 2>/dev/null || echo 100)"
while read -r cmd arg; do
	case "$cmd" in
	kill-vgpu) # kmsgate-vgpu and its kg-fdstore (so nothing is kept): no systemd
		eval "kill -9 \\$vgpu_$arg $(svc_pid /tmp/vgpu-$arg.log); wait \\$vgpu_$arg"
		echo "E2E-DONE $cmd $arg" ;;
	kill9) # broker|NAME: the service alone; kg-fdstore restarts it
		f=/tmp/vgpu-$arg.log; [ "$arg" = broker ] && f=/tmp/broker.log
		p=$(svc_pid $f); kill -9 $p; echo "E2E-KILLED $arg $p"; echo "E2E-DONE $cmd $arg" ;;
	procs) p=$(svc_pid /tmp/broker.log); proc_line broker ${{p:-$broker_pid}}
		for n in {names}; do p=$(svc_pid /tmp/vgpu-$n.log); eval "proc_line $n \\${{p:-\\$vgpu_$n}}"; done
		echo "E2E-DONE $cmd $arg" ;;
	start-vgpu) start_vgpu_$arg; echo "E2E-DONE $cmd $arg" ;;
	stop-guest) eval "kill \\$guest_$arg; wait \\$guest_$arg"; echo "E2E-DONE $cmd $arg" ;;
	start-guest) start_guest_$arg; echo "E2E-DONE $cmd $arg" ;;
	connector) # NAME on|off|detect: force a board connector, then the hotplug
		# uevent a real HPD would send (forcing through sysfs sends none)
		set -- $arg
		for f in /sys/class/drm/card*-"$1"/status; do
			echo "$2" >"$f"; c=${{f%/status}}; echo change >"${{c%%-*}}/uevent"
		done
		echo "E2E-DONE $cmd $arg" ;;
	stats) echo "E2E-STATS $arg $(tr -d '\\n' </tmp/$arg.json)" ;;
	writeback) # NAME [kg-wb-grab options]: what vkms shows, read back
		set -- $arg; eval "p=\\$vgpu_$1"; shift
		kg-wb-grab --pid "$p" "$@" 2>&1; echo "E2E-DONE $cmd $arg" ;;
	quit) break ;;
	*) echo "E2E-UNKNOWN $cmd" ;;
	esac
done
kill $sampler
for n in {names}; do eval "kill \\$guest_$n 2>/dev/null"; done
{stop_vgpus}
for n in {names}; do echo "E2E-STATS $n $(tr -d '\\n' </tmp/$n.json)"; done
# The trace files, complete now that their kmsgate-vgpu exited: gzip'd and
# base64 (76 columns) on the console, a line each, then an end line.
for n in {traced}; do
	[ -s /tmp/$n-trace.json ] && gzip -c /tmp/$n-trace.json | base64 | sed "s/^/E2E-TRACE $n /"
	echo "E2E-TRACE-END $n"
done
''')
    if broker:
        out.append(f'{"echo quit >&7" if fdstore else "kill $broker_pid"}; wait $broker_pid\n')
    out.append('sleep 0.5; kill $relays 2>/dev/null\necho E2E-END\n')
    return ''.join(out)


def sdl_gl_files():
    """--add specs for Guest(display='sdl-gl') besides nested.sdl_adds: QEMU's
    GL device modules and the GLX libraries (each as its real file, at the
    path it is opened by)."""
    adds = []
    mdir = nested._qemu_module_dir()
    for path in ([os.path.join(mdir, m + '.so') for m in SDL_GL_QEMU_MODULES] +
                 [os.path.join(nested.LIB_DIR, lib) for lib in SDL_GL_BOARD_LIBS] +
                 [SDL_GL_DRI]):
        if not os.path.exists(path):
            raise kgvm.VMError(f'{path} not found: install qemu-system-gui and Mesa '
                               '(tools/install-deps)')
        adds.append(f'{os.path.realpath(path)}:{path}')
    return adds


class WaitTimeout(kgvm.VMError):
    """Scene.wait: the line did not come in time (the board VM still runs and
    the scene reported no failure). A test that expects a line as its check
    catches this one only: the other VMErrors are the rig's."""


class Scene:
    def __init__(self, build, guests, on_release='keep', vkms=False, guest_prog=None,
                 timeout=2400, echo=True, log_path=None, fdstore=False):
        self.build = os.path.abspath(build)
        self.fdstore = fdstore  # board_script(fdstore=True)
        self.procs = {}         # name -> the last E2E-PROC line's fields (Scene.proc_info)
        self.killed = []        # (time, broker|NAME, pid) of each E2E-KILLED
        self.guests = list(guests)
        self.on_release = on_release
        self.vkms = vkms
        self.guest_prog = guest_prog or os.path.join(self.build, 'tests/guest/kg-frames')
        self.timeout = timeout
        self.work = tempfile.mkdtemp(prefix='kg-e2e-')
        self.vm = None
        self.lats = {g.name: [] for g in self.guests}
        self.cpu = []
        self.stats_seen = {}
        self.traces = {}          # name -> trace file text (Guest(trace=True), at the end)
        self._trace_b64 = {}
        self.events = []          # (time, text) milestones for reports
        self.t0 = None
        self.clk_tck = 100
        self._watch = []          # (regex, name) lines to remember
        self.seen = []            # every console line with its arrival time
        self.echo = echo
        self.flipping = set()     # guests whose GUEST-FLIPPING was seen
        self.log = open(log_path, 'w') if log_path else None

    def _gl_files(self):
        """--add specs for 3D guests: their boot initramfs, the board's
        virtio_blk, Mesa's EGL for kmsgate-vgpu --virgl, kg-wb-grab; and the
        board's QEMU arguments (the image as a read-only virtio disk)."""
        timings = {}
        with kgvm.Cache(os.environ.get('KG_VM_CACHE') or kgvm.default_cache()) as cache:
            abi, root = cache.kernel(timings)
            image = guestimg.image(cache, timings)
            gmods = cache.resolve_modules(abi, root, guestimg.MODULES)
            bmods = cache.resolve_modules(abi, root, GL_BOARD_MODULES)
        initrd = os.path.join(self.work, 'gl-initrd.gz')
        guestimg.build_boot_initramfs(initrd, gmods, [])
        with open(os.path.join(self.work, 'mod-order'), 'w') as f:
            f.write(''.join(f'{name}\n' for name, _ in bmods))
        adds = [f'{initrd}:{GL_INITRD}', f'{self.work}/mod-order:/e2e/mod/order']
        adds += [f'{path}:/e2e/mod/{name}.ko' for name, path in bmods]
        wb = os.path.join(self.build, 'tests/e2e/kg-wb-grab')
        if not os.path.exists(wb):
            raise kgvm.VMError(f'{wb} not built: run ninja -C {self.build}')
        adds.append(wb)
        for lib in GL_BOARD_LIBS:
            path = os.path.join(nested.LIB_DIR, lib)
            if not os.path.exists(path):
                raise kgvm.VMError(f'{path} not found: install Mesa (tools/install-deps)')
            # The real file, not the symlink: the rig lists the libraries of
            # regular ELF files only.
            adds.append(f'{os.path.realpath(path)}:{path}')
        adds += [f'{p}:{p}' for p in GL_BOARD_DATA if os.path.exists(p)]
        qemu_args = ['-drive', f'file={image},format=raw,if=virtio,readonly=on']
        return adds, qemu_args

    def _files(self):
        gl = any(g.gl_cmd for g in self.guests)
        kg = any(not g.gl_cmd for g in self.guests)
        store = [os.path.join(self.build, 'tests/vm/broker/kg-fdstore')] * self.fdstore
        for p in [self.guest_prog] * kg + store + [
                os.path.join(self.build, 'broker/kmsgate-broker'),
                os.path.join(self.build, 'backend/kmsgate-vgpu')]:
            if not os.path.exists(p):
                raise kgvm.VMError(f'{p} not built: run ninja -C {self.build}')
        kernel, initrd = nested.guest_initrd(os.environ.get('KG_VM_CACHE'), self.work,
                                             add=[f'{self.guest_prog}:/bin/kg-frames'] * kg,
                                             script=GUEST_SH)
        self.qemu_args = []
        gl_adds = []
        if gl:
            gl_adds, self.qemu_args = self._gl_files()
        script = os.path.join(self.work, 'scene')
        with open(script, 'w') as f:
            f.write(board_script(self.guests, broker=any(g.pipeline for g in self.guests),
                                 fdstore=self.fdstore))
        conf = os.path.join(self.work, 'kmsgate.conf')
        with open(conf, 'w') as f:
            f.write(broker_config(self.guests, self.on_release))
        adds = []
        if any(g.qemu_patch for g in self.guests):
            mod = os.path.join(self.build, 'qemu-patches/modules/hw-display-virtio-gpu.so')
            if not os.path.exists(mod):
                raise kgvm.VMError(f'{mod} not built: run qemu-patches/build {self.build}')
            adds.append(f'{mod}:{PATCHED_MODULE_DIR}/hw-display-virtio-gpu.so')
        if any(g.display == 'sdl-gl' for g in self.guests):
            adds += nested.qemu_adds(reference_backend=False, sdl=True) + sdl_gl_files()
        else:
            adds += nested.qemu_adds(reference_backend=False)
        return adds + gl_adds + [
            f'{kernel}:{nested.GUEST_KERNEL}', f'{initrd}:{nested.GUEST_INITRD}',
            f'{script}:/e2e/scene', f'{conf}:/e2e/kmsgate.conf'] + store + [
            os.path.join(self.build, 'broker/kmsgate-broker'),
            os.path.join(self.build, 'backend/kmsgate-vgpu')]

    def __enter__(self):
        try:
            adds = self._files()
            mem = GL_BOARD_MEM if any(g.gl_cmd for g in self.guests) else nested.BOARD_MEM
            opts = kgvm.Options(add=adds, vkms=self.vkms, mem=mem, qemu_args=self.qemu_args,
                                timeout=self.timeout, echo=self.echo)
            self.vm = kgvm.VM(opts, ['sh /e2e/scene'])
            self.vm.start()
            self.t0 = time.monotonic()
            m = self.wait(r'^E2E-READY (\d+)', timeout=300)
            self.clk_tck = int(m.group(1))
            self.mark('board ready')
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.vm:
            if self.vm.status is None and self.vm.proc and self.vm.proc.poll() is None:
                try:
                    self.vm.send('quit')
                    self.wait(r'^E2E-END', timeout=60)
                except kgvm.VMError:
                    pass
                self.vm.wait(timeout=60)
            self.vm.close()
        shutil.rmtree(self.work, ignore_errors=True)
        if self.log:
            self.log.close()
            self.log = None

    def mark(self, what):
        t = time.monotonic() - (self.t0 or time.monotonic())
        self.events.append((t, what))
        kgvm.log(f'[{t:7.1f} s] {what}')

    # Console: every line goes through _take so no data is lost while
    # waiting for something else.
    def _take(self, line):
        now = time.monotonic()
        self.seen.append((now, line))
        if self.log and not line.startswith('E2E-TRACE '):  # the base64 stays out
            self.log.write(line + '\n')
        m = re.match(r'^\[(\w+)\] GUEST-FLIPPING', line)
        if m:
            self.flipping.add(m.group(1))
            return
        m = re.match(r'^\[(\w+)\] LATS (\d+) (.*)$', line)
        if m and m.group(1) in self.lats:
            first = int(m.group(2))
            for i, v in enumerate(m.group(3).split()):
                self.lats[m.group(1)].append((first + i, float(v), now))
            return
        m = re.match(r'^E2E-CPU (\S+) (\w+) (\d+) (\d+)$', line)
        if m:
            self.cpu.append((now, float(m.group(1)), m.group(2), int(m.group(3)) / self.clk_tck,
                             int(m.group(4)) / self.clk_tck))
            return
        m = re.match(r'^E2E-TRACE (\w+) (\S+)$', line)
        if m:
            self._trace_b64.setdefault(m.group(1), []).append(m.group(2))
            return
        m = re.match(r'^E2E-TRACE-END (\w+)$', line)
        if m:
            self.traces[m.group(1)] = decode_trace(self._trace_b64.pop(m.group(1), []))
            return
        m = re.match(r'^E2E-PROC (\w+) (.*)$', line)
        if m:
            self.procs[m.group(1)] = dict(kv.split('=', 1) for kv in m.group(2).split())
            return
        m = re.match(r'^E2E-KILLED (\w+) (\d*)$', line)
        if m:
            self.killed.append((now, m.group(1), m.group(2)))
            return
        m = re.match(r'^E2E-STATS (\w+) (.*)$', line)
        if m:
            try:
                self.stats_seen[m.group(1)] = json.loads(m.group(2))
            except ValueError:
                self.stats_seen[m.group(1)] = None

    def wait(self, regex, timeout):
        pat = re.compile(regex)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f'timed out after {timeout} s waiting for /{regex}/')
            line = self.vm.readline(timeout=left)
            if line is None:
                if self.vm.status is not None:
                    raise kgvm.VMError(f'board VM ended (status {self.vm.status}) before '
                                       f'/{regex}/')
                continue
            self._take(line)
            if line.startswith('E2E-FAIL'):
                raise kgvm.VMError(f'board scene: {line}')
            m = pat.search(line)
            if m:
                return m

    def pump(self, seconds):
        """Reads console lines for a while (latencies, CPU samples)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            line = self.vm.readline(timeout=max(end - time.monotonic(), 0.01))
            if line is not None:
                self._take(line)

    def command(self, cmd, arg, timeout=60):
        if cmd == 'start-guest':
            self.flipping.discard(arg)
        self.vm.send(f'{cmd} {arg}')
        self.wait(rf'^E2E-DONE {cmd} {arg}$', timeout=timeout)
        self.mark(f'{cmd} {arg}')

    def wait_flipping(self, names, timeout=1500):
        """Waits until every named guest flips; returns after the last one."""
        end = time.monotonic() + timeout
        for n in names:
            # Another guest's marker may have gone by while waiting for this
            # one: _take keeps them all.
            while n not in self.flipping:
                self.wait(r'^\[\w+\] GUEST-FLIPPING', timeout=max(end - time.monotonic(), 0.1))
            self.mark(f'guest {n} flipping')

    def kill_vgpu(self, name):
        self.command('kill-vgpu', name)

    def kill9(self, name):
        """kill -9 of the broker ('broker') or of guest name's kmsgate-vgpu,
        which kg-fdstore restarts (Scene(fdstore=True)). Returns the time the
        kill was reported."""
        self.command('kill9', name)
        return self.killed[-1][0] if self.killed and self.killed[-1][1] == name else None

    def proc_info(self):
        """{broker|NAME: {'pid', 'fds', 'kinds', 'rss'}} of the services now."""
        self.procs = {}
        self.command('procs', 'all')
        return dict(self.procs)

    def start_vgpu(self, name):
        self.command('start-vgpu', name)

    def restart_guest(self, name):
        self.command('stop-guest', name)
        self.command('start-guest', name)

    def stats(self, name, timeout=30):
        self.vm.send(f'stats {name}')
        self.wait(rf'^E2E-STATS {name} ', timeout=timeout)
        return self.stats_seen.get(name)

    def writeback(self, name, *opts, timeout=120):
        """What the vkms card driven by guest name's kmsgate-vgpu shows, read
        back through vkms' writeback connector (kg-wb-grab, options opts):
        {'size': (w, h), 'ms': commit to fence, 'grid': rows of (r, g, b)
        samples, 'diff': (pixels differing from --compare FILE, of) or None,
        'lines': the tool's output}. 'size' is None when it failed."""
        arg = ' '.join((name,) + opts)
        start = len(self.seen)
        self.vm.send(f'writeback {arg}')
        self.wait(rf'^E2E-DONE writeback {re.escape(arg)}$', timeout=timeout)
        lines = [ln for _, ln in self.seen[start:]]
        res = {'size': None, 'ms': None, 'grid': [], 'diff': None, 'lines': lines}
        for ln in lines:
            m = re.match(r'^WB-FRAME (\d+) (\d+) ms=([\d.]+)', ln)
            if m:
                res['size'] = (int(m.group(1)), int(m.group(2)))
                res['ms'] = float(m.group(3))
            m = re.match(r'^WB-ROW \d+ ([0-9a-f]+)$', ln)
            if m:
                h = m.group(1)
                res['grid'].append([bytes.fromhex(h[i:i + 6]) for i in range(0, len(h), 6)])
            m = re.match(r'^WB-DIFF (\d+) of (\d+)', ln)
            if m:
                res['diff'] = (int(m.group(1)), int(m.group(2)))
        self.mark(f'writeback {arg}')
        return res

    def frames(self, name):
        return len(self.lats[name])


def decode_trace(lines):
    """The text of a trace file from its E2E-TRACE lines (base64 of its
    gzip), or None when there were none or they do not decode."""
    if not lines:
        return None
    try:
        return gzip.decompress(base64.b64decode(''.join(lines), validate=True)).decode()
    except (binascii.Error, OSError, EOFError, UnicodeDecodeError, zlib.error):
        return None


# ------------------------------------------------------------ the pixels ----

def gradient_pixel(x, y, i):
    return ((x + 7 * i) & 255, (y + 13 * i) & 255, (x ^ y ^ i) & 255)


def solid_pixel(i):
    return ((37 * i) & 255, (255 - 11 * i) & 255, (91 * i) & 255)


def pixel(rgb, w, x, y):
    o = (y * w + x) * 3
    return rgb[o], rgb[o + 1], rgb[o + 2]


def match_frame(pattern, w, h, rgb, step=37):
    """Which kg-frames frame (index mod 256) a screen shows, or None.

    Frame i of 'gradient' has B(0,0) = i & 255; of 'solid', a uniform colour
    from solid_pixel(i). A sampled grid of pixels must all match (a frame
    torn between two buffers or another guest's pixels do not)."""
    pts = [(x, y) for y in range(0, h, step) for x in range(0, w, step)]
    if pattern == 'gradient':
        cand = [pixel(rgb, w, 0, 0)[2]]
        want = gradient_pixel
    else:
        c0 = pixel(rgb, w, 0, 0)
        cand = [i for i in range(256) if solid_pixel(i) == c0]
        want = lambda x, y, i: solid_pixel(i)  # noqa: E731
    for i in cand:
        if all(pixel(rgb, w, x, y) == want(x, y, i) for x, y in pts):
            return i
    return None


def is_placeholder(w, h, rgb):
    """QEMU's screen for a head with nothing scanned out: 640x480."""
    return (w, h) == (640, 480)
