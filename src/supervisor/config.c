/* The configuration's defaults and the counters: see config.h. */
#include "config.h"

struct config cfg = {
	.rt_step = NS_PER_S,
	.mono_step = 1000,
	.cpu_step = 1000,
	.tsc_step = 1000,
	.mono_start = 1000 * NS_PER_S,
	.state_dir = "/run/detbuild",
	.status_fd = -1,
	.release = "6.1.0-detbuild-amd64",
	.fs_view = true,
};
struct counters stats;
