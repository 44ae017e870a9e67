/* Loads the build's seccomp filter with one hand-written prefix that
 * libseccomp cannot express (it compares no instruction pointer): a
 * stat-family call made from the vDSO's dt_fs_syscall (the stat shim's one
 * system call instruction, statshim.c), and an fstat (newfstatat with
 * AT_EMPTY_PATH) made by the dynamic loader's own instruction (ldsite.c),
 * are allowed at once; every other call goes on to libseccomp's program
 * unchanged.  A second filter could not do
 * it: the kernel takes the most restrictive answer of all filters, so an
 * ALLOW of a second filter cannot undo the first one's notification.
 *
 *   ld arch; jne x86_64 -> program
 *   ld nr; jeq newfstatat -> loader; jeq stat, lstat, fstat, statx -> ip, else -> program
 *   loader: ld ip[31:0]; jne -> ip; ld ip[63:32]; jne -> ip; ld args[3]; jeq AT_EMPTY_PATH -> allow
 *   ip: ld ip[31:0]; jne -> program; ld ip[63:32]; jne -> program; allow: ret ALLOW
 *   program: libseccomp's
 *
 * Measured: the prefix adds a few BPF instructions to every system call;
 * see bench/README.md. */
#include "supervisor.h"
#include "vdso_syms.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))

/* The address the kernel reports for a call from dt_fs_syscall: the
 * instruction after its `syscall`. */
unsigned long ipfilter_gadget_ip(void)
{
	return DT_VDSO_BASE + DT_FS_SYSCALL_RET_OFF;
}

/* Loads ctx with the prefix; returns the notification listener (listener
 * true), 0, or -errno. */
int ipfilter_load(void *ctx, bool listener)
{
	int mfd = memfd_create("detbuild-filter", MFD_CLOEXEC);
	if (mfd < 0)
		return -errno;
	int rc = seccomp_export_bpf((scmp_filter_ctx)ctx, mfd);
	if (rc < 0) {
		close(mfd);
		return rc;
	}
	off_t len = lseek(mfd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter)) {
		close(mfd);
		return -EINVAL;
	}
	unsigned long ip = ipfilter_gadget_ip(), lip = ldsite_fstat_ip();
	struct sock_filter prefix[] = {
		/* 0 */ LD(offsetof(struct seccomp_data, arch)),
		/* 1 */ JEQ(AUDIT_ARCH_X86_64, 0, 17),
		/* 2 */ LD(offsetof(struct seccomp_data, nr)),
		/* 3 */ JEQ(SYS_stat, 10, 0),
		/* 4 */ JEQ(SYS_lstat, 9, 0),
		/* 5 */ JEQ(SYS_fstat, 8, 0),
		/* 6 */ JEQ(SYS_newfstatat, 1, 0),
		/* 7 */ JEQ(SYS_statx, 6, 11),
		/* 8: the loader's fstat (ldsite.c): its address and AT_EMPTY_PATH */
		/* 8 */ LD(offsetof(struct seccomp_data, instruction_pointer)),
		/* 9 */ JEQ((uint32_t)lip, 0, 4),
		/* 10 */ LD(offsetof(struct seccomp_data, instruction_pointer) + 4),
		/* 11 */ JEQ((uint32_t)(lip >> 32), 0, 2),
		/* 12 */ LD(offsetof(struct seccomp_data, args) + 3 * sizeof(uint64_t)),
		/* 13 */ JEQ(AT_EMPTY_PATH, 4, 0),
		/* 14: the stat shim's instruction */
		/* 14 */ LD(offsetof(struct seccomp_data, instruction_pointer)),
		/* 15 */ JEQ((uint32_t)ip, 0, 3),
		/* 16 */ LD(offsetof(struct seccomp_data, instruction_pointer) + 4),
		/* 17 */ JEQ((uint32_t)(ip >> 32), 0, 1),
		/* 18 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	size_t np = sizeof prefix / sizeof prefix[0], nl = (size_t)len / sizeof(struct sock_filter);
	if (np + nl > BPF_MAXINSNS) {
		close(mfd);
		return -E2BIG;
	}
	struct sock_filter *code = malloc((np + nl) * sizeof *code);
	if (!code) {
		close(mfd);
		return -ENOMEM;
	}
	memcpy(code, prefix, sizeof prefix);
	ssize_t got = pread(mfd, code + np, (size_t)len, 0);
	close(mfd);
	if (got != len) {
		free(code);
		return -EIO;
	}
	struct sock_fprog prog = { .len = (unsigned short)(np + nl), .filter = code };
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
	free(code);
	return r < 0 ? -errno : (int)r;
}
