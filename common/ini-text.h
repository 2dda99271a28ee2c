/* SPDX-License-Identifier: MIT */
/*
 * kg_ini: libinih over a string, for the configuration files (the broker's
 * kmsgate.conf, kmsgate-vgpu's vgpu.conf). inih passes the handler no line
 * numbers, so this counts them and keeps the first error the handler found
 * with its line: "line 3: 'mode' is set twice in section [a]".
 *
 * It also refuses what no kmsgate file allows: a key before any [section],
 * a key without "= value", and a line longer than inih's buffer (198
 * characters with the usual 200-byte INI_MAX_LINE), which inih would read as
 * two lines.
 */
#ifndef KG_INI_TEXT_H
#define KG_INI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Larger is a broken file, not a config. */
#define KG_INI_FILE_MAX (1 << 20)

/*
 * What a parser does with the file. Each returns 1 to go on, or 0 after
 * kg_ini_fail(); after a failure neither is called again.
 */
struct kg_ini_ops {
	/* inih moved to a section named differently from the last one, at
	 * that section's first key. inih does not report a repeated header: a
	 * section that comes back after another is called again. */
	int (*section)(void *user, const char *section);
	/* "name = value" in that section. */
	int (*key)(void *user, const char *name, const char *value);
};

/*
 * The reader's state during kg_ini_parse(): a parser embeds it in its own
 * context, so that its helpers can call kg_ini_fail() with what they have.
 * The fields are this module's.
 */
struct kg_ini {
	const struct kg_ini_ops *ops;
	void *user;
	const char *pos;    /* the rest of the text */
	int line;	    /* the number of the line inih is reading */
	bool at_line_start; /* the next read starts a line (inih reads long lines in pieces) */
	char *section;	    /* the current section, NULL before the first */
	char err[256];	    /* the first error */
	int err_line;
	bool failed;
};

/*
 * Parses text, calling ops with user. Returns 0, or -EINVAL with "line N:
 * what" in err (the first error: the handler's or inih's syntax error), or
 * -ENOMEM.
 */
int kg_ini_parse(struct kg_ini *ini, const char *text, const struct kg_ini_ops *ops, void *user,
		 char *err, size_t errlen);

/*
 * For the ops: records what is wrong with the current line, unless an error
 * was recorded before (the first one is the one to fix). Returns 0, what the
 * ops return to say no.
 */
int kg_ini_fail(struct kg_ini *ini, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current section's name, for messages. */
const char *kg_ini_section(const struct kg_ini *ini);

/* A parser of a whole file's text, such as kg_config_parse: out is its own. */
typedef int kg_ini_parse_fn(const char *text, void *out, char *err, size_t errlen);

/*
 * Reads path (a regular file of at most KG_INI_FILE_MAX bytes) and parses it
 * with parse. Returns what parse returns, with "PATH: " before its error, or
 * -errno from opening or reading the file (err says which).
 */
int kg_ini_load(const char *path, kg_ini_parse_fn *parse, void *out, char *err, size_t errlen);

#endif
