/* Child for the user symbolizer tests: prints the addresses of a few
 * functions and its pid, then waits until stdin closes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int sink;

__attribute__((noinline)) int usym_target(int x) {
    for (int i = 0; i < x; i++)
        sink += i * x;
    return sink;
}

__attribute__((noinline)) static int usym_static(int x) {
    sink ^= x;
    return sink + usym_target(x);
}

int main(void) {
    usym_static(3);
    printf("%p %p %p %p %d\n", (void *)&usym_target, (void *)&usym_static,
           dlsym(RTLD_DEFAULT, "getppid"), (void *)&sink, (int)getpid());
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
