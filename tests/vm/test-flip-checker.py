#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit test of kgvm.check_flips (no VM): it must accept a clean 60 Hz run
and reject a dropped flip, a repeated sequence and a late event."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgvm  # noqa: E402

P = 1 / 60


def run(n=120, seq0=1000, t0=50.0):
    return [(seq0 + i, t0 + i * P) for i in range(n)]


class CheckFlips(unittest.TestCase):
    def test_clean_run_passes(self):
        ok, problems, st = kgvm.check_flips(run())
        self.assertTrue(ok, problems)
        self.assertAlmostEqual(st['mean_ms'], 1000 / 60, places=3)
        self.assertEqual(st['n'], 120)

    def test_dropped_flip_fails(self):
        ev = run()
        del ev[40]  # one vblank without an event: sequence +2, 33 ms gap
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertTrue(any('missed' in p for p in problems), problems)

    def test_sequence_not_increasing_fails(self):
        ev = run()
        ev[10] = (ev[9][0], ev[10][1])
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)

    def test_late_event_fails(self):
        ev = run()
        ev[30] = (ev[30][0], ev[30][1] + 0.004)
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertTrue(any('interval' in p for p in problems), problems)

    def test_unpaced_events_fail(self):
        # virtio-gpu style: events right after the commit, sequence always 0.
        ev = [(0, 10 + i * 0.0005) for i in range(50)]
        ok, _, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)

    def test_too_few_events_fail(self):
        self.assertFalse(kgvm.check_flips(run(n=1))[0])


class ParsePPM(unittest.TestCase):
    def test_parse(self):
        w, h, px = kgvm.parse_ppm(b'P6\n2 1\n255\n' + bytes([1, 2, 3, 4, 5, 6]))
        self.assertEqual((w, h, px), (2, 1, bytes([1, 2, 3, 4, 5, 6])))

    def test_short_data_rejected(self):
        with self.assertRaises(kgvm.VMError):
            kgvm.parse_ppm(b'P6\n2 2\n255\n' + bytes(6))


if __name__ == '__main__':
    unittest.main(verbosity=2)
