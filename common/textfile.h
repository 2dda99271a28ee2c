/* SPDX-License-Identifier: MIT */
/*
 * kg_textfile_read: a configuration file read whole into memory, for a
 * parser that takes a string (libinih's ini_parse_string): the broker's
 * kmsgate.conf and kmsgate-vgpu's vgpu.conf.
 */
#ifndef KG_TEXTFILE_H
#define KG_TEXTFILE_H

#include <stddef.h>

/* Reads path (a regular file of at most max bytes) into *text, NUL
 * terminated, to be freed by the caller. Returns 0, or -errno with err
 * saying what failed and why. */
int kg_textfile_read(const char *path, size_t max, char **text, char *err, size_t errlen);

#endif
