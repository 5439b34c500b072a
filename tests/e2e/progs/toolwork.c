/* Workload for the tests of bpfscope's tools with options (funccount,
 * funclatency, stackcount, profile, tplist, ...): known numbers of calls,
 * USDT probes, syscalls and CPU time, in a program of its own.
 *
 *   toolwork [-w] STEP... where a STEP is one of
 *     alpha N       call tw_alpha() N times
 *     beta N        call tw_beta() N times
 *     slow MS N     call tw_slow(MS) N times; each sleeps MS milliseconds
 *     stack N       call tw_leaf() N times through tw_top() -> tw_mid()
 *     usdt N        fire the USDT probe toolwork:tick N times (arg0: 1..N)
 *     getppid N     the getppid() syscall N times
 *     spin MS       burn the CPU in tw_spin() for MS milliseconds
 *     fork N        fork N children that exit(7) at once, and reap them
 *     leak N SIZE   malloc(SIZE) N times in tw_leak() and never free it
 *     churn N       malloc(64) and free it again, N times
 *
 * With -w it first prints its pid and waits for one byte on stdin, so a
 * test can attach a trace before anything happens.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "waitgo.h"

volatile long tw_sink;

__attribute__((noinline)) void tw_alpha(void) { tw_sink++; asm volatile(""); }
__attribute__((noinline)) void tw_beta(void) { tw_sink += 2; asm volatile(""); }

__attribute__((noinline)) void tw_slow(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    asm volatile("");
}

__attribute__((noinline)) void tw_leaf(void) { tw_sink += 3; asm volatile(""); }
__attribute__((noinline)) void tw_mid(void) { tw_leaf(); asm volatile(""); }
__attribute__((noinline)) void tw_top(void) { tw_mid(); asm volatile(""); }

__attribute__((noinline)) void *tw_leak(size_t size)
{
    void *volatile p = malloc(size);
    return p;
}

__attribute__((noinline)) void tw_churn(void)
{
    void *volatile p = malloc(64);
    free(p);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void tw_spin(int ms)
{
    double end = now() + ms / 1000.0;
    while (now() < end)
        for (int k = 0; k < 10000; k++)
            tw_sink++;
}

int main(int argc, char **argv)
{
    int i = wait_for_go(argc, argv);
    if (i < 0)
        return 3;
    while (i + 1 < argc) {
        const char *step = argv[i];
        int n = atoi(argv[i + 1]);
        i += 2;
        if (strcmp(step, "alpha") == 0) {
            for (int k = 0; k < n; k++) tw_alpha();
        } else if (strcmp(step, "beta") == 0) {
            for (int k = 0; k < n; k++) tw_beta();
        } else if (strcmp(step, "slow") == 0 && i < argc) {
            int times = atoi(argv[i++]);
            for (int k = 0; k < times; k++) tw_slow(n);
        } else if (strcmp(step, "stack") == 0) {
            for (int k = 0; k < n; k++) tw_top();
        } else if (strcmp(step, "usdt") == 0) {
            for (int k = 1; k <= n; k++) DTRACE_PROBE1(toolwork, tick, k);
        } else if (strcmp(step, "getppid") == 0) {
            for (int k = 0; k < n; k++) syscall(SYS_getppid);
        } else if (strcmp(step, "spin") == 0) {
            tw_spin(n);
        } else if (strcmp(step, "leak") == 0 && i < argc) {
            size_t size = (size_t)atol(argv[i++]);
            for (int k = 0; k < n; k++) tw_leak(size);
        } else if (strcmp(step, "churn") == 0) {
            for (int k = 0; k < n; k++) tw_churn();
        } else if (strcmp(step, "fork") == 0) {
            for (int k = 0; k < n; k++) {
                pid_t c = fork();
                if (c == 0)
                    _exit(7);
                if (c > 0)
                    waitpid(c, NULL, 0);
            }
        } else {
            fprintf(stderr, "toolwork: bad step %s\n", step);
            return 2;
        }
    }
    return 0;
}
