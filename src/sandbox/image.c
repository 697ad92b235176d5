/*
 * image.c - the init program (build/oclua-init, from init.c, linked
 * statically) carried as bytes inside liboclua and the binary, so that a
 * runtime needs no file beside it to start sandboxes: box.c writes it to
 * a sealed memfd and execs that.
 */
#ifndef OCLUA_INIT_BIN
#error "build with -DOCLUA_INIT_BIN='\"path/to/oclua-init\"'"
#endif

__asm__(
	"	.section .rodata\n"
	"	.global ocl_init_image\n"
	"	.global ocl_init_image_end\n"
	"	.balign 16\n"
	"ocl_init_image:\n"
	"	.incbin \"" OCLUA_INIT_BIN "\"\n"
	"ocl_init_image_end:\n"
	"	.previous\n"
);
