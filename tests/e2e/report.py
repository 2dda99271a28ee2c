# SPDX-License-Identifier: MIT
"""report: the latency report of a scene (tests/e2e/scene.py), for tools/demo.

write(out_dir, sc) leaves in out_dir:
  latency.txt   the table (text)
  latency.html  the same table, the plot and the scene's timeline
  latency.png   guest-visible flip latency per frame, and host CPU per frame
                (gnuplot, pngcairo; skipped with a note when gnuplot is missing)
  timeline.png  per guest, TIMELINE_FRAMES consecutive frames from its
                kmsgate-vgpu --trace: when the guest was released (its fence
                answered), when its flush arrived, when the flip showed it,
                each frame drawn back from its flip on the vblank grid
  trace-<guest>.json   the guests' trace files (Scene.traces), for
                ui.perfetto.dev or chrome://tracing
  latency-<guest>.dat, cpu-<guest>.dat, timeline-<guest>.dat   the plotted data
Returns the list of files written.

Guest-visible flip latency: kg-frames in the guest, commit -> flip completion
event (what the guest's compositor would see). Host CPU per frame: CPU time
(user + sys, /proc/PID/stat) of the guest's kmsgate-vgpu and of its QEMU
between two samples, divided by the frames the guest flipped in between.
Pacing, release-to-glass, draw and missed vblanks: kmsgate-vgpu --stats of
the guest's scanout 0 (docs/backend.md, "--stats").
"""

import html
import json
import math
import os
import shutil
import subprocess
import textwrap


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


# The board's heads and vkms run 1024x768 at 60 Hz (scene.broker_config).
PERIOD_US = 1e6 / 60
# Frames in a guest's timeline (timeline.png).
TIMELINE_FRAMES = 40
# Refreshes before the flip in the timeline's zoom (guests that draw long).
ZOOM_VBLANKS = 3


def load_trace(text):
    """The events of a trace file's text; [] when it is no trace. A file
    whose kmsgate-vgpu was killed lacks the closing ']' (trace viewers read
    it anyway) and may end inside an event (one a line): it is closed here,
    without that event."""
    text = text or ''
    head = text.rstrip().rsplit('\n', 1)[0]
    for t in (text, text.rstrip().rstrip(',') + '\n]', head.rstrip().rstrip(',') + '\n]'):
        try:
            ev = json.loads(t)
            return ev if isinstance(ev, list) else []
        except (TypeError, ValueError):
            pass
    return []


def trace_frames(events, tid=0, period_us=PERIOD_US):
    """The shown frames of one scanout (track tid) from kmsgate-vgpu's trace,
    in order: dicts with release (the fence that freed the guest to draw
    this frame; None when the trace has no draw slice for it), flush,
    commit, glass (the flip event), all in µs of the trace's clock, and
    missed: the refreshes it came after the first vblank after its release
    (vblanks: the previous frame's flip plus whole periods, as kmsgate-vgpu
    counts them; None without a release or a previous frame).

    A frame's slices carry its flush time (args.flush_ns): draw is release
    -> flush, queue flush -> commit, scanout commit -> flip. The trace has
    zero-length scanout slice when the flip's timestamp precedes the end of
    the commit call (the board's virtio-gpu sends the event from inside it),
    and traces of older kmsgate-vgpu none: such a frame counts as shown at
    its commit (flip_in_commit True)."""
    by = {}
    for e in events:
        if not isinstance(e, dict) or e.get('ph') != 'X' or e.get('tid') != tid:
            continue
        key = (e.get('args') or {}).get('flush_ns')
        try:
            ts, end = float(e['ts']), float(e['ts']) + float(e['dur'])
        except (KeyError, TypeError, ValueError):
            continue
        if key is None:
            continue
        by.setdefault(key, {})[e.get('name')] = (ts, end)
    frames = []
    for key in sorted(by):
        sl = by[key]
        if 'queue' not in sl:
            continue
        commit, glass = sl['scanout'] if 'scanout' in sl else (sl['queue'][1],) * 2
        frames.append({'release': sl['draw'][0] if 'draw' in sl else None,
                       'flush': sl['queue'][0], 'commit': commit, 'glass': glass,
                       'missed': None, 'flip_in_commit': 'scanout' not in sl})
    for prev, f in zip(frames, frames[1:]):
        if f['release'] is None:
            continue
        g0 = prev['glass']
        k = max(1, math.ceil((f['release'] - g0) / period_us - 1e-6))
        f['missed'] = max(0, round((f['glass'] - (g0 + k * period_us)) / period_us))
    return frames


