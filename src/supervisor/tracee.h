/* Access to a stopped tracee: its memory, its registers, resuming it, and
 * where the kernel mapped its own vDSO.  A leaf: it knows thread ids, not the
 * supervisor's view of them (proctable.h). */
#ifndef DETBUILD_TRACEE_H
#define DETBUILD_TRACEE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>

int mem_read(pid_t tid, unsigned long addr, void *buf, size_t len);
int mem_write(pid_t tid, unsigned long addr, const void *buf, size_t len);
/* reads a NUL-terminated string of at most max-1 bytes; -1 on fault or overflow */
int mem_read_str(pid_t tid, unsigned long addr, char *buf, size_t max);
int regs_get(pid_t tid, struct user_regs_struct *r);
int regs_set(pid_t tid, const struct user_regs_struct *r);
unsigned long long *regs_arg(struct user_regs_struct *r, int i);
/* writes a system call's answer: 0, or -EFAULT when addr is NULL or not writable */
long tracee_put(pid_t tid, unsigned long addr, const void *buf, size_t len);
/* scratch space below the red zone of the thread's stack */
unsigned long scratch_addr(const struct user_regs_struct *r, size_t len);

/* lets a stopped thread run on, delivering `sig` (0: none) */
void tracee_resume(pid_t tid, int sig);
/* lets it run to the exit stop of the system call it is stopped in */
void tracee_resume_to_exit(pid_t tid);
/* turns the system call at its entry stop into one that returns `ret` without running
 * (the caller resumes it) */
int tracee_skip(pid_t tid, struct user_regs_struct *r, long ret);

/* kills every other process of the PID namespace (the whole build, traced or
 * not); false when the supervisor is not its pid 1 */
bool tracee_kill_all(void);

/* the kernel's own vDSO in a new program: where [vvar], [vvar_vclock] and [vdso]
 * lie, as one range (len 0: none); false (and len 0) when they are not in one
 * piece, so that they stay mapped */
struct kernel_vdso { unsigned long start, len; };
bool kernel_vdso_find(pid_t tid, struct kernel_vdso *kv);

#endif
