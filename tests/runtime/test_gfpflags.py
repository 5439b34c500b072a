"""printf's %gr: GFP flags named by a show_gfp_flags() table read from a
tracepoint's print format, applied as the kernel's __print_flags does."""

from bpfscope.runtime import gfpflags
from bpfscope.runtime.printf import parse_format, render

# the shape of kmem:kmalloc's print fmt (masks as the kernel writes them)
FMT = ('print fmt: "gfp_flags=%s", (REC->gfp_flags) ? __print_flags(REC->gfp_flags, "|", '
       '{( unsigned long)((( gfp_t)((((1UL))) << (10))|((((1UL))) << (11))) | '
       '(( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))), "GFP_KERNEL"}, '
       '{( unsigned long)((( gfp_t)((((1UL))) << (5))) | (( gfp_t)((((1UL))) << (11)))), '
       '"GFP_ATOMIC"}, '
       '{( unsigned long)(( gfp_t)((((1UL))) << (8))), "__GFP_ZERO"}, '
       '{( unsigned long)(( gfp_t)((((1UL))) << (5))), "__GFP_HIGH"}, '
       '{( unsigned long)(((( gfp_t)0x1u) & ~(( gfp_t)0x0u))), "__GFP_DMA"}'
       ') : "none"')

TABLE = gfpflags.parse_table(FMT)


def test_the_table_is_read_with_its_masks():
    assert TABLE == [(0xcc0, "GFP_KERNEL"), (0x820, "GFP_ATOMIC"), (0x100, "__GFP_ZERO"),
                     (0x20, "__GFP_HIGH"), (0x1, "__GFP_DMA")]


def test_flags_as_the_kernel_prints_them():
    assert gfpflags.gfp_text(0xcc0, TABLE) == "GFP_KERNEL"
    assert gfpflags.gfp_text(0xdc0, TABLE) == "GFP_KERNEL|__GFP_ZERO"
    assert gfpflags.gfp_text(0x821, TABLE) == "GFP_ATOMIC|__GFP_DMA"
    assert gfpflags.gfp_text(0x20, TABLE) == "__GFP_HIGH"
    assert gfpflags.gfp_text(0x10000020, TABLE) == "__GFP_HIGH|0x10000000"   # unnamed bits
    assert gfpflags.gfp_text(0, TABLE) == "none"


def test_masks_that_are_not_plain_arithmetic_are_dropped():
    assert gfpflags._mask("(( gfp_t)((((1UL))) << (3)))") == 8
    assert gfpflags._mask("__import__('os')") is None
    assert gfpflags._mask("FOO_BIT << 1") is None


def test_printf_gr_pads_like_a_string(monkeypatch):
    monkeypatch.setattr(gfpflags, "kernel_table", lambda: tuple(TABLE))
    assert parse_format("%-12gr|")[0].conv == "gr"
    assert render("[%gr] [%-12gr] [%12gr]", [0xcc0, 0x820, 0x100]) == \
        "[GFP_KERNEL] [GFP_ATOMIC  ] [  __GFP_ZERO]"
