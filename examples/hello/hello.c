/* A deliberately unreproducible program: it embeds the build time, a random
 * build id, the build host and the CPU count the compiler saw. */
#include <stdio.h>

int main(void)
{
	printf("hello, built %s %s on %s with %s CPUs, build id %s\n", __DATE__, __TIME__, BUILD_HOST, BUILD_CPUS, BUILD_ID);
	return 0;
}
