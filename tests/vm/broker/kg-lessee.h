/* SPDX-License-Identifier: MIT */
#ifndef KG_LESSEE_H
#define KG_LESSEE_H

double kg_now_ms(void);
/* The hostile client (hostile.c): returns 0 when the broker answered every
 * abuse as documented and still serves. */
int kg_hostile(const char *sock, int connections);
/* A blocking SOCK_SEQPACKET connection to path, or -1 (errno set). */
int kg_dial(const char *path);

/* Raw-protocol clients (raw.c); each prints what it saw, see there. */
int kg_raw_conns(const char *sock, int n);
int kg_raw_idle(const char *sock);
int kg_raw_noread(const char *sock, int max);
int kg_raw_version(const char *sock);
int kg_raw_waiters(const char *sock, const char *name, int n);

#endif
