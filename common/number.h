/* SPDX-License-Identifier: MIT */
/* Decimal numbers in command-line options and the broker's configuration:
 * sizes, rates, indices, object and user ids all parse the same strict way. */
#ifndef KG_NUMBER_H
#define KG_NUMBER_H

#include <stdbool.h>
#include <stdint.h>

/* Parses s as a decimal number of at most max: digits only (no sign, no
 * space, nothing after). Returns false, *out untouched, for anything else. */
bool kg_number_parse_u32(const char *s, uint32_t max, uint32_t *out);

#endif
