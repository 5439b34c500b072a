/* Helper for the bpfscope end-to-end tests: makes known, countable events.
 *
 *   bse2e [-w] open PATH N     openat(PATH) N times (PATH need not exist),
 *                              each after the USDT probe bse2e:open (its
 *                              number, 1 to N) where <sys/sdt.h> is there
 *   bse2e [-w] getpid N        getpid() N times, then getppid() N times
 *   bse2e [-w] rename NAME     prctl(PR_SET_NAME, NAME)
 *   bse2e [-w] sleep MS        sleep MS milliseconds
 *
 * With -w it first prints its pid and waits for one byte on stdin, so a test
 * can attach a trace before anything happens.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "waitgo.h"

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#endif
#endif
#ifndef DTRACE_PROBE1
#define DTRACE_PROBE1(provider, name, arg) ((void)(arg))
#endif

int main(int argc, char **argv)
{
    int i = wait_for_go(argc, argv);
    if (i < 0)
        return 3;
    if (argc < i + 2)
        return 2;
    const char *mode = argv[i];
    if (strcmp(mode, "open") == 0 && argc >= i + 3) {
        int n = atoi(argv[i + 2]);
        for (int k = 0; k < n; k++) {
            DTRACE_PROBE1(bse2e, open, k + 1);
            int fd = (int)syscall(SYS_openat, AT_FDCWD, argv[i + 1], O_RDONLY);
            if (fd >= 0)
                close(fd);
        }
    } else if (strcmp(mode, "getpid") == 0) {
        int n = atoi(argv[i + 1]);
        for (int k = 0; k < n; k++)
            syscall(SYS_getpid);
        for (int k = 0; k < n; k++)
            syscall(SYS_getppid);
    } else if (strcmp(mode, "rename") == 0) {
        prctl(PR_SET_NAME, argv[i + 1], 0, 0, 0);
    } else if (strcmp(mode, "sleep") == 0) {
        struct timespec ts = {0, 0};
        long ms = atol(argv[i + 1]);
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    } else {
        return 2;
    }
    return 0;
}
