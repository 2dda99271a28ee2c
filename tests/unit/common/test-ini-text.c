// SPDX-License-Identifier: MIT
/*
 * kg_ini: the line each error names (long lines too), the first error
 * winning, inih's syntax errors against the handler's, the section
 * callback, and kg_ini_load's file errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdcount.h"
#include "ini-text.h"

/* A parser that fails on any key named "bad" or in a section named "bad",
 * and logs what it was called with. */
struct rec {
	struct kg_ini ini;
	char log[512];
	int keys;
};

static void log_add(struct rec *r, const char *what)
{
	size_t len = strlen(r->log);

	snprintf(r->log + len, sizeof(r->log) - len, "%s;", what);
}

static int on_section(void *user, const char *section)
{
	struct rec *r = user;
	char what[64];

	snprintf(what, sizeof(what), "[%s]", section);
	log_add(r, what);
	if (strcmp(section, "bad") == 0)
		return kg_ini_fail(&r->ini, "section [%s] is bad", section);
	return 1;
}

static int on_key(void *user, const char *name, const char *value)
{
	struct rec *r = user;
	char what[64];

	snprintf(what, sizeof(what), "%s=%s", name, value);
	log_add(r, what);
	r->keys++;
	if (strcmp(name, "bad") == 0)
		return kg_ini_fail(&r->ini, "'%s' is bad in section [%s]", value,
				   kg_ini_section(&r->ini));
	return 1;
}

static const struct kg_ini_ops rec_ops = { .section = on_section, .key = on_key };

static int parse(struct rec *r, const char *text, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	return kg_ini_parse(&r->ini, text, &rec_ops, r, err, errlen);
}

