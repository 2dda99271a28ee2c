// SPDX-License-Identifier: MIT
/*
 * Fuzz target 'fdstore-table': the lease table a restarted broker reads
 * from systemd's fd store (broker/fdstore-table.c, versions 1 and 2). The
 * memfd outlives a crashed broker, so its text may be torn or stale.
 * Beyond "no crash": every accepted table keeps the parser's promises
 * (counts within the caps, ids >= 1, names of the allowed characters, one
 * line per connection), and writing it out again gives a table that parses
 * to the same records and the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fdstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kg_fdstore_table t1, t2;
static char text1[KG_FDSTORE_TABLE_MAX], text2[KG_FDSTORE_TABLE_MAX];

static void check_table(const struct kg_fdstore_table *t)
{
	if (t->n_leases > KG_FDSTORE_MAX_LEASES || t->n_clients > KG_FDSTORE_MAX_CLIENTS ||
	    t->n_waits > KG_FDSTORE_MAX_WAITS)
		abort();
	for (size_t i = 0; i < t->n_leases; i++) {
		if (t->leases[i].lessee_id == 0 || !t->leases[i].pipeline[0])
			abort();
	}
	for (size_t i = 0; i < t->n_clients; i++) {
		const struct kg_fdstore_client *c = &t->clients[i];

		if (c->conn == 0 || c->version == 0 ||
		    strnlen(c->name, sizeof(c->name)) == sizeof(c->name))
			abort();
		for (size_t j = 0; j < i; j++) {
			if (t->clients[j].conn == c->conn)
				abort();
		}
	}
	for (size_t i = 0; i < t->n_waits; i++) {
		if (t->waits[i].conn == 0 || !t->waits[i].pipeline[0])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t l1, l2;

	if (kg_fdstore_table_parse((const char *)data, size, &t1) < 0)
		return 0;
	check_table(&t1);
	l1 = kg_fdstore_table_format(&t1, text1, sizeof(text1));
	if (l1 == 0 || kg_fdstore_table_parse(text1, l1, &t2) < 0)
		abort(); /* what we accept we can write, and read back */
	if (t2.n_leases != t1.n_leases || t2.n_clients != t1.n_clients ||
	    t2.n_waits != t1.n_waits ||
	    memcmp(t2.leases, t1.leases, t1.n_leases * sizeof(t1.leases[0])) != 0 ||
	    memcmp(t2.clients, t1.clients, t1.n_clients * sizeof(t1.clients[0])) != 0 ||
	    memcmp(t2.waits, t1.waits, t1.n_waits * sizeof(t1.waits[0])) != 0)
		abort();
	l2 = kg_fdstore_table_format(&t2, text2, sizeof(text2));
	if (l2 != l1 || memcmp(text1, text2, l1) != 0)
		abort();
	return 0;
}
