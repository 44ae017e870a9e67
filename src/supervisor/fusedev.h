/* The two FUSE file systems of the supervisor (entropyfs.c, procview.c) talk to
 * /dev/fuse the same way: one reply per request, one serving loop per thread. */
#ifndef DETBUILD_FUSEDEV_H
#define DETBUILD_FUSEDEV_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

/* the largest reply written (a longer one is cut to it) */
#define FUSE_MAX_REPLY 131072

/* answers request `unique`: an error (positive errno), or `len` bytes of `data` */
void fuse_reply(int fd, uint64_t unique, int error, const void *data, size_t len);

/* reads requests until the file system is unmounted, each handed to `handle` */
void fuse_serve(int fd, void (*handle)(const struct fuse_in_header *in, const char *arg));

#endif
