#include <stdio.h>
#include <time.h>
__attribute__((noinline)) long inner(long n) { long s = 0; for (long i = 0; i < n; i++) s += i * i; return s; }
__attribute__((noinline)) long outer(long n) { return inner(n) + 1; }
int main(void) { struct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0); long r = 0;
  do { r += outer(100000); clock_gettime(CLOCK_MONOTONIC, &t); } while (t.tv_sec - t0.tv_sec < 1);
  printf("%ld\n", r & 1); return 0; }
