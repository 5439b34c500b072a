"""``for ($kv : @map) { ... }``: the loop body as a callback of
bpf_for_each_map_elem.

The kernel calls the callback once per element with (map, key, value,
ctx) in r1..r4; it returns 0 to go on and 1 to stop (break). The body is
lowered into a function of its own (Builder.function) with its own frame,
so what it shares with the code around the loop travels through ``ctx``: a
pointer to an area on the caller's stack holding

- the probe's context pointer and the scratch region pointer, stored only
  when the body needs them (helpers such as get_stackid take the context);
- when the body calls exit(), a flag: the callback sets it and stops the
  iteration, the caller then ends the probe (or its own iteration);
- the value of each integer variable the body shares with the code around
  it, loaded at the callback's entry and stored back at its exit, then
  read back by the caller after the call;
- the base pointer of shared memory variables that are neither on the
  caller's own stack (those are reached at a fixed distance from ctx) nor
  in the scratch region (same offsets, same region).

A variable is shared when it appears both in the body and outside it
(sema.scopes has told variables of one name in different blocks apart);
one local to the body starts from zero in each iteration.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

from collections import Counter

from ..lang import ast
from ..sema import registry
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4, R10, Insn, VReg
from .loweringvalues import Int, Mem

CALLBACK_ARGS = ("map", "key", "value", "ctx")
LOOP_ARGS = ("index", "ctx")
CTX_SLOT, SCRATCH_SLOT, EXIT_SLOT = 0, 8, 16  # offsets in the shared area


def var_names(node) -> list[str]:
    """The variables under ``node`` (their keys: a binding of a name in
    one block scope), in first-seen order, with repeats (a Counter of
    them tells where else a variable occurs)."""
    return [n.key for n in ast.walk(node) if isinstance(n, ast.Variable)]


def _constant(e) -> bool:
    """Whether ``e`` is made of literals only (the verifier then follows
    a range's bound as a known value)."""
    if isinstance(e, (ast.Integer, ast.Bool)):
        return True
    if isinstance(e, ast.Unop) and e.op in ("-", "+", "~"):
        return _constant(e.operand)
    if isinstance(e, ast.Binop) and e.op in ("+", "-", "*", "<<", ">>", "&", "|", "^"):
        return _constant(e.left) and _constant(e.right)
    return False


def range_callback(s) -> bool:
    """Whether ``for ($i : A..B)`` runs its body as a bpf_loop callback (as
    bpftrace 0.26 does, Linux 5.17): when a bound is not a literal, which
    the verifier could not unroll through. A range of literal bounds, one
    whose body returns from the probe or reads the probe's arguments, and
    any range on a kernel without bpf_loop (``kernel_loop``, from sema)
    stay inline loops."""
    if not isinstance(s, ast.ForRange) or not s.kernel_loop or (
            _constant(s.start) and _constant(s.end)):
        return False
    inlined = {id(n) for c in ast.walk(s.body) if isinstance(c, ast.InlineCall)
               for n in ast.walk(c.body)}
    for node in ast.walk(s.body):
        if isinstance(node, ast.Jump) and node.kind == "return" and id(node) not in inlined:
            return False
        if isinstance(node, ast.Builtin) and getattr(registry.builtin(node.name),
                                                     "reads_args", False):
            return False
    return True


def direct_nodes(stmts):
    """The nodes of ``stmts`` outside the bodies of for-map loops and
    callback ranges, and those loops (with a range's bounds)."""
    todo = list(stmts)[::-1]
    while todo:
        node = todo.pop()
        if isinstance(node, (list, tuple)):  # tuples: a user function's parameters
            todo.extend(node[::-1])
            continue
        if not isinstance(node, ast.Node):
            continue
        yield node
        if isinstance(node, ast.ForMap):
            continue
        if range_callback(node):
            todo.extend([node.end, node.start])
            continue
        for name in ast.syntax_fields(node):
            child = getattr(node, name)
            if isinstance(child, (ast.Node, list, tuple)):
                todo.append(child)


class ForMapLowering:
    def probe_var_names(self, probe: ast.Probe) -> list[str]:
        self._probe_vars = Counter(var_names(probe.body))
        return self.frame_var_names(probe.body)

    def frame_var_names(self, stmts) -> list[str]:
        """The variables code outside for-map bodies holds: its own and
        those the loops it contains share with it."""
        names: dict[str, None] = {}
        for node in direct_nodes(stmts):
            if isinstance(node, ast.ForMap) or range_callback(node):
                names.update(dict.fromkeys(self.shared_names(node)))
            elif isinstance(node, ast.Variable):
                names[node.key] = None
        return list(names)

    def shared_names(self, s: ast.ForMap) -> list[str]:
        inside = var_names(s.body)
        here = Counter(inside)
        return [n for n in dict.fromkeys(inside)
                if n != s.var.key and self._probe_vars[n] > here[n]]

    def for_map(self, s: ast.ForMap):
        def call(b, area, cb):
            self.kernel_map(s.map.ident)
            b.ld_map_fd(R1, s.map.ident)
            b.ld_func(R2, cb)
            self.addr(R3, area)
            b.mov(R4, 0)
            b.call("for_each_map_elem")

        def enter(cb):
            key, value = cb.vreg(), cb.vreg()
            cb.mov(key, R2)
            cb.mov(value, R3)
            return R4, lambda ctxp: self.loop_pair(s, key, value)
        self.callback_loop(s, "for_map", CALLBACK_ARGS, enter, call)

    def for_range_loop(self, s: ast.ForRange):
        """``for ($i : A..B)`` as bpf_loop(B - A, body, area): the body is
        called with its index in r1; $i is A (kept in the area) plus it."""
        b = self.b
        start = b.vreg()
        b.mov(start, self.int_expr(s.start).reg)
        count = b.vreg()
        b.mov(count, self.int_expr(s.end).reg)
        b.alu("sub", count, start)
        some = b.label("range")
        b.jcond("sgt", count, 0, some)
        b.mov(count, 0)
        b.place(some)

        def call(b, area, cb):
            b.stx(8, R10, area.off + start_slot[0], start)
            b.mov(R1, count)
            b.ld_func(R2, cb)
            self.addr(R3, area)
            b.mov(R4, 0)
            b.call("loop")

        start_slot = []

        def enter(cb):
            index = cb.vreg()
            cb.mov(index, R1)

            def bind(ctxp):
                i = cb.vreg()
                cb.ldx(8, i, ctxp, start_slot[0])
                cb.alu("add", i, index)
                return Int(i)
            return R2, bind
        self.callback_loop(s, "for_range", LOOP_ARGS, enter, call, start_slot)

    def callback_loop(self, s, name, args, enter, call, extra=None):
        """A loop whose body runs as callback ``name`` of a helper:
        ``enter(cb)`` moves the callback's own arguments into registers and
        returns the register of the area pointer and how the loop variable
        is bound; ``call(b, area, cb)`` calls the helper. ``extra``, a
        list, receives the offset of one more 8-byte slot of the area."""
        b = self.b
        shared = [n for n in self.shared_names(s) if n in self.vars]
        ints = [n for n in shared if isinstance(self.vars[n], Int)]
        foreign = list(dict.fromkeys(
            self.vars[n].base for n in shared if isinstance(self.vars[n], Mem)
            and self.vars[n].base not in (R10, self.scratch)))
        # exit() in the body sets a flag that ends the probe after the call
        exits = any(isinstance(n, ast.Call) and n.name == "exit" for n in ast.walk(s.body))
        first = 24 if exits else 16
        if extra is not None:
            extra.append(first)
            first += 8
        area = Mem(R10, b.stack(first + 8 * (len(ints) + len(foreign))), 0)
        slot = {n: first + 8 * i for i, n in enumerate(ints)}
        base_slot = {r: first + 8 * (len(ints) + i) for i, r in enumerate(foreign)}

        self.n_callbacks += 1
        cb = b.function(f"{name}_{self.n_callbacks}", args)
        saved = (self.b, self.vars, self.loops, self.ctx, self.scratch, self.zero_slot,
                 self.exit_label, self.abort_label, self.returns)
        try:
            ctx_arg, bind = enter(cb)
            uses_ctx, uses_scratch = self.callback(cb, s, area, slot, base_slot, exits,
                                                   ctx_arg, bind)
        finally:
            (self.b, self.vars, self.loops, self.ctx, self.scratch, self.zero_slot,
             self.exit_label, self.abort_label, self.returns) = saved

        if uses_ctx:
            b.stx(8, R10, area.off + CTX_SLOT, self.ctx)
        if uses_scratch:
            b.stx(8, R10, area.off + SCRATCH_SLOT, self.scratch)
        for n in ints:
            b.stx(8, R10, area.off + slot[n], self.vars[n].reg)
        for r in foreign:
            b.stx(8, R10, area.off + base_slot[r], r)
        if exits:
            b.st(8, R10, area.off + EXIT_SLOT, 0)
        call(b, area, cb)
        for n in ints:
            b.ldx(8, self.vars[n].reg, R10, area.off + slot[n])
        if exits:
            flag = b.vreg()
            b.ldx(8, flag, R10, area.off + EXIT_SLOT)
            b.jcond("ne", flag, 0, self.exit_label)

    def callback(self, cb, s, area: Mem, slot, base_slot, exits: bool, ctx_arg, bind):
        """Lower the body into ``cb``; says whether it needs the probe's
        context and the scratch pointer from the caller."""
        outer, outer_scratch = self.vars, self.scratch
        ctxp = cb.vreg()
        cb.mov(ctxp, ctx_arg)
        entry = len(cb.insns)
        self.b = cb
        self.ctx, self.scratch = cb.vreg(), cb.vreg()
        self.zero_slot = self.stack_mem(8)
        cont, brk, ended = cb.label("next"), cb.label("stop"), cb.label("exited")
        self.loops = [(cont, brk)]
        self.returns = []  # user functions called in the body return within it
        self.exit_label, self.abort_label = ended, brk
        self.vars = {}
        for n, v in outer.items():
            if n in slot:
                r = cb.vreg()
                cb.ldx(8, r, ctxp, slot[n])
                self.vars[n] = Int(r)
        bases: dict[VReg, VReg] = {}
        for n in self.shared_names(s):
            v = outer.get(n)
            if not isinstance(v, Mem):
                continue
            if v.base == R10:
                self.vars[n] = Mem(ctxp, v.off - area.off, v.size)
            elif v.base == outer_scratch:
                self.vars[n] = Mem(self.scratch, v.off, v.size)
            else:
                if v.base not in bases:
                    bases[v.base] = cb.vreg()
                    cb.ldx(8, bases[v.base], ctxp, base_slot[v.base])
                self.vars[n] = Mem(bases[v.base], v.off, v.size)
        self.declare_vars(n for n in self.frame_var_names(s.body)
                          if n not in self.vars and n != s.var.key)
        if s.var.key in var_names(s.body):
            self.vars[s.var.key] = bind(ctxp)
        self.block(s.body)

        ret = cb.vreg()
        done = cb.label("done")
        cb.place(cont)
        cb.mov(ret, 0)
        cb.ja(done)
        if exits:
            cb.place(ended)
            cb.st(8, ctxp, EXIT_SLOT, 1)
        cb.place(brk)
        cb.mov(ret, 1)
        cb.place(done)
        for n, off in slot.items():
            cb.stx(8, ctxp, off, self.vars[n].reg)
        cb.mov(R0, ret)
        cb.exit_()

        def used(r) -> bool:
            return any(isinstance(i, Insn) and r in (i.dst, i.src) for i in cb.insns)
        # The context and scratch pointers are loaded at entry only when
        # the body turned out to use them.
        uses_ctx, uses_scratch = used(self.ctx), used(self.scratch)
        start = len(cb.insns)
        if uses_ctx:
            cb.ldx(8, self.ctx, ctxp, CTX_SLOT)
        if uses_scratch:
            cb.ldx(8, self.scratch, ctxp, SCRATCH_SLOT)
        code = cb.insns[start:]
        del cb.insns[start:]
        cb.insns[entry:entry] = code
        return uses_ctx, uses_scratch

    def loop_pair(self, s: ast.ForMap, key: VReg, value: VReg) -> Mem:
        """$kv: the element's key and value copied into a (key, value)
        tuple; the value of an aggregation merged over CPUs, a plain value
        of a per-CPU map this CPU's own (as reading it elsewhere gives)."""
        t: T.TupleType = s.var.type
        spec = self.sc.maps[s.map.ident]
        kv = self.stack_mem(t.size)
        koff, voff = t.offsets
        ksize = T.align8(t.elems[0].size)
        if spec.key_size < ksize:
            # an array's u32 index standing for bpftrace's integer key
            k = self.b.vreg()
            self.b.ldx(spec.key_size, k, key, 0)
            self.b.stx(8, kv.base, kv.off + koff, k)
        else:
            self.copy(kv.at(koff, ksize), Mem(key, 0, spec.user_key_size), ksize)
        if "percpu" in spec.map_type and spec.kind != "plain":
            v = self.percpu_read(s.map.ident, spec, Mem(key, 0, spec.user_key_size))
            self.b.stx(8, kv.base, kv.off + voff, v.reg)
        else:
            n = T.align8(t.elems[1].size)
            self.copy(kv.at(voff, n), Mem(value, 0, n), n)
        return kv

