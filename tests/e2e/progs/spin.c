#include <stdio.h>
#include <time.h>
__attribute__((noinline)) long inner(long n) { long s = 0; for (long i = 0; i < n; i++) s += i * i; return s; }
__attribute__((noinline)) long outer(long n) { return inner(n) + 1; }
/* One second of this process's CPU time, however busy the machine is (a
   wall-clock second can give the profiler almost nothing to sample). */
static long cpu_ns(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec; }
int main(void) { long t0 = cpu_ns(), r = 0;
  do { r += outer(100000); } while (cpu_ns() - t0 < 1000000000L);
  printf("%ld\n", r & 1); return 0; }
