/* The clock table's file is writable by the build (its processes map it
 * shared and writable, and run as the same user as the supervisor): a build
 * that truncates it would make the supervisor's next access to a slot fault
 * with SIGBUS.  The supervisor keeps the file's descriptor and, on a SIGBUS
 * inside the table's mapping, gives the file its size back and retries the
 * access: the build can only zero its own clocks, never stop the supervisor. */
#include "supervisor.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static int table_fd = -1;
static char *table_map;
static size_t table_map_len, table_file_len;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	char *addr = si->si_addr;
	if (table_fd >= 0 && addr >= table_map && addr < table_map + table_map_len &&
	    ftruncate(table_fd, (off_t)table_file_len) == 0)
		return; /* the faulting access runs again, on a page of zeros */
	signal(sig, SIG_DFL);
	raise(sig);
}

void table_guard(int fd, void *map, size_t map_len, size_t file_len)
{
	table_fd = fd; /* kept open (close-on-exec) for the repairs */
	table_map = map;
	table_map_len = map_len;
	table_file_len = file_len;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		die("cannot handle SIGBUS: %m");
}
