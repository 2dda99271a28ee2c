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


def run(n=120, seq0=1000, t0=50.0, commit_after=0.002):
    """A clean run: each flip committed commit_after s after the previous event."""
    ev = [(seq0 + i, t0 + i * P, t0 + (i - 1) * P + commit_after, i + 1) for i in range(n)]
    ev[0] = ev[0][:2] + (None, 1)
    return ev


def gen(kinds, seq0=1000, t0=50.0):
    """Events after a first flip: 'ok' committed 2 ms after the previous
    event, shown at the next vblank; 'miss' same commit, shown one later;
    'late' committed 30 ms after the previous event, shown 2 vblanks on."""
    ev = [(seq0, t0, None, 1)]
    for i, k in enumerate(kinds):
        s, t = ev[-1][:2]
        commit = t + (0.030 if k == 'late' else 0.002)
        gap = 1 if k == 'ok' else 2
        ev.append((s + gap, t + gap * P, commit, i + 2))
    return ev


class CheckFlips(unittest.TestCase):
    def test_clean_run_passes(self):
        ok, problems, st = kgvm.check_flips(run())
        self.assertTrue(ok, problems)
        self.assertAlmostEqual(st['mean_ms'], 1000 / 60, places=3)
        self.assertEqual(st['n'], 120)

    @staticmethod
    def slip(ev, at):
        """Flip at index `at` (committed 2 ms after the event before it) is
        shown a vblank later than due; the rest shift with it."""
        return ev[:at] + [(s + 1, t + P) + tuple(rest) for s, t, *rest in ev[at:]]

    def test_dropped_flip_fails_in_strict_mode(self):
        ev = self.slip(run(), 40)
        ok, problems, st = kgvm.check_flips(ev, max_missed_fraction=0)
        self.assertFalse(ok)
        self.assertTrue(any('missed vblank' in p for p in problems), problems)
        self.assertEqual(st['missed'], 1)

    def test_rare_dropped_flip_is_counted_under_tcg(self):
        ev = run()
        for at in (20, 40, 60, 80, 100):  # as seen on a loaded host
            ev = self.slip(ev, at)
        ok, problems, st = kgvm.check_flips(ev)
        self.assertTrue(ok, problems)
        self.assertEqual(st['missed'], 5)
        self.assertEqual(len(st['missed_at']), 5)

    def test_late_and_missed_together_bounded(self):
        # 9 slips (7.6 %) and 11 late commits (9.2 %): each within its own
        # limit (kgvm.FLIP_MAX_*), together 16.8 % of the flips off the next
        # vblank.
        kinds = ['miss'] * 9 + ['late'] * 11 + ['ok'] * 99
        ok, problems, st = kgvm.check_flips(gen(kinds))
        self.assertEqual((st['missed'], st['late']), (9, 11))
        self.assertFalse(ok)
        self.assertTrue(any('next vblank' in p for p in problems), problems)

    def test_many_dropped_flips_fail(self):
        # One flip in eight dropped: more than the rig ever showed.
        ok, problems, st = kgvm.check_flips(gen(['miss'] * 15 + ['ok'] * 104))
        self.assertEqual(st['missed'], 15)  # 12.6 % of 119
        self.assertFalse(ok)
        self.assertTrue(any('missed their vblank' in p for p in problems), problems)

    def test_half_rate_display_fails(self):
        # Every flip committed 2 ms after its event lands 2 vblanks later (30 Hz).
        ev = [(1000 + 2 * i, 50 + 2 * i * P, 50 + (2 * i - 2) * P + 0.002, i + 1)
              for i in range(60)]
        ok, problems, st = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertEqual(st['missed'], 59)

    def test_lost_event_fails(self):
        ev = run()
        del ev[40]  # the event of a flip never arrived: sequence +2
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertTrue(any('lost' in p for p in problems), problems)

    def test_lost_event_with_late_looking_commit_fails(self):
        ev = run()
        # Event 40 lost, the program flipped on anyway: the commit numbers tell.
        ev = ev[:40] + [(s + 1, t + P, c + P, n) for s, t, c, n in ev[41:]]
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertTrue(any('lost' in p for p in problems), problems)

    def test_dropped_flip_without_commit_times_fails(self):
        ev = [e[:2] for e in run()]
        del ev[40]
        ok, _, st = kgvm.check_flips(ev, max_missed_fraction=0)
        self.assertFalse(ok)
        self.assertEqual(st['missed'], 1)

    def test_late_commit_is_counted_not_failed(self):
        ev = run()
        # The program slept 30 ms after event 39: its flip lands 2 vblanks on.
        late = [(s + 1, t + P, c, n) for s, t, c, n in ev[40:]]
        late[0] = (late[0][0], late[0][1], ev[39][1] + 0.030, late[0][3])
        ok, problems, st = kgvm.check_flips(ev[:40] + late)
        self.assertTrue(ok, problems)
        self.assertEqual((st['late'], st['missed']), (1, 0))

    def test_mostly_late_fails(self):
        ev = [(1000 + 2 * i, 50 + 2 * i * P, 50 + (2 * i - 1) * P) for i in range(60)]
        ok, problems, st = kgvm.check_flips(ev)
        self.assertFalse(ok)
        self.assertGreater(st['late'], 30)

    def test_commit_just_before_vblank_may_slip(self):
        ev = run()
        # Committed 1 ms before vblank 40 was due: landing on 41 is allowed.
        slip = [(s + 1, t + P, c, n) for s, t, c, n in ev[40:]]
        slip[0] = (slip[0][0], slip[0][1], ev[39][1] + P - 0.001, slip[0][3])
        ok, problems, st = kgvm.check_flips(ev[:40] + slip)
        self.assertTrue(ok, problems)

    def test_sequence_not_increasing_fails(self):
        ev = run()
        ev[10] = (ev[9][0],) + ev[10][1:]
        ok, problems, _ = kgvm.check_flips(ev)
        self.assertFalse(ok)

    def test_late_event_fails(self):
        ev = run()
        ev[30] = (ev[30][0], ev[30][1] + 0.004) + ev[30][2:]
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
