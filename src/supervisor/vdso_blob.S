/* The substitute vDSO image, embedded in the supervisor binary. */
	.section .rodata
	.balign 4096
	.globl vdso_image
vdso_image:
	.incbin VDSO_PATH
	.globl vdso_image_end
vdso_image_end:
	.section .note.GNU-stack,"",@progbits
