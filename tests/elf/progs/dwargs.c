/* Functions whose parameters bpfscope names from DWARF (tests/elf/
 * test_dwarftypes.py, tests/e2e/test_uprobe_dwarf_args.py): ints, chars,
 * pointers to the program's own structs (with a string, an array, a
 * bitfield and a pointer to its own type), a struct of pointers, a
 * typedef, an enum, a bool, a double and a struct passed by value before
 * integer parameters, and a function returning a big struct. With an
 * argument N it calls them N times, 20 ms apart, and prints a line each. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct Point { int x, y; };
struct Big { long v[4]; };
struct Node { int a; char b[10]; int c[3]; unsigned flag : 1; unsigned more : 3; struct Node *next; };
struct Pair { struct Node *nodes[2]; };
typedef unsigned long counter_t;
enum shade { LIGHT, DARK = 5 };

__attribute__((noinline)) int takes_ptr(int *n, char c) { return *n + c; }
__attribute__((noinline)) int takes_nodes(struct Node *first, struct Node *second)
{ return first->a + second->a; }
__attribute__((noinline)) int takes_pair(struct Pair *pair) { return pair->nodes[1]->a; }
__attribute__((noinline)) long takes_scalars(counter_t count, enum shade sh, _Bool ok,
                                             const char *s, short small)
{ return (long)count + sh + ok + s[0] + small; }
__attribute__((noinline)) long after_float(double d, struct Point p, int k, long m)
{ return (long)d + p.x + p.y + k + m; }
__attribute__((noinline)) struct Big returns_big(int seed, int step)
{ struct Big b = {{seed, seed + step, seed + 2 * step, 0}}; return b; }

int main(int argc, char **argv)
{
    int n = 13, rounds = argc > 1 ? atoi(argv[1]) : 1;
    struct Node second = {7, "two", {4, 5, 6}, 0, 0, 0};
    struct Node first = {123, "hello", {1, 2, 3}, 1, 5, &second};
    struct Pair pair = {{&first, &second}};
    struct Point p = {3, 4};
    for (int i = 0; i < rounds; i++) {
        struct Big b = returns_big(40, 2);
        printf("%d %d %d %ld %ld %ld\n", takes_ptr(&n, 'x'), takes_nodes(&first, &second),
               takes_pair(&pair), takes_scalars(9, DARK, 1, "s", -2),
               after_float(1.5, p, 11, 12), b.v[2]);
        fflush(stdout);
        usleep(20000);
    }
    return 0;
}
