# SPDX-License-Identifier: MIT
"""Parses the guest workload's output and turns one run of one path into the
figures of docs/performance.md. stdlib only."""

import re

BEGIN_RE = re.compile(r'^PROBE-BEGIN mode=(\d+)x(\d+) frames=(\d+)')
LAT_RE = re.compile(r'^PROBE-LAT((?: \d+)+)$')
END_RE = re.compile(r'^PROBE-END (.*)$')


class ProbeOutput:
    """What the guest program reported: mode, per-frame latencies (us) and
    its summary counters."""

    def __init__(self):
        self.width = self.height = self.frames = None
        self.lat_us = []
        self.summary = None

    def feed(self, line):
        """Takes one console line; returns 'begin', 'end' or None."""
        line = line.strip()
        m = BEGIN_RE.match(line)
        if m:
            self.width, self.height, self.frames = map(int, m.groups())
            return 'begin'
        m = LAT_RE.match(line)
        if m:
            self.lat_us += [int(x) for x in m.group(1).split()]
            return None
        m = END_RE.match(line)
        if m:
            self.summary = {k: int(v) for k, v in
                            (kv.split('=', 1) for kv in m.group(1).split())}
            return 'end'
        return None

    def complete(self):
        """True when a summary arrived and it matches the per-frame lines."""
        return (self.summary is not None and self.width is not None
                and self.summary.get('ok') == len(self.lat_us))


def percentile(values, p):
    """Nearest-rank percentile (the same rule as flip-probe's summary)."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, -(-p * len(s) // 100))
    return s[rank - 1]


def summarize(path_key, probe, cpu, copies):
    """One row of the results. cpu: role -> host CPU seconds over the
    measured frames; copies: list of (what, bytes per frame, source)."""
    ok = probe.summary['ok']
    frames = probe.summary['frames']
    elapsed_s = probe.summary['elapsed_us'] / 1e6
    cpu_total = sum(cpu.values())
    return {
        'path': path_key,
        'mode': f'{probe.width}x{probe.height}',
        'frames': frames,
        'shown': ok,
        'dropped': frames - ok,
        'failed': probe.summary.get('failed', 0),
        'timeouts': probe.summary.get('timeouts', 0),
        'missed_vblanks': probe.summary.get('missed_vblanks', 0),
        'fps': ok / elapsed_s if elapsed_s > 0 else 0.0,
        'lat_p50_ms': percentile(probe.lat_us, 50) / 1000,
        'lat_p99_ms': percentile(probe.lat_us, 99) / 1000,
        'lat_max_ms': max(probe.lat_us) / 1000,
        'cpu_ms_per_frame': 1000 * cpu_total / ok if ok else None,
        'cpu_ms_per_frame_by_process': {r: 1000 * s / ok for r, s in cpu.items()} if ok else {},
        'cpu_share_of_one_core': cpu_total / elapsed_s if elapsed_s > 0 else 0.0,
        'bytes_copied_per_frame': sum(b for _, b, _ in copies),
        'copies': [{'what': w, 'bytes': b, 'source': s} for w, b, s in copies],
        'lat_us': probe.lat_us,
    }
