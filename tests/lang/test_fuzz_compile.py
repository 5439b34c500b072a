"""Fuzzing the compiler: mutants of the parser corpus and the bundled tools
compile in-process (parse, macros, functions, sema, codegen; nothing is
loaded) and may fail only with bpfscope's user-facing error.

Every probe is given to sema as a BEGIN probe (a fake expander), so no
kernel, tracefs or BTF is touched. The default run compiles 20,000 mutants
from a fixed seed; BPFSCOPE_FUZZ_LONG=1 does 1,000,000 and
BPFSCOPE_FUZZ_SEED picks another seed. A failure names the seed and the
mutant's number and text.
"""

import os
import random
import re
import traceback
from pathlib import Path

from bpfscope.codegen.assemble import AssemblyError
from bpfscope.codegen.lower import compile_program
from bpfscope.errors import BpfscopeError, SemanticError, Source
from bpfscope.lang.macros import expand_macros
from bpfscope.lang.parser import parse
from bpfscope.lang.userfuncs import inline_functions
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "lang" / "corpus" / "programs.bt"


def seeds() -> list[str]:
    out = [p.strip() for p in CORPUS.read_text().split("// ----\n") if p.strip()]
    out += [p.read_text() for p in sorted((ROOT / "bpfscope" / "tools").glob("*.bt"))]
    return out


def expander(ap):
    return [ExpandedProbe("BEGIN", "BEGIN", (), None, ap.span)]


def compile_inproc(text: str, codegen: bool = True):
    try:
        program = inline_functions(expand_macros(parse(Source(text))))
        an = Analyzer(program, expander, (), None).run()
        if codegen:
            compile_program(an)
    except AssemblyError as e:
        # api.compile_script turns this into a user error; a RecursionError
        # is a failure: the nesting limits (lang.nesting) must come first
        raise SemanticError(str(e)) from None


TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|[A-Za-z_$@][A-Za-z0-9_]*|\d+|->|\+\+|--|[=!<>]=|&&|\|\||\S')
HUGE = ["18446744073709551616", "1e99999999999", "9" * 400, '"' + "x" * 70000 + '"',
        "0x" + "f" * 40, "-9223372036854775809", "$999999", "1e17", "12e4"]


def mutate(rng: random.Random, text: str) -> str:
    toks = TOKEN.findall(text)
    if not toks:
        return text
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        i = rng.randrange(len(toks))
        if op == 0 and len(toks) > 1:
            del toks[i]
        elif op == 1:
            toks.insert(i, toks[i])
        elif op == 2:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 3:
            toks = toks[:i]
        elif op == 4:
            toks.insert(i, rng.choice(HUGE))
        elif op == 5:
            d = rng.choice((50, 300, 2000))
            opener, closer = rng.choice((("(", ")"), ("{", "}"), ("*", ""), ("-", ""),
                                         ("!", ""), ("[", "]")))
            toks[i:i + 1] = [opener * d, toks[i], closer * d]
        elif op == 6:
            toks.insert(i, rng.choice(toks))
        elif op == 7:
            # chains: each link is a level of the tree without a bracket
            link = rng.choice(("->parent", " + 1", " || 1", "[0]", " ? 1 : 0", " else if (1) { }"))
            toks.insert(i, link * rng.choice((10, 60, 500)))
        else:
            toks.insert(i, rng.choice(["\udcff", "\x00", "\udc80\udcfe", "%" * 300, "\\x"]))
        if not toks:
            break
    return " ".join(toks)


def run(n: int, seed: int):
    rng = random.Random(seed)
    base = seeds()
    for k in range(n):
        text = mutate(rng, rng.choice(base))
        try:
            compile_inproc(text)
        except BpfscopeError:
            pass
        except Exception:
            raise AssertionError(f"seed {seed}, mutant {k}: {text[:2000]!r}\n"
                                 f"{traceback.format_exc()}") from None


def test_seeds_compile_or_fail_cleanly():
    for text in seeds():
        try:
            compile_inproc(text)
        except BpfscopeError:
            pass


def test_fuzz_compile():
    long = os.environ.get("BPFSCOPE_FUZZ_LONG") == "1"
    seed = int(os.environ.get("BPFSCOPE_FUZZ_SEED", "17"))
    run(1_000_000 if long else 20_000, seed)
