/* Stacks through inlined code (tests of show_debug_info frames):
 * main -> [inlined] outer -> [inlined] myclock -> mid -> leaf.
 * The comments name lines the tests look for. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int leaf(int x)
{
	asm volatile("" ::: "memory");
	return x * 3; /* LEAF */
}

__attribute__((noinline)) int mid(int x)
{
	int r = leaf(x) + 1; /* MID_CALL */
	asm volatile("" ::: "memory");
	return r;
}

static inline __attribute__((always_inline)) int myclock(int x)
{
	int r = mid(x + 1); /* MYCLOCK_CALL */
	return r + 7;
}

static inline __attribute__((always_inline)) int outer(int x)
{
	int v = myclock(x) * 2; /* OUTER_CALL */
	return v - 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	int total = 0;
	for (int i = 0; i < n; i++)
		total += outer(argc + i); /* MAIN_CALL */
	printf("%d\n", total);
	return 0;
}
