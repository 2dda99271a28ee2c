#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The decisions of tests/must-fail, on fake test commands (no VM): a
must-fail test passes only when the command failed normally and every check
it reports failed is the named property.

Usage: test-must-fail.py MUST_FAIL
Exit: 0 pass, 1 a case decided wrongly."""

import os
import signal
import subprocess
import sys
import time

PROP = ['--property', 'head 2 colour', '--expect', r'^head 2: ']
# Each case: (name, the fake test's Python code, the wrapper's expected exit,
# a word its verdict line must contain).
CASES = [
    ('test passes: the property was not detected', 'print("PASS")', 1, 'FAIL:'),
    ('fails on the property', 'print("FAIL head 2: 3 of 180 points wrong"); '
     'print("FAIL: 1 problem(s)"); raise SystemExit(1)', 0, 'PASS:'),
    ('FAIL: prefix and stderr count too', 'import sys; '
     'print("FAIL: head 2: size 640x480", file=sys.stderr); raise SystemExit(1)', 0, 'PASS:'),
    ('another check failed too', 'print("FAIL head 2: 3 of 180 points wrong"); '
     'print("FAIL head 0: 1 of 180 points wrong"); raise SystemExit(1)', 99, 'unrelated'),
    ('only an unrelated check failed', 'print("FAIL kms-heads exited with status 1"); '
     'raise SystemExit(1)', 99, 'unrelated'),
    ('exit 1 without a failed check', 'raise SystemExit(1)', 99, 'no failed check'),
    ('traceback after the right failure', 'print("FAIL head 2: 3 of 180 points wrong"); '
     '{}["x"]', 99, 'traceback'),
    ('rig error', 'import sys; print("rig error: no QEMU", file=sys.stderr); '
     'raise SystemExit(99)', 99, 'rig error'),
    ('timeout status 124', 'print("FAIL head 2: 3 of 180 points wrong"); raise SystemExit(124)',
     99, 'timeout'),
    ('killed by a signal', 'import os, signal; print("FAIL head 2: 3 points wrong", flush=True); '
     'os.kill(os.getpid(), signal.SIGKILL)', 99, 'SIGKILL'),
    ('skip passes through', 'raise SystemExit(77)', 77, 'SKIP'),
]


def wrapper(must_fail, code):
    return [sys.executable, must_fail] + PROP + ['--', sys.executable, '-c', code]


def check(name, ret, out, want_ret, word):
    verdict = [line for line in out.splitlines() if line.startswith('must-fail: ')][-1:]
    ok = ret == want_ret and bool(verdict) and word in verdict[0]
    print(f'{"ok  " if ok else "FAIL"} {name}: exit {ret} (want {want_ret}), '
          f'{verdict[0] if verdict else "no verdict line"}', flush=True)
    if not ok:
        print(out)
    return ok


def terminated(must_fail):
    """meson's timeout: SIGTERM to the test's process group."""
    p = subprocess.Popen(wrapper(must_fail, 'import time\nprint("FAIL head 2: x", flush=True)\n'
                                 'time.sleep(60)'),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    time.sleep(1)
    os.killpg(p.pid, signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    return check('terminated (meson timeout)', p.returncode, out, 99, 'terminated')


def main():
    must_fail = sys.argv[1]
    ok = True
    for name, code, want_ret, word in CASES:
        r = subprocess.run(wrapper(must_fail, code), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        ok &= check(name, r.returncode, r.stdout, want_ret, word)
    ok &= terminated(must_fail)
    print('PASS' if ok else 'FAIL: must-fail decided wrongly')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