def timeline_window(frames, n=TIMELINE_FRAMES):
    """(first index, frames) of n consecutive frames from the middle of the
    trace: past the guest's first frames and the jit warm-up, before its
    end."""
    if len(frames) <= n:
        return 0, frames
    i = (len(frames) - n) // 2
    return i, frames[i:i + n]


def pacing_text(stats):
    """How a guest was paced, from its --stats scanout 0."""
    so = (stats.get('scanouts') or [{}])[0] if stats else {}
    pc = so.get('pacing')
    if not pc:
        return '-'
    if pc.get('unfenced'):
        return f'{pc.get("mode", "?")}, unfenced: not paced'
    if pc.get('mode') != 'jit':
        return pc.get('mode', '?')
    return f'jit, {pc.get("jit_releases", 0)} of ' \
        f'{pc.get("jit_releases", 0) + pc.get("flip_releases", 0)} just in time'


def table(sc):
    """Rows of the report: one per guest."""
    rows = []
    for g in sc.guests:
        lat = sorted(v / 1000 for _, v, _ in sc.lats[g.name])
        _, (vg, qe) = cpu_per_frame(sc, g.name)
        stats = sc.stats_seen.get(g.name) or {}
        so = (stats.get('scanouts') or [{}])[0]
        iv = so.get('intervals') or {}

        def ms(name, p):
            v = (iv.get(name) or {}).get(f'p{p}_us')
            return v / 1000 if isinstance(v, (int, float)) else float('nan')
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
            'pacing': pacing_text(stats),
            'glass_p50': ms('release_to_glass', 50), 'glass_p99': ms('release_to_glass', 99),
            'draw_p50': ms('draw', 50),
            'missed': so.get('missed', '?'), 'missed_vblanks': so.get('missed_vblanks', '?'),
        })
    return rows


COLS = [('guest', 'guest', '{}'), ('display', 'display', '{}'), ('pattern', 'pattern', '{}'),
        ('flips', 'flips', '{}'), ('p50', 'latency p50 ms', '{:.2f}'),
        ('p90', 'p90 ms', '{:.2f}'), ('p99', 'p99 ms', '{:.2f}'), ('max', 'max ms', '{:.2f}'),
        ('vgpu_cpu', 'kmsgate-vgpu CPU ms/frame', '{:.3f}'),
        ('qemu_cpu', 'QEMU CPU ms/frame', '{:.2f}'), ('path', 'path', '{}'),
        ('copied', 'bytes copied/frame', '{}'), ('shown', 'frames shown', '{}'),
        ('qemu', 'QEMU', '{}'), ('fenced', 'paced frames', '{}'), ('pacing', 'pacing', '{}'),
        ('glass_p50', 'release-to-glass p50 ms', '{:.1f}'), ('glass_p99', 'p99 ms', '{:.1f}'),
        ('draw_p50', 'draw p50 ms', '{:.1f}'), ('missed', 'missed frames', '{}'),
        ('missed_vblanks', 'missed vblanks', '{}')]


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


