/* Logging and dying: see log.h. */
#include "log.h"
#include "exitcodes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int log_verbose;

static void vwarn(const char *fmt, va_list ap)
{
	fputs("detbuild-supervisor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(EXIT_ENGINE_FAILED);
}
