/* Talking to /dev/fuse: see fusedev.h. */
#include "fusedev.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

void fuse_reply(int fd, uint64_t unique, int error, const void *data, size_t len)
{
	if (error || !data)
		len = 0;
	if (len > FUSE_MAX_REPLY)
		len = FUSE_MAX_REPLY;
	struct fuse_out_header h = { .len = (uint32_t)(sizeof h + len), .error = -error, .unique = unique };
	struct iovec v[2] = { { &h, sizeof h }, { (void *)data, len } };
	ssize_t ignored = writev(fd, v, len ? 2 : 1);
	(void)ignored;
}

void fuse_serve(int fd, void (*handle)(const struct fuse_in_header *in, const char *arg))
{
	size_t size = FUSE_MIN_READ_BUFFER + 65536;
	char *buf = malloc(size); /* one per serving thread */
	if (!buf)
		return;
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break; /* ENODEV: unmounted */
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		const struct fuse_in_header *in = (const void *)buf;
		handle(in, buf + sizeof *in);
	}
	free(buf);
}
