# SPDX-License-Identifier: MIT
"""kmsgate-vgpu under kg-fdstore (tests/vm/broker/kg-fdstore.c, an emulation
of systemd's fd store), for the host tests that kill it: test-vgpu-restart.py
and test-vgpu-guest-restart.py.

FdStore(fdstore, max_fds, notify_path, argv) starts `kg-fdstore --max N
NOTIFY argv...`; a thread reads its output (kg-fdstore's FDSTORE lines and
the service's log) to the end: every line goes into .lines, to log_path if
given, and to on_line(t, line) if given (t: time.monotonic() when read).
It follows the service's pid (.pid) and the names in the store (.stored)."""

import re
import subprocess
import threading
import time


class FdStore:
    def __init__(self, fdstore, max_fds, notify_path, argv, log_path=None, on_line=None):
        self.lines = []
        self.pid = None
        self.stored = set()
        self.lock = threading.Lock()
        self._log_path = log_path
        self._on_line = on_line
        self.p = subprocess.Popen(
            [fdstore, '--max', str(max_fds), notify_path] + argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _take(self, line):
        # The service's log and kg-fdstore's lines share the pipe: a line
        # may begin with part of the other's (search, not match).
        m = re.search(r'FDSTORE (?:STARTED|READY) pid=(\d+)', line)
        with self.lock:
            if m:
                self.pid = int(m.group(1))
            m = re.search(r'FDSTORE (STORED|REMOVED) (\S+)', line)
            if m and m.group(1) == 'STORED':
                self.stored.add(m.group(2))
            elif m:
                self.stored.discard(m.group(2))
            self.lines.append(line)

    def _read(self):
        log = open(self._log_path, 'w') if self._log_path else None
        try:
            for line in self.p.stdout:
                if log:
                    log.write(line)
                    log.flush()
                line = line.rstrip('\n')
                self._take(line)
                if self._on_line:
                    self._on_line(time.monotonic(), line)
        finally:
            if log:
                log.close()
            if self._on_line:
                self._on_line(time.monotonic(), None)

    def cmd(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()

    def count(self, text):
        with self.lock:
            return sum(1 for ln in self.lines if text in ln)

    def wait_count(self, text, n, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count(text) >= n:
                return True
            time.sleep(0.05)
        return False

    def finish(self):
        """A clean stop (kg-fdstore's stop reads what the service says while
        it stops, its FDSTOREREMOVE=1, as systemctl stop), then quit; every
        line is read when this returns."""
        self.cmd('stop')
        self.wait_count('FDSTORE EXITED', 1, 20)
        self.cmd('quit')
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.reader.join(timeout=10)
