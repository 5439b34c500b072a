// A method inlined into main (tests of inlined frames' C++ names).
#include <cstdio>
namespace shop {
struct Cart {
	int n;
	__attribute__((always_inline)) inline int add(int x) { return leaf(n + x); } // ADD_CALL
	__attribute__((noinline)) static int leaf(int v) { asm volatile("" ::: "memory"); return v * 2; }
};
}
int main(int argc, char **)
{
	shop::Cart c{argc};
	int t = 0;
	for (int i = 0; i < 3; i++)
		t += c.add(i); // MAIN_CALL
	std::printf("%d\n", t);
	return 0;
}
