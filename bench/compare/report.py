# SPDX-License-Identifier: MIT
"""Writes the benchmark's results: a Markdown table (pasted into
docs/performance.md) and an SVG plot (no plotting library needed)."""

import html


def fmt(v, digits=2):
    if v is None:
        return 'n/a'
    return f'{v:.{digits}f}'


def over_control(rows):
    """Sets r['cpu_over_control_ms'] = CPU per frame minus the control row's
    at the same level: what the display path adds to emulating the guest."""
    base = {r['level']: r['cpu_ms_per_frame'] for r in rows if r['path'] == 'virtio-none'}
    for r in rows:
        b = base.get(r['level'])
        r['cpu_over_control_ms'] = (r['cpu_ms_per_frame'] - b
                                    if b is not None and r['cpu_ms_per_frame'] is not None
                                    else None)


def table(rows):
    """Markdown table of result rows (results.summarize dicts)."""
    over_control(rows)
    out = ['| path | level | guest flips done / sent | not shown by the host '
           '| flip latency p50 / p99 / max (ms) | flips/s | host CPU per frame (ms) '
           '| minus control (ms) | of which | bytes copied per frame (counted, or derived '
           'from the code) |',
           '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        by = ', '.join(f'{k} {fmt(v)}' for k, v in r['cpu_ms_per_frame_by_process'].items())
        mib = r['bytes_copied_per_frame'] / 2**20
        hidden = r.get('not_shown')
        out.append(f"| {r['title']} | {r['level'].split(':')[0]} | {r['shown']} / {r['frames']} | "
                   f"{'n/a' if hidden is None else hidden} | {fmt(r['lat_p50_ms'])} / {fmt(r['lat_p99_ms'])} / "
                   f"{fmt(r['lat_max_ms'])} | {fmt(r['fps'], 1)} | {fmt(r['cpu_ms_per_frame'])} | "
                   f"{fmt(r['cpu_over_control_ms'])} | "
                   f"{by} | {r['bytes_copied_per_frame']:,} ({mib:.1f} MiB), "
                   f"{r.get('bytes_copied_basis', 'derived')} |")
    return '\n'.join(out) + '\n'


def copies_table(rows):
    out = []
    for r in rows:
        out.append(f"**{r['title']}** ({r['mode']}, {r['bytes_copied_per_frame']:,} bytes per frame)\n")
        if not r['copies']:
            out.append('- no copy of the frame')
        if r.get('not_shown_source'):
            out.append(f"- frames not shown: {r['not_shown_source']}")
        for c in r['copies']:
            out.append(f"- {c['what']}: {c['bytes']:,} bytes. {c['source']}")
        out.append('')
    return '\n'.join(out) + '\n'


def _wrap(label, width=20):
    """Splits a bar label into lines of about width characters."""
    lines, cur = [], ''
    for word in label.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f'{cur} {word}'.strip()
    return lines + [cur] if cur else lines


def _bars(x0, y0, w, h, title, unit, groups, series, colors):
    """A grouped bar chart: groups = [(label, [value per series])]."""
    vmax = max([v for _, vals in groups for v in vals if v is not None] + [1e-9]) * 1.15
    s = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="14" '
         f'font-weight="bold">{html.escape(title)}</text>',
         f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>',
         f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="#333"/>']
    for k in range(5):
        v = vmax * k / 4
        y = y0 + h - h * k / 4
        s.append(f'<text x="{x0 - 4}" y="{y + 4}" text-anchor="end" font-size="10">'
                 f'{v:.3g}</text>')
        s.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + w}" y2="{y}" stroke="#ddd"/>')
    s.append(f'<text x="{x0 - 36}" y="{y0 + h / 2}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 {x0 - 36} {y0 + h / 2})">{html.escape(unit)}</text>')
    gw = w / max(len(groups), 1)
    bw = gw * 0.7 / max(len(series), 1)
    for gi, (label, vals) in enumerate(groups):
        gx = x0 + gi * gw + gw * 0.15
        for si, v in enumerate(vals):
            if v is None:
                continue
            # A negative difference (noise below the control) gets its label only.
            bh = h * max(v, 0) / vmax
            bx = gx + si * bw
            s.append(f'<rect x="{bx:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 2:.1f}" '
                     f'height="{bh:.1f}" fill="{colors[si]}"/>')
            s.append(f'<text x="{bx + bw / 2 - 1:.1f}" y="{y0 + h - bh - 3:.1f}" font-size="10" '
                     f'text-anchor="middle">{v:.3g}</text>')
        for li, part in enumerate(_wrap(label)):
            s.append(f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 14 + 12 * li}" '
                     f'font-size="10" text-anchor="middle">{html.escape(part)}</text>')
    for si, name in enumerate(series):
        if len(series) > 1:
            lx = x0 + w - 110
            ly = y0 + 6 + si * 14
            s.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colors[si]}"/>')
            s.append(f'<text x="{lx + 14}" y="{ly + 9}" font-size="10">{html.escape(name)}</text>')
    return s


def svg(rows, subtitle=''):
    """Two panels: flip latency p50/p99 and host CPU per frame, per path."""
    width, height = 900, 640
    lat = [(r['short'], [r['lat_p50_ms'], r['lat_p99_ms']]) for r in rows]
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif">',
            f'<rect width="{width}" height="{height}" fill="white"/>']
    body += _bars(70, 40, 800, 200, 'Guest flip latency (commit to event)', 'ms', lat,
                  ['p50', 'p99'], ['#4878cf', '#d65f5f'])
    over_control(rows)
    cpu = [(r['short'], [r['cpu_ms_per_frame'], r['cpu_over_control_ms']]) for r in rows]
    body += _bars(70, 340, 800, 200, 'Host CPU per guest frame', 'ms of CPU', cpu,
                  ['all host processes', 'minus control'], ['#6acc65', '#956cb4'])
    if subtitle:
        body.append(f'<text x="{width / 2}" y="{height - 10}" font-size="11" '
                    f'text-anchor="middle" fill="#555">{html.escape(subtitle)}</text>')
    body.append('</svg>')
    return '\n'.join(body) + '\n'
