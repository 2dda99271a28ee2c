#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The rig's own check: one boot that proves what every suite relies on.
The guest command's exit status comes back unchanged, a line sent with
send() reaches the command's stdin exactly once (the console does not echo
it back), its output is read in order, and a dynamically linked program
added with --add finds its libraries.

Usage: test-rig.py DYNAMIC_PROGRAM   Exit: 0 pass, 1 a check failed, 99 rig error."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgvm  # noqa: E402

# /bin/dyn is kms-heads: an unknown option makes it exit 2 from getopt; with a
# library missing the loader would exit 127 first.
GUEST = ('echo READY; read l; echo "got:$l"; '
         '/bin/dyn --no-such-option 2>/dev/null; [ $? = 2 ] && echo LIBS-OK; exit 7')


def main():
    prog = sys.argv[1]
    opts = kgvm.Options(add=[f'{prog}:/bin/dyn'], timeout=240)
    try:
        with kgvm.VM(opts, [GUEST]) as vm:
            vm.wait_for(r'^READY$', timeout=200)
            vm.send('hello rig 123')
            status = vm.wait(timeout=60)
            vm.print_timings()
            out = vm.output
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    problems = []
    if status != 7:
        problems.append(f'exit status {status}, expected 7')
    if out.count('got:hello rig 123') != 1:
        problems.append('the line sent to stdin did not come back exactly once')
    if any(line.strip() == 'hello rig 123' for line in out):
        problems.append('the console echoed the sent line')
    if 'LIBS-OK' not in out:
        problems.append('the dynamically linked program is missing libraries')
    if 'boot to command' not in vm.timings:
        problems.append('no boot-to-command timing (run marker not seen)')
    for p in problems:
        print('FAIL', p)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
