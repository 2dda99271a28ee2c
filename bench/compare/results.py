# SPDX-License-Identifier: MIT
"""Parses the guest workload's output and turns one run of one path into the
figures of docs/performance.md. stdlib only."""

import re

import time

BEGIN_RE = re.compile(r'^PROBE-BEGIN mode=(\d+)x(\d+) frames=(\d+)')
LAT_RE = re.compile(r'^PROBE-LAT((?: \d+)+)$')
END_RE = re.compile(r'^PROBE-END (.*)$')
# tests/guest/kg-frames (the project's guest frame program).
KGF_FRAME_RE = re.compile(r'^frame (\d+) latency_us (\d+(?:\.\d+)?)$')
KGF_SUMMARY_RE = re.compile(r'^kg-frames: mode (\d+)x(\d+) frames (\d+) events (\d+) ')


def is_data_line(line):
    """True for the workload's per-frame lines (not worth echoing)."""
    line = line.strip()
    return bool(LAT_RE.match(line) or KGF_FRAME_RE.match(line))


class ProbeOutput:
    """What the guest program reported: mode, per-frame latencies (us) and
    its summary counters. Reads flip-probe's lines or kg-frames' lines.

    The host CPU window is 'begin' to 'end' (feed's return values): with
    flip-probe from before the first flip to after the last, covering every
    flip; with kg-frames (no start line) from the first flip's line to the
    summary, covering all flips but the first (measured_frames says which)."""

    def __init__(self, clock=time.monotonic):
        self.width = self.height = self.frames = None
        self.lat_us = []
        self.summary = None
        self.clock = clock
        self.t_begin = self.t_end = None
        self.kind = None

    def measured_frames(self):
        """Frames inside the begin..end window."""
        ok = self.summary['ok']
        return ok - 1 if self.kind == 'kg-frames' else ok

    def elapsed_s(self):
        """Seconds of the begin..end window: the guest's own clock for
        flip-probe, the host's for kg-frames."""
        if self.kind == 'flip-probe':
            return self.summary['elapsed_us'] / 1e6
        if self.t_begin is None or self.t_end is None:
            return None
        return self.t_end - self.t_begin

    def feed(self, line):
        """Takes one console line; returns 'begin', 'end' or None."""
        line = line.strip()
        ev = self._feed_kgf(line)
        if ev is not False:
            return ev
        m = BEGIN_RE.match(line)
        if m:
            self.kind = 'flip-probe'
            self.width, self.height, self.frames = map(int, m.groups())
            self.t_begin = self.clock()
            return 'begin'
        m = LAT_RE.match(line)
        if m:
            self.lat_us += [int(x) for x in m.group(1).split()]
            return None
        m = END_RE.match(line)
        if m:
            try:
                self.summary = {k: int(v) for k, v in
                                (kv.split('=', 1) for kv in m.group(1).split())}
            except ValueError:
                return None
            self.t_end = self.clock()
            return 'end'
        return None

    def _feed_kgf(self, line):
        """kg-frames' lines; False when line is not one of them."""
        m = KGF_FRAME_RE.match(line)
        if m:
            self.kind = 'kg-frames'
            self.lat_us.append(round(float(m.group(2))))
            if len(self.lat_us) == 1:
                self.t_begin = self.clock()
                return 'begin'
            return None
        m = KGF_SUMMARY_RE.match(line)
        if m:
            w, h, frames, events = map(int, m.groups())
            self.width, self.height, self.frames = w, h, frames
            self.summary = {'frames': frames, 'ok': events, 'failed': frames - events,
                            'timeouts': 0, 'missed_vblanks': 0}
            self.t_end = self.clock()
            return 'end'
        return False

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


# Copies whose source is kmsgate-vgpu's own --stats were counted by the code
# that made them; every other copy is derived from reading QEMU's, SDL's or
# X's code (what they copy per frame), not counted at run time.
COUNTED_SOURCE = 'kmsgate-vgpu --stats'


def copies_basis(copies):
    """'counted', 'derived' or 'counted + derived' for a row's copies."""
    kinds = sorted({'counted' if s.startswith(COUNTED_SOURCE) else 'derived'
                    for _, _, s in copies})
    return ' + '.join(kinds) if kinds else 'counted'


def summarize(path_key, probe, cpu, copies):
    """One row of the results. cpu: role -> host CPU seconds over the
    measured frames; copies: list of (what, bytes per frame, source)."""
    ok = probe.summary['ok']
    frames = probe.summary['frames']
    measured = probe.measured_frames()
    elapsed_s = probe.elapsed_s()
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
        'workload': probe.kind,
        'fps': measured / elapsed_s if elapsed_s else None,
        'lat_p50_ms': percentile(probe.lat_us, 50) / 1000,
        'lat_p99_ms': percentile(probe.lat_us, 99) / 1000,
        'lat_max_ms': max(probe.lat_us) / 1000,
        'cpu_ms_per_frame': 1000 * cpu_total / measured if measured > 0 else None,
        'cpu_ms_per_frame_by_process':
            {r: 1000 * s / measured for r, s in cpu.items()} if measured > 0 else {},
        'cpu_share_of_one_core': cpu_total / elapsed_s if elapsed_s else None,
        'bytes_copied_per_frame': sum(b for _, b, _ in copies),
        'bytes_copied_basis': copies_basis(copies),
        'copies': [{'what': w, 'bytes': b, 'source': s} for w, b, s in copies],
        'lat_us': probe.lat_us,
    }
