/* getrandom(): the bytes of a stream derived from the calling thread's
 * identity (its lineage), continued across calls.  /dev/urandom and friends
 * are served by entropyfs.c (FUSE) or, without it, urandom.c. */
#include "supervisor.h"
#include "stream.h"
#include "verdict.h"

#include <errno.h>

struct verdict random_on_getrandom(struct thread *t, struct user_regs_struct *r)
{
	size_t len = (size_t)r->rsi;
	if (len > 33554431)
		len = 33554431;
	uint8_t key[32], buf[65536];
	stream_derive(key, t->lineage, "getrandom", 0);
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < sizeof buf ? len - done : sizeof buf;
		stream_fill(key, t->rand_pos, buf, n);
		if (mem_write(t->tid, r->rdi + done, buf, n) < 0)
			return SKIP(done ? (long)done : -EFAULT);
		t->rand_pos += n;
		done += n;
	}
	stats.random_traps++;
	stats.random_bytes += len;
	return SKIP((long)len);
}
