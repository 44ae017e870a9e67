#include "stream.h"

#include "sha256.h"

#include <string.h>

void stream_fill(const uint8_t key[32], uint64_t pos, uint8_t *out, size_t len)
{
	uint8_t blk[32];
	while (len > 0) {
		uint64_t idx = pos / 32;
		size_t off = (size_t)(pos % 32);
		uint8_t ctr[8];
		for (int i = 0; i < 8; i++)
			ctr[i] = (uint8_t)(idx >> (8 * i));
		sha256_3(blk, key, 32, ctr, 8, NULL, 0);
		size_t take = 32 - off < len ? 32 - off : len;
		memcpy(out, blk + off, take);
		out += take;
		pos += take;
		len -= take;
	}
}

void stream_derive(uint8_t key[32], const uint8_t parent[32], const char *label, uint64_t n)
{
	uint8_t ctr[8];
	for (int i = 0; i < 8; i++)
		ctr[i] = (uint8_t)(n >> (8 * i));
	sha256_3(key, parent, 32, label, strlen(label), ctr, 8);
}
