#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit tests of the benchmark's pure logic: flip-probe output parsing,
percentiles, /proc/PID/stat parsing, the CPU sampler and the report."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostcpu  # noqa: E402
import report  # noqa: E402
import results  # noqa: E402

PROBE_OUT = [
    'PROBE-BEGIN mode=1024x768 frames=5',
    'some kernel message',
    'PROBE-LAT 100 200 300',
    'PROBE-LAT 400 5000',
    'PROBE-END frames=6 ok=5 failed=1 timeouts=0 missed_vblanks=2 elapsed_us=100000 '
    'p50_us=300 p99_us=5000 max_us=5000',
]


def parsed(lines=PROBE_OUT):
    p = results.ProbeOutput()
    events = [p.feed(line) for line in lines]
    return p, events


class TestProbeOutput(unittest.TestCase):
    def test_events_and_fields(self):
        p, events = parsed()
        self.assertEqual(events, ['begin', None, None, None, 'end'])
        self.assertEqual((p.width, p.height, p.frames), (1024, 768, 5))
        self.assertEqual(p.lat_us, [100, 200, 300, 400, 5000])
        self.assertEqual(p.summary['failed'], 1)
        self.assertTrue(p.complete())

    def test_lost_latency_line_is_incomplete(self):
        p, _ = parsed([PROBE_OUT[0], PROBE_OUT[2], PROBE_OUT[4]])
        self.assertFalse(p.complete())

    def test_no_summary_is_incomplete(self):
        p, _ = parsed(PROBE_OUT[:4])
        self.assertFalse(p.complete())

    def test_garbage_is_ignored(self):
        p, events = parsed(['PROBE-LAT x y', 'PROBE-BEGIN mode=ax1 frames=2'])
        self.assertEqual(events, [None, None])
        self.assertEqual(p.lat_us, [])


class TestPercentile(unittest.TestCase):
    def test_nearest_rank(self):
        v = list(range(1, 101))
        self.assertEqual(results.percentile(v, 50), 50)
        self.assertEqual(results.percentile(v, 99), 99)
        self.assertEqual(results.percentile(v, 100), 100)
        self.assertEqual(results.percentile([7], 99), 7)
        self.assertEqual(results.percentile([3, 1, 2], 50), 2)
        self.assertIsNone(results.percentile([], 50))

    def test_p99_sees_the_tail(self):
        v = [1] * 98 + [50, 60]
        self.assertEqual(results.percentile(v, 99), 50)


class TestSummarize(unittest.TestCase):
    def test_row(self):
        p, _ = parsed()
        row = results.summarize('x', p, {'QEMU': 0.3, 'Xvfb': 0.2},
                                [('a', 10, 's'), ('b', 20, 't')])
        self.assertEqual(row['dropped'], 1)
        self.assertEqual(row['missed_vblanks'], 2)
        self.assertAlmostEqual(row['cpu_ms_per_frame'], 100.0)
        self.assertAlmostEqual(row['cpu_ms_per_frame_by_process']['Xvfb'], 40.0)
        self.assertAlmostEqual(row['fps'], 50.0)
        self.assertEqual(row['bytes_copied_per_frame'], 30)
        self.assertAlmostEqual(row['lat_p50_ms'], 0.3)
        self.assertAlmostEqual(row['lat_p99_ms'], 5.0)


class TestHostCpu(unittest.TestCase):
    def test_parse_stat_name_with_spaces_and_parens(self):
        fields = ['S'] + ['0'] * 10 + [str(3 * hostcpu.TICK), str(2 * hostcpu.TICK)] + ['0'] * 30
        data = '1234 (a b) (c)) ' + ' '.join(fields)
        self.assertAlmostEqual(hostcpu.parse_stat(data), 5.0)

    def test_sampler_sees_a_busy_child(self):
        child = subprocess.Popen([sys.executable, '-c',
                                  'import time\nt=time.time()\nwhile time.time()-t<0.6: pass\n'
                                  'time.sleep(5)'])
        try:
            s = hostcpu.Sampler({'busy': child.pid, 'self': os.getpid()})
            s.begin()
            time.sleep(0.8)
            d = s.end()
            self.assertGreater(d['busy'], 0.3)
            self.assertLess(d['self'], 0.3)
        finally:
            child.kill()
            child.wait()

    def test_sampler_fails_when_a_process_is_gone(self):
        child = subprocess.Popen(['sleep', '5'])
        s = hostcpu.Sampler({'gone': child.pid})
        s.begin()
        child.kill()
        child.wait()
        with self.assertRaises(RuntimeError):
            s.end()


class TestReport(unittest.TestCase):
    def test_table_and_svg(self):
        p, _ = parsed()
        row = results.summarize('x', p, {'QEMU': 0.3}, [('a', 2**20, 's')])
        row.update(title='Path X', short='X', level='L1')
        t = report.table([row])
        self.assertIn('| Path X | L1 | 5 / 6 | 1 |', t)
        self.assertIn('1,048,576 (1.0 MiB)', t)
        svg = report.svg([row], 'sub')
        self.assertTrue(svg.startswith('<svg'))
        self.assertIn('>X<', svg)
        self.assertEqual(svg.count('<rect'), 1 + 2 + 1 + 2)  # bg, p50/p99, cpu, legend


if __name__ == '__main__':
    unittest.main()
