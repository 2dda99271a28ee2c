#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-man-options: a program's --help and its man page list the same long
options.

Usage: check-man-options.py [--pretend-undocumented OPT] PROGRAM PAGE.scd

--help side: every token --name (a letter, then letters, digits and '-')
anywhere in what `PROGRAM --help` prints on stdout.

Man page side: the option entries of the scdoc source, i.e. the term lines of
its '# OPTIONS' and '# COMMANDS' sections: lines that start in column 0 with
'*' (`*--device* _path_`, or `*list* [*--json*]` for a command's options).
Descriptions (tab-indented lines) and other sections may name options of
other programs and are not read.

Each option missing on one side is one line `FAIL ...` naming the option, the
file and what to do. --pretend-undocumented OPT drops OPT from the man page's
side, for the must-fail test that shows an undocumented option is caught.
Exit: 0 both sides agree, 1 they differ, 99 the program or the page could not
be read."""

import argparse
import re
import subprocess
import sys

OPTION = re.compile(r'(?<![\w-])--[a-z][a-z0-9-]*')
SECTIONS = ('OPTIONS', 'COMMANDS')


def help_options(program):
    try:
        r = subprocess.run([program, '--help'], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f'check-man-options: cannot run {program} --help: {e}')
    if r.returncode != 0 or not r.stdout.strip():
        print(f'check-man-options: {program} --help exited {r.returncode} with no usage on'
              f' stdout: {r.stderr.strip()[:300]}', file=sys.stderr)
        sys.exit(99)
    return set(OPTION.findall(r.stdout))


def page_options(page):
    """{option: line number} of the term lines in SECTIONS."""
    found, section = {}, None
    try:
        lines = open(page).read().splitlines()
    except OSError as e:
        print(f'check-man-options: cannot read {page}: {e}', file=sys.stderr)
        sys.exit(99)
    for n, line in enumerate(lines, 1):
        m = re.match(r'^#\s+(.*?)\s*$', line)
        if m:
            section = m.group(1)
            continue
        if section in SECTIONS and line.startswith('*'):
            for opt in OPTION.findall(line):
                found.setdefault(opt, n)
    if not found:
        print(f'check-man-options: {page}: no option entries under'
              f' {" or ".join("# " + s for s in SECTIONS)}', file=sys.stderr)
        sys.exit(99)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--pretend-undocumented', action='append', default=[], metavar='OPT')
    ap.add_argument('program')
    ap.add_argument('page')
    a = ap.parse_args()
    name = a.program.rsplit('/', 1)[-1]
    in_help = help_options(a.program)
    in_page = page_options(a.page)
    where = 'under # OPTIONS'
    if any(re.match(r'^#\s+COMMANDS\s*$', line) for line in open(a.page)):
        where += ' (a command\'s option: in its entry under # COMMANDS)'
    for opt in a.pretend_undocumented:
        in_page.pop(opt, None)
    problems = 0
    for opt in sorted(in_help - set(in_page)):
        print(f'FAIL {name} --help prints {opt}, but {a.page} does not document it: add an'
              f' entry "*{opt}* ..." (with a tab-indented description) {where}')
        problems += 1
    for opt in sorted(set(in_page) - in_help):
        print(f'FAIL {a.page}:{in_page[opt]} documents {opt}, but {name} --help does not'
              f' print it: remove it from the man page, or add it to the program\'s usage()')
        problems += 1
    if problems:
        print(f'FAIL: {problems} problem(s)')
        return 1
    print(f'PASS {name}: {len(in_help)} options, the same in --help and {a.page}:'
          f' {" ".join(sorted(in_help))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
