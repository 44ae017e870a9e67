/* Which files of the installed system keep their own modification time in
 * the filesystem view (fsstat.c), instead of one clamped to the epoch.
 *
 * Files the build did not change show mtime = min(real, epoch): a build that
 * archives, copies or compares them records nothing of when the builder was
 * installed, and make never finds a system header newer than an object the
 * build just made.  One kind of installed file must not be clamped: a Python
 * source under /usr (or /etc: sitecustomize.py).  Its compiled form (__pycache__/NAME.cpython-3X.pyc,
 * made when the package was installed) records the source's mtime and size,
 * and Python recompiles a module whose source shows another mtime, in memory,
 * at every start: with an epoch older than the installed Python, 174 of the
 * standard library's 345 cached modules (an import probe: 0.73 s -> 1.99 s).
 *
 * A Python source under /usr (not /usr/local) or /etc comes from a Debian package,
 * which sets its mtime from the package's own build (dpkg-deb clamps it to the
 * package's SOURCE_DATE_EPOCH): a function of the package and its version,
 * which the environment record lists.  Its ctime and btime (the time of
 * installation) stay the epoch. */
#include "fsview.h"

#include <string.h>

bool fs_time_as_installed(const char *path)
{
	size_t n = strlen(path);
	bool system = (strncmp(path, "/usr/", 5) == 0 && strncmp(path, "/usr/local/", 11) != 0) ||
		      strncmp(path, "/etc/", 5) == 0;
	return system && n > 3 && strcmp(path + n - 3, ".py") == 0;
}
