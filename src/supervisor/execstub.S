/* The code the supervisor runs inside a program right after execve, before
 * the program's first instruction.  It is copied over the program's entry
 * point (and the original bytes put back afterwards), so one stop maps the
 * substitute vDSO instead of one round trip per system call.
 *
 * In:  r14, r15 = start and length of the kernel's own vDSO and its data
 *            pages, unmapped first (length 0: nothing to unmap)
 *      r12 = length of the clock table mapping
 *      r13 = bit 0: arm CPUID faulting now (static program)
 *            bit 1: let the dynamic loader read the TSC (PR_TSC_ENABLE;
 *                   faulting is re-armed when it sets up TLS)
 *      rbp = the cookie the seccomp filter asks of PR_TSC_ENABLE
 *      the address of the supervisor's table socket at exec_stub_addr (filled in by it)
 * Out: r14 = address of the vDSO mapping (or -errno), r15 = of the table,
 *      r13 = result of the last optional call; then int3. */
#define AT_FDCWD (-100)
	.section .rodata
	.globl exec_stub
	.globl exec_stub_addr
	.globl exec_stub_end
exec_stub:
	test %r15, %r15
	jz 4f
	mov %r14, %rdi
	mov %r15, %rsi
	mov $11, %eax                   /* munmap */
	syscall
4:
	/* the table's memfd comes from the supervisor, over its socket */
	mov $1, %edi                    /* AF_UNIX */
	mov $0x80001, %esi              /* SOCK_STREAM | SOCK_CLOEXEC */
	xor %edx, %edx
	mov $41, %eax                   /* socket */
	syscall
	mov %rax, %r14
	mov %rax, %r15
	test %rax, %rax
	js 3f
	mov %rax, %rbx                  /* the socket */
	mov %rbx, %rdi
	lea exec_stub_addr+8(%rip), %rsi
	mov exec_stub_addr(%rip), %edx  /* its length */
	mov $42, %eax                   /* connect */
	syscall
	mov %rax, %r14
	test %rax, %rax
	js 5f
	/* recvmsg(sock, &msg, MSG_CMSG_CLOEXEC), msg laid out below the stack:
	 *   0 struct msghdr, 64 struct iovec, 80 control (cmsghdr + int), 104 one byte */
	lea -256(%rsp), %rsi
	movq $0, 0(%rsi)                /* msg_name */
	movq $0, 8(%rsi)                /* msg_namelen */
	lea 64(%rsi), %rax
	mov %rax, 16(%rsi)              /* msg_iov */
	movq $1, 24(%rsi)               /* msg_iovlen */
	lea 80(%rsi), %rax
	mov %rax, 32(%rsi)              /* msg_control */
	movq $24, 40(%rsi)              /* msg_controllen */
	movq $0, 48(%rsi)               /* msg_flags */
	lea 104(%rsi), %rax
	mov %rax, 64(%rsi)              /* iov_base */
	movq $1, 72(%rsi)               /* iov_len */
	movq $0, 80(%rsi)
	movq $0, 88(%rsi)
	movq $0, 96(%rsi)
	mov %rbx, %rdi
	mov $0x40000000, %edx           /* MSG_CMSG_CLOEXEC */
	mov $47, %eax                   /* recvmsg */
	syscall
	mov %rax, %r14
	test %rax, %rax
	jle 6f
	lea -256(%rsp), %rsi
	cmpq $20, 80(%rsi)              /* cmsg_len: CMSG_LEN(sizeof(int)) */
	jne 6f
	cmpl $1, 88(%rsi)               /* SOL_SOCKET */
	jne 6f
	cmpl $1, 92(%rsi)               /* SCM_RIGHTS */
	jne 6f
	mov %rbx, %rdi
	movl 96(%rsi), %ebx             /* the table's descriptor */
	mov $3, %eax                    /* close the socket */
	syscall
	mov %rbx, %rax
	mov %rax, %r14
	mov %rax, %r15
	mov %rax, %rbx
	movabs $0x7e0000000000, %rdi    /* DT_VDSO_BASE */
	mov $0x10000, %esi              /* DT_IMAGE_MAX */
	mov $5, %edx                    /* PROT_READ | PROT_EXEC */
	mov $0x100002, %r10d            /* MAP_PRIVATE | MAP_FIXED_NOREPLACE */
	mov %rbx, %r8
	xor %r9d, %r9d
	mov $9, %eax                    /* mmap */
	syscall
	mov %rax, %r14
	movabs $0x7e0000010000, %rdi    /* DT_VDSO_BASE + DT_TABLE_OFF */
	mov %r12, %rsi
	mov $3, %edx                    /* PROT_READ | PROT_WRITE */
	mov $0x100001, %r10d            /* MAP_SHARED | MAP_FIXED_NOREPLACE */
	mov %rbx, %r8
	mov $0x10000, %r9d              /* DT_TABLE_OFF */
	mov $9, %eax
	syscall
	mov %rax, %r15
	mov %rbx, %rdi
	mov $3, %eax                    /* close */
	syscall
	jmp 3f
6:
	mov $-74, %r14                  /* EBADMSG: no descriptor came */
5:
	mov %r14, %r15
	mov %rbx, %rdi
	mov $3, %eax                    /* close the socket */
	syscall
3:
	test $1, %r13
	jz 1f
	mov $0x1012, %edi               /* ARCH_SET_CPUID, 0: fault */
	xor %esi, %esi
	mov $158, %eax                  /* arch_prctl */
	syscall
	mov %rax, %r13
	jmp 2f
1:
	test $2, %r13
	jz 2f
	mov $26, %edi                   /* PR_SET_TSC */
	mov $1, %esi                    /* PR_TSC_ENABLE */
	mov %rbp, %rdx                  /* cookie */
	xor %r10d, %r10d
	xor %r8d, %r8d
	mov $157, %eax                  /* prctl */
	syscall
	mov %rax, %r13
2:
	int3
	.balign 8
exec_stub_addr:                         /* u32 length, u32 0, struct sockaddr_un (tableserve.c) */
	.fill 64, 1, 0
exec_stub_end:
	.section .note.GNU-stack,"",@progbits