static void parse_fails(const char *text, const char *want)
{
	struct rec r;
	char err[256] = "";

	assert_int_equal(parse(&r, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

static void test_keys_in_order_section_called_on_change(void **state)
{
	struct rec r;
	char err[256] = "";

	assert_int_equal(parse(&r, "[a]\nx = 1\ny = 2\n[b]\nz = 3\n[a]\nw = 4\n", err, sizeof(err)),
			 0);
	assert_string_equal(r.log, "[a];x=1;y=2;[b];z=3;[a];w=4;");
	assert_string_equal(err, "");
}

static void test_handler_error_names_its_line(void **state)
{
	parse_fails("[a]\n; a comment\n\nx = 1\nbad = 7\n", "line 5: '7' is bad in section [a]");
}

static void test_section_error_names_its_first_key_line(void **state)
{
	/* inih calls nothing for a header: the first key is where it is seen. */
	parse_fails("[a]\nx = 1\n[bad]\n\ny = 2\n", "line 5: section [bad] is bad");
}

static void test_first_error_wins_and_stops_calls(void **state)
{
	struct rec r;
	char err[256] = "";

	assert_int_equal(parse(&r, "[a]\nbad = 1\nbad = 2\nx = 3\n[b]\ny = 4\n", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "line 2: '1' is bad in section [a]");
	assert_int_equal(r.keys, 1);
}

static void test_key_outside_any_section(void **state)
{
	parse_fails("\nx = 1\n[a]\n", "line 2: 'x' is outside any section");
}

static void test_syntax_error_before_handler_error(void **state)
{
	parse_fails("[a]\nnot a key\nbad = 1\n",
		    "line 2: syntax error (expected [section] or key = value)");
}

static void test_handler_error_before_syntax_error(void **state)
{
	parse_fails("[a]\nbad = 1\nnot a key\n", "line 2: '1' is bad in section [a]");
}

static void test_syntax_error_on_last_line_without_newline(void **state)
{
	parse_fails("[a]\nx = 1\n[b", "line 3: syntax error (expected [section] or key = value)");
}

/* inih reads a line longer than its buffer (200 bytes) in pieces: the first
 * piece names the line, and the lines after it keep their numbers. */
static void test_long_line_is_an_error_on_its_line(void **state)
{
	char text[1024];

	snprintf(text, sizeof(text), "[a]\nx = 1\n; %0600d = 1\nbad = 2\n", 0);
	parse_fails(text, "line 3: the line is longer than 198 characters");
}

/* 198 characters and the newline fill inih's buffer; one more is too long. */
static void test_line_that_fills_the_buffer_is_fine(void **state)
{
	struct rec r;
	char text[512], err[256] = "";

	snprintf(text, sizeof(text), "[a]\nx = %0194d\nbad = 2\n", 0);
	assert_int_equal(parse(&r, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 3: '2' is bad in section [a]");
	assert_int_equal(r.keys, 2);
	snprintf(text, sizeof(text), "[a]\nx = %0195d\nbad = 2\n", 0);
	parse_fails(text, "line 2: the line is longer than 198 characters");
}

/* The last line needs no newline, even when it fills the buffer. */
static void test_last_line_without_newline_fills_the_buffer(void **state)
{
	struct rec r;
	char text[512], err[256] = "";

	snprintf(text, sizeof(text), "[a]\nx = %0195d", 0);
	assert_int_equal(parse(&r, text, err, sizeof(err)), 0);
	assert_int_equal(r.keys, 1);
}

static void test_empty_text(void **state)
{
	struct rec r;
	char err[64] = "";

	assert_int_equal(parse(&r, "", err, sizeof(err)), 0);
	assert_string_equal(r.log, "");
}

/* kg_ini_load's parse: a struct rec * behind out. */
static int parse_rec(const char *text, void *out, char *err, size_t errlen)
{
	return parse(out, text, err, errlen);
}

static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void test_load_prefixes_the_path(void **state)
{
	char path[] = "/tmp/kg-ini-test-XXXXXX", want[320], err[320] = "";
	int fds = kg_test_fd_count();
	struct rec r;

	write_file(path, "[a]\nx = 1\nbad = 2\n");
	assert_int_equal(kg_ini_load(path, parse_rec, &r, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: line 3: '2' is bad in section [a]", path);
	assert_string_equal(err, want);
	assert_int_equal(kg_test_fd_count(), fds);
	unlink(path);
}

static void test_load_ok(void **state)
{
	char path[] = "/tmp/kg-ini-test-XXXXXX", err[320] = "";
	int fds = kg_test_fd_count();
	struct rec r;

	write_file(path, "[a]\nx = 1\n");
	assert_int_equal(kg_ini_load(path, parse_rec, &r, err, sizeof(err)), 0);
	assert_string_equal(r.log, "[a];x=1;");
	assert_int_equal(kg_test_fd_count(), fds);
	unlink(path);
}

static void test_load_missing_file(void **state)
{
	char err[320] = "";
	struct rec r = { .keys = -1 };

	assert_int_equal(kg_ini_load("/nonexistent/kg.conf", parse_rec, &r, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot open /nonexistent/kg.conf: No such file or directory");
	assert_int_equal(r.keys, -1); /* parse was not called */
}

static void test_load_refuses_a_directory(void **state)
{
	char err[320] = "";
	struct rec r;

	assert_int_equal(kg_ini_load("/tmp", parse_rec, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp is not a regular file of at most 1024 KiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_in_order_section_called_on_change),
		cmocka_unit_test(test_handler_error_names_its_line),
		cmocka_unit_test(test_section_error_names_its_first_key_line),
		cmocka_unit_test(test_first_error_wins_and_stops_calls),
		cmocka_unit_test(test_key_outside_any_section),
		cmocka_unit_test(test_syntax_error_before_handler_error),
		cmocka_unit_test(test_handler_error_before_syntax_error),
		cmocka_unit_test(test_syntax_error_on_last_line_without_newline),
		cmocka_unit_test(test_long_line_is_an_error_on_its_line),
		cmocka_unit_test(test_line_that_fills_the_buffer_is_fine),
		cmocka_unit_test(test_last_line_without_newline_fills_the_buffer),
		cmocka_unit_test(test_empty_text),
		cmocka_unit_test(test_load_prefixes_the_path),
		cmocka_unit_test(test_load_ok),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_refuses_a_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