def pacing_notes(rows, sc, traces):
    """The report's words on pacing, the timeline plot and the trace files."""
    notes = ['Pacing: kmsgate-vgpu --pacing of each guest (--stats of its scanout 0). '
             'Release-to-glass: the guest\'s fence answered (it may draw) -> the flip '
             'that showed its frame; draw: release -> its flush received; missed frames: '
             'shown one or more refreshes after the vblank they were released for, missed '
             'vblanks: the refreshes they lost.']
    for r in rows:
        if not r['pacing'].startswith('jit'):
            continue
        st = ((sc.stats_seen.get(r['guest']) or {}).get('scanouts') or [{}])[0]
        pc = st.get('pacing') or {}
        if pc.get('jit_releases'):
            notes.append(f'Guest {r["guest"]} is paced just in time: {r["pacing"]} (the '
                         'others on the flip event).')
        else:
            draw = '' if r['draw_p50'] != r['draw_p50'] else f' (p50 {r["draw_p50"]:.0f} ms)'
            notes.append(f'Guest {r["guest"]} asked for --pacing jit, but it draws{draw} for '
                         f'more than a refresh ({PERIOD_US / 1000:.1f} ms) minus the margin, '
                         'so kmsgate-vgpu released it on every flip, as flip pacing does: '
                         'jit has nothing to gain here (nested TCG guests draw slowly; '
                         'docs/latency.md has jit measured on guests that draw in a few ms).')
    if traces:
        notes.append(f'Timeline (timeline.png): {TIMELINE_FRAMES} consecutive frames per guest '
                     'from its trace, each drawn back from the flip that showed it (0 ms) on '
                     f'the {1e6 / PERIOD_US:.0f} Hz vblank grid: released -> flush (draw), '
                     'flush -> commit (queue), commit -> flip (scanout); the bar\'s length is '
                     'its release-to-glass. Guests that draw for many refreshes get the last '
                     f'{ZOOM_VBLANKS} refreshes before the flip again, enlarged, on the right.')
        notes.append('Trace files: ' + ', '.join(f'trace-{n}.json' for n in traces) +
                     ' (kmsgate-vgpu --trace, the whole run; one track per scanout). Open one '
                     'in ui.perfetto.dev ("Open trace file") or in chrome://tracing ("Load").')
    return notes


def write_text(path, rows, sc, notes=()):
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
                'stock QEMU: 0).\n\n')
        for n in notes:
            f.write(textwrap.fill(n, 90) + '\n')
        f.write('\nScene timeline (s since the board was ready):\n')
        for t, what in sc.events:
            f.write(f'  {t:7.1f}  {what}\n')


def write_html(path, rows, sc, plot, notes=(), timeline=None, traces=()):
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
    for n in notes:
        n = html.escape(n, quote=False)
        for t in traces:
            n = n.replace(f'trace-{t}.json', f'<a href="trace-{t}.json">trace-{t}.json</a>')
        n = n.replace('timeline.png', '<a href="timeline.png">timeline.png</a>') if timeline \
            else n
        n = n.replace('ui.perfetto.dev', '<a href="https://ui.perfetto.dev">ui.perfetto.dev</a>')
        h.append(f'<p>{n}</p>')
    if plot:
        h.append(f'<p><img src="{html.escape(os.path.basename(plot))}" alt="latency plot"></p>')
    if timeline:
        h.append(f'<h2>Frame timeline</h2><p><a href="{html.escape(os.path.basename(timeline))}">'
                 f'<img src="{html.escape(os.path.basename(timeline))}" '
                 'alt="frame timeline: release, flush and flip per frame"></a></p>')
    h.append('<h2>Scene timeline</h2><table>')
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


def timeline_rows(frames, first):
    """The plotted rows of a timeline window: frame number, then release,
    flush, commit (ms before the frame's flip; release None -> flush) and
    missed vblanks (-1: unknown)."""
    rows = []
    for i, f in enumerate(frames):
        g = f['glass']
        rel = f['release'] if f['release'] is not None else f['flush']
        rows.append((first + i, (rel - g) / 1000, (f['flush'] - g) / 1000,
                     (f['commit'] - g) / 1000, -1 if f['missed'] is None else f['missed']))
    return rows


