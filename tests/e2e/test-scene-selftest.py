#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The e2e scene's own checks, without a VM: the screen matcher recognises
kg-frames' frames and rejects what is not one (the other guest's pattern, a
torn frame, a placeholder), the board script is valid busybox sh, and the
report's CPU-per-frame arithmetic is right. Exit 0 pass, 1 fail."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402
import scene  # noqa: E402

W, H = 160, 120
failed = []


def check(ok, what):
    print(f'{"ok  " if ok else "FAIL"} {what}')
    if not ok:
        failed.append(what)


def frame(pattern, i):
    px = bytearray()
    for y in range(H):
        for x in range(W):
            px += bytes(scene.gradient_pixel(x, y, i) if pattern == 'gradient'
                        else scene.solid_pixel(i))
    return bytes(px)


def test_match():
    for i in (0, 1, 77, 255, 300):
        check(scene.match_frame('gradient', W, H, frame('gradient', i), step=7) == i % 256,
              f'gradient frame {i} recognised')
        check(scene.match_frame('solid', W, H, frame('solid', i), step=7) == i % 256,
              f'solid frame {i} recognised')
    check(scene.match_frame('gradient', W, H, frame('solid', 5), step=7) is None,
          'solid frame is not a gradient frame')
    check(scene.match_frame('solid', W, H, frame('gradient', 5), step=7) is None,
          'gradient frame is not a solid frame')
    torn = frame('gradient', 10)[:W * H * 3 // 2] + frame('gradient', 11)[W * H * 3 // 2:]
    check(scene.match_frame('gradient', W, H, torn, step=7) is None, 'torn frame rejected')
    one = bytearray(frame('solid', 9))
    one[(63 * W + 63) * 3] ^= 1
    check(scene.match_frame('solid', W, H, bytes(one), step=7) is None,
          'one wrong sampled pixel rejected')
    check(scene.match_frame('gradient', W, H, bytes(W * H * 3), step=7) is None and
          scene.match_frame('solid', W, H, bytes(W * H * 3), step=7) is None,
          'black screen is no frame')
    check(scene.is_placeholder(640, 480, b'') and not scene.is_placeholder(1024, 768, b''),
          'placeholder size')


def test_script():
    guests = [scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1),
              scene.Guest('c', 'solid', device='vkms')]
    bb = shutil.which('busybox')
    with tempfile.NamedTemporaryFile('w', suffix='.sh', delete=False) as f:
        f.write(scene.board_script(guests))
        path = f.name
    try:
        r = subprocess.run([bb or 'sh', 'sh', '-n', path] if bb else ['sh', '-n', path],
                           capture_output=True, text=True)
        check(r.returncode == 0, f'board script is valid sh {r.stderr.strip()}')
        with tempfile.NamedTemporaryFile('w', suffix='.sh', delete=False) as g:
            g.write(scene.GUEST_SH)
        r = subprocess.run([bb or 'sh', 'sh', '-n', g.name] if bb else ['sh', '-n', g.name],
                           capture_output=True, text=True)
        os.unlink(g.name)
        check(r.returncode == 0, 'guest script is valid sh')
    finally:
        os.unlink(path)
    conf = scene.broker_config(guests, 'blank')
    check('[a]' in conf and 'connector = Virtual-2' in conf and '[c]' not in conf and
          'on-release = blank' in conf, 'broker config has the broker pipelines only')


def test_guest_fold():
    """The guest's awk folds kg-frames' lines into LATS batches."""
    awk = scene.GUEST_SH[scene.GUEST_SH.index("awk -v"):]
    lines = ''.join(f'frame {i} latency_us {i + 0.5}\n' for i in range(scene.BATCH * 2 + 3))
    r = subprocess.run(['sh', '-c', awk], input='kg-frames: hello\n' + lines + 'RESULT ok\n',
                       capture_output=True, text=True)
    out = r.stdout.splitlines()
    lats = [ln for ln in out if ln.startswith('LATS ')]
    check(out.count('GUEST-FLIPPING') == 1, 'GUEST-FLIPPING printed once')
    check(len(lats) == 2 and lats[1].split()[1] == str(scene.BATCH) and
          lats[1].split()[2] == f'{scene.BATCH + 0.5}', f'LATS batches: {lats[:1]}')
    check('kg-frames: hello' in out and 'RESULT ok' in out, 'other lines pass through')


def test_cpu_per_frame():
    class SC:
        guests = [scene.Guest('a', 'gradient', pipeline='a')]
        # 10 frames between host times 10 and 20, 5 more by 30.
        lats = {'a': [(i, 1000.0, 10.5 + i) for i in range(10)] +
                [(10 + i, 2000.0, 21 + i) for i in range(5)]}
        cpu = [(10.0, 1.0, 'a', 1.0, 10.0), (20.0, 11.0, 'a', 1.5, 12.0),
               (30.0, 21.0, 'a', 2.0, 13.0)]
    rows, (vg, qe) = report.cpu_per_frame(SC, 'a')
    check([round(r[1], 3) for r in rows] == [50.0, 100.0] and
          abs(vg - 1000 / 15) < 1e-6 and abs(qe - 3000 / 15) < 1e-6,
          f'CPU per frame: rows {rows}, totals {vg:.3f} {qe:.3f}')


def test_wait_flipping():
    """Guests' markers in any order (b before a) are all noticed."""
    class VM:
        status = None
        lines = ['[b] GUEST-FLIPPING', '[b] LATS 0 1.0', '[a] GUEST-FLIPPING']

        def readline(self, timeout=None):
            return self.lines.pop(0) if self.lines else None

        def send(self, line):
            pass
    sc = scene.Scene.__new__(scene.Scene)
    sc.flipping, sc.seen, sc.log, sc.events, sc.t0 = set(), [], None, [], None
    sc.lats, sc.cpu, sc.stats_seen, sc.clk_tck = {'a': [], 'b': []}, [], {}, 100
    sc.vm = VM()
    try:
        sc.wait_flipping(['a', 'b'], timeout=2)
        ok = sc.flipping == {'a', 'b'} and len(sc.lats['b']) == 1
    except scene.kgvm.VMError:
        ok = False
    check(ok, 'wait_flipping sees b flipping before a')
    sc.vm.lines = []
    try:
        sc.flipping.discard('b')
        sc.wait_flipping(['b'], timeout=0.5)
        ok = False
    except scene.WaitTimeout:
        ok = True
    check(ok, 'wait_flipping times out without a marker (scene.WaitTimeout)')


def main():
    test_wait_flipping()
    test_match()
    test_script()
    test_guest_fold()
    test_cpu_per_frame()
    if failed:
        print(f'{len(failed)} failed')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
