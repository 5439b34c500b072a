"""A peephole pass over one function's allocated code.

Runs after register allocation on physical registers and labels, until
nothing changes. Each rule keeps every path's effects (stores, calls,
exit values) and only drops or retargets instructions:

- identity ALU: a 64-bit ``add``/``sub``/``or``/``xor``/``lsh``/``rsh``/
  ``arsh`` of the constant 0 (the 32-bit forms zero the upper half, so
  they stay);
- redundant moves and known constants: within a straight run of code
  (knowledge is dropped at every label, and a call forgets r0..r5), a
  64-bit ``mov rX, rY`` where rX already holds rY's value, or
  ``mov rX, K`` where rX already holds K;
- known-constant operands: an ALU operation or a conditional jump whose
  source register is known to hold K takes K as its immediate
  (``r1 = 5; r6 &= r1`` -> ``r6 &= 5``), leaving the constant's load to
  the dead-write rule;
  never where the immediate form means something else or is refused (a
  division or modulo by 0, a shift out of range, byte swaps, sign-
  extending moves);
- dead stores: a store to the stack (``r10``-based) whose bytes every
  path overwrites before anything could read them
  (backward "must be overwritten" flow over the control-flow graph;
  a call, an atomic, an exit or a load through any register but r10
  may read the stack, so each ends what is known), where the helpers
  that fill the whole buffer they are given, success or failure, and
  read no stack (``_FILLS``) overwrite it: the zeroing of a comm key
  before bpf_get_current_comm goes;
- dead register writes: an ALU operation, a load or an LD_IMM64 whose
  register no path reads before writing it again (backward liveness over
  the control-flow graph, where a dead write reads nothing, so chains of
  them go at once; a call reads r1..r5, exit reads r0);
- branch threading: a jump to an unconditional jump goes to its target;
- a conditional jump to the instruction right after it is dropped, and
  then deadcode's rules (code no path reaches, unconditional jumps to
  the next instruction) run again.

Once nothing more changes, a stack address computed three times or more
(``rX = r10; rX += K``: a key given to bpf_get_current_comm, the lookup
and the update) is kept in a callee-saved register the function never
names, where that is shorter: made once where no path has it yet, then
one copy each (``rX = r6``).
"""

from __future__ import annotations

from dataclasses import replace

from . import insn as I
from .deadcode import remove_dead_code
from .helpers import helper_id
from .insn import Insn, Label, PReg, defs, uses
from .regalloc import live_out_masks, successors

_IDENTITY_ZERO = {I.ADD, I.SUB, I.OR, I.XOR, I.LSH, I.RSH, I.ARSH}
_CALL_CLOBBERS = tuple(r.n for r in I.CALLER_SAVED)


def peephole(code: list[Insn | Label]) -> list[Insn | Label]:
    while True:
        code, threaded = _thread_jumps(code)
        code = _drop_identities(code)
        code = _drop_known_moves(code)
        code = _drop_dead_writes(code)
        code = _drop_dead_stores(code)
        new = _drop_cond_jumps_to_next(code)
        if not threaded and len(new) == len(code):
            return _keep_frame_addresses(new)
        # a jump went or moved: code may have become unreachable, and
        # the blocks it joined may hold more to drop
        code = remove_dead_code(new)


def is_identity(ins: Insn) -> bool:
    return (ins.code & 0x0F) == (I.ALU64 | I.K) and ins.imm == 0 and ins.off == 0 \
        and I.op_code(ins.code) in _IDENTITY_ZERO


def _drop_identities(code):
    return [it for it in code if not (isinstance(it, Insn) and is_identity(it))]


def _regn(r) -> int | None:
    return r.n if isinstance(r, PReg) and r.n != 10 else None


