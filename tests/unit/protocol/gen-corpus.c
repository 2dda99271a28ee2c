// SPDX-License-Identifier: MIT
/* Writes one file per valid sample message into DIR: the fuzz target's seed
 * corpus (tests/fuzz/corpus/proto/). Usage: gen-corpus DIR */
#include <stdio.h>

#include "kmsgate-proto.h"
#include "samples.h"

int main(int argc, char **argv)
{
	uint8_t buf[KG_PROTO_MAX_MSG_SIZE];

	if (argc != 2) {
		fprintf(stderr, "usage: gen-corpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i < kg_sample_count(); i++) {
		struct kg_proto_msg m;
		char path[4096];
		ssize_t n;
		FILE *f;

		kg_sample(i, &m);
		n = kg_proto_encode(&m, buf, sizeof(buf));
		if (n < 0)
			return 1;
		snprintf(path, sizeof(path), "%s/%02zu-%s", argv[1], i, kg_proto_type_name(m.type));
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
			return 1;
	}
	return 0;
}
