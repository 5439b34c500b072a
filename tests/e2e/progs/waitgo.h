/* The -w handshake of the e2e test programs (bse2e, toolwork): with -w as
 * the first argument, print the pid and wait for one byte on stdin, so a
 * test can attach a trace before anything happens (tests/e2e/conftest.py,
 * Waiting). Returns the index of the first argument after it, or -1 when
 * stdin ended before the byte came. */
#ifndef BPFSCOPE_WAITGO_H
#define BPFSCOPE_WAITGO_H
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int wait_for_go(int argc, char **argv)
{
    char c;
    if (argc < 2 || strcmp(argv[1], "-w") != 0)
        return 1;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    return read(0, &c, 1) == 1 ? 2 : -1;
}
#endif