def _drop_known_moves(code):
    """Forward scan: ``val[r]`` is a token for what r holds, equal tokens
    meaning equal values (a constant, or the value another register was
    copied from)."""
    out = []
    val: dict[int, object] = {}
    fresh = 0
    for it in code:
        if isinstance(it, Label):
            val.clear()
            out.append(it)
            continue
        if I.is_call(it):
            for n in _CALL_CLOBBERS:
                val.pop(n, None)
            out.append(it)
            continue
        it = _with_known_operand(it, val)
        if I.is_jump(it) or I.is_exit(it):
            if I.is_exit(it) or I.op_code(it.code) == I.JA:
                val.clear()
            out.append(it)
            continue
        if it.code == I.ALU64 | I.K | I.MOV and it.off == 0:
            d = _regn(it.dst)
            tok = ("k", it.imm)
            if d is not None and val.get(d) == tok:
                continue
            val[d] = tok
            out.append(it)
            continue
        if I.is_reg_move(it):
            d, s = _regn(it.dst), _regn(it.src)
            if d is not None and s is not None:
                if s not in val:
                    fresh += 1
                    val[s] = ("v", fresh)
                if val.get(d) == val[s]:
                    continue
                val[d] = val[s]
                out.append(it)
                continue
        for r in defs(it):
            n = _regn(r)
            if n is not None:
                val.pop(n, None)
        out.append(it)
    return out


def _with_known_operand(it: Insn, val: dict) -> Insn:
    """``it`` with its source register replaced by the constant it is
    known to hold (``val``'s ("k", K) token), where the immediate form
    does the same."""
    cls = I.op_class(it.code)
    if cls == I.STX and it.code & 0xE0 == I.MEM:
        # a store of a known constant stores the immediate (sign-extended
        # from 32 bits, as the constant's own 64-bit move was)
        tok = val.get(_regn(it.src)) if _regn(it.src) is not None else None
        if isinstance(tok, tuple) and tok[0] == "k":
            return replace(it, code=(it.code & ~0x07) | I.ST, src=0, imm=tok[1])
        return it
    if cls not in (I.ALU, I.ALU64, I.JMP, I.JMP32) or not it.code & I.X \
            or I.op_code(it.code) == I.MOV:
        return it  # a copy of a constant stays a copy: the moves rule's
    s = _regn(it.src)
    tok = val.get(s) if s is not None else None
    if not (isinstance(tok, tuple) and tok[0] == "k"):
        return it
    k, op = tok[1], I.op_code(it.code)
    if cls in (I.JMP, I.JMP32):
        if op in (I.JA, I.CALL, I.EXIT):
            return it
    elif op in (I.END, I.NEG) \
            or (op in (I.DIV, I.MOD) and k == 0) \
            or (op in (I.LSH, I.RSH, I.ARSH) and not 0 <= k < (64 if cls == I.ALU64 else 32)):
        return it
    return replace(it, code=it.code & ~I.X, src=0, imm=k)


_STACK = 512
_ALL_STACK = (1 << _STACK) - 1


def _stack_bytes(ins: Insn) -> int:
    """The stack bytes an r10-based load or store names, as a bit mask
    (bit 512 + offset); 0 for any other base."""
    base = ins.dst if I.op_class(ins.code) in (I.ST, I.STX) else ins.src
    if not (isinstance(base, PReg) and base.n == 10):
        return 0
    size = I.SIZE_BYTES[ins.code & 0x18]
    if not -_STACK <= ins.off <= -size:
        return 0
    return ((1 << size) - 1) << (_STACK + ins.off)


# helper id -> (buffer register, size register, registers that must hold
# a known constant, so that they cannot point into the stack). Each fills
# all of [buffer, buffer + size) whatever happens: bpf_get_current_comm
# pads with NULs (strncpy, later strscpy_pad) and memsets on an error;
# bpf_get_stack zeroes what the frames leave and all of it on an error;
# bpf_probe_read_* memset dst when the read faults (their source, r3,
# could be a stack address, so only a constant one, codegen's zeroing
# read from NULL, counts). The verifier takes these buffers uninitialized
# (ARG_PTR_TO_UNINIT_MEM) and counts them written after the call.
_FILLS = {
    helper_id("get_current_comm"): (1, 2, ()),
    helper_id("get_stack"): (2, 3, ()),
    helper_id("probe_read_kernel"): (1, 2, (3,)),
    helper_id("probe_read_user"): (1, 2, (3,)),
    helper_id("probe_read"): (1, 2, (3,)),
}


