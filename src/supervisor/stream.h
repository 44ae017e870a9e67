/* Deterministic random streams: block i of stream K is sha256(K ‖ i as 8 bytes LE). */
#ifndef DETBUILD_STREAM_H
#define DETBUILD_STREAM_H
#include <stddef.h>
#include <stdint.h>

/* Fill out[0..len) with bytes [pos, pos+len) of the stream keyed by key. */
void stream_fill(const uint8_t key[32], uint64_t pos, uint8_t *out, size_t len);
/* key = sha256(parent ‖ label ‖ n) */
void stream_derive(uint8_t key[32], const uint8_t parent[32], const char *label, uint64_t n);

#endif
