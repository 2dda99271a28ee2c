#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the broker's VM tests: boots the board VM with kmsgate-broker
and the kg-lessee test client, runs one scenario's guest script, and checks
what the guest prints and what QMP screendumps show on each head.

Usage: test-broker.py SCENARIO BROKER KG_LESSEE [--png-dir DIR] [--notify P --activate P]
Scenarios: two-clients isolation kill9 acl hostile cycles release sigterm hotplug vkms bench
           caps slow-reader version wait-queue available admin groups driver master-busy
           sd-activate sd-wrong-type (with --notify KG_NOTIFY --activate SYSTEMD_SOCKET_ACTIVATE)
           lease-facts (with --leasefacts KG_LEASEFACTS)
           restart restart-nostore restart-clients restart-inflight restart-unread (with
           --fdstore KG_FDSTORE; restart-inflight and restart-unread also --strace STRACE)
           kill9-loop (with --fdstore KG_FDSTORE [--kills N] [--seed S])
Exit: 0 pass, 1 a check failed, 99 the rig failed (also a timeout, or an exception in
this script)."""

import argparse
import os
import random
import re
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kgvm  # noqa: E402

W, H = 1024, 768
RED, GREEN, BLUE, YELLOW = 0xff0000, 0x00ff00, 0x0000ff, 0xffff00

# head0..3 on Virtual-1..4 (= QMP heads 0..3), each at 1024x768. head1 keeps
# the last frame on release, head2 blanks, head3 is for uid 1000 (and root).
CONFIG = """
[broker]
allow-users = 0
[head0]
connector = Virtual-1
mode = 1024x768
[head1]
connector = Virtual-2
mode = 1024x768
on-release = keep
[head2]
connector = Virtual-3
mode = 1024x768
on-release = blank
[head3]
connector = Virtual-4
mode = 1024x768
allow-users = 1000
"""

# start_broker ARGS starts the broker (log in /tmp/broker.log, printed at
# the end), waits for its socket; $B is its pid. fdcount prints its open fds.
# Every scenario but vkms starts it on virtio-gpu with CONFIG.
PRELUDE = r"""
set -u
mkdir -p /run/kmsgate
start_broker() {
	kmsgate-broker "$@" --log-level debug 2>/tmp/broker.log &
	B=$!
	i=0; while [ ! -S /run/kmsgate/broker.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	[ -S /run/kmsgate/broker.sock ] || { echo "NO BROKER SOCKET"; cat /tmp/broker.log; exit 99; }
}
fdcount() { ls /proc/$B/fd | wc -l; }
finish() { kill -TERM $B 2>/dev/null; wait $B; echo "BROKER_EXIT=$?"; echo "--- broker log"; tail -n 60 /tmp/broker.log; }
# A lessee reading commands from a fifo: lessee N ARGS... (pid $LN); its
# output goes to the console and, through tee (pid $TN), to /tmp/lN.out for
# wait_lessee. lquit N...: each says quit (fd N+3), then waits for them and
# their tees (all their output is on the console).
lessee() {
	n=$1; shift; mkfifo /tmp/q$n /tmp/o$n; eval "exec $((n+3))<>/tmp/q$n"
	tee /tmp/l$n.out </tmp/o$n & eval "T$n=\$!"
	kg-lessee "$@" </tmp/q$n >/tmp/o$n & eval "L$n=\$!"
}
lquit() { for n; do echo quit >&$((n+3)); done; for n; do eval "wait \$L$n \$T$n"; done; }
# wait_file FILE TEXT: until FILE says it (20 s; false after), instead of a
# fixed sleep; wait_log TEXT: the same for the broker's log.
wait_file() { i=0; while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; grep -q "$2" "$1"; }
wait_log() { wait_file /tmp/broker.log "$1"; }
# wait_lessee N TEXT: lessee N printed TEXT (20 s).
wait_lessee() { wait_file /tmp/l$1.out "$2"; }
# wait_clients N: the broker's last connect/disconnect line counts N clients.
wait_clients() {
	i=0; while [ "$(clients)" != "$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
	[ "$(clients)" = "$1" ]
}
clients() { sed -n 's/.*client pid [0-9]* .*(\([0-9]*\) \(left\|clients\)).*/\1/p' /tmp/broker.log | tail -n 1; }
# mark; ...; wait_new TEXT: TEXT in the broker's log after the mark (20 s).
mark() { M=$(wc -l < /tmp/broker.log); }
new_log() { tail -n +$((M + 1)) /tmp/broker.log; }
wait_new() { i=0; while ! new_log | grep -q "$1" && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; new_log | grep -q "$1"; }
hostwait() { echo "HOST $1"; read -r x; }
"""

# systemd scenarios: S is the .socket unit's ListenSequentialPacket= path.
# notify_listen starts kg-notify (pid N) on /run/notify.sock; unix_sock
# prints "type,flags,inode;" of every listening socket bound at S
# (/proc/net/unix: type 0005 seqpacket, flags 00010000 listening).
SD_PRELUDE = r"""
S=/run/kmsgate/broker.sock
notify_listen() {
	rm -f /tmp/notify.txt
	kg-notify listen /run/notify.sock $S 60 >/tmp/notify.txt &
	N=$!
	i=0; while ! grep -q NOTIFY_LISTENING /tmp/notify.txt 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}
wait_socket_any() {
	i=0; while [ ! -e $S ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	[ -e $S ] || { echo "NO SOCKET AT $S"; cat /tmp/broker.log; exit 99; }
}
wait_socket() { wait_socket_any; }
unix_sock() { awk -v p=$S '$8 == p && $4 == "00010000" { printf "%s,%s,%s;", $5, $4, $7 }' /proc/net/unix; }
"""

SCENARIOS = {
    # Two clients flip their own colour at the same time.
    'two-clients': r"""
lessee 0 --name red show head0 ff0000
lessee 1 --name green show head1 00ff00
wait_lessee 0 '^FLIPPED head0 10 ' || echo "NO_FLIPS head0"
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
hostwait snap
lquit 0 1
finish
""",
    # A lessee cannot see or use another pipeline's CRTC or plane, leased
    # by someone else or not.
    'isolation': r"""
lessee 1 show head1 00ff00
wait_lessee 1 '^LEASED head1' || echo "NO_LEASE head1"
kg-lessee touch head0 head1; echo "TOUCH_EXIT=$?"
kg-lessee touch head0 head2; echo "TOUCH_EXIT=$?"
lquit 1
finish
""",
    # kill -9 of a lessee: revoked, and the client already waiting for the
    # pipeline gets it, after the kill (one monotonic clock for both).
    'kill9': r"""
kg-lessee kill9 head0 50; echo "KILL9_EXIT=$?"
lessee 1 show head1 ff0000
wait_log 'pipeline head1 leased to' || echo "NO_FIRST_LEASE"
mkfifo /tmp/q2; exec 5<>/tmp/q2
kg-lessee --wait acquire head1 </tmp/q2 >/tmp/l2.out & L2=$!
wait_log 'waits for head1' || echo "NO_WAITER"
kg-lessee now | sed 's/^NOW/KILLED_AT/'
kill -9 $L1
i=0; while ! grep -q '^LEASED' /tmp/l2.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sed 's/^/NEXT_/' /tmp/l2.out
echo quit >&5; wait $L2; echo "NEXT_EXIT=$?"
finish
""",
    # Allow lists: uid 2000 may not use head3, uid 1000 may; uid 1000 may
    # not use head0 (root only) nor revoke.
    'acl': r"""
kg-lessee --uid 2000 acquire head3 </dev/null; echo "ACL_2000_HEAD3=$?"
kg-lessee --uid 1000 acquire head3 </dev/null; echo "ACL_1000_HEAD3=$?"
kg-lessee --uid 1000 acquire head0 </dev/null; echo "ACL_1000_HEAD0=$?"
lessee 0 acquire head0
wait_lessee 0 '^LEASED head0' || echo "NO_LEASE head0"
kg-lessee --uid 1000 revoke head0; echo "ACL_1000_REVOKE=$?"
kg-lessee revoke head0; echo "ROOT_REVOKE=$?"
lquit 0
finish
""",
    # A hostile client does not disturb a lessee; no fd leaks from it.
    'hostile': r"""
lessee 0 show head0 ff0000
wait_lessee 0 '^FLIPPED head0 10 ' || echo "NO_FLIPS head0"
echo "FDS_BEFORE=$(fdcount)"
kg-lessee hostile 1000; echo "HOSTILE_EXIT=$?"
# Counted once the broker has closed every connection of the hostile
# client (it has exited): only the lessee is left.
wait_clients 1 || echo "NO_DISCONNECT hostile (clients: $(clients))"
echo "FDS_AFTER=$(fdcount)"
hostwait snap
lquit 0
finish
""",
    # 1000 acquire/release cycles leave the broker's fd count unchanged,
    # on a keep pipeline and on a blank one.
    'cycles': r"""
kg-lessee acquire head1 </dev/null >/dev/null
echo "FDS_BEFORE=$(fdcount)"
kg-lessee cycles head1 1000; echo "CYCLES_EXIT=$?"
kg-lessee cycles head2 200; echo "CYCLES_EXIT=$?"
echo "FDS_AFTER=$(fdcount)"
finish
""",
    # Keep-last-frame (head1) and blank (head2), checked on screen; the next
    # lessee takes over from the kept frame.
    'release': r"""
lessee 1 show head1 ff0000
lessee 2 show head2 00ff00
wait_lessee 1 '^LEASED head1' || echo "NO_LEASE head1"
wait_lessee 2 '^LEASED head2' || echo "NO_LEASE head2"
lquit 1 2
wait_log 'pipeline head1: lessee [0-9]* revoked in .*(frame kept)' || echo "NO_RELEASE head1 kept"
wait_log 'pipeline head2: lessee [0-9]* revoked in .*(blanked)' || echo "NO_RELEASE head2 blanked"
echo "FDS_RELEASED=$(fdcount)"
hostwait released
lessee 6 show head1 0000ff
wait_lessee 6 '^LEASED head1' || echo "NO_LEASE head1 again"
hostwait taken-over
mark
kill -9 $L6
wait_new 'pipeline head1: lessee [0-9]* revoked in .*(frame kept)' || echo "NO_REVOKE head1 kill -9"
wait $T6
hostwait killed
finish
""",
    # SIGTERM: every lessee hears it is revoked, the broker exits 0 and
    # removes its socket.
    'sigterm': r"""
kmsgate-broker --config /etc/kmsgate.conf 2>/tmp/second.log; echo "SECOND_EXIT=$?"
echo "SECOND_LOCKED=$(grep -c 'another kmsgate-broker runs' /tmp/second.log)"
kmsgate-broker --check --config /etc/kmsgate.conf 2>/dev/null | sed 's/^/CHECK /'
lessee 0 show head0 ff0000
lessee 1 show head1 00ff00
wait_lessee 0 '^LEASED head0' || echo "NO_LEASE head0"
wait_lessee 1 '^LEASED head1' || echo "NO_LEASE head1"
kill -TERM $B; wait $B; echo "BROKER_EXIT=$?"
wait $L0 $L1 $T0 $T1
[ -S /run/kmsgate/broker.sock ] && echo "SOCKET_LEFT" || echo "SOCKET_GONE"
tail -n 30 /tmp/broker.log
""",
    # Hotplug: forcing a connector off and on reaches clients as
    # CONNECTOR_CHANGED, LIST shows it, and acquire refuses while it is off.
    # SIGHUP re-probes: a connector forced off without any uevent is noticed
    # only after it. Each step waits for its event, not for a fixed time.
    'hotplug': r"""
lessee 0 show head0 ff0000
wait_lessee 0 '^LEASED head0' || echo "NO_LEASE head0"
kg-lessee list | grep head0
lquit 0
kg-lessee events 120 > /tmp/events.txt &
E=$!
# Subscribed only once it says so: a loaded TCG host can take over a second
# to get there, and an event sent before then is not this client's.
wait_file /tmp/events.txt 'EVENTS READY' || echo "NO_EVENTS_READY"
# Forcing a connector through sysfs re-probes it but sends no uevent;
# the synthetic change uevent stands in for the one a real HPD sends.
echo off > /sys/class/drm/card0-Virtual-3/status
echo change > /sys/class/drm/card0/uevent
wait_file /tmp/events.txt 'CONNECTOR_CHANGED head2 status=2' || echo "NO_EVENT head2 off"
kg-lessee list | grep head2
kg-lessee acquire head2 </dev/null; echo "ACQUIRE_OFF=$?"
echo on > /sys/class/drm/card0-Virtual-3/status
echo change > /sys/class/drm/card0/uevent
wait_file /tmp/events.txt 'CONNECTOR_CHANGED head2 status=1' || echo "NO_EVENT head2 on"
kg-lessee list | grep head2
# No uevent: the broker learns of head3 only from SIGHUP.
echo off > /sys/class/drm/card0-Virtual-4/status
kg-lessee list | grep head3 | sed 's/^/BEFORE_HUP /'
kill -HUP $B
wait_file /tmp/events.txt 'CONNECTOR_CHANGED head3 status=2' || echo "NO_EVENT head3 after SIGHUP"
kg-lessee list | grep head3 | sed 's/^/AFTER_HUP /'
kill -TERM $E; wait $E
cat /tmp/events.txt
finish
""",
    # vkms (the second card, real 60 Hz vblank, 8 overlays): the config
    # takes every overlay; the lease carries primary, 8 overlays and cursor
    # and a lessee flips at the display's rate through it.
    'vkms': r"""
kmsgate-broker --driver vkms --check 2>/dev/null > /tmp/check.txt; sed 's/^/VKCHECK /' /tmp/check.txt
C=$(sed -n '1s/.*connector=\([^ ]*\).*/\1/p' /tmp/check.txt)
printf '[vk]\nconnector = %s\nplanes = primary, overlays, cursor\nmode = 1024x768\n' "$C" > /tmp/vk.conf
start_broker --driver vkms --config /tmp/vk.conf
kg-lessee list
lessee 0 show vk 00ff00
# Flip 10 to flip 130: 120 flips timed by the lessee (2 s at 60 Hz).
wait_lessee 0 '^FLIPPED vk 130 ' || echo "NO_FLIPS vk 130"
lquit 0
finish
""",
    # systemd socket activation: systemd-socket-activate holds the socket
    # the .socket unit declares (ListenSequentialPacket=) and execs the
    # broker in its own pid on the first connection; NOTIFY_SOCKET is
    # kg-notify's. Then the broker without activation binds its own socket.
    'sd-activate': SD_PRELUDE + r"""
notify_listen
systemd-socket-activate --seqpacket -l $S -E NOTIFY_SOCKET=/run/notify.sock \
	kmsgate-broker --config /etc/kmsgate.conf --log-level debug 2>/tmp/broker.log &
B=$!
echo "ACT_PID=$B"
wait_socket
echo "ACT_COMM=$(cat /proc/$B/comm)"
echo "ACT_UNIX=$(unix_sock)"
echo "ACT_FD3=$(readlink /proc/$B/fd/3)"
echo "NOTIFIED_BEFORE=$(grep -c '^NOTIFY ' /tmp/notify.txt)"
kg-lessee list; echo "LIST_EXIT=$?"
echo "BROKER_COMM=$(cat /proc/$B/comm)"
echo "BROKER_FD3=$(readlink /proc/$B/fd/3)"
echo "BROKER_UNIX=$(unix_sock)"
lessee 0 show head0 ff0000
wait_lessee 0 '^LEASED head0' || echo "NO_LEASE head0"
hostwait snap
lquit 0
finish
[ -S $S ] && echo "SOCKET_LEFT" || echo "SOCKET_GONE"
wait $N; echo "NOTIFY_EXIT=$?"
sed 's/^/A_/' /tmp/notify.txt
rm -f $S
notify_listen
NOTIFY_SOCKET=/run/notify.sock kmsgate-broker --config /etc/kmsgate.conf 2>/tmp/broker.log &
B=$!
echo "SELF_PID=$B"
wait_socket
kg-lessee list >/dev/null; echo "SELF_LIST_EXIT=$?"
echo "SELF_UNIX=$(unix_sock)"
kill -TERM $B; wait $B; echo "SELF_EXIT=$?"
wait $N; echo "SELF_NOTIFY_EXIT=$?"
[ -S $S ] && echo "SELF_SOCKET_LEFT" || echo "SELF_SOCKET_GONE"
sed 's/^/B_/' /tmp/notify.txt
echo "SD_DONE"
""",
    # A socket of the wrong type (stream, datagram) from the activator: the
    # broker says so and exits non-zero, without READY=1; a seqpacket one
    # right after works (the control).
    'sd-wrong-type': SD_PRELUDE + r"""
for t in stream dgram; do
	notify_listen
	opt=; [ $t = dgram ] && opt=--datagram
	systemd-socket-activate $opt -l $S -E NOTIFY_SOCKET=/run/notify.sock \
		kmsgate-broker --config /etc/kmsgate.conf 2>/tmp/broker.log &
	B=$!
	wait_socket_any
	kg-lessee list 2>/dev/null; echo "LIST_${t}_EXIT=$?"
	kg-notify poke $t $S; echo "POKE_${t}_EXIT=$?"
	wait $B; echo "WRONG_${t}_EXIT=$?"
	kill $N; wait $N
	echo "NOTIFIED_${t}=$(grep -c '^NOTIFY ' /tmp/notify.txt)"
	echo "REFUSAL_${t}=$(grep -c 'not a listening SOCK_SEQPACKET UNIX socket' /tmp/broker.log)"
	sed "s/^/LOG_$t /" /tmp/broker.log
	rm -f $S
done
systemd-socket-activate --seqpacket -l $S kmsgate-broker --config /etc/kmsgate.conf \
	2>/tmp/broker.log &
B=$!
wait_socket
kg-lessee list >/dev/null; echo "CONTROL_LIST_EXIT=$?"
finish
""",
    # Lease acquisition latency: connect -> lease fd in hand.
    'bench': r"""
kg-lessee cycles head0 1000; echo "CYCLES_EXIT=$?"
kg-lessee kill9 head1 100; echo "KILL9_EXIT=$?"
grep "revoked in" /tmp/broker.log | sed 's/.*revoked in \([0-9.]*\) ms.*/REVOKE_MS \1/'
finish
""",
}


# The [broker] admin lists and a group-only pipeline: uid 1000 and group
# 3000 may revoke; head1 is for group 3001 (and root).
CONFIG_IDS = CONFIG.replace('allow-users = 0\n', 'allow-users = 0\nadmin-users = 1000\n'
                            'admin-groups = 3000\n', 1).replace(
    'connector = Virtual-2\nmode = 1024x768\non-release = keep\n',
    'connector = Virtual-2\nmode = 1024x768\non-release = keep\nallow-groups = 3001\n', 1)
CONFIGS = {'admin': CONFIG_IDS, 'groups': CONFIG_IDS}
# Scenarios on a board with vkms loaded too; each starts its own broker.
VKMS = ('vkms', 'driver', 'master-busy')

SCENARIOS.update({
    # Connection caps: 64 per non-root uid (others unaffected, the cap
    # counts open connections only), 1100 in all, and fewer when the fd
    # limit is lower (a second broker under ulimit -n 80: 80 - 64 = 16).
    # A refused connection gets ERROR LIMIT with seq 0 and is closed.
    'caps': r"""
mkfifo /tmp/qc; exec 6<>/tmp/qc
kg-lessee --uid 1000 conns 66 </tmp/qc >/tmp/c1000.out & C=$!
wait_file /tmp/c1000.out '^CONNS ok=' || echo "NO_CONNS uid 1000"
sed 's/^/U1000 /' /tmp/c1000.out
kg-lessee --uid 1000 list >/tmp/l.out; echo "U1000_LIB_EXIT=$?"; sed 's/^/U1000_LIB /' /tmp/l.out
kg-lessee --uid 2000 list >/dev/null; echo "U2000_LIST=$?"
kg-lessee list >/dev/null; echo "ROOT_LIST=$?"
echo "PER_UID_LOG=$(grep -c 'uid 1000 has 64 connections already' /tmp/broker.log)"
mark
echo quit >&6; wait $C
wait_new 'disconnected (0 left)' || echo "NO_DISCONNECT uid 1000"
mark
kg-lessee --uid 1000 conns 64 </dev/null | sed 's/^/U1000_AGAIN /'
wait_new 'disconnected (0 left)' || echo "NO_DISCONNECT uid 1000 again"
kg-lessee conns 1102 </dev/null | sed 's/^/ROOT /'
echo "CAP_LOG=$(sed -n 's/.*(max \([0-9]*\) clients).*/\1/p' /tmp/broker.log)"
kill -TERM $B; wait $B; echo "FIRST_BROKER_EXIT=$?"
(ulimit -n 80; exec kmsgate-broker --config /etc/kmsgate.conf --log-level debug 2>/tmp/broker.log) &
B=$!
i=0; while [ ! -S /run/kmsgate/broker.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -S /run/kmsgate/broker.sock ] || { echo "NO SECOND BROKER SOCKET"; cat /tmp/broker.log; exit 99; }
echo "LOW_NOFILE=$(awk '/open files/ { print $4 "/" $5 }' /proc/$B/limits)"
echo "LOW_CAP_LOG=$(sed -n 's/.*(max \([0-9]*\) clients).*/\1/p' /tmp/broker.log)"
kg-lessee conns 18 </dev/null | sed 's/^/LOW /'
finish
""",
    # A client that reads nothing is cut off once the kernel's buffer for it
    # is full, and the broker goes on serving meanwhile: an idle client
    # while 1000 acquire/release cycles broadcast PIPELINE_AVAILABLE, and
    # a client that sends LIST after LIST without reading the replies.
    'slow-reader': r"""
mkfifo /tmp/qi; exec 6<>/tmp/qi
kg-lessee idle </tmp/qi >/tmp/idle.out & I=$!
wait_file /tmp/idle.out 'IDLE READY' || echo "NO_IDLE_READY"
echo "FDS_BEFORE=$(fdcount)"
echo "RSS_BEFORE=$(awk '/VmRSS/ { print $2 }' /proc/$B/status)"
mark
kg-lessee cycles head0 1000; echo "CYCLES_EXIT=$?"
echo "CUT_IDLE=$(new_log | grep -c 'does not read its messages')"
echo quit >&6; wait $I
cat /tmp/idle.out
mark
kg-lessee noread 100000; echo "NOREAD_EXIT=$?"
echo "CUT_NOREAD=$(new_log | grep -c 'does not read its messages')"
kg-lessee list >/dev/null; echo "LIST_AFTER=$?"
echo "FDS_AFTER=$(fdcount)"
echo "RSS_AFTER=$(awk '/VmRSS/ { print $2 }' /proc/$B/status)"
finish
""",
    # Version negotiation on the raw protocol (see raw.c kg_raw_version).
    'version': r"""
kg-lessee version; echo "VERSION_EXIT=$?"
kg-lessee list >/dev/null; echo "LIST_AFTER=$?"
finish
""",
    # The wait queue: three waiters get head0 in the order they queued;
    # head1's queue takes 32 and refuses more (LIMIT), a second WAIT from a
    # waiter is LIMIT, RELEASE does not end a wait; on SIGTERM every waiter
    # gets CANCELLED (raw and through libkmsgate: ECANCELED).
    'wait-queue': r"""
printf 'quit\n' > /tmp/quit
mkfifo /tmp/qh; exec 6<>/tmp/qh
kg-lessee --name holder acquire head0 </tmp/qh >/tmp/holder.out & H=$!
wait_file /tmp/holder.out '^LEASED' || echo "NO_HOLDER_LEASE"
for n in 1 2 3; do
	kg-lessee --name w$n --wait acquire head0 </tmp/quit >/tmp/w$n.out &
	eval "W$n=\$!"; echo "WAITER $n pid=$!"
	wait_log "waits for head0 ($n waiting)" || echo "NO_WAITER $n"
done
echo quit >&6; wait $H; echo "HOLDER_EXIT=$?"
for n in 1 2 3; do eval "wait \$W$n"; echo "W${n}_EXIT=$?"; sed "s/^/W$n /" /tmp/w$n.out; done
sed -n 's/.*pipeline head0 leased to pid \([0-9]*\).*/LEASE_ORDER \1/p' /tmp/broker.log
mkfifo /tmp/qh1; exec 7<>/tmp/qh1
kg-lessee --name holder1 acquire head1 </tmp/qh1 >/tmp/holder1.out & H1=$!
wait_file /tmp/holder1.out '^LEASED' || echo "NO_HOLDER1_LEASE"
kg-lessee waiters head1 34 >/tmp/waiters.out & WS=$!
wait_file /tmp/waiters.out 'WAITERS READY' || echo "NO_WAITERS_READY"
mkfifo /tmp/qh2; exec 8<>/tmp/qh2
kg-lessee --name holder2 acquire head2 </tmp/qh2 >/tmp/holder2.out & H2=$!
wait_file /tmp/holder2.out '^LEASED' || echo "NO_HOLDER2_LEASE"
mark
kg-lessee --name libwaiter --wait acquire head2 </dev/null >/tmp/libwaiter.out & LW=$!
wait_new 'waits for head2 (1 waiting)' || echo "NO_LIBWAITER"
finish
wait $WS; echo "WAITERS_EXIT=$?"
cat /tmp/waiters.out
wait $LW; echo "LIBWAITER_EXIT=$?"; sed 's/^/LIBWAITER /' /tmp/libwaiter.out
echo quit >&7; echo quit >&8; wait $H1 $H2
echo "WAITQ_DONE"
""",
    # EV_PIPELINE_AVAILABLE reaches a client that only listens: after a
    # release, a kill -9 of the lessee and an admin revoke; not when a
    # waiter takes the pipeline over, but once that waiter releases it.
    'available': r"""
kg-lessee events 120 > /tmp/events.txt & E=$!
wait_file /tmp/events.txt 'EVENTS READY' || echo "NO_EVENTS_READY"
kg-lessee acquire head1 </dev/null >/dev/null
wait_file /tmp/events.txt 'PIPELINE_AVAILABLE head1' || echo "NO_EVENT release head1"
mkfifo /tmp/q2; exec 5<>/tmp/q2
kg-lessee acquire head2 </tmp/q2 >/tmp/l2.out & L2=$!
wait_file /tmp/l2.out '^LEASED' || echo "NO_LEASE head2"
kill -9 $L2; wait $L2
wait_file /tmp/events.txt 'PIPELINE_AVAILABLE head2' || echo "NO_EVENT kill9 head2"
mkfifo /tmp/q3; exec 6<>/tmp/q3
kg-lessee acquire head3 </tmp/q3 >/tmp/l3.out & L3=$!
wait_file /tmp/l3.out '^LEASED' || echo "NO_LEASE head3"
kg-lessee revoke head3
wait_file /tmp/events.txt 'PIPELINE_AVAILABLE head3' || echo "NO_EVENT revoke head3"
echo quit >&6; wait $L3
mkfifo /tmp/q0; exec 7<>/tmp/q0
kg-lessee acquire head0 </tmp/q0 >/tmp/l0.out & L0=$!
wait_file /tmp/l0.out '^LEASED' || echo "NO_LEASE head0"
mkfifo /tmp/q4; exec 8<>/tmp/q4
kg-lessee --wait acquire head0 </tmp/q4 >/tmp/w.out & W=$!
wait_log 'waits for head0 (1 waiting)' || echo "NO_WAITER head0"
echo quit >&7; wait $L0
wait_file /tmp/w.out '^LEASED' || echo "NO_HANDOVER head0"
echo quit >&8; wait $W
wait_file /tmp/events.txt 'PIPELINE_AVAILABLE head0' || echo "NO_EVENT waiter release head0"
kill -TERM $E; wait $E
sed 's/^/EV /' /tmp/events.txt
finish
""",
    # REVOKE by an admin user, an admin group (supplementary or primary),
    # refused for a user in neither (also with other groups).
    'admin': r"""
mkfifo /tmp/qv; exec 6<>/tmp/qv
victim() {
	kg-lessee --name victim acquire head0 </tmp/qv >/tmp/v.out & V=$!
	wait_file /tmp/v.out '^LEASED' || echo "NO_VICTIM_LEASE $1"
}
try_revoke() {
	label=$1; shift
	kg-lessee "$@" revoke head0 >/tmp/r.out; echo "${label}_EXIT=$?"; sed "s/^/${label} /" /tmp/r.out
}
victim refusals
try_revoke NOBODY --uid 2000
try_revoke OTHER_GROUPS --uid 2000 --groups 3001,3002
try_revoke OTHER_PRIMARY --uid 2000 --gid 3001
kg-lessee list | grep '^PIPELINE head0 ' | sed 's/^/AFTER_REFUSALS /'
echo "REVOKED_BY_REFUSALS=$(grep -c '^REVOKED' /tmp/v.out)"
try_revoke ADMIN_USER --uid 1000
wait_file /tmp/v.out '^REVOKED' || echo "NO_REVOKED admin-user"
wait $V; sed 's/^/V_ADMIN_USER /' /tmp/v.out
victim supplementary
try_revoke ADMIN_SUPP --uid 2000 --groups 5,3000
wait_file /tmp/v.out '^REVOKED' || echo "NO_REVOKED admin-group supplementary"
wait $V; sed 's/^/V_ADMIN_SUPP /' /tmp/v.out
victim primary
try_revoke ADMIN_PRIMARY --uid 2000 --gid 3000
wait_file /tmp/v.out '^REVOKED' || echo "NO_REVOKED admin-group primary"
wait $V; sed 's/^/V_ADMIN_PRIMARY /' /tmp/v.out
finish
""",
    # allow-groups = 3001 on head1, matched through the supplementary groups
    # (as the first or a later one), the primary group, or not at all; a
    # client in more groups than the broker reads (64) counts by uid and
    # primary group only.
    'groups': r"""
acq() {
	label=$1; shift
	kg-lessee "$@" acquire head1 </dev/null >/tmp/a.out; echo "${label}_EXIT=$?"
	sed "s/^/${label} /" /tmp/a.out
}
acq SUPP --uid 2000 --groups 3001
acq SUPP_LATER --uid 2000 --groups 5,6,3001
acq PRIMARY --uid 2000 --gid 3001
acq NONE --uid 2000
acq OTHER --uid 2000 --groups 3000,3002
kg-lessee --uid 2000 --groups 3001 list | grep '^PIPELINE head1 ' | sed 's/^/LIST_SUPP /'
kg-lessee --uid 2000 list | grep '^PIPELINE head1 ' | sed 's/^/LIST_NONE /'
G=; i=0; while [ $i -lt 63 ]; do G="$G$((4000 + i)),"; i=$((i+1)); done
acq GROUPS64 --uid 2000 --groups ${G}3001
acq GROUPS65 --uid 2000 --groups ${G}4999,3001
echo "MANY_GROUPS_LOG=$(grep -c 'is in more than 64 groups' /tmp/broker.log)"
finish
""",
    # Device selection (with vkms loaded there are two cards): --driver
    # picks the card of that kernel driver, and LIST shows that card's
    # connectors, for vkms and for virtio_gpu. CARD lines are the test's
    # own view of the cards (kg-lessee cards), before any broker runs.
    'driver': r"""
kg-lessee cards
for d in vkms virtio_gpu; do
	start_broker --driver $d
	echo "OPENED $d $(sed -n 's/.*\(\/dev\/dri\/card[0-9]*\) (\([^)]*\)): .* connectors.*/\1 \2/p' /tmp/broker.log)"
	kg-lessee list | sed "s/^/$d /"
	finish
done
echo "DRIVER_DONE"
""",
    # A card whose DRM master another process holds is refused, with a
    # message naming the card, the kernel's reason and what to do, and exit
    # status 1; once the holder is gone the same command serves.
    'master-busy': r"""
mkfifo /tmp/qm; exec 6<>/tmp/qm
kg-lessee master vkms </tmp/qm >/tmp/m.out & M=$!
wait_file /tmp/m.out '^MASTER vkms' || echo "NO_MASTER vkms"
sed 's/^/HOLDER /' /tmp/m.out
kmsgate-broker --driver vkms 2>/tmp/refused.log; echo "REFUSED_EXIT=$?"
sed 's/^/REFUSED_LOG /' /tmp/refused.log
[ -S /run/kmsgate/broker.sock ] && echo "REFUSED_SOCKET=yes" || echo "REFUSED_SOCKET=no"
echo quit >&6; wait $M
start_broker --driver vkms
kg-lessee list | sed 's/^/AFTER /'
finish
""",
})


class Check:
    def __init__(self):
        self.problems = []

    def __call__(self, ok, msg):
        print(('ok   ' if ok else 'FAIL ') + msg, flush=True)
        if not ok:
            self.problems.append(msg)


def colour_at(w, rgb, x, y):
    o = (y * w + x) * 3
    return (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]


def bad_points(w, h, rgb, colour):
    """The points of a grid (64) where a screendump is not colour."""
    return [(x, y) for y in range(0, H, 97) for x in range(0, W, 131)
            if colour_at(w, rgb, x, y) != colour]


def head_is(vm, check, head, colour, label):
    """The head shows 1024x768 of one colour (checked on a grid of points)."""
    w, h, rgb = vm.screendump(head)
    if (w, h) != (W, H):
        check(False, f'{label}: head {head} is {w}x{h}, expected {W}x{H} of {colour:06x}')
        return
    bad = bad_points(w, h, rgb, colour)
    check(not bad, f'{label}: head {head} shows {colour:06x}'
          + (f' (wrong at {len(bad)} points, e.g. {bad[0]} = '
             f'{colour_at(w, rgb, *bad[0]):06x})' if bad else ''))


def head_is_blank(vm, check, head, label):
    """Off (the 640x480 placeholder) or all black."""
    w, h, rgb = vm.screendump(head)
    lit = [(x, y) for y in range(0, h, 61) for x in range(0, w, 67) if colour_at(w, rgb, x, y)]
    check((w, h) != (W, H) or not lit, f'{label}: head {head} blank ({w}x{h}, '
          f'{len(lit)} lit points)')


def value(vm, key):
    """The last KEY=VALUE line the guest printed."""
    found = None
    for line in vm.output:
        m = re.match(rf'^{key}=(\S+)', line)
        if m:
            found = m.group(1)
    return found


def lines(vm, prefix):
    return [ln for ln in vm.output if ln.startswith(prefix)]


def stats(line):
    return {k: float(v) for k, v in re.findall(r'(p50|p99|max)=([0-9.]+)', line)}


def run(args, scenario, check):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, 'kmsgate.conf')
        script = os.path.join(tmp, 'scenario.sh')
        with open(conf, 'w') as f:
            f.write(CONFIGS.get(scenario, CONFIG))
        with open(script, 'w') as f:
            own_start = scenario in VKMS or scenario.startswith('sd-') or scenario in NO_BROKER
            start = '' if own_start else 'start_broker --config /etc/kmsgate.conf\n'
            f.write(PRELUDE + start + SCENARIOS[scenario])
        add = [f'{args.broker}:/bin/kmsgate-broker', f'{args.lessee}:/bin/kg-lessee',
               f'{conf}:/etc/kmsgate.conf', f'{script}:/bin/scenario.sh']
        if scenario.startswith('sd-'):
            if not args.notify or not args.activate:
                raise kgvm.VMError(f'{scenario} needs --notify KG_NOTIFY and --activate '
                                   'SYSTEMD_SOCKET_ACTIVATE (package systemd)')
            add += [f'{args.notify}:/bin/kg-notify',
                    f'{args.activate}:/bin/systemd-socket-activate']
        if scenario in NO_BROKER:
            tool, dest = ((args.leasefacts, 'kg-leasefacts') if scenario == 'lease-facts'
                          else (args.fdstore, 'kg-fdstore'))
            if not tool:
                raise kgvm.VMError(f'{scenario} needs --{dest[3:]} {dest.upper()}')
            add += [f'{tool}:/bin/{dest}']
        if scenario in ('restart-inflight', 'restart-unread'):
            if not args.strace:
                raise kgvm.VMError(f'{scenario} needs --strace STRACE')
            add += [f'{args.strace}:/bin/strace']
        opts = kgvm.Options(add=add, vkms=scenario in VKMS, timeout=args.timeout)
        with kgvm.VM(opts, ['sh', '/bin/scenario.sh']) as vm:
            HOST[scenario](vm, check)
            status = vm.wait(timeout=args.timeout)
            vm.print_timings()
        if status in (kgvm.STATUS_TIMEOUT, kgvm.STATUS_NO_MARKER):
            raise kgvm.VMError(f'the VM ended with status {status} (timeout or no exit marker)')
        missing_events(vm, check)
        check(status == 0, f'guest script exit status {status}')
        # The broker stops cleanly on SIGTERM (under ASan: also no leak).
        check(value(vm, 'BROKER_EXIT') == '0', f'broker exit status {value(vm, "BROKER_EXIT")}')
        return vm


def host_two_clients(vm, check):
    vm.wait_for(r'^HOST snap$', timeout=120)
    check(len(lines(vm, 'LEASED head0 1024x768')) == 1, 'client 1 leased head0 at 1024x768')
    check(len(lines(vm, 'LEASED head1 1024x768')) == 1, 'client 2 leased head1 at 1024x768')
    head_is(vm, check, 0, RED, 'client 1')
    head_is(vm, check, 1, GREEN, 'client 2')
    for head in (2, 3):
        w, h, rgb = vm.screendump(head)
        check((w, h) != (W, H) or colour_at(w, rgb, 10, 10) not in (RED, GREEN),
              f'head {head} shows neither client')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)
    flips = [int(ln.split()[1]) for ln in lines(vm, 'FLIPS ')]
    check(len(flips) == 2 and min(flips) >= 10, f'both clients flipped concurrently: {flips}')


def host_isolation(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    t = lines(vm, 'TOUCH ')
    check(len(t) == 2 and all(x == 'TOUCH crtc=ENOENT plane=ENOENT' for x in t),
          f'other pipelines\' CRTC and plane give ENOENT through the lease: {t}')
    check(lines(vm, 'TOUCH_EXIT=0') and len(lines(vm, 'TOUCH_EXIT=0')) == 2, 'touch exit 0 twice')


def host_kill9(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    k = lines(vm, 'KILL9 ')
    check(value(vm, 'KILL9_EXIT') == '0' and len(k) == 1,
          f'50 x kill -9 of a lessee, next acquire succeeds: {k}')
    if k:
        print(f'MEASURED kill -9 -> next lease in hand: {k[0]}')
    killed = re.search(r't=([0-9.]+)', ' '.join(lines(vm, 'KILLED_AT ')) or '')
    leased = re.search(r't=([0-9.]+)', ' '.join(lines(vm, 'NEXT_LEASED head1')) or '')
    check(not lines(vm, 'NO_FIRST_LEASE') and not lines(vm, 'NO_WAITER'),
          'the flipping lessee held head1 and the next client was queued before the kill')
    check(bool(killed and leased) and float(leased.group(1)) > float(killed.group(1)),
          f'the waiting client got head1 after the kill -9: killed {killed and killed.group(1)}'
          f' ms, leased {leased and leased.group(1)} ms')
    if killed and leased:
        print(f'MEASURED kill -9 -> waiting client leased: '
              f'{float(leased.group(1)) - float(killed.group(1)):.1f} ms')
    check(value(vm, 'NEXT_EXIT') == '0', 'the next client released head1 cleanly')


def host_acl(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    check(value(vm, 'ACL_2000_HEAD3') == '1', 'uid 2000 refused on head3')
    refusals = [ln for ln in vm.output if ln.startswith('REFUSED ')]
    check(len(refusals) == 2 and all(ln.startswith('REFUSED EACCES uid ') and 'not allowed' in ln
                                     for ln in refusals),
          f'both refusals are the broker\'s EACCES: {refusals}')
    check(value(vm, 'ACL_1000_HEAD3') == '0', 'uid 1000 allowed on head3')
    check(value(vm, 'ACL_1000_HEAD0') == '1', 'uid 1000 refused on head0 (root only)')
    check(value(vm, 'ACL_1000_REVOKE') == '1', 'uid 1000 may not revoke')
    check(value(vm, 'ROOT_REVOKE') == '0', 'root may revoke')


def host_hostile(vm, check):
    vm.wait_for(r'^HOST snap$', timeout=240)
    head_is(vm, check, 0, RED, 'lessee during hostile client')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)
    check(value(vm, 'HOSTILE_EXIT') == '0', 'every abuse answered as documented')
    check(value(vm, 'FDS_BEFORE') == value(vm, 'FDS_AFTER'),
          f'broker fds {value(vm, "FDS_BEFORE")} before, {value(vm, "FDS_AFTER")} after')
    check(not lines(vm, 'REVOKED'), 'the lessee was not revoked')
    flips = [int(ln.split()[1]) for ln in lines(vm, 'FLIPS ')]
    check(flips and flips[0] >= 10, f'the lessee kept flipping: {flips}')


def host_cycles(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=400)
    c = lines(vm, 'CYCLES ')
    check(len(c) == 2 and c[0].startswith('CYCLES 1000 ') and c[1].startswith('CYCLES 200 '),
          f'all cycles done: {c}')
    check(value(vm, 'FDS_BEFORE') == value(vm, 'FDS_AFTER'),
          f'broker fds {value(vm, "FDS_BEFORE")} before, {value(vm, "FDS_AFTER")} after')
    for line in c:
        print(f'MEASURED {line}')


def host_release(vm, check):
    vm.wait_for(r'^HOST released$', timeout=120)
    head_is(vm, check, 1, RED, 'keep: after release')
    head_is_blank(vm, check, 2, 'blank: after release')
    vm.send('go')
    # Sample head 1 back to back while the next lessee starts and shows its
    # frame: every sample must be the old frame or the new one, never off.
    seen, deadline = {}, time.monotonic() + 60
    while time.monotonic() < deadline:
        w, h, rgb = vm.screendump(1)
        c = f'{colour_at(w, rgb, 500, 400):06x}' if (w, h) == (W, H) else f'off {w}x{h}'
        seen[c] = seen.get(c, 0) + 1
        if vm.readline(timeout=0.002) == 'HOST taken-over':
            break
    check(set(seen) == {f'{RED:06x}', f'{BLUE:06x}'},
          f'takeover from the kept frame without a blank one: samples {seen}')
    head_is(vm, check, 1, BLUE, 'keep: next lessee took over')
    vm.send('go')
    vm.wait_for(r'^HOST killed$', timeout=60)
    head_is(vm, check, 1, BLUE, 'keep: after kill -9')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=60)


def host_sigterm(vm, check):
    vm.wait_for(r'^SOCKET_', timeout=120)
    check(value(vm, 'SECOND_EXIT') == '1' and value(vm, 'SECOND_LOCKED') == '1',
          'a second broker on the same runtime directory stops at the lock')
    c = lines(vm, 'CHECK ')
    check(len(c) == 4 and c[1].startswith('CHECK head1 connector=Virtual-2 crtc=1'),
          f'--check prints the partition while a broker runs: {c}')
    check(value(vm, 'BROKER_EXIT') == '0', 'broker exits 0 on SIGTERM')
    r = sorted(lines(vm, 'REVOKED '))
    check(r == ['REVOKED head0 3', 'REVOKED head1 3'], f'both lessees revoked (shutdown): {r}')
    check(bool(lines(vm, 'SOCKET_GONE')), 'socket removed')


def host_hotplug(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    ev = lines(vm, 'EVENT CONNECTOR_CHANGED head2')
    check(ev[:2] == ['EVENT CONNECTOR_CHANGED head2 status=2',
                     'EVENT CONNECTOR_CHANGED head2 status=1'],
          f'off then on reached the client as CONNECTOR_CHANGED: {ev}')
    check(not lines(vm, 'EVENT CONNECTOR_CHANGED head0'), 'no event for untouched head0')
    pl = lines(vm, 'PIPELINE head2 ')
    check(len(pl) == 2 and 'state=2 status=2' in pl[0] and 'state=0 status=1' in pl[1],
          f'LIST shows head2 unavailable, then free: {pl}')
    h0 = lines(vm, 'PIPELINE head0 ')
    check(len(h0) == 1 and 'state=1' in h0[0] and 'current=1024x768' in h0[0],
          f'LIST shows a leased pipeline with its current mode: {h0}')
    check(value(vm, 'ACQUIRE_OFF') == '1' and bool(lines(vm, 'REFUSED ENODEV')),
          'acquire of a disconnected pipeline is refused (ENODEV)')
    before, after = lines(vm, 'BEFORE_HUP '), lines(vm, 'AFTER_HUP ')
    check(len(before) == 1 and 'status=1' in before[0] and len(after) == 1
          and 'status=2' in after[0] and 'state=2' in after[0],
          f'a connector forced off without a uevent is seen only after SIGHUP: {before} -> {after}')
    check(lines(vm, 'EVENT CONNECTOR_CHANGED head3 ') == ['EVENT CONNECTOR_CHANGED head3 status=2'],
          'SIGHUP re-probe sent one CONNECTOR_CHANGED for head3')


def host_vkms(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    vk = lines(vm, 'VKCHECK ')
    check(len(vk) == 1 and 'planes=' in vk[0] and len(vk[0].split('planes=')[1].split()[0]
                                                      .split(',')) == 2,
          f'default partition of vkms: one pipeline, primary + cursor: {vk}')
    pl = lines(vm, 'PIPELINE vk ')
    check(len(pl) == 1 and 'planes=10' in pl[0],
          f'config "primary, overlays, cursor" leases 10 planes: {pl}')
    check(bool(lines(vm, 'LEASED vk 1024x768')), 'a lessee got vk at 1024x768')
    t = {int(m.group(1)): float(m.group(2)) for m in
         (re.match(r'^FLIPPED vk (\d+) t=([0-9.]+)', ln) for ln in vm.output) if m}
    hz = 120 / (t[130] - t[10]) * 1000 if 10 in t and 130 in t else None
    # Never faster than the 60 Hz vblank; TCG may make the lessee miss some
    # (as low as 20 Hz was allowed before: 60 flips in 3 s).
    check(hz is not None and 20 <= hz <= 61,
          f'flips through the lease paced by the real vblank: 120 flips at '
          f'{f"{hz:.1f} Hz" if hz else "?"}')


def host_bench(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=500)
    for line in lines(vm, 'CYCLES ') + lines(vm, 'KILL9 '):
        print(f'BENCH {line}')
    rv = sorted(float(ln.split()[1]) for ln in lines(vm, 'REVOKE_MS '))
    if rv:
        print(f'BENCH REVOKE {len(rv)} p50={rv[len(rv) // 2]:.3f} '
              f'p99={rv[min(len(rv) - 1, int(len(rv) * 0.99))]:.3f} max={rv[-1]:.3f} ms '
              '(broker: drmModeRevokeLease + keep/blank, per release)')
    check(value(vm, 'CYCLES_EXIT') == '0' and value(vm, 'KILL9_EXIT') == '0', 'bench ran')


def host_sd_activate(vm, check):
    vm.wait_for(r'^HOST snap$', timeout=180)
    check(value(vm, 'ACT_COMM') == 'systemd-socket-',
          f'the activator listens alone before any client: comm {value(vm, "ACT_COMM")}')
    act = (value(vm, 'ACT_UNIX') or '').rstrip(';').split(',')
    check(len(act) == 3 and act[0] == '0005' and act[1] == '00010000',
          f'activator socket at the .socket unit\'s path is seqpacket, listening: {act}')
    check(value(vm, 'NOTIFIED_BEFORE') == '0', 'nothing notified before the first connection')
    check(value(vm, 'LIST_EXIT') == '0' and len(lines(vm, 'PIPELINE ')) == 4,
          f'the first client\'s LIST started the broker and got 4 pipelines: '
          f'{len(lines(vm, "PIPELINE "))}')
    check(value(vm, 'BROKER_COMM') == 'kmsgate-broker', 'the activator exec\'d the broker')
    inode = act[2] if len(act) == 3 else '?'
    check(value(vm, 'ACT_FD3') == f'socket:[{inode}]' == value(vm, 'BROKER_FD3'),
          f'broker fd 3 is the activator\'s socket (inode {inode}; a broker that ignores '
          'it keeps it too: the LIST and the one listening socket below tell): '
          f'{value(vm, "ACT_FD3")} -> {value(vm, "BROKER_FD3")}')
    check((value(vm, 'BROKER_UNIX') or '').rstrip(';').split(',') == act,
          f'no socket of the broker\'s own at the path: {value(vm, "BROKER_UNIX")}')
    check(len(lines(vm, 'LEASED head0 1024x768')) == 1, 'a lessee leased head0 through it')
    head_is(vm, check, 0, RED, 'activated broker')
    vm.send('go')
    vm.wait_for(r'^SD_DONE$', timeout=180)
    log = '\n'.join(vm.output)
    check('using the socket passed by systemd' in log, 'broker log: uses the socket passed')
    check(bool(lines(vm, 'SOCKET_LEFT')),
          'the broker leaves the activator\'s socket in place (RemoveOnStop= is systemd\'s)')
    for part, pid_src, pid in (('A_', 'activated', value(vm, 'ACT_PID')),
                               ('B_', 'self-bound', value(vm, 'SELF_PID'))):
        msgs = [ln[len(part):] for ln in lines(vm, part + 'NOTIFY ')]
        fields = [m.split(' ', 2)[2].strip() if m.count(' ') >= 2 else '' for m in msgs]
        pids = {m.split(' ')[1] for m in msgs}
        # The broker first hands systemd its master fd and lease table (and
        # its own listening socket when it bound one), FDSTORE=1,
        # broker/fdstore.c: leases survive its restart. Each connection is
        # stored after its HELLO and removed when it closes (client-N); both
        # clients here close before the broker stops.
        conns = [f for f in fields if re.fullmatch(r'FDSTORE(REMOVE)?=1 FDNAME=client-\d+', f)]
        # The broker's copies of lease fds (lessee-ID-PIPELINE, then
        # frame-ID-FB-PIPELINE once released and kept for its frame).
        lease_fds = [f for f in fields
                     if re.fullmatch(r'FDSTORE(REMOVE)?=1 FDNAME=(lessee-\d+|frame-\d+-\d+)-[\w.-]+', f)]
        own = [f for f in fields if f not in conns and f not in lease_fds]
        want = (['FDSTORE=1 FDNAME=drm-master', 'FDSTORE=1 FDNAME=lease-table']
                + (['FDSTORE=1 FDNAME=kmsgate-listen'] if part == 'B_' else [])
                + ['READY=1', 'STOPPING=1'])
        check(own == want,
              f'{pid_src}: FDSTORE=1 of {", ".join(w[17:] for w in want[:-2])}, READY=1, then '
              f'STOPPING=1 on SIGTERM, nothing else but connections: {msgs}')
        stored = [f.split('=')[-1] for f in conns if f.startswith('FDSTORE=1')]
        removed = [f.split('=')[-1] for f in conns if f.startswith('FDSTOREREMOVE=1')]
        inside = all(fields.index('READY=1') < fields.index(f) < fields.index('STOPPING=1')
                     for f in conns) if own == want else False
        check(stored == removed and len(stored) == (2 if part == 'A_' else 1) and inside,
              f'{pid_src}: each client connection stored after READY=1 and removed when it '
              f'closed: {conns}')
        check(pids == {f'pid={pid}'}, f'{pid_src}: sent by the broker (pid {pid}): {pids}')
        check(value(vm, part + 'READY_CONNECT') == 'ok',
              f'{pid_src}: a client connects the moment READY=1 arrives: '
              f'{value(vm, part + "READY_CONNECT")}')
    check(value(vm, 'SELF_LIST_EXIT') == '0', 'self-bound broker serves LIST')
    own = (value(vm, 'SELF_UNIX') or '').rstrip(';').split(',')
    check(len(own) == 3 and own[:2] == ['0005', '00010000'] and own[2] != inode,
          f'without activation the broker binds its own seqpacket socket: {own}')
    check(value(vm, 'NOTIFY_EXIT') == '0' and value(vm, 'SELF_NOTIFY_EXIT') == '0',
          'kg-notify saw STOPPING=1 both times')
    check(value(vm, 'SELF_EXIT') == '0' and bool(lines(vm, 'SELF_SOCKET_GONE')),
          'self-bound broker exits 0 on SIGTERM and removes its socket')


def host_sd_wrong_type(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    for t in ('stream', 'dgram'):
        check(value(vm, f'LIST_{t}_EXIT') not in (None, '0'),
              f'{t}: a seqpacket client cannot use it: {value(vm, f"LIST_{t}_EXIT")}')
        check(value(vm, f'POKE_{t}_EXIT') == '0', f'{t}: poked the activator')
        check(value(vm, f'WRONG_{t}_EXIT') not in (None, '0'),
              f'{t}: the broker exits non-zero: {value(vm, f"WRONG_{t}_EXIT")}')
        check(value(vm, f'REFUSAL_{t}') == '1', f'{t}: the broker says the socket is wrong')
        check(value(vm, f'NOTIFIED_{t}') == '0', f'{t}: no READY=1 (nothing notified)')
    check(value(vm, 'CONTROL_LIST_EXIT') == '0', 'control: a seqpacket socket works')


HOST = {
    'sd-activate': host_sd_activate, 'sd-wrong-type': host_sd_wrong_type,
    'two-clients': host_two_clients, 'isolation': host_isolation, 'kill9': host_kill9,
    'acl': host_acl, 'hostile': host_hostile, 'cycles': host_cycles,
    'release': host_release, 'sigterm': host_sigterm, 'bench': host_bench,
    'hotplug': host_hotplug, 'vkms': host_vkms,
}


def missing_events(vm, check):
    """Every wait_* of the script that timed out printed NO_<what it awaited>."""
    missing = lines(vm, 'NO_')
    check(not missing, f'every awaited step came within 20 s: {missing or "yes"}')


def host_caps(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=300)
    u = lines(vm, 'U1000 CONNS ')
    refused = [ln for ln in u if ' refused at=' in ln]
    check('U1000 CONNS ok=64 refused=2 other=0' in u,
          f'uid 1000: 64 connections accepted, the 65th and 66th refused: {u[-1:]}')
    check(len(refused) == 2 and all(
        "ERROR LIMIT seq=0 req=? text='too many connections from your user' then=closed" in ln
        for ln in refused), f'each refusal is ERROR LIMIT with seq 0, then closed: {refused}')
    check(value(vm, 'PER_UID_LOG') == '3',
          f'broker log names the 3 refusals (2 raw, 1 libkmsgate): {value(vm, "PER_UID_LOG")}')
    check(value(vm, 'U1000_LIB_EXIT') == '1' and lines(vm, 'U1000_LIB REFUSED EAGAIN'),
          f'libkmsgate at the cap: connect fails with EAGAIN: {lines(vm, "U1000_LIB ")}')
    check(value(vm, 'U2000_LIST') == '0' and value(vm, 'ROOT_LIST') == '0',
          'meanwhile uid 2000 and root connect (the cap is per uid): '
          f'{value(vm, "U2000_LIST")}, {value(vm, "ROOT_LIST")}')
    again = lines(vm, 'U1000_AGAIN CONNS ')
    check(again == ['U1000_AGAIN CONNS ok=64 refused=0 other=0'],
          f'once they closed, uid 1000 gets 64 again (open connections count): {again}')
    r = lines(vm, 'ROOT CONNS ')
    check(value(vm, 'CAP_LOG') == '1100', f'broker: max {value(vm, "CAP_LOG")} clients')
    check('ROOT CONNS ok=1100 refused=2 other=0' in r and sum(
        "ERROR LIMIT seq=0 req=? text='too many clients' then=closed" in ln for ln in r) == 2,
        f'root: 1100 connections accepted, then ERROR LIMIT (seq 0) and closed: {r[-3:]}')
    check(value(vm, 'FIRST_BROKER_EXIT') == '0', 'first broker stopped cleanly')
    check(value(vm, 'LOW_NOFILE') == '80/80', f'second broker fd limit {value(vm, "LOW_NOFILE")}')
    check(value(vm, 'LOW_CAP_LOG') == '16',
          f'fd limit 80: max {value(vm, "LOW_CAP_LOG")} clients (80 - 64 reserved)')
    low = lines(vm, 'LOW CONNS ')
    check('LOW CONNS ok=16 refused=2 other=0' in low,
          f'fd limit 80: 16 connections accepted, the rest refused: {low[-3:]}')


def host_slow_reader(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=400)
    c = lines(vm, 'CYCLES ')
    check(value(vm, 'CYCLES_EXIT') == '0' and c and c[0].startswith('CYCLES 1000 '),
          f'1000 acquire/release cycles went on while a client did not read: {c}')
    idle = re.search(r'^IDLE queued=(\d+) closed=(\w+)', '\n'.join(vm.output), re.M)
    check(bool(idle) and idle.group(2) == 'yes',
          f'the idle client was disconnected: {idle and idle.group(0)}')
    check(bool(idle) and 0 < int(idle.group(1)) < 1000,
          f'after a bounded number of events queued for it (< the 1000 sent): '
          f'{idle and idle.group(1)}')
    check(value(vm, 'CUT_IDLE') == '1',
          f'broker log: idle client cut once: {value(vm, "CUT_IDLE")}')
    nr = re.search(r'^NOREAD sent=(\d+) queued=(\d+) closed=(\w+) stuck=(\w+) ms=(\d+)',
                   '\n'.join(vm.output), re.M)
    check(bool(nr) and nr.group(3) == 'yes' and nr.group(4) == 'no',
          f'a client sending LIST without reading is disconnected, never stuck: '
          f'{nr and nr.group(0)}')
    check(bool(nr) and int(nr.group(1)) < 100000 and int(nr.group(2)) < 5000,
          f'after a bounded number of requests and queued replies: {nr and nr.group(0)}')
    check(value(vm, 'CUT_NOREAD') == '1', f'broker log: cut once: {value(vm, "CUT_NOREAD")}')
    check(value(vm, 'LIST_AFTER') == '0', 'the broker serves a new client afterwards')
    check(value(vm, 'FDS_BEFORE') == value(vm, 'FDS_AFTER'),
          f'broker fds {value(vm, "FDS_BEFORE")} before, {value(vm, "FDS_AFTER")} after')
    before, after = value(vm, 'RSS_BEFORE'), value(vm, 'RSS_AFTER')
    check(before and after and int(after) - int(before) < 1024,
          f'broker RSS {before} kB before, {after} kB after (< 1 MiB growth)')
    if idle and nr:
        print(f'MEASURED idle client cut after {idle.group(1)} queued events; '
              f'non-reader after {nr.group(1)} LISTs, {nr.group(2)} replies queued, '
              f'{nr.group(5)} ms')


def host_version(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    v = {m.group(1): m.group(2) for m in
         (re.match(r'^VERSION (\S+) (.*)$', ln) for ln in vm.output) if m}
    print(f'seen: {v}')
    check(v.get('a-hello-2..3', '').startswith('got=ERROR VERSION seq=1 req=HELLO')
          and 'versions 1 to 1' in v.get('a-hello-2..3', ''),
          f'HELLO 2..3: ERROR VERSION naming the broker\'s range: {v.get("a-hello-2..3")}')
    check(v.get('a-hello-1..4') == 'got=SERVER_HELLO seq=2 version=1',
          f'a second HELLO 1..4 on the same connection: SERVER_HELLO version 1: '
          f'{v.get("a-hello-1..4")}')
    check(v.get('a-list') == 'pipelines=4 list_end_count=4',
          f'then LIST works on it: {v.get("a-list")}')
    check(v.get('a-hello-again', '').startswith('got=ERROR UNEXPECTED seq=4')
          and v.get('a-after') == 'closed=yes',
          f'a HELLO after the handshake: UNEXPECTED and closed: {v.get("a-hello-again")}, '
          f'{v.get("a-after")}')
    check(v.get('b-hello-2..2', '').startswith('got=ERROR VERSION seq=1'),
          f'HELLO 2..2: ERROR VERSION: {v.get("b-hello-2..2")}')
    check(v.get('b-list-before-hello', '').startswith('got=ERROR UNEXPECTED seq=3')
          and v.get('b-after') == 'closed=yes',
          f'after VERSION the connection is still NEW: LIST is UNEXPECTED, closed: '
          f'{v.get("b-list-before-hello")}, {v.get("b-after")}')
    check(value(vm, 'LIST_AFTER') == '0', 'the broker serves a new client afterwards')


def host_wait_queue(vm, check):
    vm.wait_for(r'^WAITQ_DONE$', timeout=240)
    pids = [ln.split('pid=')[1] for ln in sorted(lines(vm, 'WAITER '))]
    order = [ln.split()[1] for ln in lines(vm, 'LEASE_ORDER ')]
    check(len(pids) == 3 and order[1:] == pids,
          f'head0 went to the waiters in the order they queued: queued {pids}, '
          f'leased to {order[1:]} (after the holder {order[:1]})')
    t = []
    for n in (1, 2, 3):
        m = re.search(r't=([0-9.]+)', ' '.join(lines(vm, f'W{n} LEASED head0')))
        t.append(float(m.group(1)) if m else None)
    check(None not in t and t == sorted(t), f'and their LEASED times rise: {t}')
    check(all(value(vm, f'W{n}_EXIT') == '0' for n in (1, 2, 3)), 'each waiter released')
    w = {m.group(1): m.group(2) for m in
         (re.match(r'^WAITERS (\w+)[= ](.*)$', ln) for ln in vm.output) if m}
    print(f'seen: {w}')
    check(w.get('queued') == '32 limit=2 other=0',
          f'head1: 32 waiters queued, the 33rd and 34th refused: {w.get("queued")}')
    refusals = lines(vm, 'WAITERS refused ')
    check(len(refusals) == 2 and all("ERROR LIMIT seq=2 req=ACQUIRE text='too many clients "
                                     "wait for head1'" in ln for ln in refusals),
          f'each refusal is ERROR LIMIT for its ACQUIRE: {refusals}')
    check(w.get('again', '').startswith("ERROR LIMIT seq=4 req=ACQUIRE text='you are waiting "
                                        "for head1 already'"),
          f'a second WAIT from a waiter: LIMIT: {w.get("again")}')
    check(w.get('release', '').startswith('ERROR NOT_HELD seq=6 req=RELEASE'),
          f'RELEASE of a pipeline it only waits for: NOT_HELD: {w.get("release")}')
    end = lines(vm, 'WAITERS_END ')
    check(end == ['WAITERS_END cancelled=32 leased=0 closed=0 other=0'],
          f'on SIGTERM all 32 waits ended with ERROR CANCELLED (the first too: RELEASE did '
          f'not end its wait): {end}')
    lw = lines(vm, 'LIBWAITER ')
    check(value(vm, 'LIBWAITER_EXIT') == '1' and len(lw) == 1
          and lw[0].startswith('LIBWAITER REFUSED ECANCELED'),
          f'a libkmsgate waiter gets ECANCELED: {lw}')


def host_available(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    ev = [ln[3:] for ln in lines(vm, 'EV EVENT PIPELINE_AVAILABLE ')]
    want = [f'EVENT PIPELINE_AVAILABLE {p} status=0' for p in ('head1', 'head2', 'head3', 'head0')]
    check(ev == want, 'a listening client heard PIPELINE_AVAILABLE once per freed pipeline '
          f'(release head1, kill -9 head2, revoke head3, the waiter\'s release of head0; '
          f'none at the handover to the waiter): {ev}')
    check(not lines(vm, 'EV EVENT REVOKED'), 'and nothing else about leases that are not its own')


def host_admin(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    for label in ('NOBODY', 'OTHER_GROUPS', 'OTHER_PRIMARY'):
        check(value(vm, f'{label}_EXIT') == '1' and lines(vm, f'{label} REVOKE head0 EACCES'),
              f'{label}: revoke refused (EACCES): {lines(vm, label + " ")}')
    a = lines(vm, 'AFTER_REFUSALS ')
    check(len(a) == 1 and 'state=1' in a[0] and value(vm, 'REVOKED_BY_REFUSALS') == '0',
          f'after the refusals the lessee still holds head0: {a}')
    for label, who in (('ADMIN_USER', 'admin-users uid 1000'),
                       ('ADMIN_SUPP', 'admin-groups 3000 as a supplementary group'),
                       ('ADMIN_PRIMARY', 'admin-groups 3000 as the primary group')):
        check(value(vm, f'{label}_EXIT') == '0' and lines(vm, f'{label} REVOKE head0 OK'),
              f'{who}: revoke OK: {lines(vm, label + " ")}')
        check(lines(vm, f'V_{label} REVOKED head0 1'),
              f'{who}: the lessee got EV_REVOKED reason 1 (admin): {lines(vm, "V_" + label)}')


def host_groups(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    for label, want, what in (
            ('SUPP', '0', 'supplementary group 3001'),
            ('SUPP_LATER', '0', 'supplementary groups 5,6,3001'),
            ('PRIMARY', '0', 'primary group 3001'),
            ('NONE', '1', 'no group'),
            ('OTHER', '1', 'groups 3000,3002'),
            ('GROUPS64', '0', '64 groups, 3001 among them'),
            ('GROUPS65', '1', '65 groups, 3001 among them (over the 64 read)')):
        got = lines(vm, f'{label} ')
        ok = (value(vm, f'{label}_EXIT') == want and len(got) == 1
              and got[0].startswith(f'{label} LEASED head1' if want == '0'
                                    else f'{label} REFUSED EACCES'))
        check(ok, f'uid 2000 with {what}: {"allowed" if want == "0" else "refused"} '
              f'on head1 (allow-groups = 3001): {got}')
    ls, ln = lines(vm, 'LIST_SUPP '), lines(vm, 'LIST_NONE ')
    check(len(ls) == 1 and ' allowed=1 ' in ls[0] and len(ln) == 1
          and ' allowed=0 ' in ln[0], f'LIST sets the allowed flag the same way: {ls} {ln}')
    check(value(vm, 'MANY_GROUPS_LOG') == '1',
          f'the broker logs the client with too many groups: {value(vm, "MANY_GROUPS_LOG")}')


def cards(vm):
    """{driver: (path, [connector names])} from kg-lessee cards."""
    out = {}
    for ln in lines(vm, 'CARD '):
        m = re.match(r'^CARD (\S+) driver=(\S+) connectors=(\S*)$', ln)
        if m:
            out[m.group(2)] = (m.group(1), m.group(3).split(',') if m.group(3) else [])
    return out


def host_driver(vm, check):
    vm.wait_for(r'^DRIVER_DONE$', timeout=240)
    c = cards(vm)
    check(set(c) == {'vkms', 'virtio_gpu'} and not set(c['vkms'][1]) & set(c['virtio_gpu'][1]),
          f'two cards with distinct connectors: {c}')
    for d in ('vkms', 'virtio_gpu'):
        if d not in c:
            continue
        path, conns = c[d]
        check(f'OPENED {d} {path} {d}' in vm.output,
              f'--driver {d}: the broker opened {path}: {lines(vm, "OPENED " + d)}')
        got = [re.search(r' connector=(\S+)', ln).group(1) for ln in lines(vm, f'{d} PIPELINE ')]
        check(sorted(got) == sorted(conns),
              f'--driver {d}: LIST shows that card\'s connectors {conns}: {got}')
    check(len(lines(vm, 'BROKER_EXIT=0')) == 2, 'both brokers stopped cleanly')


def host_master_busy(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    held = [ln.split(':')[0].split()[1] for ln in lines(vm, 'HOLDER /dev/dri/')]
    check(len(held) == 1 and bool(lines(vm, 'HOLDER MASTER vkms')),
          f'a second process holds DRM master of the vkms card: {lines(vm, "HOLDER ")}')
    card = held[0] if held else '?'
    check(value(vm, 'REFUSED_EXIT') == '1',
          f'the broker on it exits with status 1: {value(vm, "REFUSED_EXIT")}')
    err = [ln[len('REFUSED_LOG '):] for ln in lines(vm, 'REFUSED_LOG ')]
    want = (f'cannot become DRM master of {card} (vkms): Device or resource busy; another '
            'process is its master (a display server?): stop it, or choose another card '
            'with --device or --driver')
    check(any(want in ln for ln in err),
          f'its message names the card, the kernel\'s reason (EBUSY) and what to do: {err}')
    check(value(vm, 'REFUSED_SOCKET') == 'no', 'and it serves nothing (no socket)')
    after = lines(vm, 'AFTER PIPELINE ')
    check(len(after) == 1, f'with the holder gone, the same command serves vkms: {after}')


# What Linux does to a lessee when its lessor's fd closes (no broker; plain
# libdrm in kg-leasefacts, see its header and docs/recovery.md): (a) the
# lessor exits with no copy of its master fd left, on head1; (b) a keeper
# (the fd store's stand-in) holds a dup of it, on head2; (c) a new process
# gets that dup and adopts the lease, on head3.
SCENARIOS['lease-facts'] = r"""
kg-leasefacts close 1 ff0000; echo "FACTS_EXIT=$?"
kg-leasefacts kept 2 00ff00; echo "FACTS_EXIT=$?"
kg-leasefacts adopt 3 0000ff; echo "FACTS_EXIT=$?"
echo "BROKER_EXIT=0"
"""
NO_BROKER = ('lease-facts',)


def facts(vm):
    """{'case.step': {key: value}} from the FACT lines."""
    out = {}
    for ln in lines(vm, 'FACT '):
        parts = ln.split()
        out[parts[1]] = dict(p.split('=', 1) for p in parts[2:] if '=' in p)
    return out


def host_lease_facts(vm, check):
    snaps = {}
    # Each HOST point: screendump the head now, then let the guest go on.
    for label, head in (('close-lessor-exited', 1), ('close-lessee-closed', 1),
                        ('kept-lessor-exited', 2), ('kept-keeper-exited', 2),
                        ('kept-lessee-closed', 2), ('adopt-lessor-exited', 3),
                        ('adopt-revoked', 3), ('adopt-keeper-exited', 3),
                        ('adopt-lessee-closed', 3)):
        vm.wait_for(rf'^HOST {label}$', timeout=240)
        w, h, rgb = vm.screendump(head)
        snaps[label] = (w, h, colour_at(w, rgb, 100, 100) if (w, h) == (W, H) else None)
        print(f'SNAP {label}: head {head} {w}x{h} colour '
              f'{snaps[label][2] if snaps[label][2] is None else f"{snaps[label][2]:06x}"}')
        vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    f = facts(vm)
    for k in sorted(f):
        print(f'FACTS {k}: {f[k]}')
    check(lines(vm, 'FACTS_EXIT=0') and len(lines(vm, 'FACTS_EXIT=0')) == 3,
          'kg-leasefacts ran all three cases')

    def fact(key, want, what):
        got = {k: f.get(key, {}).get(k) for k in want}
        check(got == want, f'{key}: {what}: {got}')

    def on(label, colour, what):
        got = snaps.get(label, (0, 0, None))[2]
        check(got == colour, f'{label}: {what}: head shows '
              f'{"nothing (off)" if got is None else f"{got:06x}"}, expected {colour:06x}')

    def off(label, what):
        w, h, c = snaps.get(label, (0, 0, None))
        check((w, h) != (W, H) or c == 0, f'{label}: {what}: {w}x{h}')

    alive = {'flips': '10', 'err': 'OK', 'getcrtc': 'OK', 'objects': '3', 'alt': 'OK'}
    # Revoked by REVOKE_LEASE: the lease is empty (ENOENT, 0 objects).
    dead = {'flips': '0', 'err': 'ENOENT', 'getcrtc': 'ENOENT', 'objects': '0',
            'alt': 'ENOENT'}
    # The lessor's DRM file closed: the lease is emptied too (GetCrtc:
    # ENOENT) and the device has no master, so the lessee is no longer a
    # "current master" and every master ioctl (atomic, GET_LEASE) is EACCES.
    orphaned = {'flips': '0', 'err': 'EACCES', 'getcrtc': 'ENOENT', 'objects': '-13',
                'alt': 'EACCES'}
    # (a) the last fd of the lessor's file closes: every lease is revoked.
    fact('close.lessor_alive', alive, 'the lessee works while the lessor lives')
    fact('close.lessor_exited', orphaned, 'lessor exited: the lessee is revoked')
    on('close-lessor-exited', RED, 'its last frame stays on screen')
    fact('close.new_opener', {'master': '1', 'lessees': '0'},
         'a new opener becomes master and sees no lessee')
    off('close-lessee-closed', 'the frame goes when the lessee closes its fd')
    # (b) a dup of the master fd in another process keeps the lease.
    fact('kept.lessor_exited', alive, 'lessor exited, a keeper holds its fd: lessee works')
    on('kept-lessor-exited', GREEN ^ 0xffffff, 'the lessee\'s new frame is on screen')
    fact('kept.new_opener', {'master': '0'}, 'nobody else can become master meanwhile')
    fact('kept.keeper_exited', orphaned, 'the last copy closed: revoked')
    on('kept-keeper-exited', GREEN ^ 0xffffff, 'its last frame stays')
    # (c) a new process with the dup is master and can re-adopt or revoke.
    fact('adopt.lessor_exited', alive, 'lessee works with the fd in the store')
    fact('adopt.adopter', {'master': '1', 'lists_ours': '1'},
         'the new process is master and lists the lessee')
    fact('adopt.newlease', {'result': 'OK'}, 'it can lease another head')
    fact('adopt.revoke', {'result': 'OK'}, 'it can revoke the old lessee by id')
    fact('adopt.revoked', dead, 'the revoked lessee gets ENOENT')
    on('adopt-revoked', BLUE ^ 0xffffff, 'and its last frame stays')
    lessor = re.search(r'lessee=(\d+)', ' '.join(lines(vm, 'LESSOR ')[2:3]))
    check(bool(lessor) and f.get('adopt.adopter', {}).get('first') == lessor.group(1),
          f'the listed id is the lessor\'s lessee id: {lines(vm, "LESSOR ")[2:3]} '
          f'{f.get("adopt.adopter")}')


HOST['lease-facts'] = host_lease_facts

# The broker survives its own kill -9 (tracker issue 12). kg-fdstore is an
# EMULATION of systemd's fd store protocol (sd_notify(3) FDSTORE=1,
# sd_listen_fds(3) LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID), not systemd: it
# keeps what the broker stores, SIGKILLs it on "kill9" and starts a new one
# with the kept fds at 3.. on "start". restart runs with --max 3: the store
# keeps the broker's own three fds (master, table, listening socket) but no
# client connection, so the lease comes back as an orphan. restart-nostore
# runs the same with --max 0 (a unit without FileDescriptorStoreMax=): the
# lease must die. restart-clients (below) keeps the connections too.
RESTART = r"""
mkfifo /tmp/fq; exec 9<>/tmp/fq
kg-fdstore $FDMAX /run/notify.sock kmsgate-broker --config /etc/kmsgate.conf --log-level debug \
	<&9 >/tmp/fds.out 2>/tmp/broker.log &
F=$!
wait_file /tmp/fds.out 'FDSTORE READY' || echo "NO_READY"
echo "STORED_AT_START=$(grep -c 'FDSTORE STORED' /tmp/fds.out)"
lessee 1 --outlive-broker --name survivor show head1 ff0000
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
echo kill9 >&9
wait_file /tmp/fds.out 'FDSTORE KILLED' || echo "NO_KILL"
wait_lessee 1 '^BROKER_GONE' || echo "NO_BROKER_GONE"
wait_lessee 1 '^FLIPS_WITHOUT_BROKER\|^FLIP_FAILED'
grep -q '^FLIPS_WITHOUT_BROKER' /tmp/l1.out && echo "FLIPS_WITHOUT_BROKER=yes" || echo "FLIPS_WITHOUT_BROKER=no"
hostwait killed
echo start >&9
i=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" != 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
kg-lessee list | sed 's/^/AFTER_RESTART /'
kg-lessee acquire head1 </dev/null | sed 's/^/HEAD1_AGAIN /'
kg-lessee acquire head2 </dev/null | sed 's/^/HEAD2 /'
grep -q '^FLIP_FAILED' /tmp/l1.out && echo "STILL_FLIPPING=no" || echo "STILL_FLIPPING=yes"
hostwait restarted
mark
lquit 1
wait_new 'ended: its lessee is gone' && echo "ORPHAN_GONE=yes" || echo "ORPHAN_GONE=no"
kg-lessee list | sed 's/^/AFTER_CLIENT /'
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
sed 's/^/FDS /' /tmp/fds.out
echo "--- broker log"; tail -n 150 /tmp/broker.log
# Last: the host reads everything above once it sees this.
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
SCENARIOS['restart'] = 'FDMAX="--max 3"\n' + RESTART
SCENARIOS['restart-nostore'] = 'FDMAX="--max 0"\n' + RESTART
NO_BROKER += ('restart', 'restart-nostore')


# kg-fdstore's broker: fdstore_start [KG_FDSTORE_OPTIONS] starts it (pid F;
# commands on fd 9; its lines in /tmp/fds.out, the broker's log in
# /tmp/broker.log) and waits for READY. bpid: the broker's pid now (the
# last READY). fds prints the broker's open fds by kind ("N socket;N
# drm;..."), but for the fifo of kg-fdstore's commands: the broker has it
# as stdin and, inherited from this shell, as fd 9 until kg-fdstore puts a
# stored fd there.
FDSTORE_SH = r"""
fdstore_start() {
	mkfifo /tmp/fq; exec 9<>/tmp/fq
	kg-fdstore "$@" /run/notify.sock kmsgate-broker --config /etc/kmsgate.conf --log-level debug \
		<&9 >/tmp/fds.out 2>/tmp/broker.log &
	F=$!
	wait_file /tmp/fds.out 'FDSTORE READY' || echo "NO_READY"
}
bpid() { sed -n 's/^FDSTORE READY pid=//p' /tmp/fds.out | tail -n 1; }
fds() { for f in /proc/$(bpid)/fd/*; do readlink $f; done | grep -v '^/tmp/fq$' | sed 's/:\[[0-9]*\]//; s/^\/dev\/dri.*/drm/; s/^\/memfd.*/memfd/; s/^anon_inode:.*/anon/; s/^\/.*/file/' | sort | uniq -c | awk '{printf "%s %s;", $1, $2}'; }
"""


# The broker survives its own kill -9 with its clients (tracker issue 12):
# kg-fdstore keeps everything (its cap, 64, is above what this stores).
# survivor shows red on head1 over one connection; doomed holds head0 and is
# killed while the broker is dead; waiter waits for head1; watcher prints
# events. After the
# restart survivor asks LIST and RELEASE on the same connection; waiter
# then gets head1 (its place in the queue came back).
SCENARIOS['restart-clients'] = FDSTORE_SH + r"""
fdstore_start
echo "FDS_IDLE_START=$(fds)"
lessee 1 --outlive-broker --name survivor show head1 ff0000
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
lessee 2 --name doomed acquire head0
wait_lessee 2 '^LEASED head0' || echo "NO_LEASE head0"
lessee 3 --wait --name waiter acquire head1
wait_log 'waits for head1' || echo "NO_WAIT head1"
lessee 4 --name watcher events 300
wait_lessee 4 '^EVENTS READY' || echo "NO_EVENTS watcher"
echo "FDS_BEFORE=$(fds)"
echo flips >&4; wait_lessee 1 '^FLIPS_NOW' || echo "NO_FLIPS_NOW"
echo kill9 >&9
wait_file /tmp/fds.out 'FDSTORE KILLED' || echo "NO_KILL"
kill -9 $L2; wait $L2 $T2
sleep 1
echo flips >&4; wait_lessee 1 '^FLIPS_NOW .*' ; sleep 0.2
# A LIST sent while no broker runs waits in the connection (libkmsgate
# waits 10 s for its answer): the restarted broker reads and answers it.
echo list >&4
sleep 0.5
echo "LISTS_WHILE_DEAD=$(grep -c '^LIST_DONE' /tmp/l1.out)"
hostwait killed
echo start >&9
i=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" != 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
wait_lessee 1 '^LIST_DONE' || echo "NO_LIST_DONE queued"
echo list >&4
i=0; while [ "$(grep -c '^LIST_DONE' /tmp/l1.out)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
kg-lessee list | sed 's/^/AFTER_RESTART /'
kg-lessee acquire head1 </dev/null | sed 's/^/HEAD1_AGAIN /'
kg-lessee acquire head2 </dev/null | sed 's/^/HEAD2 /'
sleep 1
echo flips >&4
wait_clients 3 || echo "NOT_3_CLIENTS $(clients)"
echo "FDS_AFTER=$(fds)"
grep -q '^BROKER_GONE' /tmp/l1.out && echo "CONN_KEPT=no" || echo "CONN_KEPT=yes"
hostwait restarted
lquit 1
wait_lessee 3 '^LEASED head1' || echo "NO_HANDOVER head1"
lquit 3
kill $L4; wait $L4 $T4
wait_clients 0 || echo "NOT_0_CLIENTS $(clients)"
kg-lessee list | sed 's/^/AFTER_CLIENTS /'
wait_clients 0 || echo "NOT_0_CLIENTS $(clients)"
echo "FDS_IDLE_END=$(fds)"
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
sed 's/^/FDS /' /tmp/fds.out
echo "--- broker log"; tail -n 150 /tmp/broker.log
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
NO_BROKER += ('restart-clients',)


# on-release = keep across a restart of the broker (tracker issue 12): the
# broker's copies of lease fds are in the store too (lessee-ID-PIPELINE).
# stale shows green on head0 and releases it: the broker keeps its fd for
# the frame. red shows on head1 over a connection kept in the store. The
# broker is killed and restarted; then red is killed -9: the restarted
# broker, which has its copy of red's lease fd back, keeps red's frame.
# The broker of e37c155 (no lessee fds stored) leaves both heads dark.
SCENARIOS['restart-keeps-frames'] = FDSTORE_SH + r"""
fdstore_start --restart
lessee 2 --name stale show head0 00ff00
wait_lessee 2 '^FLIPPED head0 10 ' || echo "NO_FLIPS head0"
lquit 2
lessee 1 --outlive-broker --name red show head1 ff0000
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
echo "FDS_BEFORE=$(fds)"
mark
kg-lessee kill-broker $(bpid) | sed 's/^/KILL /'
i=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" != 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
wait_new 'adopted the kernel' || echo "NO_ADOPT"
echo "FDS_AFTER=$(fds)"
hostwait restarted
kill -9 $L1; wait $L1 $T1
wait_new 'lease of pid' || echo "NO_END head1"
sleep 1
hostwait client-killed
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
sed 's/^/FDS /' /tmp/fds.out
echo "--- broker log"; tail -n 80 /tmp/broker.log
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
NO_BROKER += ('restart-keeps-frames',)


def host_restart_keeps_frames(vm, check):
    vm.wait_for(r'^HOST restarted$', timeout=240)
    head_is(vm, check, 0, GREEN, 'the released lessee\'s kept frame, after the broker\'s restart')
    head_is(vm, check, 1, RED, 'the live lessee\'s frame, after the broker\'s restart')
    vm.send('go')
    vm.wait_for(r'^HOST client-killed$', timeout=120)
    head_is(vm, check, 1, RED, 'the live lessee killed -9 after the restart: its frame kept')
    head_is(vm, check, 0, GREEN, 'and the older kept frame still')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    fds = lines(vm, 'FDS ')
    check(any(re.match(r'FDS FDSTORE STORED lessee-\d+-head1$', ln) for ln in fds) and
          any(re.match(r'FDS FDSTORE STORED lessee-\d+-head0$', ln) for ln in fds),
          'the broker stored its copies of both lease fds (lessee-ID-PIPELINE)')
    check(any(re.match(r'FDS FDSTORE STORED frame-\d+-\d+-head0$', ln) for ln in fds),
          'the released lease\'s fd was stored again as a kept frame (frame-ID-FB-PIPELINE)')
    check(any(re.match(r'FDS FDSTORE REMOVED frame-\d+-\d+-head0 n=1$', ln) for ln in fds),
          'on stop its copies leave the store')
    check(not any('NO_' in ln for ln in vm.output), 'the scenario ran through: ' +
          '; '.join(ln for ln in vm.output if 'NO_' in ln))


HOST['restart-keeps-frames'] = host_restart_keeps_frames


# The request the dead broker had read but not answered (tracker issue
# 12). strace (the host's, with its libraries) attaches to the broker and
# SIGKILLs it at its 3rd sendmsg after that: 1 is victim's SERVER_HELLO, 2
# the FDSTORE=1 of its connection (client-1), 3 the LEASE answering its
# ACQUIRE, which is thus never sent (error=EPIPE skips the call). The lease
# the broker had created dies with it (its fd was the only one); the table
# says client-1 was in the middle of an ACQUIRE: the restarted broker must
# answer it with CANCELLED, within libkmsgate's 10 s.
SCENARIOS['restart-inflight'] = r"""
mkfifo /tmp/fq; exec 9<>/tmp/fq
kg-fdstore /run/notify.sock kmsgate-broker --config /etc/kmsgate.conf --log-level debug \
	<&9 >/tmp/fds.out 2>/tmp/broker.log &
F=$!
wait_file /tmp/fds.out 'FDSTORE READY' || echo "NO_READY"
P=$(sed -n 's/^FDSTORE READY pid=//p' /tmp/fds.out | tail -n 1)
strace -p $P -e trace=sendmsg -e inject=sendmsg:error=EPIPE:signal=KILL:when=3 \
	-o /tmp/strace.out 2>/tmp/strace.err &
S=$!
i=0; while ! grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/$P/status && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
lessee 1 --name victim acquire head2
wait_file /tmp/strace.out 'killed by SIGKILL' || echo "NO_STRACE_KILL"
wait $S
sed 's/^/STRACE /' /tmp/strace.out /tmp/strace.err
echo kill9 >&9
wait_file /tmp/fds.out 'FDSTORE KILLED' || echo "NO_KILL"
echo "ANSWERS_BEFORE_RESTART=$(grep -c '^LEASED\|^REFUSED' /tmp/l1.out)"
echo start >&9
i=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" != 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
wait_lessee 1 '^LEASED\|^REFUSED' || echo "NO_ANSWER victim"
kg-lessee list | sed 's/^/AFTER_RESTART /'
kg-lessee acquire head2 </dev/null | sed 's/^/HEAD2_AGAIN /'
lquit 1
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
sed 's/^/FDS /' /tmp/fds.out
echo "--- broker log"; tail -n 80 /tmp/broker.log
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
NO_BROKER += ('restart-inflight',)


def host_restart_inflight(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    out = '\n'.join(vm.output)
    sent = [ln for ln in lines(vm, 'STRACE ') if 'sendmsg(' in ln]
    fd = lambda ln: ln.split('(', 1)[1].split(',', 1)[0]  # noqa: E731
    # The LEASE goes to the client's socket with the lease fd (SCM_RIGHTS);
    # strace shows "= ?": the broker died in the call, nothing was sent.
    check(len(sent) == 3 and 'notify.sock' in sent[1] and fd(sent[2]) == fd(sent[0])
          and 'SCM_RIGHTS' in sent[2] and sent[2].endswith('= ?')
          and bool(re.search(r'STRACE \+\+\+ killed by SIGKILL', out)),
          f'strace killed the broker at the sendmsg of the LEASE (3rd: SERVER_HELLO, '
          f'FDSTORE=1 client-1, LEASE): {[ln[:90] for ln in sent]}')
    check(value(vm, 'ANSWERS_BEFORE_RESTART') == '0', 'victim had no answer when the broker died')
    refused = [ln for ln in vm.output if ln.startswith(('LEASED head2', 'REFUSED'))]
    check(len(refused) == 1 and refused[0].startswith('REFUSED ECANCELED')
          and 'restarted while handling' in refused[0],
          f'the restarted broker answered the lost ACQUIRE on the same connection: '
          f'CANCELLED: {refused}')
    check(bool(re.search(r'client pid \d+: its ACQUIRE \(seq \d+\) was being handled when the '
                         r'broker died; answering CANCELLED', out)),
          'broker log: the request in flight, from the table')
    check(bool(re.search(r'the stored lease table has 1 lease\(s\), 1 connection\(s\), 0 '
                         r'waiter\(s\); the kernel lists 0 live lessee\(s\)', out)),
          'the table had the lease (written before the LEASE is sent), the kernel had dropped it')
    states = pipeline_states(vm, 'AFTER_RESTART ')
    check(states.get('head2') == '0' and any(ln.startswith('HEAD2_AGAIN LEASED head2')
                                             for ln in lines(vm, 'HEAD2_AGAIN ')),
          f'head2 is free (no lease was half-given), another client leases it: {states} '
          f'{lines(vm, "HEAD2_AGAIN ")}')


HOST['restart-inflight'] = host_restart_inflight


# The request the dead broker had recorded but not yet taken off the socket
# (broker/server.c, dispatch(): peek, record, take). strace SIGKILLs the
# broker at its 3rd recvmsg after it attached: the 1st takes the victim's
# HELLO, the 2nd peeks its ACQUIRE (MSG_PEEK), the table write recording
# it as in flight follows (its switch pwrite is the commit point,
# broker/fdstore-table.c), and the 3rd would take it off: the broker dies
# with the ACQUIRE in the table and still at the head of the socket. The restarted broker must handle it (LEASED), not answer
# CANCELLED: before the peek, a kill here lost the request (10 s timeout).
SCENARIOS['restart-unread'] = r"""
mkfifo /tmp/fq; exec 9<>/tmp/fq
kg-fdstore /run/notify.sock kmsgate-broker --config /etc/kmsgate.conf --log-level debug \
	<&9 >/tmp/fds.out 2>/tmp/broker.log &
F=$!
wait_file /tmp/fds.out 'FDSTORE READY' || echo "NO_READY"
P=$(sed -n 's/^FDSTORE READY pid=//p' /tmp/fds.out | tail -n 1)
strace -p $P -e trace=pwrite64,recvmsg -e inject=recvmsg:error=EIO:signal=KILL:when=3 \
	-o /tmp/strace.out 2>/tmp/strace.err &
S=$!
i=0; while ! grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/$P/status && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
lessee 1 --name victim acquire head2
wait_file /tmp/strace.out 'killed by SIGKILL' || echo "NO_STRACE_KILL"
wait $S
sed 's/^/STRACE /' /tmp/strace.out /tmp/strace.err
echo kill9 >&9
wait_file /tmp/fds.out 'FDSTORE KILLED' || echo "NO_KILL"
echo "ANSWERS_BEFORE_RESTART=$(grep -c '^LEASED\|^REFUSED' /tmp/l1.out)"
echo start >&9
i=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" != 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
wait_lessee 1 '^LEASED\|^REFUSED' || echo "NO_ANSWER victim"
kg-lessee list | sed 's/^/AFTER_RESTART /'
lquit 1
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
sed 's/^/FDS /' /tmp/fds.out
echo "--- broker log"; tail -n 80 /tmp/broker.log
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
NO_BROKER += ('restart-unread',)


def host_restart_unread(vm, check):
    vm.wait_for(r'^BROKER_EXIT=', timeout=240)
    out = '\n'.join(vm.output)
    calls = [ln for ln in lines(vm, 'STRACE ') if 'pwrite64(' in ln or 'recvmsg(' in ln]
    recv = [i for i, ln in enumerate(calls) if 'recvmsg(' in ln and '= -1 EAGAIN' not in ln]
    # The ACQUIRE was peeked (MSG_PEEK), then recorded (the table write's
    # last pwrite, the switch, done), and the recvmsg that would take it
    # killed: nothing took it off the socket.
    between = calls[recv[1] + 1:recv[2]] if len(recv) == 3 else []
    check(len(recv) == 3 and 'MSG_PEEK' in calls[recv[1]] and calls[recv[2]].endswith('= ?')
          and 'MSG_PEEK' not in calls[recv[2]]
          and any(re.search(r'pwrite64\(.*, 4, 32\)\s+= 4$', ln) for ln in between)
          and bool(re.search(r'STRACE \+\+\+ killed by SIGKILL', out)),
          f'strace killed the broker at the recvmsg taking the peeked ACQUIRE off the socket, '
          f'after the table write recording it: {[ln[:100] for ln in calls]}')
    check(value(vm, 'ANSWERS_BEFORE_RESTART') == '0', 'victim had no answer when the broker died')
    check(bool(re.search(r'the stored lease table has 0 lease\(s\), 1 connection\(s\), 0 '
                         r'waiter\(s\)', out)),
          'the restarted broker read the table (the victim\'s connection)')
    check(bool(re.search(r'client pid \d+: its ACQUIRE \(seq \d+\) was being read when the broker '
                         r'died; it is still in the socket and is handled now', out))
          and 'answering CANCELLED' not in out,
          'broker log: the recorded ACQUIRE was still at the head of the socket: no CANCELLED')
    answers = [ln for ln in vm.output if ln.startswith(('LEASED head2', 'REFUSED'))]
    check(len(answers) == 1 and answers[0].startswith('LEASED head2'),
          f'the restarted broker answered the ACQUIRE once, on the same connection: '
          f'LEASED: {answers}')
    states = pipeline_states(vm, 'AFTER_RESTART ')
    check(states.get('head2') not in (None, '0'),
          f'head2 is leased (to the victim) after the restart: {states}')


HOST['restart-unread'] = host_restart_unread


def fd_kinds(vm, key):
    """The last line FDS_...=N kind;N kind; -> {kind: N}"""
    found = [ln[len(key) + 1:] for ln in vm.output if ln.startswith(key + '=')]
    return {k: int(n) for n, k in re.findall(r'(\d+) (\w+);', found[-1] if found else '')}


def host_restart_clients(vm, check):
    vm.wait_for(r'^HOST killed$', timeout=240)
    head_is(vm, check, 1, RED, 'after the broker\'s kill -9')
    vm.send('go')
    vm.wait_for(r'^HOST restarted$', timeout=240)
    head_is(vm, check, 1, RED, 'after the broker\'s restart')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    out = '\n'.join(vm.output)
    fds = lines(vm, 'FDS ')
    stored = [ln.split()[3] for ln in fds if ln.startswith('FDS FDSTORE STORED ')]
    conns = [n for n in stored if not n.startswith(('lessee-', 'frame-'))]
    check(conns[:6] == ['drm-master', 'lease-table', 'kmsgate-listen', 'client-1', 'client-2',
                        'client-3'],
          f'the broker stored its own 3 fds, then each connection after its HELLO: {stored}')
    check(any(re.match(r'lessee-\d+-head1$', n) for n in stored),
          'and its copy of each lease fd (lessee-ID-PIPELINE)')
    check(value(vm, 'CONN_KEPT') == 'yes',
          'the client\'s connection never closed: no BROKER_GONE while the broker was dead')
    flips = [int(ln.split()[1]) for ln in vm.output if ln.startswith('FLIPS_NOW ')]
    check(len(flips) == 3 and flips[0] < flips[1] < flips[2],
          f'its lease flips on across the kill and the restart (FLIPS_NOW {flips})')
    first = re.search(r'pipeline head1 leased to pid \d+ uid 0 \(lessee (\d+)\)', out)
    adopted = re.search(r'pipeline head1: adopted the kernel\'s lease \(lessee (\d+)\) with its '
                        r'client\'s connection client-1', out)
    check(bool(first and adopted) and first.group(1) == adopted.group(1),
          f'the restarted broker took back lessee {first and first.group(1)} on head1 with '
          f'connection client-1: {adopted and adopted.group(0)}')
    mine = [ln for ln in vm.output if re.match(r'^PIPELINE head1 state=1 .* mine=1 ', ln)]
    done = [ln for ln in vm.output if ln.startswith('LIST_DONE ')]
    check(value(vm, 'LISTS_WHILE_DEAD') == '0' and done == ['LIST_DONE 0', 'LIST_DONE 0']
          and len(mine) == 2,
          f'a LIST sent while the broker was dead waited in the connection and was answered '
          f'by the restarted one, and so was one after: {done}, '
          f'{value(vm, "LISTS_WHILE_DEAD")} answered before the restart; head1 is its: '
          f'{mine[:1]}')
    after = {m[0]: (m[1], m[2]) for m in re.findall(
        r'AFTER_RESTART PIPELINE (\S+) state=(\d) .* lessee=(\S+)', out)}
    check(after.get('head1') == ('1', 'survivor') and after.get('head0', ('?',))[0] == '0'
          and after.get('head2', ('?',))[0] == '0',
          f'LIST: head1 leased to survivor (not an orphan), head0 free (doomed died while the '
          f'broker was down), head2 free: {after}')
    check(bool(re.search(r'FDS FDSTORE REMOVED client-2 n=1', out))
          and 'orphan' not in ' '.join(lines(vm, 'AFTER_RESTART ')),
          'the dead client\'s stored connection read EOF at once and was removed (client-2)')
    check(any('REFUSED EBUSY' in ln and 'leased to pid' in ln for ln in lines(vm, 'HEAD1_AGAIN ')),
          f'head1 is held by its client: {lines(vm, "HEAD1_AGAIN ")}')
    check(any(ln.startswith('HEAD2 LEASED head2') for ln in lines(vm, 'HEAD2 ')),
          f'a second client acquires another head: {lines(vm, "HEAD2 ")}')
    check('RELEASE ok' in vm.output, 'its RELEASE on the same connection is answered OK')
    check('EVENT PIPELINE_AVAILABLE head0 status=0' in vm.output,
          'a client connected across the restart hears that head0 became free (its lessee '
          'died while no broker ran)')
    check(bool(re.search(r'^LEASED head1 lessee=\d+', out, re.M)),
          'the waiter\'s place in head1\'s queue survived: it got head1 on the release')
    end = pipeline_states(vm, 'AFTER_CLIENTS ')
    check(end == {'head0': '0', 'head1': '0', 'head2': '0', 'head3': '0'},
          f'once the clients are gone everything is free: {end}')
    start, before = fd_kinds(vm, 'FDS_IDLE_START'), fd_kinds(vm, 'FDS_BEFORE')
    restarted, idle = fd_kinds(vm, 'FDS_AFTER'), fd_kinds(vm, 'FDS_IDLE_END')
    check(bool(start) and restarted.get('socket') == before.get('socket', 0) - 1,
          f'after the restart the broker has one socket less (doomed\'s): {before} -> '
          f'{restarted}')
    nodrm = {k: v for k, v in start.items() if k != 'drm'}
    # +2 DRM fds at most, each kept for a frame (on-release = keep): head1's
    # (survivor released it), and head0's: doomed died while no broker ran,
    # its lease lived on through the broker's stored copy of its fd until
    # the restarted broker read its connection's EOF and revoked it, and
    # head0 shows a frame (the console's) the broker cannot tell from one
    # of doomed's; closed when head0 shows another.
    check({k: v for k, v in idle.items() if k != 'drm'} == nodrm
          and idle.get('drm', 0) - start.get('drm', 0) in (0, 1, 2),
          f'idle again, the restarted broker has the fds it started with (+2 DRM fds at most: '
          f'kept frames of head1 and head0, on-release = keep): {start} -> {idle}')
    removed = {ln.split()[3] for ln in fds if ln.startswith('FDS FDSTORE REMOVED ')}
    check({'drm-master', 'lease-table', 'kmsgate-listen', 'client-1', 'client-3'} <= removed,
          f'every stored fd left the store (clients as they went, the rest on SIGTERM): '
          f'{sorted(removed)}')


HOST['restart-clients'] = host_restart_clients


def pipeline_states(vm, prefix):
    return dict(re.findall(r'PIPELINE (\S+) state=(\d)', ' '.join(lines(vm, prefix))))


def host_restart(vm, check, store=True):
    vm.wait_for(r'^HOST killed$', timeout=240)
    if store:
        head_is(vm, check, 1, RED, 'after the broker\'s kill -9')
    vm.send('go')
    vm.wait_for(r'^HOST restarted$', timeout=240)
    if store:
        head_is(vm, check, 1, RED, 'after the broker\'s restart')
    vm.send('go')
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    fds = lines(vm, 'FDS ')
    first = re.search(r'leased to pid \d+ uid 0 \(lessee (\d+)\)', '\n'.join(vm.output))
    after, later = pipeline_states(vm, 'AFTER_RESTART '), pipeline_states(vm, 'AFTER_CLIENT ')
    if store:
        check(value(vm, 'STORED_AT_START') == '3' and 'FDS FDSTORE STORED drm-master' in fds
              and 'FDS FDSTORE STORED lease-table' in fds
              and 'FDS FDSTORE STORED kmsgate-listen' in fds,
              f'the broker stored its master fd, lease table and listening socket: {fds[:4]}')
        check('FDS FDSTORE DROPPED client-1 (max 3)' in fds,
              'the client\'s connection did not fit the store (--max 3): its lease is the '
              'orphan case')
        check(value(vm, 'FLIPS_WITHOUT_BROKER') == 'yes',
              'the lessee flips on while the broker is dead (20 flip events)')
        adopted = re.search(r'pipeline head1: adopted the kernel\'s lease \(lessee (\d+)\)',
                            '\n'.join(vm.output))
        check(bool(first and adopted) and first.group(1) == adopted.group(1),
              f'the restarted broker adopted lessee {first and first.group(1)} on head1: '
              f'{adopted and adopted.group(0)}')
        check(after == {'head0': '0', 'head1': '1', 'head2': '0', 'head3': '0'},
              f'after the restart LIST shows head1 leased, the others free: {after}')
        check(any('REFUSED EBUSY' in ln for ln in lines(vm, 'HEAD1_AGAIN ')),
              f'nobody can acquire the orphaned head1: {lines(vm, "HEAD1_AGAIN ")}')
        check(any(ln.startswith('HEAD2 LEASED head2') for ln in lines(vm, 'HEAD2 ')),
              f'another head is leasable: {lines(vm, "HEAD2 ")}')
        check(value(vm, 'STILL_FLIPPING') == 'yes', 'the lessee still flips after the restart')
        check(value(vm, 'ORPHAN_GONE') == 'yes' and later.get('head1') == '0',
              f'when the client closes its lease the broker frees head1: {later}')
        check('FDS FDSTORE REMOVED drm-master n=1' in fds,
              'on SIGTERM the broker takes its master fd out of the store')
    else:
        check(any(ln.startswith('FDS FDSTORE DROPPED drm-master') for ln in fds),
              f'the store kept nothing (--max 0): {fds[:4]}')
        # At once (FLIPS_WITHOUT_BROKER=no) in every run but one: in the
        # CI run at a66696f the lessee still made 20 flips after its
        # connection closed, then failed with ENOENT before the restart,
        # so the dead broker's DRM file outlived its socket by >330 ms
        # there (why is not known yet: docs/recovery.md). What the store
        # changes is whether the lease survives at all.
        print(f'note: flips after the broker was gone: '
              f'{value(vm, "FLIPS_WITHOUT_BROKER")} (yes: 20 or more)')
        # EACCES when the flip meets the device without a master (the
        # kernel drops the dead lessor's master before it empties its
        # leases: docs/recovery.md, the kernel facts, case (a)), ENOENT
        # once the lease is empty: the CI run at f768f91 saw EACCES, the
        # runs before ENOENT. Either is the lease gone.
        failed = [ln for ln in vm.output if ln.startswith('FLIP_FAILED ')]
        check(bool(failed) and failed[0] in ('FLIP_FAILED ENOENT', 'FLIP_FAILED EACCES')
              and value(vm, 'STILL_FLIPPING') == 'no',
              f'without the store the lease dies with the broker (flip: ENOENT or EACCES): '
              f'{failed[:1]}')
        check(after.get('head1') == '0' and any('LEASED head1' in ln
                                                 for ln in lines(vm, 'HEAD1_AGAIN ')),
              f'and the restarted broker leases head1 anew: {after} {lines(vm, "HEAD1_AGAIN ")}')


HOST['restart'] = host_restart
HOST['restart-nostore'] = lambda vm, check: host_restart(vm, check, store=False)

HOST.update({
    'driver': host_driver, 'master-busy': host_master_busy,
    'caps': host_caps, 'slow-reader': host_slow_reader, 'version': host_version,
    'wait-queue': host_wait_queue, 'available': host_available, 'admin': host_admin,
    'groups': host_groups,
})


# The broker killed -9 again and again at random moments (tracker issue
# 12 item 4), under kg-fdstore --restart (systemd's Restart=always with the
# fd store, EMULATED: docs/recovery.md), while red and green flip on head0
# and head1 and a third client hammers it with LIST / ACQUIRE head2 /
# RELEASE on one connection, so that kills land in the middle of requests.
# DELAYS (seconds, from the seed) is how long to wait before each kill,
# counted from the moment the previous restart answered a LIST. Each kill:
# kg-lessee kill-broker (kill -9, then LIST over a new connection: the
# recovery time), the broker's log since the kill but for the lines every
# request writes (RESTART: what the restarted one took back), both flip counts
# with their longest gap since the previous round, the hammer's cycles.
# clients_now: "N fds=F rss=KB;" for the three clients (hammer: 2).
KILL9_LOOP = FDSTORE_SH + r"""
fdstore_start --restart
echo "FDS_IDLE_START=$(fds)"
lessee 0 --outlive-broker --name red show head0 ff0000
lessee 1 --outlive-broker --name green show head1 00ff00
wait_lessee 0 '^FLIPPED head0 10 ' || echo "NO_FLIPS head0"
wait_lessee 1 '^FLIPPED head1 10 ' || echo "NO_FLIPS head1"
lessee 2 --name hammer hammer head2
wait_log 'pipeline head2 leased to' || echo "NO_HAMMER head2"
grep 'pipeline head[01] leased to' /tmp/broker.log | sed 's/^/FIRST /'
clients_now() {
	for n in 0 1 2; do
		eval "p=\$L$n"
		printf '%s fds=%s rss=%s;' $n "$(ls /proc/$p/fd | wc -l)" "$(awk '/VmRSS/ { print $2 }' /proc/$p/status)"
	done
}
echo "CLIENTS_BEFORE=$(clients_now)"
echo flips >&3; echo flips >&4
echo "LOOP_START"
i=0
for d in $DELAYS; do
	i=$((i+1))
	sleep $d
	j=0; while [ "$(grep -c 'FDSTORE READY' /tmp/fds.out)" -lt $i ] && [ $j -lt 200 ]; do sleep 0.05; j=$((j+1)); done
	mark
	kg-lessee kill-broker $(bpid) | sed "s/^/KILL $i /"
	new_log | grep -v 'leased to pid\|revoked in\|ended (released)\|change event on\|connected (\|disconnected (' | sed "s/^/RESTART $i /"
	echo flips >&3; echo flips >&4; echo count >&5
done
echo "LOOP_DONE"
sleep 1
echo flips >&3; echo flips >&4
echo "CLIENTS_AFTER=$(clients_now)"
echo "CANCELLED_LOG=$(grep -c 'was being handled when the broker died; answering CANCELLED' /tmp/broker.log)"
echo "ORPHANS_LOG=$(grep -c 'orphan' /tmp/broker.log)"
echo quit >&5
wait_lessee 2 '^HAMMER ' || { echo "NO_HAMMER_END"; kill $L2; }
wait $L2 $T2
lquit 0 1
wait_clients 0 || echo "NOT_0_CLIENTS $(clients)"
echo "FDS_IDLE_END=$(fds)"
echo stop >&9
wait_file /tmp/fds.out 'FDSTORE EXITED' || echo "NO_EXIT"
echo quit >&9; wait $F
grep -v 'STORED\|REMOVED' /tmp/fds.out | sed 's/^/FDS /'
sed -n '/FDSTORE STOPPING/,$p' /tmp/fds.out | sed 's/^/FDS_END /'
echo "--- broker log"; tail -n 40 /tmp/broker.log
echo "BROKER_EXIT=$(sed -n 's/^FDSTORE EXITED status=//p' /tmp/fds.out)"
"""
NO_BROKER += ('kill9-loop',)
SCENARIOS['kill9-loop'] = KILL9_LOOP  # with DELAYS=... before it: kill9_loop_setup()
# Bounds, from runs of this test (docs/reliability.md): the longest time
# between two flip events of a flipping client across the kills, and how
# much a client's RSS may grow over all of them.
FLIP_GAP_MAX_MS = 400
CLIENT_RSS_GROWTH_KB = 512
# Between two screendump pairs while the kills go on (s).
SAMPLE_PAUSE = 0.05


def kill9_loop_setup(args):
    """The delays before each kill, from the seed, printed to replay them;
    the VM's time scaled to the count."""
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    delays = [f'{rng.uniform(0, 1.0):.3f}' for _ in range(args.kills)]
    print(f'kill9-loop: {args.kills} kills, seed {seed} (replay: --seed {seed} --kills '
          f'{args.kills}), delays {" ".join(delays)} s', flush=True)
    SCENARIOS['kill9-loop'] = f'DELAYS="{" ".join(delays)}"\n' + KILL9_LOOP
    args.timeout = max(args.timeout, 120 + 4 * args.kills)
    HOST['kill9-loop'] = lambda vm, check: host_kill9_loop(vm, check, args.kills)


def pcts(values):
    """'p50=.. p99=.. max=..' of a list of numbers."""
    v = sorted(values)
    at = lambda p: v[min(len(v) - 1, int(p / 100 * (len(v) - 1) + 0.5))]  # noqa: E731
    return f'p50={at(50):.1f} p99={at(99):.1f} max={v[-1]:.1f}' if v else 'none'


def sample_heads(vm, heads, until, timeout):
    """Screendumps of heads ({head: colour}) over and over until the guest
    prints the line until; returns ({head: samples}, [wrong ones])."""
    samples, wrong = {h: 0 for h in heads}, []
    end = time.monotonic() + timeout
    while True:
        for head, colour in heads.items():
            w, h, rgb = vm.screendump(head)
            samples[head] += 1
            bad = bad_points(w, h, rgb, colour) if (w, h) == (W, H) else [(0, 0)]
            if bad:
                got = f'{colour_at(w, rgb, *bad[0]):06x}' if (w, h) == (W, H) else 'off'
                wrong.append(f'head {head} {w}x{h}: {len(bad)} points not {colour:06x}, '
                             f'e.g. {bad[0]} = {got} (sample {samples[head]})')
        line = vm.readline(timeout=SAMPLE_PAUSE)
        while line is not None and line != until:
            line = vm.readline(timeout=0)
        if line == until:
            return samples, wrong
        if vm.status is not None or time.monotonic() > end:
            raise kgvm.VMError(f'no {until} within {timeout} s (VM status {vm.status})')


def host_kill9_loop(vm, check, kills):
    vm.wait_for(r'^LOOP_START$', timeout=240)
    t0 = time.monotonic()
    samples, wrong = sample_heads(vm, {0: RED, 1: GREEN}, 'LOOP_DONE', 60 + 4 * kills)
    loop_s = time.monotonic() - t0
    vm.wait_for(r'^BROKER_EXIT=', timeout=120)
    out = '\n'.join(vm.output)
    check(not wrong and min(samples.values()) >= kills,
          f'{samples[0]} + {samples[1]} screendumps of head0 and head1 during the kills all '
          f'red and green: {wrong[:3] or "yes"} ({len(wrong)} wrong)')
    rec = {int(m.group(1)): float(m.group(2))
           for m in re.finditer(r'^KILL (\d+) RECOVERED ms=([0-9.]+)', out, re.M)}
    check(sorted(rec) == list(range(1, kills + 1)),
          f'every kill -9 was followed by a broker answering LIST: {len(rec)} of {kills} '
          f'{[ln for ln in lines(vm, "KILL ") if "RECOVERED" not in ln][:3]}')
    fds = lines(vm, 'FDS ')
    died = [ln for ln in fds if ln.startswith('FDS FDSTORE DIED ')]
    check(len(died) == kills and all(ln == 'FDS FDSTORE DIED signal=9' for ln in died)
          and sum(ln.startswith('FDS FDSTORE READY ') for ln in fds) == kills + 1,
          f'the broker died {kills} times, each of SIGKILL (no crash), and was READY again '
          f'each time: {len(died)} deaths, {set(died)}')
    first = dict(re.findall(r'^FIRST .*pipeline (head[01]) leased to pid \d+ uid 0 '
                            r'\(lessee (\d+)\)', out, re.M))
    bad_adopt = []
    for i in range(1, kills + 1):
        got = dict(re.findall(rf'^RESTART {i} .*pipeline (head[01]): adopted the kernel\'s lease '
                              rf'\(lessee (\d+)\) with its client\'s connection client-\d+',
                              out, re.M))
        if len(first) != 2 or got != first:
            bad_adopt.append(f'kill {i}: {got}')
    check(not bad_adopt, f'after each kill the restarted broker adopted both leases '
          f'{first} with their clients\' connections: {bad_adopt[:3] or "yes"}')
    unread = [ln for ln in lines(vm, 'RESTART ') if 'table cannot be read' in ln]
    check(not unread, f'every restarted broker could read the stored lease table: {unread[:3]}')
    check(value(vm, 'ORPHANS_LOG') == '0', f'no orphaned lease: {value(vm, "ORPHANS_LOG")}')
    gaps = []
    for name, head in (('red', 'head0'), ('green', 'head1')):
        now = [(int(m.group(1)), float(m.group(2))) for m in
               re.finditer(rf'^FLIPS_NOW (\d+) {head} gap=([0-9.]+)', out, re.M)]
        counts = [n for n, _ in now]
        check(len(now) == kills + 2 and all(a < b for a, b in zip(counts, counts[1:])),
              f'{name} on {head}: its flip count rose over every kill and restart '
              f'({len(now)} counts, {counts[:1]} .. {counts[-1:]})')
        round_gaps = [g for _, g in now[1:]]
        gaps += round_gaps
        print(f'MEASURED {name} {head}: {counts[-1] - counts[0] if counts else 0} flips over '
              f'{kills} kills, longest gap between flip events per round '
              f'{pcts(round_gaps)} ms')
    check(bool(gaps) and max(gaps) < FLIP_GAP_MAX_MS,
          f'the longest gap between two flip events stayed under {FLIP_GAP_MAX_MS} ms: '
          f'{max(gaps) if gaps else None} ms')
    lost = lines(vm, 'BROKER_GONE') + lines(vm, 'REVOKED') + lines(vm, 'FLIP_FAILED')
    check(not lost, f'no connection closed, no lease revoked, no flip failed: {lost[:3]}')
    # NOT_HELD for a RELEASE is normal here: kg-lessee.c, hammer.
    ham = re.search(r'^HAMMER cycles=(\d+) ok=(\d+) cancelled=(\d+) not_held=(\d+) '
                    r'errors=(\d+) longest=([0-9.]+) fds_start=(\d+) fds_end=(\d+)$', out, re.M)
    errs = lines(vm, 'HAMMER_ERROR ')
    check(bool(ham) and ham.group(5) == '0' and not errs,
          f'the hammer got only answers and CANCELLED (or NOT_HELD for a RELEASE whose lease '
          f'was gone, and then LIST said so), no error and no timeout: '
          f'{ham and ham.group(0)} {errs[:3]}')
    # What the loop is for: some kills must land in the middle of a request.
    check(int(value(vm, 'CANCELLED_LOG') or 0) > 0,
          f'some kills landed in the middle of a request (the restarted broker answered '
          f'CANCELLED {value(vm, "CANCELLED_LOG")} times)')
    cycles = [int(m.group(1)) for m in re.finditer(r'^HAMMER_NOW cycles=(\d+)', out, re.M)]
    check(len(cycles) == kills and all(a < b for a, b in zip([0] + cycles, cycles)),
          f'the hammer went on between every two kills (cycles {cycles[:3]} .. {cycles[-1:]})')
    rounds = sorted(rec.values())
    print(f'MEASURED kill -9 -> restarted broker answers LIST: {len(rounds)} kills '
          f'{pcts(rounds)} ms')
    if ham:
        kinds = sorted(set(ln.split()[1] for ln in lines(vm, 'HAMMER_CANCELLED ')))
        print(f'MEASURED hammer: {ham.group(1)} cycles, {ham.group(3)} CANCELLED '
              f'({", ".join(kinds)}; the broker log says it answered {value(vm, "CANCELLED_LOG")}'
              f': libkmsgate drops those for requests already answered), {ham.group(4)} '
              f'RELEASE NOT_HELD, longest request {ham.group(6)} ms')
    print(f'MEASURED {samples[0]} + {samples[1]} screendumps in {loop_s:.1f} s of kills')
    before, after = ({n: (int(f), int(r)) for n, f, r in
                      re.findall(r'(\d) fds=(\d+) rss=(\d+);', ' '.join(lines(vm, k + '=')))}
                     for k in ('CLIENTS_BEFORE', 'CLIENTS_AFTER'))
    check(all(n in before and n in after and before[n][0] == after[n][0] for n in '01')
          and bool(ham) and ham.group(7) == ham.group(8),
          f'no fd growth in the clients: red, green '
          f'{[(before.get(n, (0,))[0], after.get(n, (0,))[0]) for n in "01"]}, '
          f'hammer {ham and (ham.group(7), ham.group(8))} (before, after)')
    grow = {n: after[n][1] - before[n][1] for n in '012' if n in before and n in after}
    check(len(grow) == 3 and max(grow.values()) <= CLIENT_RSS_GROWTH_KB,
          f'client RSS grew at most {CLIENT_RSS_GROWTH_KB} kB: {grow} kB (red, green, hammer; '
          f'before {before})')
    start, end = fd_kinds(vm, 'FDS_IDLE_START'), fd_kinds(vm, 'FDS_IDLE_END')
    # red and green released head0 and head1 (on-release = keep): the
    # broker keeps each one's lease fd for its frame, as a fresh one would.
    kept = dict(start, drm=start.get('drm', 0) + 2)
    check(bool(start) and kept == end,
          f'idle again, the {kills}-times restarted broker has the fds by kind of a fresh one '
          f'(+2 DRM fds: the kept frames of head0 and head1): '
          f'{start} -> {end}')
    removed = {ln.split()[3] for ln in lines(vm, 'FDS_END FDSTORE REMOVED ')}
    check({'drm-master', 'lease-table', 'kmsgate-listen'} <= removed,
          f'on SIGTERM its fds left the store: {sorted(removed)}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('scenario', choices=sorted(SCENARIOS))
    p.add_argument('broker')
    p.add_argument('lessee')
    p.add_argument('--timeout', type=float, default=500)
    p.add_argument('--notify', help='kg-notify (sd-* scenarios)')
    p.add_argument('--activate', help='systemd-socket-activate (sd-* scenarios)')
    p.add_argument('--leasefacts', help='kg-leasefacts (lease-facts)')
    p.add_argument('--fdstore', help='kg-fdstore (restart*, kill9-loop)')
    p.add_argument('--strace', help='strace (restart-inflight, restart-unread)')
    p.add_argument('--kills', type=int, default=20,
                   help='kill9-loop: how many times the broker is killed (20)')
    p.add_argument('--seed', type=int, help='kill9-loop: the seed of the delays before each '
                   'kill (default: a new one, printed; give it to replay the delays)')
    args = p.parse_args()
    if args.scenario == 'kill9-loop':
        kill9_loop_setup(args)
    check = Check()
    try:
        run(args, args.scenario, check)
    except kgvm.VMError as e:
        print(f'rig error: {e}', file=sys.stderr)
        return 99
    except Exception:  # the test itself broke: an ERROR, never a pass or a FAIL
        traceback.print_exc()
        print('rig error: the test script raised an exception', file=sys.stderr)
        return 99
    print('PASS' if not check.problems else f'FAIL: {len(check.problems)} problem(s)')
    return 1 if check.problems else 0


if __name__ == '__main__':
    sys.exit(main())
