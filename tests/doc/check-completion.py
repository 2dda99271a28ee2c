#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bash completion (completion/) against the programs, in a real bash:
every option --help prints is offered after "--", value completion works
for the options with a known set, and kmsgatectl offers its commands and
each command's own options.

Usage: check-completion.py KMSGATE_VGPU KMSGATECTL COMPLETION_DIR
Exit 0 pass, 1 fail (each FAIL line names the words typed and what was
missing or extra).
"""
import os
import re
import subprocess
import sys


def complete(script, prog, words):
    """COMPREPLY of bash for the command line `prog words...` (the last word
    is the one being completed)."""
    line = ' '.join([prog] + words)
    sh = (f'source {script}\n'
          f'COMP_WORDS=({line}); COMP_CWORD={len(words)}\n'
          f'{"_kmsgate_vgpu" if "vgpu" in script else "_kmsgatectl"} {prog}\n'
          'printf "%s\\n" "${COMPREPLY[@]}"\n')
    if words[-1] == '':
        sh = sh.replace(f'COMP_WORDS=({line})', f"COMP_WORDS=({line} '')")
    out = subprocess.run(['bash', '--norc', '--noprofile', '-c', sh], capture_output=True,
                         text=True, check=True).stdout
    return sorted(w for w in out.split('\n') if w)


def help_options(prog):
    out = subprocess.run([prog, '--help'], capture_output=True, text=True).stdout
    return sorted(set(re.findall(r'--[a-z][a-z0-9-]*', out)))


def main():
    vgpu, ctl, cdir = sys.argv[1:4]
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f'FAIL {what}: offered {got}, expected {want}')
        else:
            print(f'ok {what}')

    vs, cs = os.path.join(cdir, 'kmsgate-vgpu'), os.path.join(cdir, 'kmsgatectl')
    expect('kmsgate-vgpu --<TAB> offers every option of --help',
           complete(vs, vgpu, ['--']), help_options(vgpu))
    expect('kmsgate-vgpu --output <TAB>', complete(vs, vgpu, ['--output', '']),
           ['headless', 'kms'])
    expect('kmsgate-vgpu --log-level d<TAB>', complete(vs, vgpu, ['--log-level', 'd']),
           ['debug'])
    expect('kmsgatectl <TAB> offers the commands', complete(cs, ctl, ['']),
           ['list', 'revoke', 'run', 'show'])
    expect('kmsgatectl --<TAB> offers the global options', complete(cs, ctl, ['--']),
           ['--help', '--socket', '--verbose', '--version'])
    expect('kmsgatectl run --<TAB> offers run\'s options', complete(cs, ctl, ['run', '--']),
           ['--keep-on-revoke', '--preload', '--wait'])
    expect('kmsgatectl list --<TAB>', complete(cs, ctl, ['list', '--']), ['--json'])
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
