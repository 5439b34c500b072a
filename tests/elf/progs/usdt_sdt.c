/* USDT probes through <sys/sdt.h> (systemtap-sdt-dev). */
#include <stdio.h>
#include <sys/sdt.h>

__attribute__((noinline)) int fire(int a, long b, const char *s) {
    DTRACE_PROBE3(sdtprov, three, a, b, s);
    DTRACE_PROBE(sdtprov, zero);
    return a + (int)b + s[0];
}

int main(int argc, char **argv) {
    printf("%d\n", fire(argc, 7L, argv[0]));
    return 0;
}
