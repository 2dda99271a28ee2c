/* SPDX-License-Identifier: MIT */
#ifndef KG_LESSEE_H
#define KG_LESSEE_H

double kg_now_ms(void);
/* The hostile client (hostile.c): returns 0 when the broker answered every
 * abuse as documented and still serves. */
int kg_hostile(const char *sock, int connections);

#endif
