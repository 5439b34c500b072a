/* Calls good_sites (usdt_sites.S) N times with arg0 = 0..N-1. */
#include <stdlib.h>
void good_sites(int i);
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  for (int i = 0; i < n; i++) good_sites(i);
  return 0;
}
