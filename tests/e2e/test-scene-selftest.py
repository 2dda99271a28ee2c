#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The e2e scene's own checks, without a VM: the screen matcher recognises
kg-frames' frames and rejects what is not one (the other guest's pattern, a
torn frame, a placeholder), the board script is valid busybox sh, the
report's CPU-per-frame arithmetic is right, and the report reads
kmsgate-vgpu's trace into the frames of its timeline plot. Exit 0 pass, 1
fail."""

import base64
import gzip
import json
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
    guests = [scene.Guest('a', 'gradient', pipeline='a', connector='Virtual-2', crtc=1,
                          trace=True, vgpu_args='--pacing jit'),
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
    script = scene.board_script(guests)
    check('--pacing jit --trace /tmp/a-trace.json' in script and '/tmp/c-trace' not in script
          and 'for n in a; do\n\t[ -s /tmp/$n-trace.json ]' in script,
          'a traced guest gets --trace, its file is sent at the end; the other not')
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


def trace_events():
    """A trace as kmsgate-vgpu writes it (backend/vgpu/trace.c): scanout 0,
    60 Hz vblanks at V(k) = 1e6 + k * P µs. Frame 0: shown at V(1), no draw
    slice (nothing released it). Frame 1: released at V(1) + 0.1 (the flip),
    flush 4 ms later, shown at V(2). Frame 2: released just in time
    (V(3) - 5 ms), flush after 7 ms, missed V(3), shown at V(4). Frame 3:
    released at V(4) + 0.1, shown at V(6) (one vblank missed). Frame 4:
    released more than a refresh after that flip (V(7) + 2 ms), shown at the
    first vblank after, V(8): not missed. Frame 5: its flip event's timestamp
    came before the commit call returned (virtio-gpu), so no scanout slice:
    shown at its commit. Plus a frame
    of scanout 1 and a superseded instant, which are not frames of scanout 0."""
    P = 1e6 / 60
    V = [1e6 + k * P for k in range(10)]

    def frame(release, flush, commit, glass, tid=0):
        """glass None: no scanout slice."""
        ns = int(flush * 1000)
        ev = [] if release is None else [
            {'name': 'draw', 'ph': 'X', 'pid': 1, 'tid': tid, 'ts': release,
             'dur': flush - release, 'args': {'flush_ns': ns}}]
        ev.append({'name': 'queue', 'ph': 'X', 'pid': 1, 'tid': tid, 'ts': flush,
                   'dur': commit - flush, 'args': {'flush_ns': ns}})
        if glass is not None:
            ev.append({'name': 'scanout', 'ph': 'X', 'pid': 1, 'tid': tid, 'ts': commit,
                       'dur': glass - commit, 'args': {'flush_ns': ns}})
        ev.append({'name': 'fence', 'ph': 'i', 's': 't', 'pid': 1, 'tid': tid,
                   'ts': (glass or commit) + 0.1})
        return ev
    ev = frame(None, V[0] + 3000, V[0] + 3010, V[1])
    ev += frame(V[1] + 0.1, V[1] + 4000.1, V[1] + 4010, V[2])
    ev += [{'name': 'release', 'ph': 'i', 's': 't', 'pid': 1, 'tid': 0, 'ts': V[3] - 5000}]
    ev += frame(V[3] - 5000, V[3] + 2000, V[3] + 2010, V[4])
    ev += frame(V[1] + 500, V[1] + 1000, V[1] + 1010, V[2], tid=1)
    ev += [{'name': 'superseded', 'ph': 'i', 's': 't', 'pid': 1, 'tid': 0, 'ts': V[4] + 50}]
    ev += frame(V[4] + 0.1, V[5] + 6000, V[5] + 6010, V[6])
    ev += frame(V[7] + 2000, V[7] + 5000, V[7] + 5010, V[8])
    ev += frame(V[8] + 0.1, V[8] + 3000, V[8] + 3010, None)
    return ev, P


def test_timeline():
    ev, P = trace_events()
    fr = report.trace_frames(ev, period_us=P)
    check(len(fr) == 6, f'trace: 6 shown frames of scanout 0 (got {len(fr)})')
    if len(fr) != 6:
        return
    glass = [round((f['glass'] - f['release']) / 1000, 2) if f['release'] else None for f in fr]
    check(glass == [None, 16.67, 21.67, 33.33, 14.67, 3.01],
          f'trace: release-to-glass per frame {glass}')
    check([round(f['flush'] - 1e6) for f in fr] == [3000, 20667, 52000, 89333, 121667, 136333],
          f'trace: flush times {[f["flush"] for f in fr]}')
    check([f['missed'] for f in fr] == [None, 0, 1, 1, 0, 0],
          f'trace: missed vblanks {[f["missed"] for f in fr]}')
    check([f['flip_in_commit'] for f in fr] == [False] * 5 + [True],
          'trace: a frame without a scanout slice is shown at its commit')
    rows = report.timeline_rows(fr[1:3], 1)
    check([(r[0], round(r[1], 2), round(r[2], 2), round(r[3], 2), r[4]) for r in rows] ==
          [(1, -16.67, -12.67, -12.66, 0), (2, -21.67, -14.67, -14.66, 1)],
          f'timeline rows (ms before the flip): {rows}')
    text = '[\n' + ',\n'.join(json.dumps(e) for e in ev) + '\n]\n'  # as trace.c writes
    cut = text.rstrip().rstrip(']')
    torn = text[:text.rindex('"ts"')]
    check(report.load_trace(cut) == ev and report.load_trace(text) == ev and
          report.load_trace(torn) == ev[:-1] and report.load_trace('not a trace') == [],
          'a trace without its closing ], or ending inside an event, is read')
    many = [dict(f, i=i) for i, f in enumerate([{}] * 100)]
    first, win = report.timeline_window(many, 40)
    check(first == 30 and len(win) == 40 and win[0]['i'] == 30,
          f'timeline window: 40 frames from the middle (first {first})')
    check(report.timeline_window(many[:10], 40) == (0, many[:10]), 'short trace: all of it')
    lines = base64.encodebytes(gzip.compress(text.encode())).decode().split()
    check(scene.decode_trace(lines) == text and scene.decode_trace(['!!']) is None and
          scene.decode_trace([]) is None, 'E2E-TRACE lines decode to the trace')
    if shutil.which('gnuplot'):
        class SC:
            guests = [scene.Guest('a', 'gradient', pipeline='a', trace=True)]
            stats_seen = {}
        with tempfile.TemporaryDirectory() as d:
            png = report.write_timeline(d, SC, {'a': ev})
            with open(os.path.join(d, 'timeline-a.dat')) as f:
                dat = [ln.split() for ln in f if not ln.startswith('#')]
            check(png and os.path.getsize(png) > 1000 and len(dat) == 6 and
                  dat[2][1:] == ['-21.667', '-14.667', '-14.657', '1'],
                  f'timeline.png drawn from the trace (rows {dat[:3]})')
    st = {'scanouts': [{'pacing': {'mode': 'jit', 'jit_releases': 3, 'flip_releases': 7}}]}
    check(report.pacing_text(st) == 'jit, 3 of 10 just in time' and
          report.pacing_text({}) == '-', f'pacing text {report.pacing_text(st)!r}')


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
    test_timeline()
    if failed:
        print(f'{len(failed)} failed')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
