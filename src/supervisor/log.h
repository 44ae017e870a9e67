/* Logging and dying: the bottom of the supervisor, used by every other file.
 * Messages go to stderr prefixed "detbuild-supervisor: "; die() ends the
 * supervisor with EXIT_ENGINE_FAILED (exitcodes.h). */
#ifndef DETBUILD_LOG_H
#define DETBUILD_LOG_H

/* -v given n times: debug() messages are printed when > 0 */
extern int log_verbose;

/* a message, and the supervisor exits with EXIT_ENGINE_FAILED */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* a warning; the supervisor goes on */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define debug(...) do { if (log_verbose) warnx_(__VA_ARGS__); } while (0)

#endif
