"""Register allocation: virtual registers to r0..r9, spilling to the stack.

Method: graph colouring in the style of Chaitin and Briggs.

1. Liveness is solved by backward iterative data flow over the real control
   flow graph (fall-through, conditional and unconditional jumps including
   the backward jumps of loops; exit has no successor).  Register sets are
   Python ints used as bit sets, so each transfer function is a few integer
   operations.
2. The interference graph has a node per virtual register plus the ten
   allocatable physical registers as pre-coloured nodes.  A definition
   interferes with everything live after it (except the source of a plain
   copy).  A helper call defines r0..r5, so every virtual register live
   across a call interferes with them and ends up in callee-saved r6..r9,
   while short-lived values may use r0..r5 too.  A call reads only the
   argument registers actually set up since the previous call (a small
   forward data flow), so r1..r5 are not needlessly live between calls.
3. Nodes of degree < 10 are removed (simplify); when none is left, the
   cheapest node (occurrences / degree) is removed optimistically.  Nodes
   are then coloured in reverse order, preferring the register of a copy
   partner (and avoiding those wanted by a neighbour's copies) so that
   ``mov r1, v`` and ``mov v, r0`` usually vanish.
4. A node that finds no colour is spilled: it gets an 8-byte stack slot
   after the Builder's regions.  Each instruction touching it loads it into
   a fresh, never-spilled temporary before and stores it after (a copy
   to or from a spilled register becomes a single ldx or stx).  The whole
   process repeats on the rewritten code.  Temporaries live for at most
   one instruction, and the calling convention leaves at least four of
   r0..r9 free at every instruction, so this always terminates.
5. Registers are substituted and ``mov rX, rX`` is dropped.

Calling convention assumed of the input (the lowering obeys it): r1..r5
are written only to set up a call's arguments right before it (and the
function's arguments, r1 for a program's context, r1..r4 for a callback,
are read once at entry); r0 is read only right after a call and written
only right before exit; r10 only appears as a base or source. Each
function of a program is allocated on its own: it has its own frame.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import count

from bpfscope.codegen import insn as I
from bpfscope.codegen.insn import Insn, Label, PReg, VReg, defs, uses
from bpfscope.codegen.stack import MAX_STACK, StackOverflow, align_up

NUM_COLORS = 10  # r0..r9; r10 is the read-only frame pointer
ARG_MASK = sum(1 << r.n for r in I.ARG_REGS)
MAX_ROUNDS = 64


def _bits(x: int):
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


class _Numbering:
    """Bit positions: r0..r9 are 0..9, virtual registers 10 upwards."""

    def __init__(self) -> None:
        self.index: dict[VReg, int] = {}
        self.vregs: list[VReg] = []

    def bit(self, r) -> int:
        """The bit for a register, 0 for r10 (not allocatable, not tracked)."""
        if isinstance(r, PReg):
            return 0 if r.n == 10 else 1 << r.n
        i = self.index.get(r)
        if i is None:
            i = self.index[r] = NUM_COLORS + len(self.vregs)
            self.vregs.append(r)
        return 1 << i

    def mask(self, regs) -> int:
        m = 0
        for r in regs:
            m |= self.bit(r)
        return m


_FALL, _EXIT, _GOTO, _BRANCH = range(4)
_FLOW: dict[int, int] = {}  # opcode -> how control leaves it


def _flow(code: int) -> int:
    kind = _FLOW.get(code)
    if kind is None:
        probe = Insn(code)
        kind = _FLOW[code] = (_EXIT if I.is_exit(probe) else
                              (_GOTO if I.op_code(code) == I.JA else _BRANCH)
                              if I.is_jump(probe) else _FALL)
    return kind


def successors(code: list[Insn | Label]) -> list[list[int]]:
    pos = {item.id: i for i, item in enumerate(code) if isinstance(item, Label)}
    n = len(code)
    succ = []
    for i, item in enumerate(code):
        nxt = [i + 1] if i + 1 < n else []
        kind = _FALL if isinstance(item, Label) else _flow(item.code)
        if kind == _FALL or (kind != _EXIT and item.target is None):
            succ.append(nxt)
        elif kind == _EXIT:
            succ.append([])
        else:
            if item.target.id not in pos:
                raise ValueError(f"jump to label {item.target!r} that was never placed")
            t = pos[item.target.id]
            succ.append([t] if kind == _GOTO else nxt + [t])
    return succ


def _pending_args(code, succ, num: _Numbering, nargs: int) -> list[int]:
    """For each point, the argument registers written since the last call.

    Forward data flow: a write to r1..r5 makes it pending, a read of it
    (the copy of an argument at entry) or a call consumes it.  The
    function's ``nargs`` argument registers are pending at entry.
    """
    entry = sum(1 << r.n for r in I.ARG_REGS[:nargs])
    n = len(code)
    preds: list[list[int]] = [[] for _ in range(n)]
    for i, ss in enumerate(succ):
        for s in ss:
            preds[s].append(i)
    gen, kill = [0] * n, [0] * n
    for i, item in enumerate(code):
        if isinstance(item, Insn):
            if I.is_call(item):
                kill[i] = ARG_MASK
            else:
                gen[i] = num.mask(defs(item)) & ARG_MASK
                kill[i] = num.mask(uses(item)) & ARG_MASK
    pin, pout = [0] * n, [0] * n
    changed = True
    while changed:
        changed = False
        for i in range(n):
            x = entry if i == 0 else 0
            for p in preds[i]:
                x |= pout[p]
            o = (x & ~kill[i]) | gen[i]
            if x != pin[i] or o != pout[i]:
                pin[i], pout[i], changed = x, o, True
    return pin


def _liveness(code, num: _Numbering, nargs: int):
    """Per item: (use mask, def mask, live-out mask)."""
    succ = successors(code)
    pending = _pending_args(code, succ, num, nargs)
    n = len(code)
    use, dfn = [0] * n, [0] * n
    for i, item in enumerate(code):
        if isinstance(item, Insn):
            if I.is_call(item):
                use[i] = pending[i] & ARG_MASK
            else:
                use[i] = num.mask(uses(item))
            dfn[i] = num.mask(defs(item))
    return use, dfn, live_out_masks(use, dfn, succ)


def live_out_masks(use: list[int], dfn: list[int], succ: list[list[int]],
                   pure: list[bool] | None = None) -> list[int]:
    """Backward iterative liveness: per item, the registers (bit masks of
    its use and def masks' numbering) live after it. With ``pure``, an
    item marked so whose definitions are all dead reads nothing (faint
    values: a chain of dead computations is found in one solve)."""
    n = len(use)
    live_in, live_out = [0] * n, [0] * n
    changed = True
    while changed:
        changed = False
        for i in range(n - 1, -1, -1):
            o = 0
            for s in succ[i]:
                o |= live_in[s]
            if pure is not None and pure[i] and not o & dfn[i]:
                x = o
            else:
                x = use[i] | (o & ~dfn[i])
            if x != live_in[i] or o != live_out[i]:
                live_in[i], live_out[i], changed = x, o, True
    return live_out


def _interference(code, num: _Numbering, nargs: int):
    use, dfn, live_out = _liveness(code, num, nargs)
    nodes = NUM_COLORS + len(num.vregs)
    adj: list[set[int]] = [set() for _ in range(nodes)]
    partners: list[list[int]] = [[] for _ in range(nodes)]
    occurrences = [0] * nodes
    for i, item in enumerate(code):
        if not isinstance(item, Insn):
            continue
        for b in _bits(use[i] | dfn[i]):
            occurrences[b] += 1
        out = live_out[i]
        if I.is_reg_move(item):
            s = num.bit(item.src)
            d = num.bit(item.dst)
            out &= ~s
            if s and d:
                sb, db = s.bit_length() - 1, d.bit_length() - 1
                partners[sb].append(db)
                partners[db].append(sb)
        for d in _bits(dfn[i]):
            for o in _bits(out & ~(1 << d)):
                if d >= NUM_COLORS or o >= NUM_COLORS:
                    adj[d].add(o)
                    adj[o].add(d)
    return adj, partners, occurrences


def _color(num: _Numbering, adj, partners, occurrences, never_spill: set[int]):
    """Colour map for virtual-register nodes, and the nodes to spill."""
    vnodes = range(NUM_COLORS, NUM_COLORS + len(num.vregs))
    degree = {v: len(adj[v]) for v in vnodes}
    remaining = set(vnodes)
    low = {v for v in remaining if degree[v] < NUM_COLORS}
    order: list[int] = []
    while remaining:
        if low:
            v = low.pop()
        else:
            v = min(remaining, key=lambda x: (
                x in never_spill, occurrences[x] / (degree[x] + 1), x))
        remaining.discard(v)
        order.append(v)
        for w in adj[v]:
            if w in remaining:
                degree[w] -= 1
                if degree[w] < NUM_COLORS:
                    low.add(w)
    color: dict[int, int] = {}
    spilled: list[int] = []
    for v in reversed(order):
        taken = set()
        for w in adj[v]:
            if w < NUM_COLORS:
                taken.add(w)
            elif w in color:
                taken.add(color[w])
        pick = None
        for p in partners[v]:
            c = p if p < NUM_COLORS else color.get(p)
            if c is not None and c not in taken:
                pick = c
                break
        if pick is None:
            # Leave neighbours the registers their copies want, when possible.
            wanted = {p for w in adj[v] if w >= NUM_COLORS and w not in color
                      for p in partners[w] if p < NUM_COLORS}
            free = [c for c in range(NUM_COLORS) if c not in taken]
            pick = next((c for c in free if c not in wanted), free[0] if free else None)
        if pick is None:
            spilled.append(v)
        else:
            color[v] = pick
    return color, spilled


def _ldx_slot(dst, off: int) -> Insn:
    return Insn(I.LDX | I.MEM | I.DW, dst, I.R10, off, 0)


def _stx_slot(off: int, src) -> Insn:
    return Insn(I.STX | I.MEM | I.DW, I.R10, src, off, 0)


def _rewrite_spills(code, slots: dict[VReg, int], new_vreg) -> tuple[list, set[VReg]]:
    """Replace spilled registers by loads/stores around each instruction."""
    out: list[Insn | Label] = []
    temps: set[VReg] = set()
    for item in code:
        if isinstance(item, Label):
            out.append(item)
            continue
        if I.is_reg_move(item) and (item.src in slots or item.dst in slots):
            src = item.src
            if src in slots:
                if item.dst in slots:
                    src = new_vreg()
                    temps.add(src)
                    out.append(_ldx_slot(src, slots[item.src]))
                else:
                    out.append(_ldx_slot(item.dst, slots[src]))
                    continue
            out.append(_stx_slot(slots[item.dst], src))
            continue
        read, written = uses(item), defs(item)
        swap: dict[VReg, VReg] = {}
        for r in (item.dst, item.src):
            if r in slots and r not in swap:
                swap[r] = new_vreg()
                temps.add(swap[r])
        if not swap:
            out.append(item)
            continue
        for v, t in swap.items():
            if v in read:
                out.append(_ldx_slot(t, slots[v]))
        out.append(replace(item, dst=swap.get(item.dst, item.dst),
                           src=swap.get(item.src, item.src)))
        for v, t in swap.items():
            if v in written:
                out.append(_stx_slot(slots[v], t))
    return out, temps


# A wildcard over a thousand functions lowers a thousand identical
# programs; allocation, most of the compile time, is done once for them.
# The key is the whole input (instructions with labels numbered by first
# appearance), so a hit is the very result allocation would compute.
_MEMO: dict[tuple, tuple[tuple, int]] = {}
_MEMO_MAX = 4096


def _canonical(stream, labels: dict[int, int]) -> tuple:
    def reg(r):
        if isinstance(r, PReg):
            return ("p", r.n)
        if isinstance(r, VReg):
            return ("v", r.id)
        return r

    def label(lab):
        if lab is None:
            return None
        return labels.setdefault(lab.id, len(labels))

    out = []
    for item in stream:
        if isinstance(item, Label):
            out.append(("L", label(item)))
        else:
            out.append((item.code, reg(item.dst), reg(item.src), item.off, item.imm,
                        item.map_name, label(item.target)))
    return tuple(out)


def _from_canonical(items: tuple, by_index: list[Label]) -> list[Insn | Label]:
    def reg(r):
        if isinstance(r, tuple):
            return PReg(r[1]) if r[0] == "p" else VReg(r[1])
        return r

    out: list[Insn | Label] = []
    for it in items:
        if it[0] == "L":
            out.append(by_index[it[1]])
        else:
            code, dst, src, off, imm, map_name, target = it
            out.append(Insn(code, reg(dst), reg(src), off, imm, map_name,
                            None if target is None else by_index[target]))
    return out


def allocate(stream: list[Insn | Label], frame_size: int, nargs: int = 1,
             max_stack: int = MAX_STACK) -> tuple[list[Insn | Label], int]:
    """Allocate registers; returns the physical stream and the stack size
    (remembered for streams seen before: see _MEMO)."""
    labels: dict[int, int] = {}
    key = (_canonical(stream, labels), frame_size, nargs, max_stack)
    by_index: list[Label] = [None] * len(labels)  # type: ignore[list-item]
    for item in stream:
        for lab in (item,) if isinstance(item, Label) else (item.target,):
            if lab is not None:
                by_index[labels[lab.id]] = lab
    hit = _MEMO.get(key)
    if hit is None:
        result, stack_size = _allocate(stream, frame_size, nargs, max_stack)
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        # the result's labels are the stream's, numbered the same way
        numbered = dict(labels)
        canon = _canonical(result, numbered)
        if len(numbered) == len(labels):
            _MEMO[key] = (canon, stack_size)
        return result, stack_size
    return _from_canonical(hit[0], by_index), hit[1]


def _allocate(stream: list[Insn | Label], frame_size: int, nargs: int = 1,
              max_stack: int = MAX_STACK) -> tuple[list[Insn | Label], int]:
    """Allocate registers; returns the physical stream and the stack size.

    ``frame_size`` is the number of bytes the Builder reserved below r10;
    spill slots go after them, up to ``max_stack`` bytes in all. ``nargs``
    argument registers hold the function's arguments at entry.
    """
    code = list(stream)
    ids = count(1 + max((r.id for it in code if isinstance(it, Insn)
                         for r in (it.dst, it.src) if isinstance(r, VReg)), default=-1))
    slots: dict[VReg, int] = {}
    spill_base = align_up(frame_size, 8)
    temps: set[VReg] = set()
    for _ in range(MAX_ROUNDS):
        num = _Numbering()
        adj, partners, occurrences = _interference(code, num, nargs)
        never = {num.index[t] for t in temps if t in num.index}
        color, spilled = _color(num, adj, partners, occurrences, never)
        if not spilled:
            break
        new_slots = {}
        for node in spilled:
            v = num.vregs[node - NUM_COLORS]
            if v in temps:
                raise RuntimeError(f"register allocator could not place temporary {v!r}")
            new_slots[v] = -(spill_base + 8 * (len(slots) + len(new_slots) + 1))
        slots.update(new_slots)
        if spill_base + 8 * len(slots) > max_stack:
            raise StackOverflow(
                f"BPF stack limit exceeded: {spill_base} bytes of variables and "
                f"{8 * len(slots)} bytes of register spills, {max_stack} available")
        code, new_temps = _rewrite_spills(code, new_slots, lambda: VReg(next(ids)))
        temps |= new_temps
    else:
        raise RuntimeError("register allocation did not converge")

    def phys(r):
        if isinstance(r, VReg):
            return PReg(color[num.index[r]])
        return r

    result: list[Insn | Label] = []
    for item in code:
        if isinstance(item, Insn):
            item = replace(item, dst=phys(item.dst), src=phys(item.src))
            if I.is_reg_move(item) and item.dst == item.src:
                continue
        result.append(item)
    stack_size = spill_base + 8 * len(slots) if slots else frame_size
    return result, stack_size