def _helper_fills(code) -> dict[int, int]:
    """index of a helper call -> the stack bytes (as _stack_bytes gives
    them) it fills, for the calls of _FILLS whose buffer is a known
    ``r10 + K`` and whose size a known constant (forward within straight
    runs of code: labels and calls forget)."""
    out: dict[int, int] = {}
    val: dict[int, tuple] = {}
    for i, it in enumerate(code):
        if isinstance(it, Label):
            val.clear()
            continue
        if I.is_call(it):
            fill = _FILLS.get(it.imm) if it.src == 0 else None
            if fill is not None:
                buf, size, consts = val.get(fill[0]), val.get(fill[1]), fill[2]
                if buf and size and buf[0] == "fp" and size[0] == "k" \
                        and all(val.get(r, ("",))[0] == "k" for r in consts) \
                        and 0 < size[1] and -_STACK <= buf[1] and buf[1] + size[1] <= 0:
                    out[i] = ((1 << size[1]) - 1) << (_STACK + buf[1])
            for r in _CALL_CLOBBERS:
                val.pop(r, None)
            continue
        d = _regn(it.dst) if I.op_class(it.code) in (I.ALU, I.ALU64, I.LDX, I.LD) else None
        if it.code == I.ALU64 | I.K | I.MOV and it.off == 0 and d is not None:
            val[d] = ("k", it.imm)
        elif I.is_reg_move(it) and d is not None and isinstance(it.src, PReg):
            v = ("fp", 0) if it.src.n == 10 else val.get(it.src.n)
            if v is None:
                val.pop(d, None)
            else:
                val[d] = v
        elif it.code == I.ALU64 | I.K | I.ADD and d is not None and val.get(d, ("",))[0] == "fp":
            val[d] = ("fp", val[d][1] + it.imm)
        else:
            for r in defs(it):
                n = _regn(r)
                if n is not None:
                    val.pop(n, None)
        if I.is_jump(it) or I.is_exit(it):
            if I.is_exit(it) or I.op_code(it.code) == I.JA:
                val.clear()
    return out


def _drop_dead_stores(code):
    succ = successors(code)
    n = len(code)
    fills = _helper_fills(code)
    # per item: (kind, bytes): 'w' a plain store to the stack, 'r' a load
    # from it, 'x' anything that may read any of it (exit too: a store
    # left for the end is kept, so what a program wrote stays to see), None else
    kinds: list[tuple] = []
    for it in code:
        if isinstance(it, Label):
            kinds.append((None, 0))
            continue
        cls, mode = I.op_class(it.code), it.code & 0xE0
        if len(kinds) in fills:
            kinds.append(("w", fills[len(kinds)]))
        elif I.is_exit(it) or I.is_call(it) or (cls == I.STX and mode == I.ATOMIC):
            kinds.append(("x", 0))
        elif cls == I.LDX:
            m = _stack_bytes(it)
            kinds.append(("r", m) if m else ("x", 0))
        elif cls in (I.ST, I.STX) and mode == I.MEM:
            kinds.append(("w", _stack_bytes(it)))
        else:
            kinds.append((None, 0))
    # greatest fixpoint of: dead_in = transfer(AND of the successors')
    dead_in = [_ALL_STACK] * n
    dead_out = [_ALL_STACK] * n
    changed = True
    while changed:
        changed = False
        for i in range(n - 1, -1, -1):
            o = _ALL_STACK
            for j in succ[i]:
                o &= dead_in[j]
            kind, m = kinds[i]
            if kind == "x":
                x = 0
            elif kind == "r":
                x = o & ~m
            elif kind == "w":
                x = o | m
            else:
                x = o
            if x != dead_in[i] or o != dead_out[i]:
                dead_in[i], dead_out[i], changed = x, o, True
    return [it for i, it in enumerate(code)
            if not (kinds[i][0] == "w" and kinds[i][1] and kinds[i][1] & dead_out[i] == kinds[i][1])]


def _is_pure_def(ins: Insn) -> bool:
    cls = I.op_class(ins.code)
    return cls in (I.ALU, I.ALU64, I.LDX) or ins.code == I.LD_IMM64


def _mask(regs) -> int:
    m = 0
    for r in regs:
        n = _regn(r)
        if n is not None:
            m |= 1 << n
    return m


_MASKS: dict[tuple, tuple[int, int, bool]] = {}  # (code, dst, src, imm) -> use, def, pure


