/* Benchmark workload for bench/run.py: makes a fixed number of one cheap
 * system call, optionally paced to a target rate.
 *
 *   workload getppid N [RATE]   N x syscall(SYS_getppid); RATE calls/s (0 = flat out)
 *   workload openat N           N x openat("/dev/null") + close
 *   workload wait               block on stdin until EOF, then exit (a probe-free child)
 *   workload ucall N            N calls of bpfbench_ucall(), a function for uprobes
 *   workload usdt N             N passes through the USDT probe bpfbench:tick
 *                               (when built with <sys/sdt.h>; else it fails)
 *   workload spin N [PROCS]     PROCS (default 2) processes, each doing N rounds of
 *                               integer arithmetic (a fixed amount of CPU work, no
 *                               system calls); the time is until the last one ends
 *
 * Prints "done N calls in S seconds" to stdout when finished.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU-bound work a few frames deep (built with frame pointers), so that
 * a profiler's ustack has something to walk. */
static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long spin_leaf(unsigned long x, long k)
{
    for (long i = 0; i < k; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL + (x >> 29);
    return x;
}

__attribute__((noinline)) static unsigned long spin_mid(unsigned long x, long k)
{
    return spin_leaf(x, k) ^ (unsigned long)k;
}

__attribute__((noinline)) static void spin_one(long n)
{
    unsigned long x = (unsigned long)getpid();
    const long chunk = 100000;
    for (long done = 0; done < n; done += chunk)
        x = spin_mid(x, n - done < chunk ? n - done : chunk);
    sink = x;
}

/* The uprobe target: a real call each time (noinline, a side effect). */
__attribute__((noinline, used)) void bpfbench_ucall(long i)
{
    sink += (unsigned long)i;
    asm volatile("");
}

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define HAVE_SDT 1
#endif
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: workload getppid|openat|spin N [RATE|PROCS]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 0;
    double rate = argc > 3 ? atof(argv[3]) : 0;
    double t0 = now();
    if (strcmp(argv[1], "getppid") == 0) {
        if (rate <= 0) {
            for (long i = 0; i < n; i++)
                syscall(SYS_getppid);
        } else {
            /* Pace in batches of ~0.5 ms worth of calls: keep the call count
             * at or below rate * elapsed. */
            long batch = (long)(rate / 2000);
            if (batch < 1)
                batch = 1;
            long done = 0;
            while (done < n) {
                double due = (now() - t0) * rate;
                if (done + batch <= due || done == 0) {
                    long k = batch;
                    if (done + k > n)
                        k = n - done;
                    for (long i = 0; i < k; i++)
                        syscall(SYS_getppid);
                    done += k;
                } else {
                    struct timespec ts = {0, 50000};
                    nanosleep(&ts, NULL);
                }
            }
        }
    } else if (strcmp(argv[1], "openat") == 0) {
        for (long i = 0; i < n; i++) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd >= 0)
                close(fd);
        }
    } else if (strcmp(argv[1], "spin") == 0) {
        int procs = argc > 3 ? atoi(argv[3]) : 2;
        for (int p = 0; p < procs; p++) {
            pid_t c = fork();
            if (c < 0) {
                perror("fork");
                return 1;
            }
            if (c == 0) {
                spin_one(n);
                _exit(0);
            }
        }
        while (wait(NULL) > 0)
            ;
    } else if (strcmp(argv[1], "ucall") == 0) {
        for (long i = 0; i < n; i++)
            bpfbench_ucall(i);
    } else if (strcmp(argv[1], "usdt") == 0) {
#ifdef HAVE_SDT
        for (long i = 0; i < n; i++) {
            DTRACE_PROBE1(bpfbench, tick, i);
            asm volatile("");
        }
#else
        fprintf(stderr, "built without <sys/sdt.h>: no USDT probe\n");
        return 2;
#endif
    } else if (strcmp(argv[1], "wait") == 0) {
        char buf[64];
        while (read(0, buf, sizeof buf) > 0)
            ;
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    printf("done %ld calls in %.6f seconds\n", n, now() - t0);
    return 0;
}
