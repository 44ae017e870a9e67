/* SHA-256 (FIPS 180-4), used to derive every deterministic stream from the seed. */
#ifndef DETBUILD_SHA256_H
#define DETBUILD_SHA256_H
#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[32]);
/* out = sha256(a ‖ b ‖ c) with optional (NULL, 0) parts */
void sha256_3(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen);

#endif
