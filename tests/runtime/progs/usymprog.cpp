// C++ child: a namespaced function whose name demangles.
#include <cstdio>
#include <unistd.h>

namespace ns {
int sink;
__attribute__((noinline)) int work(int x, const char *s) {
    for (int i = 0; i < x; i++)
        sink += s[i % 2];
    return sink;
}
}  // namespace ns

int main() {
    ns::work(3, "ab");
    std::printf("%p %d\n", (void *)&ns::work, (int)getpid());
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
