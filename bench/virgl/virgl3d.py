# SPDX-License-Identifier: MIT
"""The 3D benchmark's figures (bench/virgl/run): a GL guest's frames through
kmsgate-vgpu --virgl on vkms (zero copy, and forced onto the copy path)
against QEMU's own 3D path (virtio-gpu-gl-pci, -display sdl,gl=on on Xvfb).
Parsing, the CPU window and the table; stdlib only."""

import re

# kmscube's report: every 2 s and once at the end, counted from its second
# frame (the first one, with the shader compile, is not counted).
RENDERED_RE = re.compile(r'^\[g\]\s*Rendered (\d+) frames in ([\d.]+) sec')

PATHS = {
    # key: (title, kmsgate-vgpu environment, scene.Guest display, the process
    # that is not QEMU)
    'zero-copy': ('(a) kmsgate-vgpu --virgl on vkms, zero copy', {}, None, 'kmsgate-vgpu'),
    'copy': ('(a2) kmsgate-vgpu --virgl on vkms, forced copy (KG_KMS_FORCE_COPY=1)',
             {'KG_KMS_FORCE_COPY': '1'}, None, 'kmsgate-vgpu'),
    'sdl-gl': ('(b) QEMU virtio-gpu-gl-pci, -display sdl,gl=on on Xvfb', {}, 'sdl-gl', 'Xvfb'),
}


def sdl_gl_copies(w, h):
    """(b)'s copies of one frame, derived from reading the code (QEMU 10.0,
    Mesa 25 GLX on Xvfb): [(what, bytes, source)]. The guest renders into a
    texture of QEMU's own virglrenderer context: no copy before the flush."""
    f = w * h * 4
    return [
        ('guest render target -> window back buffer', f,
         'QEMU ui/sdl2-gl.c sdl2_gl_scanout_flush -> ui/egl-helpers.c egl_fb_blit: '
         'glBlitFramebuffer of the whole scanout texture (llvmpipe: a CPU copy)'),
        ('back buffer -> X server framebuffer', f,
         'SDL_GL_SwapWindow -> Mesa src/glx/drisw_glx.c swrastPutImage: XShmPutImage '
         '(or XPutImage), Xvfb copies the image into its screen'),
    ]


def cpu_at(samples, t):
    """Linear interpolation of [(host time, vgpu_s, qemu_s)] at host time t;
    None outside the samples."""
    for (t0, v0, q0), (t1, v1, q1) in zip(samples, samples[1:]):
        if t0 <= t <= t1 and t1 > t0:
            k = (t - t0) / (t1 - t0)
            return v0 + k * (v1 - v0), q0 + k * (q1 - q0)
    return None


def window(rendered):
    """From kmscube's reports [(host time, frames, secs)]: (host start, host
    end, frames, secs) between the first and the last report on one clock.
    kmscube restarts its clock at its second frame (the first one compiles
    the shaders): a report on the old clock ("0 frames in 3.5 sec", then
    "14 frames in 2.1 sec") is dropped."""
    tail = []
    for rep in rendered:
        if tail and rep[2] < tail[-1][2]:
            tail = []
        tail.append(rep)
    rendered = [rep for rep in tail if rep[1] > 0]
    if len(rendered) < 2:
        return None
    (_, f0, s0), (t1, f1, s1) = rendered[0], rendered[-1]
    return t1 - (s1 - s0), t1, f1 - f0, s1 - s0


def row(key, rendered, cpu_samples, stats0, stats1, mode=(1024, 768)):
    """One result row. rendered: kmscube's reports; cpu_samples: the board's
    E2E-CPU samples [(host time, vgpu_s, qemu_s)]; stats0/1: kmsgate-vgpu's
    --stats scanout 0 at kmscube's first report and after its end (None for
    (b))."""
    title, _, _, other = PATHS[key]
    win = window(rendered)
    if not win:
        raise RuntimeError(f'{key}: fewer than two kmscube reports')
    ta, tb, frames, secs = win
    a, b = cpu_at(cpu_samples, ta), cpu_at(cpu_samples, tb)
    if a is None or b is None or frames <= 0:
        raise RuntimeError(f'{key}: the CPU samples do not cover kmscube\'s window')
    cpu = {'QEMU': 1000 * (b[1] - a[1]) / frames, other: 1000 * (b[0] - a[0]) / frames}
    r = {'path': key, 'title': title, 'mode': f'{mode[0]}x{mode[1]}', 'frames': frames,
         'secs': secs, 'fps': frames / secs, 'cpu_ms_per_frame': sum(cpu.values()),
         'cpu_ms_per_frame_by_process': cpu}
    if stats0 is not None and stats1 is not None:
        shown = stats1['shown'] - stats0['shown']
        flushed = stats1['frames'] - stats0['frames']
        copied = stats1['bytes_copied'] - stats0['bytes_copied']
        r.update(shown=shown, flushed=flushed, coalesced=stats1['coalesced'] - stats0['coalesced'],
                 dropped=stats1['dropped'] - stats0['dropped'], kms_path=stats1['path'],
                 bytes_per_frame=copied / shown if shown else None, bytes_basis='counted',
                 copies=[('all copies kmsgate-vgpu made (its --stats), per shown frame',
                          copied / shown if shown else None,
                          f"kmsgate-vgpu --stats: path {stats1['path']}")])
    else:
        cps = sdl_gl_copies(*mode)
        r.update(shown=None, flushed=None, coalesced=None, dropped=None, kms_path=None,
                 bytes_per_frame=sum(c[1] for c in cps), bytes_basis='derived',
                 copies=cps)
    return r


def fmt(v, digits=2):
    return 'n/a' if v is None else f'{v:,.{digits}f}'


def table(rows):
    out = ['| path | kmscube frames / s (guest-visible) | frames in the window | '
           'frames shown by the host | host CPU per frame (ms) | of which | '
           'bytes copied per frame |',
           '|---|---|---|---|---|---|---|']
    for r in rows:
        by = ', '.join(f'{k} {fmt(v)}' for k, v in r['cpu_ms_per_frame_by_process'].items())
        if r['shown'] is None:
            shown = 'every flush (derived: QEMU draws each one before answering it)'
        else:
            shown = (f"{r['shown']} of {r['flushed']} flushes, counted ({r['coalesced']} "
                     f"coalesced, {r['dropped']} dropped; path {r['kms_path']})")
        b = r['bytes_per_frame']
        bytes_ = 'n/a' if b is None else f'{b:,.0f} ({b / 2**20:.1f} MiB), {r["bytes_basis"]}'
        out.append(f"| {r['title']} | {fmt(r['fps'])} | {r['frames']} in {fmt(r['secs'], 1)} s | "
                   f"{shown} | {fmt(r['cpu_ms_per_frame'])} | {by} | {bytes_} |")
    return '\n'.join(out) + '\n'


def copies_text(rows):
    out = []
    for r in rows:
        out.append(f"*{r['title']}* ({r['mode']})\n")
        for what, n, src in r['copies']:
            out.append(f"- {what}: {fmt(n, 0)} bytes ({r['bytes_basis']}). {src}")
        out.append('')
    return '\n'.join(out) + '\n'
