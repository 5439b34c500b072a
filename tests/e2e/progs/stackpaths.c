/* Call paths for the stack tests (tests/e2e/test_stack_drops.py).
 *
 *   stackpaths tree D R   every one of the 2^D paths of depth D, R times each:
 *                         2^D distinct user stacks at leaf()
 *   stackpaths mod D N    N calls, call i taking path i % 2^D: the paths
 *                         differ only below the top frames
 *   stackpaths strs N L   N calls of named(s) with s a string of L 'x's
 *
 * A path is the bits of a number: walk() goes through pa() for a 1 and
 * pb() for a 0, so each path leaves other return addresses on the stack.
 * Above walk() every path is the same: t1() -> t2() -> leaf(), so the
 * first frames of every stack at leaf() agree whether or not the kernel
 * records the caller of a function at its entry. Built with -O0 and
 * frame pointers, so user stacks walk through every frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile long sink;

__attribute__((noinline)) void leaf(int v) { sink += v; }
__attribute__((noinline)) void t2(void) { leaf(1); sink++; }
__attribute__((noinline)) void t1(void) { t2(); sink++; }
__attribute__((noinline)) void pa(unsigned path, int depth);
__attribute__((noinline)) void pb(unsigned path, int depth);

__attribute__((noinline)) void walk(unsigned path, int depth)
{
	if (depth == 0)
		t1();
	else if (path & 1)
		pa(path >> 1, depth - 1);
	else
		pb(path >> 1, depth - 1);
	sink++;
}

void pa(unsigned path, int depth) { walk(path, depth); sink++; }
void pb(unsigned path, int depth) { walk(path, depth); sink++; }

__attribute__((noinline)) void named(const char *s) { sink += s[0]; }

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long a = atol(argv[2]), n = atol(argv[3]);
	if (!strcmp(argv[1], "tree")) {
		for (long r = 0; r < n; r++)
			for (unsigned p = 0; p < (1u << a); p++)
				walk(p, (int)a);
	} else if (!strcmp(argv[1], "mod")) {
		for (long i = 0; i < n; i++)
			walk((unsigned)(i % (1L << a)), (int)a);
	} else if (!strcmp(argv[1], "strs")) {
		char *s = malloc(n + 1);
		memset(s, 'x', n);
		s[n] = 0;
		for (long i = 0; i < a; i++)
			named(s);
		free(s);
	} else {
		return 2;
	}
	return 0;
}
