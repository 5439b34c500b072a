/* Runs one (or every) function of insn_entry.S many times and checks what
   it computes; prints "NAME ok CALLS" or "NAME FAIL got X want Y" and exits
   1 on any failure.  Usage: insn_entry [NAME|all] [CALLS] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t (*fn_t)(uint64_t, uint64_t);
#define DECL(n) uint64_t n(uint64_t, uint64_t);
#define LIST(X) X(evex_ymm17) X(evex_xmm1) X(evex_zmm2) X(evex_zmm31) \
  X(evex_load16) X(evex_riprel) X(evex_vpxorq16) X(evex_kcmp) X(vex2_xmm) \
  X(vex3_ymm) X(vex3_xmm9) X(vex_riprel) X(vex_kmov) X(vex_bmi) X(sse_xmm) \
  X(sse_riprel) X(legacy_lea) X(legacy_riprel) X(legacy_push) X(leaf_nop) \
  X(hold_zmm20) X(hold_ymm5) X(hold_k3) \
  X(vex_pshufd) X(vex_pshufd_e) X(vex_xorps) X(vex_por) X(vex_kmovkk) X(vex_kmovkk_e) \
  X(vex_vzeroupper) X(evex_bcast58) X(sse_pshufd)
LIST(DECL)

static uint64_t data[8] = {10, 20, 30, 40, 50, 60, 70, 80};

static uint64_t want(const char *n, uint64_t a, uint64_t b) {
  uint32_t b8 = (uint32_t)(b & 0xff) * 0x01010101u;
  if (!strcmp(n, "evex_ymm17") || !strcmp(n, "evex_xmm1")) return b8;
  if (!strcmp(n, "evex_zmm2") || !strcmp(n, "evex_zmm31")) return b;
  if (!strcmp(n, "evex_load16")) return data[4] + data[0];
  if (!strcmp(n, "evex_riprel") || !strcmp(n, "vex_riprel") ||
      !strcmp(n, "sse_riprel") || !strcmp(n, "legacy_riprel"))
    return 0x1122334455667788ull + b;
  if (!strcmp(n, "evex_vpxorq16")) return b;
  if (!strcmp(n, "evex_kcmp")) return 0xffff + b;
  if (!strcmp(n, "vex2_xmm") || !strcmp(n, "vex3_ymm")) return (uint32_t)b;
  if (!strcmp(n, "vex3_xmm9") || !strcmp(n, "vex_kmov")) return b;
  if (!strcmp(n, "vex_bmi")) return (uint32_t)a & ((b & 0xff) >= 32 ? 0xffffffffu : ((1u << (b & 0xff)) - 1));
  if (!strcmp(n, "sse_xmm")) return 2 * b;
  if (!strcmp(n, "legacy_lea")) return a + 2 * b;
  if (!strcmp(n, "legacy_push")) return b;
  if (!strcmp(n, "leaf_nop")) return 0;
  if (!strcmp(n, "hold_zmm20") || !strcmp(n, "hold_ymm5") || !strcmp(n, "hold_k3")) return b;
  if (!strcmp(n, "vex_pshufd")) return b;
  if (!strcmp(n, "vex_pshufd_e")) return 0x4242 + b;
  if (!strcmp(n, "vex_xorps") || !strcmp(n, "vex_kmovkk") || !strcmp(n, "vex_kmovkk_e") ||
      !strcmp(n, "vex_vzeroupper") || !strcmp(n, "evex_bcast58") || !strcmp(n, "sse_pshufd")) return b;
  if (!strcmp(n, "vex_por")) return b;
  return ~0ull;
}

int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : "all";
  long calls = argc > 2 ? atol(argv[2]) : 1000;
  struct { const char *n; fn_t f; } fns[] = {
#define ENT(n) {#n, n},
    LIST(ENT)
  };
  int bad = 0, found = 0;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    if (strcmp(only, "all") && strcmp(only, fns[i].n)) continue;
    found = 1;
    long fails = 0; uint64_t got = 0, w = 0;
    for (long k = 0; k < calls; k++) {
      uint64_t a = !strcmp(fns[i].n, "evex_load16") ? (uint64_t)(uintptr_t)data : 0x12345678u + k;
      uint64_t b = 0x0102030405060700ull + (uint64_t)(k % 200) + 1;
      /* known inputs in registers the *_e functions read at entry */
      if (!strcmp(fns[i].n, "vex_pshufd_e"))
        __asm__ volatile("movq %0, %%xmm7; vpbroadcastq %%xmm7, %%xmm7" :: "r"((uint64_t)0x4242) : "xmm7");
      if (!strcmp(fns[i].n, "vex_kmovkk_e"))
        __asm__ volatile("kxnorw %%k0, %%k0, %%k5" ::: "memory");
      uint64_t r = fns[i].f(a, b);
      if (!strcmp(fns[i].n, "leaf_nop")) r = 0;
      uint64_t x = want(fns[i].n, a, b);
      if (r != x) { if (!fails) { got = r; w = x; } fails++; }
    }
    if (fails) { printf("%s FAIL %ld/%ld got %#llx want %#llx\n", fns[i].n, fails, calls,
                        (unsigned long long)got, (unsigned long long)w); bad = 1; }
    else printf("%s ok %ld\n", fns[i].n, calls);
  }
  if (!found) { fprintf(stderr, "no function %s\n", only); return 2; }
  return bad;
}
