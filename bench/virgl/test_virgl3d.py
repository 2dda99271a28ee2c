#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit test of bench/virgl's figures (no VM): the CPU window from kmscube's
reports and the board's samples, counted and derived bytes, the table."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import virgl3d  # noqa: E402


def stats(frames, shown, copied, path):
    return {'frames': frames, 'shown': shown, 'coalesced': frames - shown, 'dropped': 0,
            'bytes_copied': copied, 'path': path}


# CPU samples every 5 s: vgpu 0.1 s/s, QEMU 0.9 s/s.
SAMPLES = [(t, 0.1 * t, 0.9 * t) for t in range(0, 100, 5)]


class Test(unittest.TestCase):
    def test_window_and_cpu(self):
        # Reports at host times 20 and 60 s: 10 frames in 2 s, 210 in 42 s.
        rendered = [(20.0, 10, 2.0), (60.0, 210, 42.0)]
        r = virgl3d.row('copy', rendered, SAMPLES, stats(12, 12, 100, 'copy'),
                          stats(212, 210, 100 + 200 * 3145728, 'copy'))
        self.assertEqual(r['frames'], 200)
        self.assertAlmostEqual(r['fps'], 5.0)
        # Window 20..60 s: 40 s of CPU, 4 s kmsgate-vgpu and 36 s QEMU, over 200 frames.
        self.assertAlmostEqual(r['cpu_ms_per_frame_by_process']['kmsgate-vgpu'], 20.0)
        self.assertAlmostEqual(r['cpu_ms_per_frame_by_process']['QEMU'], 180.0)
        self.assertEqual(r['shown'], 198)
        self.assertEqual(r['bytes_basis'], 'counted')
        self.assertAlmostEqual(r['bytes_per_frame'], 200 * 3145728 / 198)

    def test_clock_restart(self):
        # kmscube's first report is on the clock it restarts at its second frame.
        rendered = [(10.0, 0, 3.5), (20.0, 10, 2.0), (60.0, 210, 42.0)]
        self.assertEqual(virgl3d.window(rendered), (20.0, 60.0, 200, 40.0))

    def test_sdl_gl_derived(self):
        r = virgl3d.row('sdl-gl', [(20.0, 10, 2.0), (60.0, 90, 42.0)], SAMPLES, None, None)
        self.assertEqual(r['bytes_basis'], 'derived')
        self.assertEqual(r['bytes_per_frame'], 2 * 1024 * 768 * 4)
        self.assertIn('Xvfb', r['cpu_ms_per_frame_by_process'])
        t = virgl3d.table([r])
        self.assertIn('derived', t)
        self.assertIn('(derived: QEMU draws', t)

    def test_window_outside_samples_fails(self):
        with self.assertRaises(RuntimeError):
            virgl3d.row('zero-copy', [(20.0, 1, 1.0), (200.0, 90, 181.0)], SAMPLES,
                        stats(1, 1, 0, 'zero-copy'), stats(2, 2, 0, 'zero-copy'))
        with self.assertRaises(RuntimeError):
            virgl3d.row('zero-copy', [(20.0, 1, 1.0)], SAMPLES, None, None)


if __name__ == '__main__':
    unittest.main()
