// SPDX-License-Identifier: MIT
#include "ini-text.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textfile.h"

int kg_ini_fail(struct kg_ini *ini, const char *fmt, ...)
{
	va_list ap;

	if (!ini->failed) {
		ini->err_line = ini->line;
		va_start(ap, fmt);
		vsnprintf(ini->err, sizeof(ini->err), fmt, ap);
		va_end(ap);
	}
	ini->failed = true;
	return 0; /* inih: remember this line as an error */
}

const char *kg_ini_section(const struct kg_ini *ini)
{
	return ini->section ? ini->section : "";
}

static int enter_section(struct kg_ini *ini, const char *section)
{
	free(ini->section);
	ini->section = strdup(section);
	if (!ini->section)
		return kg_ini_fail(ini, "out of memory");
	return ini->ops->section(ini->user, section);
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct kg_ini *ini = user;

	/* inih goes on after an error to find syntax errors; the first error
	 * is the one reported, and the parser's state may be half-built. */
	if (ini->failed)
		return 0;
	if (section[0] == '\0')
		return kg_ini_fail(ini, "'%s' is outside any section", name);
	if (!ini->section || strcmp(section, ini->section) != 0) {
		if (!enter_section(ini, section))
			return 0;
	}
	if (!value)
		return kg_ini_fail(ini, "'%s' has no value", name);
	return ini->ops->key(ini->user, name, value);
}

/* fgets() over the string, counting lines. */
static char *read_line(char *buf, int size, void *user)
{
	struct kg_ini *ini = user;
	const char *nl;
	size_t n;

	if (*ini->pos == '\0' || size < 2)
		return NULL;
	if (ini->at_line_start)
		ini->line++;
	nl = strchr(ini->pos, '\n');
	n = nl ? (size_t)(nl - ini->pos) + 1 : strlen(ini->pos);
	if (n > (size_t)size - 1)
		n = (size_t)size - 1;
	memcpy(buf, ini->pos, n);
	buf[n] = '\0';
	ini->pos += n;
	ini->at_line_start = buf[n - 1] == '\n';
	/* inih would take the rest of a line longer than its buffer for the
	 * next line: a syntax error on a line that is not there, or a key, and
	 * its line numbers would no longer be ours. */
	if (!ini->at_line_start && *ini->pos != '\0')
		kg_ini_fail(ini, "the line is longer than %d characters", size - 2);
	return buf;
}

int kg_ini_parse(struct kg_ini *ini, const char *text, const struct kg_ini_ops *ops, void *user,
		 char *err, size_t errlen)
{
	int line;

	*ini = (struct kg_ini){ .ops = ops, .user = user, .pos = text, .at_line_start = true };
	line = ini_parse_stream(read_line, ini, on_ini, ini);
	free(ini->section);
	ini->section = NULL;
	if (line == 0)
		return 0;
	/* inih reports the first bad line: ours (a handler said no) or a
	 * syntax error it found on its own. */
	if (line < 0)
		snprintf(err, errlen, "out of memory");
	else if (ini->failed && ini->err_line <= line)
		snprintf(err, errlen, "line %d: %s", ini->err_line, ini->err);
	else
		snprintf(err, errlen, "line %d: syntax error (expected [section] or key = value)",
			 line);
	return line < 0 ? -ENOMEM : -EINVAL;
}

int kg_ini_load(const char *path, kg_ini_parse_fn *parse, void *out, char *err, size_t errlen)
{
	char *text = NULL;
	char msg[320];
	int ret;

	ret = kg_textfile_read(path, KG_INI_FILE_MAX, &text, err, errlen);
	if (ret < 0)
		return ret;
	ret = parse(text, out, msg, sizeof(msg));
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	free(text);
	return ret;
}