def write_timeline(out, sc, traces):
    """timeline.png: per guest with a trace, TIMELINE_FRAMES consecutive
    frames as bars ending at the flip that showed each (0 ms), on the vblank
    grid; returns its path or None (no frames, or no gnuplot)."""
    panels = []
    for g in sc.guests:
        frames = trace_frames(traces.get(g.name) or [])
        first, win = timeline_window(frames)
        rows = timeline_rows(win, first)
        if not rows:
            continue
        dat = os.path.join(out, f'timeline-{g.name}.dat')
        with open(dat, 'w') as f:
            f.write('# frame release_ms flush_ms commit_ms missed_vblanks '
                    '(ms before the flip that showed the frame)\n')
            for r in rows:
                f.write(f'{r[0]} {r[1]:.3f} {r[2]:.3f} {r[3]:.3f} {r[4]}\n')
        glass = sorted(-r[1] for r in rows)
        pace = pacing_text(sc.stats_seen.get(g.name) or {})
        missed = sum(1 for r in rows if r[4] > 0)
        title = (f'guest {g.name} (pacing: {pace}): frames {first}-{first + len(rows) - 1} '
                 f'of {len(frames)}, release-to-glass median {pct(glass, 50):.1f} ms, '
                 f'{missed} shown late')
        panels.append((dat, title, rows, glass[-1], glass))
    gp = shutil.which('gnuplot')
    if not panels or not gp:
        return None
    png = os.path.join(out, 'timeline.png')
    per = PERIOD_US / 1000
    # One x range for all guests, so that their bars compare at a glance;
    # up to 1.5 times the 90th percentile of all their frames: longer bars
    # (a stall of the board) are cut at the left edge and say how long.
    allg = sorted(g for p in panels for g in p[4])
    longest = max(p[3] for p in panels)
    left = -max(min(longest * 1.04, pct(allg, 90) * 1.5), per * 1.1)
    vb = math.ceil(-left / per)
    step = max(1, math.ceil(vb / 60))  # at most ~60 grid lines
    grid = (f'vblanks, every {per:.1f} ms' if step == 1
            else f'a line every {step} vblanks ({step * per:.0f} ms)')
    # A guest that draws for many refreshes (nested TCG) gets its last
    # ZOOM_VBLANKS refreshes before the flip again on the right: flush,
    # commit and flip against the vblanks.
    zoom = vb > 2 * ZOOM_VBLANKS
    ph, keyh = 380, 60
    height = ph * len(panels) + keyh
    wmain = 0.7 if zoom else 1.0
    bars = ("'{dat}' using (($2+$3)/2):1:2:3:($1-0.35):($1+0.35) with "
            "boxxyerror lc rgb '#4477aa' title 'draw: released -> flush', "
            "'' using (($3+$4)/2):1:3:4:($1-0.35):($1+0.35) with boxxyerror "
            "lc rgb '#ee7733' title 'queue: flush -> commit', "
            "'' using ($4/2):1:4:(0):($1-0.35):($1+0.35) with boxxyerror "
            "lc rgb '#228833' title 'scanout: commit -> flip', "
            "'' using 2:1 with points pt 7 ps 0.6 lc rgb 'black' "
            "title 'released (fence answered)', "
            "'' using (0):($5 > 0 ? $1 : 1/0) with points pt 9 ps 1.0 "
            "lc rgb '#cc3311' title 'shown a refresh or more late', "
            "1/0 with lines lc rgb '#b0b0b0' dt 2 title '{grid}', "
            # the main panel: a '<' at the left edge where a bar is cut
            "{cutmarks}")
    key = (f'set key at screen 0.5, screen {keyh * 0.9 / height:.4f} center top horizontal '
           'maxrows 2')
    script = [f"set terminal pngcairo size 1100,{height} font 'sans,10'",
              f"set output '{png}'", 'set multiplot', 'set style fill solid 0.9 noborder',
              'set lmargin 8', 'set rmargin 2', 'set tmargin 3', 'set bmargin 3.5']
    def cut(glass):
        over = [g for g in glass if g > -left]
        return (f'\\n{len(over)} longer, cut at the left edge (<): up to {max(over):.0f} ms'
                if over else '')

    for n, (dat, title, rows, _, glass) in enumerate(panels):
        y0 = (keyh + (len(panels) - 1 - n) * ph) / height
        last = n == len(panels) - 1
        script += ['unset arrow', f'set origin 0,{y0:.4f}', f'set size {wmain},{ph / height:.4f}',
                   f'set title "{title}{cut(glass)}" noenhanced',
                   "set xlabel 'ms before the flip that showed the frame (0 = on the glass)'",
                   "set ylabel 'frame'", "set format y '%g'", 'set ytics 5', 'set mytics 5',
                   f'set xrange [{left:.2f}:{-left * 0.03:.2f}]', 'set xtics autofreq',
                   f'set yrange [{rows[-1][0] + 1}:{rows[0][0] - 1}]',
                   f'do for [k=0:{vb}:{step}] {{ set arrow from -k*{per:.4f}, graph 0 to '
                   f"-k*{per:.4f}, graph 1 nohead front lc rgb '#b0b0b0' dt 2 }}",
                   (key if last else 'unset key'),
                   'plot ' + bars.format(
                       dat=dat, grid=grid,
                       cutmarks=f"'' using ({left:.2f}):($2 < {left:.2f} ? $1 : 1/0) with points "
                       "pt '<' tc rgb 'black' notitle")]
        if last:
            script.append('unset key')
        if zoom:
            zl = -(ZOOM_VBLANKS + 0.15) * per
            script += ['unset arrow', f'set origin {wmain},{y0:.4f}',
                       f'set size {1 - wmain},{ph / height:.4f}',
                       f"set title 'the last {ZOOM_VBLANKS} refreshes before the flip'",
                       "set xlabel 'ms before the flip'", "unset ylabel", "set format y ''",
                       f'set xrange [{zl:.2f}:{per * 0.15:.2f}]', f'set xtics {per:.4f}',
                       "set format x '%.1f'",
                       f'do for [k=0:{ZOOM_VBLANKS}] {{ set arrow from -k*{per:.4f}, graph 0 to '
                       f"-k*{per:.4f}, graph 1 nohead front lc rgb '#606060' dt 2 }}",
                       'plot ' + bars.format(dat=dat, grid=grid, cutmarks='1/0 notitle'),
                       "set format x '%g'"]
    script.append('unset multiplot')
    r = subprocess.run([gp], input='\n'.join(script) + '\n', text=True, capture_output=True)
    if r.returncode or not os.path.exists(png):
        print(f'report: gnuplot failed (timeline): {r.stderr.strip()}')
        return None
    return png


def write(out, sc):
    os.makedirs(out, exist_ok=True)
    traces = {}
    for name, text in (getattr(sc, 'traces', None) or {}).items():
        if text:
            with open(os.path.join(out, f'trace-{name}.json'), 'w') as f:
                f.write(text)
            traces[name] = load_trace(text)
    rows = table(sc)
    plot = write_plot(out, sc)
    timeline = write_timeline(out, sc, traces)
    notes = pacing_notes(rows, sc, traces)
    txt = os.path.join(out, 'latency.txt')
    htm = os.path.join(out, 'latency.html')
    write_text(txt, rows, sc, notes)
    write_html(htm, rows, sc, plot, notes, timeline, traces)
    return [p for p in (txt, htm, plot, timeline) if p] + \
        [os.path.join(out, f'trace-{n}.json') for n in traces]
