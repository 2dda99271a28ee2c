# SPDX-License-Identifier: MIT
"""report: the latency report of a scene (tests/e2e/scene.py), for tools/demo.

write(out_dir, sc) leaves in out_dir:
  latency.txt   the table (text)
  latency.html  the same table, the plot and the scene's timeline
  latency.png   guest-visible flip latency per frame, and host CPU per frame
                (gnuplot, pngcairo; skipped with a note when gnuplot is missing)
  latency-<guest>.dat, cpu-<guest>.dat   the plotted data
Returns the list of files written.

Guest-visible flip latency: kg-frames in the guest, commit -> flip completion
event (what the guest's compositor would see). Host CPU per frame: CPU time
(user + sys, /proc/PID/stat) of the guest's kmsgate-vgpu and of its QEMU
between two samples, divided by the frames the guest flipped in between.
"""

import html
import os
import shutil
import subprocess


def pct(v, p):
    """p-th percentile (nearest rank) of a sorted list."""
    if not v:
        return float('nan')
    k = max(0, min(len(v) - 1, (len(v) * p + 99) // 100 - 1))
    return v[k]


def cpu_per_frame(sc, name):
    """[(board time s, vgpu ms/frame, qemu ms/frame)] between CPU samples, and
    the totals (vgpu ms/frame, qemu ms/frame) over the guest's flipping time.
    Frames between samples are counted by their arrival on the console."""
    samples = [(ht, bt, v, q) for ht, bt, n, v, q in sc.cpu if n == name]
    times = [ht for _, _, ht in sc.lats[name]]
    rows, tot = [], [0.0, 0.0, 0]
    for (h0, _, v0, q0), (h1, b1, v1, q1) in zip(samples, samples[1:]):
        frames = sum(1 for t in times if h0 < t <= h1)
        # Samples across a restart (CPU going down) or without frames say nothing.
        if frames == 0 or v1 < v0 or q1 < q0:
            continue
        rows.append((b1, (v1 - v0) * 1000 / frames, (q1 - q0) * 1000 / frames))
        tot[0] += v1 - v0
        tot[1] += q1 - q0
        tot[2] += frames
    if not tot[2]:
        return rows, (float('nan'), float('nan'))
    return rows, (tot[0] * 1000 / tot[2], tot[1] * 1000 / tot[2])


def table(sc):
    """Rows of the report: one per guest."""
    rows = []
    for g in sc.guests:
        lat = sorted(v / 1000 for _, v, _ in sc.lats[g.name])
        _, (vg, qe) = cpu_per_frame(sc, g.name)
        stats = sc.stats_seen.get(g.name) or {}
        so = (stats.get('scanouts') or [{}])[0]
        where = f'pipeline {g.pipeline}' if g.pipeline else g.device
        rows.append({
            'guest': g.name, 'pattern': g.pattern, 'display': where,
            'flips': len(lat), 'p50': pct(lat, 50), 'p90': pct(lat, 90), 'p99': pct(lat, 99),
            'max': lat[-1] if lat else float('nan'),
            'vgpu_cpu': vg, 'qemu_cpu': qe,
            'path': so.get('path', '?'), 'copied': so.get('bytes_copied_per_frame', '?'),
            'shown': so.get('shown', '?'),
            # Flushes the guest fenced and kmsgate-vgpu completed on a flip
            # event: the frames for which the guest waited for the display
            # (counted by the device; the flip_to_fence interval skips a
            # sample whose clocks disagree).
            'fenced': (stats.get('fences') or {}).get('flip', '?'),
            'qemu': 'patched' if getattr(g, 'qemu_patch', False) else 'stock',
        })
    return rows


COLS = [('guest', 'guest', '{}'), ('display', 'display', '{}'), ('pattern', 'pattern', '{}'),
        ('flips', 'flips', '{}'), ('p50', 'latency p50 ms', '{:.2f}'),
        ('p90', 'p90 ms', '{:.2f}'), ('p99', 'p99 ms', '{:.2f}'), ('max', 'max ms', '{:.2f}'),
        ('vgpu_cpu', 'kmsgate-vgpu CPU ms/frame', '{:.3f}'),
        ('qemu_cpu', 'QEMU CPU ms/frame', '{:.2f}'), ('path', 'path', '{}'),
        ('copied', 'bytes copied/frame', '{}'), ('shown', 'frames shown', '{}'),
        ('qemu', 'QEMU', '{}'), ('fenced', 'paced frames', '{}')]


def fmt(row):
    out = []
    for key, _, f in COLS:
        v = row[key]
        if isinstance(v, float) and v != v:
            out.append('-')  # no samples
            continue
        try:
            out.append(f.format(v))
        except (ValueError, TypeError):
            out.append(str(v))
    return out


def write_text(path, rows, sc):
    cells = [[h for _, h, _ in COLS]] + [fmt(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLS))]
    with open(path, 'w') as f:
        f.write('kmsgate demo: guest-visible flip latency and host CPU per frame\n\n')
        for c in cells:
            f.write('  '.join(x.rjust(w) for x, w in zip(c, widths)).rstrip() + '\n')
        f.write('\nLatency: kg-frames in the nested guest, atomic commit -> flip event.\n'
                'CPU: user+sys of the process per guest frame (board VM, TCG: slow in '
                'absolute terms;\ncompare the rows, not the numbers with real hardware).\n'
                'Paced frames: flips the guest fenced and kmsgate-vgpu completed on the KMS '
                'flip event,\nso the guest waited for the display (QEMU with qemu-patches/; '
                'stock QEMU: 0).\n\n'
                'Timeline (s since the board was ready):\n')
        for t, what in sc.events:
            f.write(f'  {t:7.1f}  {what}\n')


def write_html(path, rows, sc, plot):
    h = ['<!doctype html><meta charset="utf-8"><title>kmsgate demo: latency</title>',
         '<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}'
         'table{border-collapse:collapse}tr:nth-child(even){background:#eee}</style>',
         '<h1>kmsgate demo: guest-visible flip latency and host CPU per frame</h1>',
         '<table><tr>' + ''.join(f'<th>{html.escape(c)}</th>' for _, c, _ in COLS) + '</tr>']
    for r in rows:
        h.append('<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in fmt(r)) + '</tr>')
    h.append('</table>')
    h.append('<p>Latency: kg-frames in the nested guest, atomic commit &rarr; flip event. '
             'CPU: user+sys of the process per guest frame, inside the board VM under TCG. '
             'Paced frames: flips the guest fenced and kmsgate-vgpu completed on the KMS flip '
             'event (QEMU with qemu-patches/; stock QEMU: 0).</p>')
    if plot:
        h.append(f'<p><img src="{html.escape(os.path.basename(plot))}" alt="latency plot"></p>')
    h.append('<h2>Timeline</h2><table>')
    for t, what in sc.events:
        h.append(f'<tr><td>{t:.1f} s</td><td style="text-align:left">{html.escape(what)}</td></tr>')
    h.append('</table>')
    with open(path, 'w') as f:
        f.write('\n'.join(h) + '\n')


def write_plot(out, sc):
    """latency.png with gnuplot; returns its path or None."""
    files = []
    for g in sc.guests:
        lp = os.path.join(out, f'latency-{g.name}.dat')
        with open(lp, 'w') as f:
            for i, v, _ in sc.lats[g.name]:
                f.write(f'{i} {v / 1000:.3f}\n')
        cp = os.path.join(out, f'cpu-{g.name}.dat')
        rows, _ = cpu_per_frame(sc, g.name)
        with open(cp, 'w') as f:
            for t, v, q in rows:
                f.write(f'{t:.1f} {v:.4f} {q:.3f}\n')
        files.append((g.name, lp, cp, bool(sc.lats[g.name]), bool(rows)))
    gp = shutil.which('gnuplot')
    if not gp or not any(f[3] for f in files):
        return None
    png = os.path.join(out, 'latency.png')
    lat = ', '.join(f"'{lp}' using 1:2 with points pt 7 ps 0.4 title 'guest {n}'"
                    for n, lp, _, has, _ in files if has)
    cpu = ', '.join(f"'{cp}' using 1:2 with linespoints title 'kmsgate-vgpu {n}', "
                    f"'{cp}' using 1:3 with linespoints title 'QEMU {n}'"
                    for n, _, cp, _, has in files if has)
    script = [f"set terminal pngcairo size 1000,800 font 'sans,10'", f"set output '{png}'",
              'set multiplot layout 2,1', 'set grid', 'set key outside right',
              "set title 'guest-visible flip latency (kg-frames: commit -> flip event)'",
              "set xlabel 'frame'", "set ylabel 'ms'", 'set logscale y', f'plot {lat}',
              'unset logscale y']
    if cpu:
        script += ["set title 'host CPU per guest frame (user+sys)'",
                   "set xlabel 'board uptime (s)'", "set ylabel 'ms per frame'",
                   'set logscale y', f'plot {cpu}']
    script.append('unset multiplot')
    r = subprocess.run([gp], input='\n'.join(script) + '\n', text=True, capture_output=True)
    if r.returncode or not os.path.exists(png):
        print(f'report: gnuplot failed: {r.stderr.strip()}')
        return None
    return png


def write(out, sc):
    os.makedirs(out, exist_ok=True)
    rows = table(sc)
    plot = write_plot(out, sc)
    txt = os.path.join(out, 'latency.txt')
    htm = os.path.join(out, 'latency.html')
    write_text(txt, rows, sc)
    write_html(htm, rows, sc, plot)
    return [p for p in (txt, htm, plot) if p]
