// SPDX-License-Identifier: MIT
/* kg_fdstore's pure part: which inherited fd is which, the lease table's
 * text (leases, stored connections, waiters), and which stored leases the
 * kernel still lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdstore.h"

static void test_classify_socket_and_store(void **state)
{
	const char *names[] = { "kmsgate-broker.socket", "drm-master", "lease-table" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(names, 3, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 0);
	assert_int_equal(r.master, 1);
	assert_int_equal(r.table, 2);
	/* The store's fds may come first, and a socket may be unnamed. */
	const char *names2[] = { "lease-table", "drm-master", "unknown" };
	assert_int_equal(kg_fdstore_classify(names2, 3, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 2);
	assert_int_equal(r.master, 1);
	assert_int_equal(r.table, 0);
}

static void test_classify_nothing_or_socket_only(void **state)
{
	const char *names[] = { "kmsgate-broker.socket" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(NULL, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, -1);
	assert_int_equal(r.master, -1);
	assert_int_equal(r.table, -1);
	assert_int_equal(kg_fdstore_classify(names, 1, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 0);
	assert_int_equal(r.master, -1);
}

static void test_classify_refuses_two_sockets_or_two_masters(void **state)
{
	const char *socks[] = { "a.socket", "drm-master", "b.socket" };
	const char *masters[] = { "drm-master", "drm-master" };
	struct kg_fdstore_roles r;
	char err[256];

	assert_int_equal(kg_fdstore_classify(socks, 3, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "two sockets (fds 3 and 5"));
	assert_int_equal(kg_fdstore_classify(masters, 2, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "two stored fds named drm-master"));
}

static void test_same_device(void **state)
{
	struct stat card = { .st_mode = S_IFCHR | 0660, .st_rdev = makedev(226, 0) };
	struct stat other = card, file = card;

	assert_true(kg_fdstore_same_device(&card, &card));
	other.st_rdev = makedev(226, 1);
	assert_false(kg_fdstore_same_device(&card, &other));
	file.st_mode = S_IFREG | 0644; /* a regular file's st_rdev means nothing */
	assert_false(kg_fdstore_same_device(&file, &card));
	assert_false(kg_fdstore_same_device(&card, &file));
}

static struct kg_fdstore_table tin, tout;

static void test_table_round_trip(void **state)
{
	static char buf[KG_FDSTORE_TABLE_MAX + 8];
	size_t len;

	memset(&tin, 0, sizeof(tin));
	tin.clients[0] = (struct kg_fdstore_client){ 3, 1, 0, 0, "survivor" };
	/* A name is free text: spaces, even at its end, or empty. */
	tin.clients[1] = (struct kg_fdstore_client){ .conn = 4294967295u,
						     .version = 1,
						     .inflight_seq = 5,
						     .inflight_type = 7,
						     .name = " a b " };
	tin.clients[2] = (struct kg_fdstore_client){ 9, 65535, 0, 0, "" };
	tin.n_clients = 3;
	tin.leases[0] = (struct kg_fdstore_entry){ 42, "head0", 3 };
	tin.leases[1] = (struct kg_fdstore_entry){ 4294967295u, "HDMI-A.1_x", 0 };
	tin.n_leases = 2;
	tin.waits[0] = (struct kg_fdstore_wait){ 9, 0, "head0" };
	tin.waits[1] = (struct kg_fdstore_wait){ 3, 4294967295u, "HDMI-A.1_x" };
	tin.n_waits = 2;
	len = kg_fdstore_table_format(&tin, buf, sizeof(buf));
	assert_string_equal(buf, "kmsgate-leases 2\n"
				 "c 3 1 0 0 survivor\n"
				 "c 4294967295 1 5 7  a b \n"
				 "c 9 65535 0 0 \n"
				 "l 42 3 head0\n"
				 "l 4294967295 0 HDMI-A.1_x\n"
				 "w 9 0 head0\n"
				 "w 3 4294967295 HDMI-A.1_x\n");
	/* The memfd may be longer than the text: NULs after it are ignored. */
	memset(buf + len, 0, 8);
	assert_int_equal(kg_fdstore_table_parse(buf, len + 8, &tout), 0);
	assert_int_equal(tout.n_clients, 3);
	assert_int_equal(tout.n_leases, 2);
	assert_int_equal(tout.n_waits, 2);
	assert_memory_equal(tout.clients, tin.clients, 3 * sizeof(tin.clients[0]));
	assert_memory_equal(tout.leases, tin.leases, 2 * sizeof(tin.leases[0]));
	assert_memory_equal(tout.waits, tin.waits, 2 * sizeof(tin.waits[0]));
	/* An empty table is a table. */
	memset(&tin, 0, sizeof(tin));
	len = kg_fdstore_table_format(&tin, buf, sizeof(buf));
	assert_int_equal(kg_fdstore_table_parse(buf, len, &tout), 0);
	assert_int_equal(tout.n_leases + tout.n_clients + tout.n_waits, 0);
}

static void test_table_reads_version_1(void **state)
{
	/* A broker upgraded across a crash: leases without connections. */
	static const char v1[] = "kmsgate-leases 1\n42 head0\n7 head1\n";

	assert_int_equal(kg_fdstore_table_parse(v1, strlen(v1), &tout), 0);
	assert_int_equal(tout.n_leases, 2);
	assert_int_equal(tout.n_clients, 0);
	assert_int_equal(tout.leases[1].lessee_id, 7);
	assert_int_equal(tout.leases[1].conn, 0);
	assert_string_equal(tout.leases[1].pipeline, "head1");
}

static void test_table_max_fits(void **state)
{
	static char buf[KG_FDSTORE_TABLE_MAX];

	memset(&tin, 0, sizeof(tin));
	for (size_t i = 0; i < KG_FDSTORE_MAX_LEASES; i++) {
		tin.leases[i].lessee_id = 4294967295u;
		tin.leases[i].conn = 4294967295u;
		memset(tin.leases[i].pipeline, 'x', KG_CONFIG_NAME_MAX - 1);
	}
	for (size_t i = 0; i < KG_FDSTORE_MAX_CLIENTS; i++) {
		tin.clients[i] = (struct kg_fdstore_client){ .conn = 4294967295u - (uint32_t)i,
							     .version = 65535,
							     .inflight_seq = 4294967295u,
							     .inflight_type = 65535 };
		memset(tin.clients[i].name, '~', KG_FDSTORE_CLIENT_NAME_LEN - 1);
	}
	for (size_t i = 0; i < KG_FDSTORE_MAX_WAITS; i++) {
		tin.waits[i] = (struct kg_fdstore_wait){ 4294967295u, 4294967295u };
		memset(tin.waits[i].pipeline, 'x', KG_CONFIG_NAME_MAX - 1);
	}
	tin.n_leases = KG_FDSTORE_MAX_LEASES;
	tin.n_clients = KG_FDSTORE_MAX_CLIENTS;
	tin.n_waits = KG_FDSTORE_MAX_WAITS;
	size_t len = kg_fdstore_table_format(&tin, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(kg_fdstore_table_parse(buf, len, &tout), 0);
	assert_int_equal(tout.n_clients, KG_FDSTORE_MAX_CLIENTS);
	assert_int_equal(kg_fdstore_table_format(&tin, buf, 40), 0); /* too small */
}

static void test_table_refuses_what_it_did_not_write(void **state)
{
	static const char *const bad[] = {
		"",
		"kmsgate-leases 3\nl 1 0 head0\n",	/* another version */
		"kmsgate-leases 2\nl 1 0 head0",	/* cut line */
		"kmsgate-leases 2\nl 0 0 head0\n",	/* lessee ids start at 1 */
		"kmsgate-leases 2\nl 4294967296 0 a\n", /* > u32 */
		"kmsgate-leases 2\nl 01 0 a\n",		/* not canonical */
		"kmsgate-leases 2\nl -1 0 a\n",
		"kmsgate-leases 2\nl 1 0 \n",
		"kmsgate-leases 2\nl 1 0 a b\n",	/* not a pipeline name */
		"kmsgate-leases 2\nl 1 head0\n",	/* a version 1 line */
		"kmsgate-leases 1\nl 1 0 head0\n",	/* a version 2 line */
		"kmsgate-leases 2\nl 1 0 head0\nad0\n", /* an older, longer text's tail */
		"kmsgate-leases 2\nl 1 0 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", /* too long */
		"kmsgate-leases 2\nc 0 1 0 0 x\n",     /* connections start at 1 */
		"kmsgate-leases 2\nc 1 0 0 0 x\n",     /* no version 0 */
		"kmsgate-leases 2\nc 1 65536 0 0 x\n", /* > u16 */
		"kmsgate-leases 2\nc 1 1 0 65536 x\n",
		"kmsgate-leases 2\nc 1 1 0 0\n", /* no space before the name */
		"kmsgate-leases 2\nc 1 1 0 0 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", /* 32 chars */
		"kmsgate-leases 2\nc 1 1 0 0 a\tb\n",		/* a control character */
		"kmsgate-leases 2\nc 1 1 0 0 a\nc 1 1 0 0 b\n", /* one connection twice */
		"kmsgate-leases 2\nw 0 1 head0\n",
		"kmsgate-leases 2\nw 1 1\n",
		"kmsgate-leases 2\nx 1 1 head0\n", /* an unknown record */
		"kmsgate-leases 2\nl  1 0 head0\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(kg_fdstore_table_parse(bad[i], strlen(bad[i]), &tout), -EINVAL);
	}
	/* A NUL inside a line is not the end of the text. */
	assert_int_equal(kg_fdstore_table_parse("kmsgate-leases 2\nc 1 1 0 0 a\0b\n", 29, &tout),
			 -EINVAL);
}

static void test_table_refuses_more_than_the_caps(void **state)
{
	static char buf[KG_FDSTORE_TABLE_MAX + 64];
	size_t len;

	memset(&tin, 0, sizeof(tin));
	for (size_t i = 0; i < KG_FDSTORE_MAX_LEASES; i++)
		tin.leases[i] = (struct kg_fdstore_entry){ (uint32_t)i + 1, "p", 0 };
	tin.n_leases = KG_FDSTORE_MAX_LEASES;
	len = kg_fdstore_table_format(&tin, buf, sizeof(buf));
	assert_int_equal(kg_fdstore_table_parse(buf, len, &tout), 0);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "l 999 0 p\n");
	assert_int_equal(kg_fdstore_table_parse(buf, len, &tout), -EINVAL);
}

static void test_client_names(void **state)
{
	assert_int_equal(kg_fdstore_client_conn("client-1"), 1);
	assert_int_equal(kg_fdstore_client_conn("client-4294967295"), 4294967295u);
	assert_int_equal(kg_fdstore_client_conn("client-0"), 0);
	assert_int_equal(kg_fdstore_client_conn("client-01"), 0);
	assert_int_equal(kg_fdstore_client_conn("client-4294967296"), 0);
	assert_int_equal(kg_fdstore_client_conn("client-"), 0);
	assert_int_equal(kg_fdstore_client_conn("client-1x"), 0);
	assert_int_equal(kg_fdstore_client_conn("client:1"), 0);
}

static void test_lessee_names(void **state)
{
	char pipe[KG_CONFIG_NAME_MAX];
	uint32_t fb;

	assert_int_equal(kg_fdstore_lessee_name("lessee-7-head0", pipe, &fb), 7);
	assert_string_equal(pipe, "head0");
	assert_int_equal(fb, 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-4294967295-HDMI-A-1", pipe, &fb),
			 4294967295u);
	assert_string_equal(pipe, "HDMI-A-1");
	assert_int_equal(kg_fdstore_lessee_name("frame-7-51-HDMI-A-1", pipe, &fb), 7);
	assert_string_equal(pipe, "HDMI-A-1");
	assert_int_equal(fb, 51);
	assert_int_equal(kg_fdstore_lessee_name("lessee-0-a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-07-a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-4294967296-a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-7-", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-7", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee--a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("lessee-7-a b", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("frame-7-a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("frame-7-0-a", pipe, &fb), 0);
	assert_int_equal(kg_fdstore_lessee_name("client-7-a", pipe, &fb), 0);
}

static void test_classify_connections_and_our_socket(void **state)
{
	const char *names[] = { "client-2",    "drm-master", "kmsgate-listen",
				"lease-table", "client-7",   "lessee-3-head0" };
	const char *both[] = { "kmsgate-listen", "kmsgate-broker.socket" };
	struct kg_fdstore_roles r;
	char err[256];

	/* Connections and lease fds are neither sockets of the unit nor an
	 * error. */
	assert_int_equal(kg_fdstore_classify(names, 6, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, -1);
	assert_int_equal(r.stored_listen, 2);
	assert_int_equal(r.master, 1);
	assert_int_equal(r.table, 3);
	/* Our stored socket and a socket unit's: both known, fdstore.c keeps
	 * the unit's. */
	assert_int_equal(kg_fdstore_classify(both, 2, &r, err, sizeof(err)), 0);
	assert_int_equal(r.listen, 1);
	assert_int_equal(r.stored_listen, 0);
}

static void test_keep_live(void **state)
{
	struct kg_fdstore_entry e[] = {
		{ 5, "a", 0 }, { 6, "b", 0 }, { 7, "c", 0 }, { 5, "d", 0 }
	};
	uint32_t live[] = { 7, 5, 99 };

	/* 6 is gone (its client closed it); 5 twice is kept once; 99 is a
	 * lessee the table does not know (left to the kernel). */
	assert_int_equal(kg_fdstore_keep_live(e, 4, live, 3), 2);
	assert_int_equal(e[0].lessee_id, 5);
	assert_string_equal(e[0].pipeline, "a");
	assert_int_equal(e[1].lessee_id, 7);
	assert_string_equal(e[1].pipeline, "c");
	assert_int_equal(kg_fdstore_keep_live(e, 2, NULL, 0), 0);
}

/* A table longer than a page: many connections with long names. */
static size_t big_table(struct kg_fdstore_table *t, size_t clients, char *buf, size_t cap)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < clients; i++) {
		t->clients[i] = (struct kg_fdstore_client){ (uint32_t)i + 1, 1, 0, 0, "" };
		snprintf(t->clients[i].name, sizeof(t->clients[i].name), "a client, long name %04u",
			 (unsigned)(i % 10000));
	}
	t->n_clients = clients;
	t->leases[0] = (struct kg_fdstore_entry){ 41, "head0", 1 };
	t->n_leases = 1;
	return kg_fdstore_table_format(t, buf, cap);
}

static size_t read_clients(int fd)
{
	static char file[KG_FDSTORE_TABLE_MAX + 1];
	ssize_t n = kg_fdstore_table_read(fd, file, sizeof(file) - 1);

	assert_true(n > 0);
	assert_int_equal(kg_fdstore_table_parse(file, (size_t)n, &tout), 0);
	return tout.n_clients;
}

/* The table file: a longer and then a shorter table each read back as
 * written; an older broker's single text at offset 0 is read, and the
 * first write turns the file into two slots. */
static void test_table_file_round_trip(void **state)
{
	static char buf[KG_FDSTORE_TABLE_MAX];
	int fd = memfd_create("test-lease-table", MFD_CLOEXEC);
	size_t len;

	assert_true(fd >= 0);
	/* An older broker's file: version 2 text, NUL padding after it. */
	len = big_table(&tin, 3, buf, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	assert_int_equal(pwrite(fd, "\0\0\0", 3, (off_t)len), 3);
	assert_int_equal(read_clients(fd), 3);
	for (size_t n = 200; n > 0; n = n > 1 ? n / 4 : 0) {
		len = big_table(&tin, n, buf, sizeof(buf));
		assert_true(n < 100 || len > 4096);
		assert_int_equal(kg_fdstore_table_write(fd, buf, len), 0);
		assert_int_equal(read_clients(fd), n);
		assert_memory_equal(tout.clients, tin.clients, n * sizeof(tin.clients[0]));
	}
	close(fd);
}

/* kill -9 of a broker writing a table of 1000 connections (about 40 KiB,
 * ten pages) at random moments: the file always reads as the old table
 * or the new one, never torn. */
static void test_table_file_survives_kill9(void **state)
{
	static char old[KG_FDSTORE_TABLE_MAX], new[KG_FDSTORE_TABLE_MAX];
	size_t old_len = big_table(&tin, 300, old, sizeof(old)), new_len;
	int fd = memfd_create("test-lease-table", MFD_CLOEXEC), seen[2] = { 0, 0 };

	assert_true(fd >= 0);
	new_len = big_table(&tin, 1000, new, sizeof(new));
	assert_true(new_len > 8 * 4096);
	srand(7);
	for (int i = 0; i < 200; i++) {
		pid_t pid;
		size_t n;

		assert_int_equal(kg_fdstore_table_write(fd, old, old_len), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			for (;;)
				kg_fdstore_table_write(fd, new, new_len);
		}
		usleep((useconds_t)(rand() % 300));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, NULL, 0), pid);
		n = read_clients(fd);
		assert_true(n == 300 || n == 1000);
		seen[n == 1000]++;
	}
	/* Both outcomes happened: the kills landed at different moments. */
	assert_true(seen[1] > 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_socket_and_store),
		cmocka_unit_test(test_classify_nothing_or_socket_only),
		cmocka_unit_test(test_classify_refuses_two_sockets_or_two_masters),
		cmocka_unit_test(test_same_device),
		cmocka_unit_test(test_table_round_trip),
		cmocka_unit_test(test_table_max_fits),
		cmocka_unit_test(test_table_refuses_what_it_did_not_write),
		cmocka_unit_test(test_table_reads_version_1),
		cmocka_unit_test(test_table_refuses_more_than_the_caps),
		cmocka_unit_test(test_client_names),
		cmocka_unit_test(test_lessee_names),
		cmocka_unit_test(test_classify_connections_and_our_socket),
		cmocka_unit_test(test_keep_live),
		cmocka_unit_test(test_table_file_round_trip),
		cmocka_unit_test(test_table_file_survives_kill9),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
