#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shipped systemd units, as built: systemd-analyze verify on
kmsgate-broker.socket, kmsgate-broker.service and an instance of the
template kmsgate-vgpu@.service (their ExecStart pointed at this build's
binaries, the rest as installed), then kmsgate-vgpu run as its unit runs it
(--guest NAME --socket-path, under a NOTIFY_SOCKET this script listens on):
READY=1 must come, after it stored its state memfd (FDSTORE=1, keeper.h),
and only once its socket accepts connections.

Usage: test-systemd-units.py BROKER_SERVICE BROKER_SOCKET VGPU_TEMPLATE
           KMSGATE_BROKER KMSGATE_VGPU
Exit: 0 pass, 1 a check failed, 77 no systemd-analyze, 99 the rig failed."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def fail(problems, msg):
    problems.append(msg)
    print('FAIL', msg)


def verify(tmp, units, problems):
    # --man=no: the man pages are checked by tests/doc, not installed here.
    r = subprocess.run(['systemd-analyze', 'verify', '--man=no'] + units, cwd=tmp,
                       capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    # Not ours: units of the machine that systemd-analyze also loads.
    ours = [x for x in out.splitlines() if 'kmsgate' in x]
    for x in ours:
        print('  ' + x)
    if r.returncode != 0 or ours:
        fail(problems, f'systemd-analyze verify {" ".join(units)}: exit {r.returncode}')
    else:
        print('ok   systemd-analyze verify ' + ' '.join(units))


def ready_after_listen(vgpu, tmp, problems):
    """kmsgate-vgpu as kmsgate-vgpu@ci.service starts it."""
    conf = os.path.join(tmp, 'vgpu.conf')
    with open(conf, 'w') as f:
        f.write('[guest ci]\noutput = headless\n')
    notify = os.path.join(tmp, 'notify')
    sock_path = os.path.join(tmp, 'ci.sock')
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    ns.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    p = subprocess.Popen([vgpu, '--config', conf, '--guest', 'ci', '--socket-path', sock_path],
                         env=env, stderr=subprocess.PIPE, text=True)
    try:
        # Before READY=1 it puts its state memfd in the fd store (keeper.h),
        # nothing else.
        msgs = []
        while not msgs or 'READY=1' not in msgs[-1].split('\n'):
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                fail(problems, f'no READY=1 on NOTIFY_SOCKET in 10 s (got {msgs!r})')
                return
            print(f'notify: {msgs[-1]!r}')
            if len(msgs) > 4:
                break
        if msgs[:-1] != ['FDSTORE=1\nFDNAME=vgpu-state'] or 'READY=1' not in msgs[-1]:
            fail(problems, f'expected FDSTORE=1 of vgpu-state, then READY=1: {msgs!r}')
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(sock_path)
            print('ok   READY=1 came after the socket listened (a connect succeeds)')
        except OSError as e:
            fail(problems, f'READY=1 came, but connecting to {sock_path}: {e.strerror}')
        finally:
            c.close()
    finally:
        p.terminate()
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        ns.close()
    if p.returncode != 0:
        print(err)
        fail(problems, f'kmsgate-vgpu exit status {p.returncode} on SIGTERM')


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 99
    broker_service, broker_socket, vgpu_template, broker, vgpu = sys.argv[1:]
    if not shutil.which('systemd-analyze'):
        print('SKIP: no systemd-analyze')
        return 77
    problems = []
    with tempfile.TemporaryDirectory(prefix='kg-units-') as tmp:
        for src, binary in ((broker_service, broker), (vgpu_template, vgpu)):
            with open(src) as f:
                text = f.read()
            name = os.path.basename(binary)
            # ExecStart=/usr/.../NAME -> this build's NAME.
            text, n = re.subn(r'^(ExecStart=)\S*/' + re.escape(name) + r'\b',
                              lambda m: m.group(1) + os.path.abspath(binary), text,
                              flags=re.M)
            if n != 1:
                fail(problems, f'{os.path.basename(src)}: no ExecStart= running {name}')
            with open(os.path.join(tmp, os.path.basename(src)), 'w') as f:
                f.write(text)
        shutil.copy(broker_socket, tmp)
        os.symlink('kmsgate-vgpu@.service', os.path.join(tmp, 'kmsgate-vgpu@ci.service'))
        verify(tmp, ['./kmsgate-broker.socket', './kmsgate-broker.service'], problems)
        verify(tmp, ['./kmsgate-vgpu@ci.service'], problems)
        with open(vgpu_template) as f:
            tpl = f.read()
        for want in ('Type=notify', 'Restart=always', '--guest %i',
                     '--socket-path /run/kmsgate/vgpu/%i.sock', 'RuntimeDirectoryPreserve=yes',
                     'DeviceAllow=/dev/udmabuf rw', 'FileDescriptorStoreMax='):
            if want not in tpl:
                fail(problems, f'kmsgate-vgpu@.service lacks {want}')
        ready_after_listen(vgpu, tmp, problems)
    print('PASS' if not problems else f'FAIL: {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
