/* The status line the engine reads at the end (--status-fd): the build's
 * exit code or signal, the counters (config.h), the view's counters and the
 * limits hit.  One JSON object on one line. */
#include "supervisor.h"
#include "stops.h"

#include <stdio.h>

void status_report(int fd, int code, int sig)
{
	cfg.status_sent = 1;
	if (fd < 0)
		return;
	char limits[512];
	limits_json(limits, sizeof limits);
	dprintf(fd,
		"{\"exitCode\":%d,\"signal\":%d,\"execs\":%llu,\"forks\":%llu,\"threads\":%llu,"
		"\"timeTraps\":%llu,\"randomTraps\":%llu,\"randomBytes\":%llu,\"opensRedirected\":%llu,"
		"\"timedWaits\":%llu,\"timedOut\":%llu,\"reaps\":%llu,\"rdtsc\":%llu,\"cpuid\":%llu,"
		"\"vdsoFallbacks\":%llu,\"identityTraps\":%llu,\"opens\":%llu,\"settled\":%llu,"
		"\"fsStats\":%llu,\"fsStatsAtExit\":%llu,\"fsListings\":%llu,\"fsListingsReal\":%llu,\"fsChanges\":%llu,"
		"\"fsStamps\":%llu,\"fsInodes\":%llu,\"fsTooLong\":%llu,\"loaderTscPatched\":%llu%s",
		code, sig, (unsigned long long)stats.execs, (unsigned long long)stats.forks,
		(unsigned long long)stats.threads, (unsigned long long)stats.time_traps,
		(unsigned long long)stats.random_traps, (unsigned long long)stats.random_bytes,
		(unsigned long long)stats.opens_redirected, (unsigned long long)stats.waits_timed,
		(unsigned long long)stats.waits_timedout, (unsigned long long)stats.reaps,
		(unsigned long long)stats.rdtsc, (unsigned long long)stats.cpuid,
		(unsigned long long)stats.vdso_fallbacks, (unsigned long long)stats.identity_traps,
		(unsigned long long)stats.opens, (unsigned long long)stats.settles, (unsigned long long)fsstats.stats,
		(unsigned long long)fsstats.stats_at_exit, (unsigned long long)fsstats.listings,
		(unsigned long long)fsstats.listings_real,
		(unsigned long long)fsstats.changes, (unsigned long long)fsstats.stamps,
		(unsigned long long)fsstats.inodes, (unsigned long long)fsstats.too_long,
		(unsigned long long)stats.loader_tsc_patched, limits);
	stops_json(fd);
	dprintf(fd, "}\n");
}
