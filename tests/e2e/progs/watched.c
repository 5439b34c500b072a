/* Helper for the watchpoint tests: prints its pid and the address of a
 * global, waits for a byte on stdin, then writes the global W times and
 * reads it R times.   watched W R */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

volatile long watched_value;

int main(int argc, char **argv)
{
    char c;
    long sum = 0;
    if (argc < 3)
        return 2;
    printf("%d %p\n", (int)getpid(), (void *)&watched_value);
    fflush(stdout);
    if (read(0, &c, 1) != 1)
        return 3;
    for (int i = 0; i < atoi(argv[1]); i++)
        watched_value = i;
    for (int i = 0; i < atoi(argv[2]); i++)
        sum += watched_value;
    return sum == -1;
}
