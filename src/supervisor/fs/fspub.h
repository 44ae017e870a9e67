/* The filesystem view's identities as published for the stat shim: a table
 * the supervisor writes (fspub.c) and every build process maps read-only
 * (statshim.c), so that a stat of a file whose identity is already known is
 * answered in the process, without a stop.
 *
 *   [0, 4096)    struct fspub_header
 *   [4096, ...)  struct fspub_entry[FSPUB_SLOTS], open addressing on the
 *                real (dev, ino), linear probing; an entry is never moved or
 *                reused (a dropped identity stays as a dead entry)
 *
 * Each entry has its own sequence counter: odd while the supervisor writes
 * it, 0 while unused.  A reader copies the entry and uses the copy only if
 * the counter was even and unchanged across the copy; anything else (an
 * entry being written, no entry, a full table) sends the call to the
 * supervisor, which then answers it the usual way. */
#ifndef DETBUILD_FSPUB_H
#define DETBUILD_FSPUB_H

#include <stdint.h>

#include "../shared.h"

#define FSPUB_MAGIC 0x3162757073667464ULL /* "dtfspub1" */
#define FSPUB_SLOTS (1UL << 18)
#define FSPUB_MAX_LIVE (FSPUB_SLOTS / 10 * 7)
#define FSPUB_HDR_LEN 4096UL
#define FSPUB_LEN (FSPUB_HDR_LEN + FSPUB_SLOTS * sizeof(struct fspub_entry))
/* where the table's socket address sits in the clock table's header page
 * (shared.h), which every build process has mapped: uint32_t length, then
 * the struct sockaddr_un (length 0: no table, every stat goes to the supervisor) */
#define FSPUB_ADDR_OFF 2048UL
/* where a build process maps it: beside the substitute vDSO and the clock
 * table (shared.h), far below where mmap places anything, so that mapping it
 * moves no address the program later gets (Python's id() of an object names
 * its temporary files) */
#define FSPUB_MAP_ADDR (DT_VDSO_BASE + 0x100000000UL)

enum { FSPUB_TRACKED = 1, FSPUB_INSTALLED = 2, FSPUB_DEAD = 4 };

struct fspub_header {
	uint64_t magic;
	uint64_t nslots;
	int64_t epoch_ns;
};

struct fspub_entry {
	uint32_t seq;
	uint32_t flags;
	uint32_t vdev, pad;
	uint64_t dev, ino, vino; /* dev, ino: the real ones (0, 0 is stored as 0, ~0) */
	int64_t a, m, c, b;
};

static inline uint64_t fspub_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t fspub_slot(uint64_t dev, uint64_t ino)
{
	return fspub_mix(dev * 0x9e3779b97f4a7c15ULL ^ ino) & (FSPUB_SLOTS - 1);
}

#endif
