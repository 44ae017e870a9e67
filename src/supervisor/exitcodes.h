/* The supervisor's own exit codes.  A build's status is relayed as it is (its
 * exit code, or 128 + the signal that ended it); these stay clear of what a
 * build commonly returns.  The engine reads the build's status from the status
 * line (--status-fd), not from these. */
#ifndef DETBUILD_EXITCODES_H
#define DETBUILD_EXITCODES_H

/* bad command line (usage printed) */
#define EXIT_USAGE 2
/* the engine failed (die()), or the build's status is unknown */
#define EXIT_ENGINE_FAILED 120
/* the build command could not be executed (like a shell's 126) */
#define EXIT_CANNOT_RUN 126
/* a build ended by signal N exits 128 + N, as a shell reports it */
#define EXIT_SIGNAL_BASE 128

#endif
