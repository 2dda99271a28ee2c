#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit tests of the benchmark's pure logic: flip-probe output parsing,
percentiles, /proc/PID/stat parsing, the CPU sampler and the report."""

import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests', 'vm'))
import board  # noqa: E402
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


KGF_OUT = [
    'frame 0 latency_us 100.4',
    'frame 1 latency_us 250.0',
    'cursor shown at 100,50 hot 3,4',
    'frame 2 latency_us 300.6',
    'kg-frames: mode 1024x768 frames 4 events 3 p50_us 250.0 p99_us 300.6 max_us 300.6',
    'RESULT ok',
]


class FakeClock:
    def __init__(self):
        self.t = 10.0

    def __call__(self):
        self.t += 0.5
        return self.t


class TestKgFrames(unittest.TestCase):
    def test_window_starts_at_the_first_frame(self):
        p = results.ProbeOutput(clock=FakeClock())
        events = [p.feed(line) for line in KGF_OUT]
        self.assertEqual(events, ['begin', None, None, None, 'end', None])
        self.assertEqual(p.kind, 'kg-frames')
        self.assertEqual(p.lat_us, [100, 250, 301])
        self.assertEqual((p.width, p.height, p.frames), (1024, 768, 4))
        self.assertTrue(p.complete())
        self.assertEqual(p.measured_frames(), 2)
        self.assertAlmostEqual(p.elapsed_s(), 0.5)
        row = results.summarize('k', p, {'QEMU': 1.0}, [])
        self.assertEqual(row['dropped'], 1)
        self.assertAlmostEqual(row['cpu_ms_per_frame'], 500.0)
        self.assertAlmostEqual(row['fps'], 4.0)

    def test_data_lines(self):
        self.assertTrue(results.is_data_line('frame 3 latency_us 12.5'))
        self.assertTrue(results.is_data_line('PROBE-LAT 1 2'))
        self.assertFalse(results.is_data_line('RESULT ok'))
        self.assertFalse(results.is_data_line(KGF_OUT[4]))

    def test_missing_frame_line_is_incomplete(self):
        p = results.ProbeOutput(clock=FakeClock())
        for line in KGF_OUT[:1] + KGF_OUT[2:]:
            p.feed(line)
        self.assertFalse(p.complete())


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
        self.assertEqual(row['bytes_copied_basis'], 'derived')
        counted = results.summarize('k', p, {'QEMU': 0.3},
                                    [('all', 0, 'kmsgate-vgpu --stats: path zero-copy')])
        self.assertEqual(counted['bytes_copied_basis'], 'counted')
        counted.update(title='k', level='L2: nested', not_shown=0)
        self.assertIn('0 (0.0 MiB), counted |', report.table([counted]))
        self.assertAlmostEqual(row['lat_p50_ms'], 0.3)
        self.assertAlmostEqual(row['lat_p99_ms'], 5.0)


class TestHostCpu(unittest.TestCase):
    def test_parse_stat_name_with_spaces_and_parens(self):
        fields = ['S'] + ['0'] * 10 + [str(3 * hostcpu.TICK), str(2 * hostcpu.TICK)] + ['0'] * 30
        data = '1234 (a b) (c)) ' + ' '.join(fields)
        self.assertAlmostEqual(hostcpu.parse_stat(data), 5.0)

    def test_sampler_sees_a_busy_child(self):
        # The child burns 0.3 s of its own CPU time (however long that takes
        # on a loaded machine), then says so and idles.
        code = ('import sys, time\n'
                'sys.stdin.readline()\n'
                'while time.process_time() < 0.3: pass\n'
                'print("done", flush=True)\n'
                'time.sleep(30)\n')
        child = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            s = hostcpu.Sampler({'busy': child.pid, 'self': os.getpid()})
            s.begin()
            child.stdin.write('go\n')
            child.stdin.flush()
            self.assertEqual(child.stdout.readline().strip(), 'done')
            d = s.end()
            self.assertGreaterEqual(d['busy'], 0.2)
            self.assertLess(d['busy'], 5)
            self.assertLess(d['self'], d['busy'])
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
        row.update(title='Path X', short='X', level='L1', not_shown=3)
        t = report.table([row])
        self.assertIn('| Path X | L1 | 5 / 6 | 3 |', t)
        self.assertIn('1,048,576 (1.0 MiB)', t)
        self.assertIn('| n/a |', t)  # no control row: nothing to subtract
        svg = report.svg([row], 'sub')
        self.assertTrue(svg.startswith('<svg'))
        self.assertIn('>X<', svg)
        self.assertEqual(svg.count('<rect'), 1 + 2 + 1 + 4)  # bg, p50/p99, cpu, 2 legends

    def test_over_control_subtracts_the_same_level_only(self):
        rows = [{'path': 'virtio-none', 'level': 'L1', 'cpu_ms_per_frame': 2.0},
                {'path': 'sdl', 'level': 'L1', 'cpu_ms_per_frame': 5.5},
                {'path': 'kmsgate', 'level': 'L2', 'cpu_ms_per_frame': 9.0}]
        report.over_control(rows)
        self.assertAlmostEqual(rows[0]['cpu_over_control_ms'], 0.0)
        self.assertAlmostEqual(rows[1]['cpu_over_control_ms'], 3.5)
        self.assertIsNone(rows[2]['cpu_over_control_ms'])


class TestBoard(unittest.TestCase):
    def guest_lines(self):
        sh = board.guest_qemu_sh(256, (1024, 768))
        return {ln.split(')', 1)[0]: ln for ln in sh.splitlines() if ') exec ' in ln}

    def test_sdl_runs_with_a_window_and_the_host_levels_sdl_settings(self):
        line = self.guest_lines()['sdl']
        self.assertIn('exec env DISPLAY=:1 ', line)
        for k, v in board.nested.SDL_ENV.items():
            self.assertIn(f'{k}={v} ', line)
        self.assertTrue(line.rstrip(' ;').endswith('-display sdl'))
        self.assertNotIn('-nographic', line)
        self.assertNotIn('-display none', line)
        self.assertIn('virtio-gpu-pci', line)

    def test_blob_path_loads_the_module_dir_and_the_others_do_not(self):
        lines = self.guest_lines()
        self.assertIn(f'QEMU_MODULE_DIR={board.BLOB_MODULE_DIR} ', lines['kmsgate-blob'])
        self.assertIn('vhost-user-gpu-pci', lines['kmsgate-blob'])
        for k in ('virtio-none', 'sdl', '*'):
            self.assertNotIn('QEMU_MODULE_DIR', lines[k])

    def test_copies_per_path(self):
        f = 1024 * 768 * 4
        cps, hidden = board.copies('sdl', 1024, 768, None, [])
        self.assertEqual(sum(c[1] for c in cps), 4 * f)
        self.assertEqual(hidden[0], 0)
        stats = ('{"scanouts": [{"path": "zero-copy", "frames": 10, "bytes_copied": 0, '
                 '"zero_copy_ratio": 1.0, "coalesced": 2, "dropped": 1}]}')
        for key in ('kmsgate', 'kmsgate-blob'):
            cps, hidden = board.copies(key, 1024, 768, stats, [])
            self.assertEqual(sum(c[1] for c in cps), 0)
            self.assertEqual(hidden[0], 3)
        with self.assertRaises(RuntimeError):
            board.copies('kmsgate-blob', 1024, 768, '{}', [])

    def test_blob_path_is_skipped_without_the_module(self):
        class A:
            build = '/nonexistent-build'
        br = board.BoardRun.__new__(board.BoardRun)
        br.a = A()
        self.assertIsNone(br.blob_module())


if __name__ == '__main__':
    unittest.main()