def _drop_dead_writes(code):
    succ = successors(code)
    n = len(code)
    use = [0] * n
    dfn = [0] * n
    pure = [False] * n
    for i, it in enumerate(code):
        if isinstance(it, Insn):
            key = (it.code, it.dst, it.src, it.imm)
            m = _MASKS.get(key)
            if m is None:
                if len(_MASKS) > 1 << 16:
                    _MASKS.clear()
                u, d = _mask(uses(it)), _mask(defs(it))
                m = _MASKS[key] = (u, d, _is_pure_def(it) and d != 0)
            use[i], dfn[i], pure[i] = m
    live_out = live_out_masks(use, dfn, succ, pure)
    return [it for i, it in enumerate(code)
            if not (pure[i] and not live_out[i] & dfn[i])]


def _thread_jumps(code):
    """Retarget jumps whose target label leads (past other labels) to an
    unconditional jump."""
    first_after: dict[int, Insn] = {}
    pending: list[int] = []
    for it in code:
        if isinstance(it, Label):
            pending.append(it.id)
            continue
        for lid in pending:
            first_after[lid] = it
        pending = []
    out, changed = [], False
    for it in code:
        if isinstance(it, Insn) and I.is_jump(it) and it.target is not None:
            target, seen = it.target, set()
            while True:
                nxt = first_after.get(target.id)
                if (nxt is None or I.op_code(nxt.code) != I.JA or not I.is_jump(nxt)
                        or nxt.target is None or target.id in seen):
                    break
                seen.add(target.id)
                target = nxt.target
            if target is not it.target:
                it = replace(it, target=target)
                changed = True
        out.append(it)
    return out, changed


def _drop_cond_jumps_to_next(code):
    out = []
    for i, it in enumerate(code):
        if isinstance(it, Insn) and I.is_cond_jump(it) and it.target is not None:
            j, labels = i + 1, set()
            while j < len(code) and isinstance(code[j], Label):
                labels.add(code[j].id)
                j += 1
            if it.target.id in labels:
                continue
        out.append(it)
    return out


def _frame_address_at(code, i) -> int | None:
    """K when code[i], code[i + 1] are ``rX = r10; rX += K`` (rX not r10)."""
    a = code[i]
    if not (isinstance(a, Insn) and I.is_reg_move(a) and isinstance(a.src, PReg)
            and a.src.n == 10 and _regn(a.dst) is not None and i + 1 < len(code)):
        return None
    b = code[i + 1]
    if isinstance(b, Insn) and b.code == I.ALU64 | I.K | I.ADD and b.off == 0 \
            and _regn(b.dst) == a.dst.n and b.imm != 0:
        return b.imm
    return None


def _keep_frame_addresses(code):
    named = 0
    for it in code:
        if isinstance(it, Insn):
            named |= _mask(uses(it)) | _mask(defs(it))
    free = [r for r in I.CALLEE_SAVED if not named & (1 << r.n)]
    taken: list = []
    while free:
        sites: dict[int, list[int]] = {}
        for i in range(len(code) - 1):
            k = _frame_address_at(code, i)
            # a register this rule took makes its address: not a site
            if k is not None and code[i].dst not in taken:
                sites.setdefault(k, []).append(i)
        best = None
        for k, at in sites.items():
            if len(at) >= 3:
                has_in = _made_on_every_path(code, {i + 1 for i in at})
                gain = sum(1 if has_in[i] else -1 for i in at)
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, set(at), has_in)
        if best is None:
            return code
        _, keep, has_in = best
        reg = free.pop(0)
        taken.append(reg)
        out = []
        for i, it in enumerate(code):
            if i - 1 in keep:
                continue  # the site's add
            if i in keep:
                if not has_in[i]:
                    out += [replace(it, dst=reg), replace(code[i + 1], dst=reg)]
                out.append(replace(it, src=reg))
                continue
            out.append(it)
        code = out
    return code


def _made_on_every_path(code, sites: set[int]) -> list[bool]:
    """Per item: whether every path to it passed one of ``sites`` (the
    adds that end the address's making; forward
    must-flow, greatest fixpoint; nothing is made at the entry)."""
    preds: list[list[int]] = [[] for _ in code]
    for i, ss in enumerate(successors(code)):
        for j in ss:
            preds[j].append(i)
    has_in = [i != 0 for i in range(len(code))]
    changed = True
    while changed:
        changed = False
        for i in range(1, len(code)):
            v = all(has_in[p] or p in sites for p in preds[i])
            if v != has_in[i]:
                has_in[i], changed = v, True
    return has_in
