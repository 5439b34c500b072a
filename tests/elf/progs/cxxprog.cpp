// C++ names for the symbol and demangler tests: namespaces, classes,
// ctors/dtors, operators, templates, std:: types, lambdas.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace ns {
class Klass {
public:
    explicit Klass(int v) : v_(v) {}
    virtual ~Klass() {}
    __attribute__((noinline, used)) int method(int x) const { return v_ + x; }
    __attribute__((noinline, used)) int method(const std::string &s) { return v_ + (int)s.size(); }
    __attribute__((noinline, used)) static void smethod(std::vector<int> &v) { v.push_back(1); }
    __attribute__((noinline, used)) Klass &operator+=(const Klass &o) { v_ += o.v_; return *this; }
    __attribute__((noinline, used)) bool operator<(const Klass &o) const { return v_ < o.v_; }
    int v_;
};

template <typename T>
__attribute__((noinline, used)) T twice(T x) { return x + x; }

namespace inner {
__attribute__((noinline, used)) long count(std::map<std::string, int> &m, const char *key) {
    return (long)m.count(key);
}
}  // namespace inner
}  // namespace ns

__attribute__((noinline, used)) void plain_c_like(int *p) { if (p) (*p)++; }

int main(int argc, char **) {
    ns::Klass k(argc), j(2);
    k += j;
    std::vector<int> v;
    ns::Klass::smethod(v);
    std::map<std::string, int> m{{"a", 1}};
    auto lam = [&](int z) { return z + k.v_; };
    int r = k.method(3) + k.method(std::string("xy")) + (k < j) +
            ns::twice(argc) + (int)ns::twice(2.5) +
            (int)ns::inner::count(m, "a") + lam(argc);
    plain_c_like(&r);
    std::printf("%d\n", r);
    return 0;
}
