# SPDX-License-Identifier: MIT
"""Host CPU time of processes, from /proc/PID/stat (utime + stime, all threads
of the process, live and exited). stdlib only."""

import os

TICK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    """utime + stime of pid in seconds; None when the process is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            data = f.read()
    except OSError:
        return None
    return parse_stat(data)


def parse_stat(data):
    """utime + stime (seconds) from the text of /proc/PID/stat. The command
    name (field 2) may hold spaces and parentheses: fields are counted from
    the last ')'."""
    rest = data[data.rindex(')') + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / TICK


class Sampler:
    """CPU seconds of named processes between begin() and end()."""

    def __init__(self, procs):
        self.procs = dict(procs)  # role -> pid
        self.t0 = {}
        self.delta = {}

    def begin(self):
        self.t0 = {role: cpu_seconds(pid) for role, pid in self.procs.items()}

    def end(self):
        for role, pid in self.procs.items():
            a, b = self.t0.get(role), cpu_seconds(pid)
            if a is None or b is None:
                raise RuntimeError(f'{role} (pid {pid}) exited during the measurement')
            self.delta[role] = b - a
        return self.delta
