/* Passes a function pointer to call_it() a few times: usym(arg0) in a
 * uprobe on call_it names the function. */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) void known_target(void) { puts("target"); }
__attribute__((noinline)) void call_it(void (*fp)(void)) { fp(); }

int main(void)
{
	for (int i = 0; i < 3; i++)
		call_it(known_target);
	/* stay a little: symbols of a process are read while it runs */
	usleep(300 * 1000);
	return 0;
}
