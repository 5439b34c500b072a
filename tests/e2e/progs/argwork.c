/* Workload for the tests of trace and argdist (tests/e2e/test_tools_trace.py):
 * calls with known arguments, strings and return values, in a program of
 * its own.
 *
 *   argwork [-w] STEP... where a STEP is one of
 *     open N NAME   call aw_open(NAME, i) for i = 0..N-1: it opens NAME
 *                   with the openat() syscall (fails unless NAME exists),
 *                   returns the result (-1 for a failure)
 *     size N S      call aw_size(S * k) for k = 1..N; it returns S * k * 2
 *     tick N        fire the USDT probe argwork:tick N times (arg0: 1..N)
 *     sleep MS      sleep MS milliseconds (a stack's symbols are read while it lives)
 *
 * With -w it first prints its pid and waits for one byte on stdin.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_SDT
#include <sys/sdt.h>
#endif

#include "waitgo.h"

volatile long aw_sink;

__attribute__((noinline)) int aw_open(const char *path, int flags)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | (flags & 0));
    if (fd >= 0)
        close(fd);
    asm volatile("");
    return fd;
}

__attribute__((noinline)) long aw_size(unsigned long n)
{
    aw_sink += (long)n;
    asm volatile("");
    return (long)n * 2;
}

int main(int argc, char **argv)
{
    int first = wait_for_go(argc, argv);
    if (first < 0)
        return 3;
    for (int i = first; i + 1 < argc;) {
        const char *step = argv[i++];
        int n = atoi(argv[i++]);
        if (strcmp(step, "open") == 0 && i < argc) {
            const char *name = argv[i++];
            aw_sink += (long)strlen(name);   /* the string's page is resident */
            for (int k = 0; k < n; k++)
                aw_open(name, k);
        } else if (strcmp(step, "size") == 0 && i < argc) {
            unsigned long s = strtoul(argv[i++], NULL, 0);
            for (int k = 1; k <= n; k++)
                aw_size(s * (unsigned long)k);
        } else if (strcmp(step, "tick") == 0) {
            for (int k = 1; k <= n; k++) {
#ifdef HAVE_SDT
                DTRACE_PROBE1(argwork, tick, k);
#endif
                aw_sink += k;
            }
        } else if (strcmp(step, "sleep") == 0) {
            usleep((useconds_t)n * 1000);
        } else {
            fprintf(stderr, "argwork: bad step %s\n", step);
            return 2;
        }
    }
    return 0;
}
