/* What should happen to a thread stopped in a system call: the answer a
 * feature module gives the dispatcher (dispatch.c), which acts on it.  A
 * feature never resumes the thread it was asked about. */
#ifndef DETBUILD_VERDICT_H
#define DETBUILD_VERDICT_H

enum verdict_kind {
	V_CONTINUE, /* let the call run; no exit stop */
	V_TO_EXIT,  /* let the (maybe rewritten) call run to its exit stop */
	V_SKIP,     /* do not run the call: it returns `ret` */
	V_HOLD,     /* keep the thread stopped: the module resumes it later */
};

struct verdict {
	enum verdict_kind kind;
	long ret;
};

#define CONTINUE ((struct verdict){ V_CONTINUE, 0 })
#define TO_EXIT ((struct verdict){ V_TO_EXIT, 0 })
#define HOLD ((struct verdict){ V_HOLD, 0 })
#define SKIP(r) ((struct verdict){ V_SKIP, (long)(r) })

#endif
