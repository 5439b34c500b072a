/* Inlined functions whose copies start with VEX instructions the kernel
   mishandles, for tests/attach/test_inlined_insn.py (built at -O2 -g, never
   run: no AVX needed). vecfirst starts with vpor (vector-only: a probe may
   move past it), vecbad with vpshufd followed by vpextrq into %rax (cannot
   move), plain with integer code; each is inlined into use1/use2. */
static inline __attribute__((always_inline)) int vecfirst(int x) {
  asm volatile("vpor %%xmm3, %%xmm3, %%xmm4" ::: "xmm4");
  return x * 3 + 1;
}
static inline __attribute__((always_inline)) int vecbad(int x) {
  asm volatile("vpshufd $0x44, %%xmm7, %%xmm1\n\tvpextrq $1, %%xmm1, %%rax" ::: "xmm1", "rax");
  return x + 2;
}
static inline int plain(int x) {
  asm volatile("" : "+r"(x));
  return x * 5 + 2;
}
__attribute__((noinline)) int use1(int x) { return vecfirst(x) + plain(x); }
__attribute__((noinline)) int use2(int x) { return vecbad(x) - plain(x + 1); }
int main(int argc, char **argv) { (void)argv; return use1(argc) + use2(argc); }
