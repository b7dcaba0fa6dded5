/* Holds SIZE_MIB mebibytes of touched, non-zero anonymous memory and then
 * sleeps, so that a checkpoint has that much memory to dump. Built static
 * into the benchmark image by scripts/bench-checkpoint.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	size_t size = mib << 20;
	unsigned char *memory = malloc(size);

	if (!memory) {
		fprintf(stderr, "memhog: could not allocate %zu MiB\n", mib);
		return 1;
	}
	/* A different byte on every page keeps pages from being identical. */
	for (size_t offset = 0; offset < size; offset += 4096)
		memset(memory + offset, (int)(offset >> 12) | 1, 4096);
	printf("ready %zu MiB\n", mib);
	fflush(stdout);
	for (;;)
		pause();
}
