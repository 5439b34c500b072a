"""Lowering: typed AST -> one BPF program per expanded probe.

Values during lowering are either integers in virtual registers (``Int``)
or byte buffers in memory (``Mem``: strings and tuples, on the stack or in a
ring buffer record), laid out as sema.types describes. Writers that can put
their result straight where it is needed (a map key, a printf record) take a
destination ``Mem`` instead of returning a temporary, which keeps strings off
the 512-byte stack.

Kernel-side conventions shared with the runtime:
- maps as codegen.script.MapSpec describes them; a map without a key uses
  an 8-byte zero key;
- aggregations live in per-CPU hashes that user space sums: count/sum one
  u64, min/max (value, is-set), avg/stats (count, total), hist/lhist one u64
  per (key, bucket index) with the index scheme of runtime.values;
- per-event output goes through one ring buffer; a record that does not fit
  is counted in the per-CPU array ``.lost`` instead, never waited for.
"""

from __future__ import annotations

import os
import time

from ..errors import SemanticError
from ..lang import ast
from ..sema import registry
from ..sema import types as T
from ..sema.analyzer import Analyzer, TypedProbe, param_int
from .builder import Builder, StackOverflow
from .insn import R0, R1, R2, R3, R10, VReg
from .loweringvalues import Int, Mem
from .lower_bytes import BytesLowering
from .lower_calls import CallLowering
from .lower_events import EventLowering
from .lower_formap import ForMapLowering, range_callback
from .lower_maps import MapLowering
from .lower_memory import MemoryLowering
from .lower_store import StoreLowering
from . import shortkeys, stackids  # noqa: I001
from .script import (EXIT, LOST, RINGBUF, SCRATCH, USTACK_PIDS,
                     CompiledScript, DropSite, EventSpec, MapSpec, ProgSpec)


def ring_pages(asked: int) -> int:
    """Pages of the ring buffer, rounded down to a power of two as the
    kernel requires: ``perf_rb_pages`` as asked (bpftrace 0.26 sizes its
    ring buffer by it), else by memory and CPUs: 1/512 of memory, at least
    64 pages per CPU and at most 16 MiB per CPU (32 MiB on a 2-CPU machine
    of 24 GiB). That absorbs a burst of a million printf records of two
    integers (24 bytes each with the ring's header), which no consumer in
    Python can print as fast as one CPU makes them (5 million a second
    here); the consumer then empties it at a few hundred thousand records
    a second (runtime.session's fast path), so ^C after a burst waits
    seconds, not more."""
    if asked <= 0:
        try:
            with open("/proc/meminfo") as f:
                kib = int(f.readline().split()[1])
        except (OSError, ValueError, IndexError):
            kib = 0
        cpus = os.cpu_count() or 1
        asked = max(64 * cpus, min(4096 * cpus, kib // 2048))  # kib // 2048: 1/512, in 4 KiB pages
    return 1 << (asked.bit_length() - 1)


# Kernel map types by declared kind (`let @a = kind(N);`, '' when not
# declared): for plain values, and for aggregations, which are per-CPU
# whatever the declaration says.
DECLARED_MAP_TYPES = {
    "": ("hash", "percpu_hash"), "hash": ("hash", "percpu_hash"),
    "lruhash": ("lru_hash", "lru_percpu_hash"),
    "percpuhash": ("percpu_hash", "percpu_hash"),
    "percpulruhash": ("lru_percpu_hash", "lru_percpu_hash"),
    "percpuarray": ("percpu_array", "percpu_array"),
}


def map_spec(info, max_keys: int) -> MapSpec:
    """The kernel map of a bpftrace map; a declaration (``let @a =
    lruhash(N)``) picks the map type and the number of entries. Array
    keys are u32 indexes: the low half of bpftrace's 8-byte integer key."""
    v = info.value
    plain_type, agg_type = DECLARED_MAP_TYPES[info.decl_kind]
    key_size = 4 if plain_type == "percpu_array" else max(8, info.key.size if info.key else 0)
    if info.decl_entries:
        max_keys = info.decl_entries
    if info.user_space:  # no kernel map: runtime.usermap keeps it
        kind = v.kind if isinstance(v, T.AggType) else "plain"
        return MapSpec(info.name, "user", key_size, max(8, T.align8(v.size)), max_keys, kind,
                       info.key, v)
    if isinstance(v, T.AggType):
        if registry.aggregation(v.kind).bucketed:
            # per bucket: the count, then the total of its values (the
            # exporter's histogram _sum; bpftrace keeps only the count)
            # (tseries: a slot per interval kept, each 24 bytes)
            slots = max(16, v.params[1]) if v.kind == "tseries" else 16
            return MapSpec(info.name, agg_type, key_size + 8, max(16, v.size), max_keys * slots,
                           v.kind, info.key, v)
        return MapSpec(info.name, agg_type, key_size, v.size, max_keys, v.kind, info.key, v)
    return MapSpec(info.name, plain_type, key_size,
                   max(8, T.align8(v.size)), max_keys, "plain", info.key, v)


class ScriptCompiler:
    """Compiles an analysed program: call :meth:`compile`."""

    def __init__(self, analyzer: Analyzer):
        self.an = analyzer
        self.max_keys = int(analyzer.config["max_map_keys"])
        self.maps: dict[str, MapSpec] = {}
        self.events: dict[int, EventSpec] = {}
        self.drop_sites: list[DropSite] = []
        self._same_events: dict[str, EventSpec] = {}
        self.scratch_total = 0  # bytes of the per-CPU scratch value so far
        self.start_ns = time.monotonic_ns()

    def compile(self) -> CompiledScript:
        for name, info in sorted(self.an.maps.items()):
            self.maps[name] = map_spec(info, self.max_keys)
        for name in shortkeys.splittable(self.an.program, self.maps):
            shortkeys.split(self.maps, name)
        for name, positions in sorted(stackids.convertible(self.an.program, self.maps).items()):
            stackids.convert(self.maps, name, positions, self.max_keys)
        pages = ring_pages(int(self.an.config.get("perf_rb_pages", 0)))
        self.maps[RINGBUF] = MapSpec(RINGBUF, "ringbuf", 0, 0, pages * 4096, "ringbuf")
        # one element of u64 counters: [0] lost records, [i] the drops of
        # drop_site i; value_size is fixed once every program is lowered
        self.maps[LOST] = MapSpec(LOST, "array", 4, 8, 1, "lost")
        self.maps[EXIT] = MapSpec(EXIT, "array", 4, 16, 1, "exit")
        progs = []
        for tp in self.an.typed_probes():
            exp = tp.exp
            ptype = exp.program_type()
            if not ptype:
                raise SemanticError(f"{exp.provider} probes are not supported yet", exp.span)
            lw = ProbeLowering(self, tp, ptype)
            try:
                program = lw.lower(tp.probe)
            except StackOverflow as e:
                raise SemanticError(f"{exp.name}: {e.message}; use fewer or shorter "
                                    "strings (max_strlen) in one probe", exp.span) from None
            progs.append(ProgSpec(exp, ptype, program, exp.name))
        self.maps[LOST].value_size = 8 * (1 + len(self.drop_sites))
        if not int(self.an.config.get("perf_rb_pages", 0)) and all(
                ev.kind == "exit" for ev in self.events.values()):
            # no record but exit()'s (which EXIT makes sure is not lost):
            # one page, not the default's tens of MiB, which the kernel
            # maps twice and the process pays for in memory and start-up
            # (a perf_rb_pages asked for is kept)
            self.maps[RINGBUF].max_entries = 4096
        if self.scratch_total:
            # one slot per CPU, indexed by the CPU's number: programs that
            # nest on one CPU have regions of their own
            self.maps[SCRATCH] = MapSpec(SCRATCH, "array", 4, self.scratch_total,
                                         os.cpu_count() or 1, "scratch")
        return CompiledScript(progs, self.maps, self.events, dict(self.an.config), self.start_ns,
                              self.drop_sites)

    def drop_site(self, kind: str, name: str, span) -> int:
        """A LOST array slot counting the drops of one place (DropSite)."""
        site = DropSite(kind, name, span)
        # the expansions of a wildcard share the place's slot: their drops
        # are reported once, and their programs can be the same code (one
        # program, one uprobe_multi link)
        if site in self.drop_sites:
            return self.drop_sites.index(site) + 1
        self.drop_sites.append(site)
        return len(self.drop_sites)

    def user_addresses(self):
        """User addresses are taken (ustack, usym): keep the map of pids
        whose mappings user space reads while they run."""
        if USTACK_PIDS not in self.maps:
            self.maps[USTACK_PIDS] = MapSpec(USTACK_PIDS, "hash", 4, 8, 4 * self.max_keys, "pids")

    def event(self, kind: str, **kw) -> EventSpec:
        # the same record from each expansion of a wildcard is one kind
        # (so their programs can be the same code: one program, one link)
        key = repr((kind, sorted(kw.items())))
        ev = self._same_events.get(key)
        if ev is None:
            ev = EventSpec(len(self.events) + 1, kind, **kw)
            self.events[ev.id] = ev
            self._same_events[key] = ev
        return ev


DIVIDE_BY_ZERO = ("Divide or modulo by 0 detected. This can lead to unexpected results. "
                  "1 is being used as the result.")


class _Return(Exception):
    pass


class ProbeLowering(MapLowering, EventLowering, StoreLowering, CallLowering, BytesLowering,
                    MemoryLowering, ForMapLowering):
    """Lowers one expanded probe. Statements, integer expressions and
    conditions are here; maps, ring buffer events, memory values,
    value-giving builtins and for-map loops are in the lower_* mixins."""
    def __init__(self, sc: ScriptCompiler, typed: TypedProbe, prog_type: str):
        self.sc = sc
        self.probe = typed.exp
        self.var_types = typed.vars  # what sema found for each scratch variable
        self.prog_type = prog_type
        self.b = Builder()
        self.vars: dict[str, object] = {}
        self.loops: list[tuple] = []  # (continue label, break label)
        # inlined user functions being lowered: (result, end label, type)
        self.returns: list[tuple] = []
        self.on_stack_limit = _config_int(sc.an.config, "on_stack_limit", 32)
        self.scratch_used = self.scratch_high = 0
        self.lazy_used = 0  # bytes of lazy_scratch's regions
        self.exit_label = self.b.label("exit")
        # where a path that cannot go on jumps (a failed scratch lookup):
        # the probe's exit, or in a for-loop callback its "stop iterating"
        self.abort_label = self.exit_label
        self.n_callbacks = 0
        self.stackid_failed = None  # set while a key with stack ids is built (aggregate_by_ids)

    # ------------------------------------------------------------ driver

    def lower(self, probe: ast.Probe):
        b = self.b
        self.ctx = b.vreg()
        b.mov(self.ctx, R1)
        self.scratch = b.vreg()
        self.zero_slot = self.stack_mem(8)
        self.declare_vars(self.probe_var_names(probe))
        guard = self.probe.layout.guard
        if guard is not None:   # an iterator's last call: no object
            g = b.vreg()
            b.ldx(8, g, self.ctx, guard)
            b.jcond("eq", g, 0, self.exit_label)
        if probe.predicate is not None:
            self.branch_false(probe.predicate, self.exit_label)
        self.block(probe.body)
        b.place(self.exit_label)
        if self.scratch_high:
            self.scratch_prologue()
        else:
            self.sc.scratch_total += self.lazy_used
        b.mov(R0, 0)
        b.exit_()
        return b.finish()

    def declare_vars(self, names):
        """Give scratch variables their storage and a zero value up front:
        bpftrace variables read as zero before assignment, and the verifier
        rejects reads of uninitialised registers or stack."""
        for name in names:
            if name in self.vars:
                continue
            t = self.var_types.get(name)
            if t is None:
                continue
            if t.is_int():
                r = self.b.vreg()
                self.b.mov(r, 0)
                self.vars[name] = Int(r)
            else:
                m = self.stack_mem(t.size)
                self.zero(m)
                self.vars[name] = m

    # ------------------------------------------------------------ memory helpers

    def stack_mem(self, size: int) -> Mem:
        """Room for a temporary: on the BPF stack when small, else in this
        program's region of the per-CPU scratch map (the stack has 512
        bytes; strings of max_strlen would not fit)."""
        size = T.align8(max(size, 1))
        # 8 bytes stay on the stack whatever on_stack_limit says: the scratch
        # map's own key and other helper slots are read from R10
        if size > max(self.on_stack_limit, 8):
            off = self.scratch_used
            self.scratch_used += size
            self.scratch_high = max(self.scratch_high, self.scratch_used)
            return Mem(self.scratch, off, size)
        return Mem(R10, self.b.stack(size), size)

    def cpu_scratch(self, fail) -> VReg:
        """This CPU's element of the scratch map; ``fail`` is taken if the
        lookup returns NULL (it cannot, but the verifier wants the check)."""
        b = self.b
        b.call("get_smp_processor_id")
        cpu = b.vreg()
        b.mov(cpu, R0)
        b.stx(4, R10, self.zero_slot.off, cpu)
        p = self.lookup(SCRATCH, Mem(R10, self.zero_slot.off, 4))
        b.jcond("eq", p, 0, fail)
        return p

    def scratch_prologue(self):
        """Point ``self.scratch`` at this program's scratch region: emitted
        last, moved to the start, and only when a temporary needed it."""
        b = self.b
        start = len(b.insns)
        p = self.cpu_scratch(self.exit_label)
        b.mov(self.scratch, p)
        b.alu("add", self.scratch, self.sc.scratch_total + self.lazy_used)
        code = b.insns[start:]
        del b.insns[start:]
        b.insns[1:1] = code  # right after the context is saved
        self.sc.scratch_total += self.lazy_used + T.align8(self.scratch_high)

    def lazy_scratch(self, size: int) -> Mem:
        """Room in the scratch map looked up here, not at the start: for
        a path few events take (aggregate_by_ids' copies), so the others
        do not pay the lookup. The program's region starts with these,
        stack_mem's follow them."""
        b = self.b
        p = self.cpu_scratch(self.abort_label)
        b.alu("add", p, self.sc.scratch_total + self.lazy_used)
        self.lazy_used += T.align8(size)
        return Mem(p, 0, T.align8(size))

    # Above this many bytes a buffer is zeroed by one helper call instead
    # of one store per 8 bytes: bpf_probe_read_kernel(dst, n, NULL) fails
    # and, failing, memsets dst (the kernel always does, since the verifier
    # counts dst as written after the call), in 5 instructions whatever n.
    ZERO_BY_CALL = 128

    def zero(self, m: Mem, start: int = 0):
        if m.size - start > self.ZERO_BY_CALL:
            part = Mem(m.base, m.off + start, m.size - start)
            self.addr(R1, part)
            self.b.mov(R2, part.size)
            self.b.mov(R3, 0)
            self.b.call("probe_read_kernel")
            return
        off = start
        while off < m.size:
            n = 8 if m.size - off >= 8 and (m.off + off) % 8 == 0 else \
                4 if m.size - off >= 4 and (m.off + off) % 4 == 0 else 1
            self.b.st(n, m.base, m.off + off, 0)
            off += n

    def copy(self, dst: Mem, src: Mem, n: int):
        self.copy_chunks(dst, src.base, src.off, n)

    def copy_chunks(self, dst: Mem, base, off: int, n: int):
        """Copy ``n`` bytes from ``base + off`` to ``dst`` in the widest
        loads and stores that are naturally aligned on both sides: the
        verifier rejects misaligned stack and context accesses."""
        tmp = self.b.vreg()
        done = 0
        while done < n:
            k = 8
            while k > 1 and ((off + done) % k or (dst.off + done) % k or n - done < k):
                k //= 2
            self.b.ldx(k, tmp, base, off + done)
            self.b.stx(k, dst.base, dst.off + done, tmp)
            done += k

    def addr(self, preg, m: Mem):
        """Put the address of ``m`` in the argument register ``preg``."""
        self.b.mov(preg, m.base)
        if m.off:
            self.b.alu("add", preg, m.off)

    def key_zero_slot(self) -> Mem:
        return self.zero_slot

    # ------------------------------------------------------------ statements

    def block(self, stmts):
        for s in stmts:
            mark, scratch = self.b.stack_mark(), self.scratch_used
            self.stmt(s)
            self.b.stack_release(mark)
            self.scratch_used = scratch

    def stmt(self, s):
        b = self.b
        if isinstance(s, ast.ExprStmt):
            self.effect(s.expr)
        elif isinstance(s, ast.AssignMap):
            self.assign_map(s)
        elif isinstance(s, ast.AssignVar):
            self.assign_var(s.var, s.value, s.op)
        elif isinstance(s, ast.VarDecl):
            if s.value is not None:
                self.assign_var(s.var, s.value, "=")
            else:
                self.clear_var(s.var)
        elif isinstance(s, ast.If):
            els, end = b.label("else"), b.label("endif")
            self.branch_false(s.cond, els)
            self.block(s.then)
            b.ja(end)
            b.place(els)
            if s.orelse:
                self.block(s.orelse)
            b.place(end)
        elif isinstance(s, ast.Block):
            self.block(s.stmts)
        elif isinstance(s, ast.Unroll):
            for _ in range(s.count.const_value):  # sema: the count
                self.block(s.body)
        elif isinstance(s, ast.While):
            top, end = b.label("while"), b.label("endwhile")
            b.place(top)
            self.branch_false(s.cond, end)
            self.loops.append((top, end))
            self.block(s.body)
            self.loops.pop()
            b.ja(top)
            b.place(end)
        elif range_callback(s):
            self.for_range_loop(s)
        elif isinstance(s, ast.ForRange):
            i = self.vars[s.var.key].reg
            end = b.vreg()
            b.mov(i, self.int_expr(s.start).reg)
            b.mov(end, self.int_expr(s.end).reg)
            top, step, done = b.label("for"), b.label("next"), b.label("endfor")
            b.place(top)
            b.jcond("sge", i, end, done)
            self.loops.append((step, done))
            self.block(s.body)
            self.loops.pop()
            b.place(step)
            b.alu("add", i, 1)
            b.ja(top)
            b.place(done)
        elif isinstance(s, ast.ForMap):
            self.for_map(s)
        elif isinstance(s, ast.Jump):
            if s.kind == "return" and self.returns:
                self.fn_return(s)
            elif s.kind == "return":
                b.ja(self.exit_label)
            elif not self.loops:
                raise SemanticError(f"'{s.kind}' used outside of a loop", s.span)
            else:
                cont, brk = self.loops[-1]
                b.ja(cont if s.kind == "continue" else brk)
        else:
            raise SemanticError(f"{type(s).__name__} is not supported yet", s.span)

    def inline_call(self, e: ast.InlineCall):
        """A user function's body in place: parameters set from the
        arguments, then the body, whose ``return`` stores the result and
        jumps past the rest of it."""
        b = self.b
        for (var, _), arg in zip(e.params, e.args):
            self.assign_var(var, arg, "=")
            slot = self.vars.get(var.key)
            if isinstance(slot, Int):
                self.narrow(slot.reg, var.type)
        t = e.type
        if isinstance(t, T.VoidType):
            result = None
        elif t.is_int():
            result = Int(b.vreg())
            b.mov(result.reg, 0)
        else:
            result = self.stack_mem(t.size)
            self.zero(result)
        end = b.label("fnend")
        # break and continue in the body belong to its own loops
        loops, self.loops = self.loops, []
        self.returns.append((result, end, t))
        self.block(e.body)
        self.returns.pop()
        self.loops = loops
        b.place(end)
        if result is None:
            result = Int(b.vreg())
            b.mov(result.reg, 0)
        return result

    def fn_return(self, s: ast.Jump):
        result, end, t = self.returns[-1]
        if s.value is not None:
            if isinstance(result, Int):
                self.b.mov(result.reg, self.int_expr(s.value).reg)
                self.narrow(result.reg, t)
            else:
                self.store(s.value, result, t)
        self.b.ja(end)

    def clear_var(self, var: ast.Variable):
        """``let $x;`` starts $x at zero, each time it runs (in a loop too)."""
        slot = self.vars.get(var.key)
        if isinstance(slot, Int):
            self.b.mov(slot.reg, 0)
        elif slot is not None:
            self.zero(slot)

    def assign_var(self, var: ast.Variable, value: ast.Expr, op: str):
        slot = self.vars[var.key]
        if isinstance(slot, Int):
            # `$n += v` is `$n = $n + v`: $n as it was before v ran
            old = slot if op == "=" else self.held(slot, value)
            v = self.int_expr(value)
            if op == "=":
                self.b.mov(slot.reg, v.reg)
            else:
                if old is not slot:
                    self.b.mov(slot.reg, old.reg)
                self.arith(op[:-1], slot.reg, v.reg, var.type, value.type, value.span)
        else:
            self.store(value, slot, self.var_types[var.key])

    def effect(self, e: ast.Expr):
        """``e`` evaluated for what it does, its value dropped."""
        if isinstance(e, ast.Call):
            self.call_stmt(e)
        elif isinstance(e, ast.Unop) and e.op in ("++", "--"):
            self.incdec(e)
        elif isinstance(e, ast.Ternary):
            # `c ? printf("a") : exit()`, an if-else whose branches end in
            # values: only the branch taken runs, and nothing is stored
            b = self.b
            els, end = b.label("else"), b.label("endif")
            if e.then is e.cond:  # `a ?: b`
                b.jcond("ne", self.int_expr(e.cond).reg, 0, end)
            else:
                self.branch_false(e.cond, els)
                self.effect(e.then)
                b.ja(end)
            b.place(els)
            self.effect(e.orelse)
            b.place(end)
        elif isinstance(e, ast.BlockExpr):
            self.block(e.stmts)
            self.effect(e.value)
        else:
            self.value(e)


    # ------------------------------------------------------------ integer expressions

    def int_expr(self, e: ast.Expr) -> Int:
        v = self.value(e)
        if not isinstance(v, Int):
            raise SemanticError("expected an integer", e.span)
        return v

    def value(self, e: ast.Expr):
        b = self.b
        if isinstance(e, (ast.Integer, ast.Bool, ast.Identifier)):
            r = b.vreg()
            b.mov(r, int(e.value))
            return Int(r)
        if self.is_typed_access(e):
            return self.typed_value(e)
        if isinstance(e, ast.PositionalCount):
            r = b.vreg()
            b.mov(r, len(self.sc.an.params))
            return Int(r)
        if isinstance(e, ast.PositionalParam):
            if e.type.is_int():
                r = b.vreg()
                p = self.sc.an.params
                b.mov(r, param_int(p[e.index - 1]) if e.index <= len(p) else 0)
                return Int(r)
            return self.mem_expr(ast.String(e.span, self.sc.an.params[e.index - 1]))
        if isinstance(e, ast.Variable):
            return self.vars[e.key]
        if isinstance(e, ast.Builtin):
            return self.builtin(e)
        if isinstance(e, ast.Map):
            if e.type.is_int():
                return self.map_read(e)
            return self.mem_expr(e)
        if isinstance(e, ast.Binop):
            return self.binop(e)
        if isinstance(e, ast.Unop):
            return self.unop(e)
        if isinstance(e, ast.Ternary):
            if not e.type.is_int():
                return self.mem_expr(e)
            r = b.vreg()
            els, end = b.label(), b.label()
            if e.then is e.cond:
                # `a ?: b` (the parser shares the node): a is evaluated once
                b.mov(r, self.int_expr(e.cond).reg)
                b.jcond("ne", r, 0, end)
                b.mov(r, self.int_expr(e.orelse).reg)
                b.place(end)
                return Int(r)
            self.branch_false(e.cond, els)
            b.mov(r, self.int_expr(e.then).reg)
            b.ja(end)
            b.place(els)
            b.mov(r, self.int_expr(e.orelse).reg)
            b.place(end)
            return Int(r)
        if isinstance(e, ast.FieldAccess):
            return self.field(e)
        if isinstance(e, ast.Index):
            return self.tuple_elem(e.expr, e.index.value, e)
        if isinstance(e, ast.Cast) and isinstance(e.type, T.ArrayType):
            return self.array_cast(e)
        if isinstance(e, ast.Cast) and isinstance(e.expr.type, T.ArrayType):
            return self.int_from_array(e)
        if isinstance(e, ast.Cast) and isinstance(e.expr.type, T.StringType):
            # (bool)str: true unless the string is empty, its first byte NUL
            src = self.mem_expr(e.expr)
            r = b.vreg()
            b.ldx(1, r, src.base, src.off)
            self.narrow(r, e.type)
            return Int(r)
        if isinstance(e, ast.Cast):
            v = self.int_expr(e.expr)
            r = b.vreg()
            b.mov(r, v.reg)
            self.narrow(r, e.type)
            return Int(r)
        if isinstance(e, (ast.Tuple, ast.Record, ast.String)) or (isinstance(e, ast.Call) and (
                not e.type.is_int() and not isinstance(e.type, T.VoidType))):
            # a function's value held in memory: its record stores it
            return self.mem_expr(e)
        if isinstance(e, (ast.Sizeof, ast.Offsetof)):
            r = b.vreg()
            b.mov(r, e.size)
            return Int(r)
        if isinstance(e, ast.BlockExpr):
            self.block(e.stmts)
            return self.value(e.value)
        if isinstance(e, ast.InlineCall):
            return self.inline_call(e)
        if isinstance(e, ast.Call):
            f = registry.lookup(e.name)
            if f is not None and f.lower is not None:
                return f.lower(self, e)
            self.call_stmt(e)
            r = b.vreg()
            b.mov(r, 0)
            return Int(r)
        raise SemanticError(f"{type(e).__name__} is not supported yet", e.span)


    def held(self, v: Int, later) -> Int:
        """``v`` as it is now, when ``later`` (an expression or a list of
        them) is evaluated before it is used.
        A variable's value is its own register, not a copy: an operand to
        its right that assigns variables (`{ $n += 1; $n }`, `$n++`, a user
        function) would change the left one too, where bpftrace evaluates
        operands left to right. Only then is it copied."""
        if not any(isinstance(slot, Int) and v.reg is slot.reg for slot in self.vars.values()) \
                or not _assigns(later):
            return v
        r = self.b.vreg()
        self.b.mov(r, v.reg)
        return Int(r)

    def narrow(self, r: VReg, t: T.Type):
        """Truncate a 64-bit value to ``t`` and extend it back, as a cast or
        a narrow field does."""
        if isinstance(t, T.BoolType):
            yes = self.b.label()
            self.b.jcond("eq", r, 0, yes)
            self.b.mov(r, 1)
            self.b.place(yes)
            return
        if not isinstance(t, T.IntType) or t.bits >= 64 or isinstance(t, T.PointerType):
            return
        if t.signed:
            self.b.alu("lsh", r, 64 - t.bits)
            self.b.alu("arsh", r, 64 - t.bits)
        elif t.bits == 32:
            self.b.mov(r, r, w=32)
        else:
            self.b.alu("and", r, (1 << t.bits) - 1)


    def field(self, e: ast.FieldAccess):
        base_t = e.expr.type
        if isinstance(base_t, T.ArgsType):
            if not e.type.is_int():
                return self.mem_expr(e)
            f = self.probe.arg(e.field)
            r = self.b.vreg()
            size = f.size if f.size in (1, 2, 4, 8) else 8
            self.b.ldx(size, r, self.ctx, f.offset)
            if f.signed and size < 8:
                self.narrow(r, T.IntType(size * 8, True))
            return Int(r)
        if isinstance(base_t, T.TupleType):
            if base_t.names and e.field in base_t.names:
                return self.tuple_elem(e.expr, base_t.names.index(e.field), e)
            return self.tuple_elem(e.expr, int(e.field), e)
        raise SemanticError("field access is not supported yet here", e.span)

    def tuple_elem(self, te: ast.Expr, i: int, e: ast.Expr):
        t = te.type
        if isinstance(te, ast.Tuple):
            return self.value(te.elems[i])
        if isinstance(te, ast.Record):
            return self.value(te.fields[i][1])
        src = self.mem_expr(te)
        et = t.elems[i]
        if et.is_int():
            r = self.b.vreg()
            self.b.ldx(8, r, src.base, src.off + t.offsets[i])
            return Int(r)
        return Mem(src.base, src.off + t.offsets[i], et.size)

    def arith(self, op: str, dst: VReg, src: VReg, lt: T.Type, rt: T.Type, span=None,
              nonzero: bool = False):
        signed = lt is not None and rt is not None and lt.signed and rt.signed
        ops = {"+": "add", "-": "sub", "*": "mul", "/": "sdiv" if signed else "div",
               "%": "smod" if signed else "mod", "&": "and", "|": "or", "^": "xor",
               "<<": "lsh", ">>": "arsh" if lt is not None and lt.signed else "rsh"}
        if op in ("/", "%") and not nonzero:
            # bpftrace 0.26 defines x/0 and x%0 as 1 instead of trapping,
            # and says so at run time, located at the operation
            b = self.b
            ok, done = b.label(), b.label()
            b.jcond("ne", src, 0, ok)
            b.mov(dst, 1)
            if span is not None:
                self.emit_event(self.sc.event("warnf", fmt=DIVIDE_BY_ZERO, args=[], span=span,
                                              names=[]), [])
            b.ja(done)
            b.place(ok)
            b.alu(ops[op], dst, src)
            b.place(done)
            return
        self.b.alu(ops[op], dst, src)

    CMP_OPS = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
    NEGATED = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "gt": "le", "le": "gt"}

    def cmp_op(self, e: ast.Binop, negate: bool = False) -> str:
        """The jump op of an integer comparison, signed when both sides are."""
        op = self.CMP_OPS[e.op]
        if negate:
            op = self.NEGATED[op]
        if op not in ("eq", "ne") and e.left.type.signed and e.right.type.signed:
            op = "s" + op
        return op

    def branch_false(self, e: ast.Expr, target):
        """Jump to ``target`` when condition ``e`` is false, without first
        materialising a 0/1 value: predicates and ifs are on every event's
        path, so a comparison becomes one conditional jump."""
        b = self.b
        if isinstance(e, ast.Binop) and e.op in self.CMP_OPS and e.left.type.is_int():
            left = self.held(self.int_expr(e.left), e.right)
            if isinstance(e.right, ast.Integer) and -(1 << 31) <= e.right.value < (1 << 31):
                right = e.right.value
            else:
                right = self.int_expr(e.right).reg
            b.jcond(self.cmp_op(e, negate=True), left.reg, right, target)
            return
        if isinstance(e, ast.Binop) and e.op == "&&":
            self.branch_false(e.left, target)
            self.branch_false(e.right, target)
            return
        if isinstance(e, ast.Binop) and e.op == "||":
            ok = b.label("or")
            self.branch_true(e.left, ok)
            self.branch_false(e.right, target)
            b.place(ok)
            return
        if isinstance(e, ast.Unop) and e.op == "!":
            return self.branch_true(e.operand, target)
        c = self.int_expr(e)
        b.jcond("eq", c.reg, 0, target)

    def branch_true(self, e: ast.Expr, target):
        skip = self.b.label()
        self.branch_false(e, skip)
        self.b.ja(target)
        self.b.place(skip)

    def binop(self, e: ast.Binop) -> Int:
        b = self.b
        op = e.op
        if op in ("&&", "||"):
            r = b.vreg()
            short = b.label("sc")
            b.mov(r, 0 if op == "&&" else 1)
            left = self.int_expr(e.left)
            b.jcond("eq" if op == "&&" else "ne", left.reg, 0, short)
            right = self.int_expr(e.right)
            b.mov(r, 0)
            b.jcond("eq", right.reg, 0, short)
            b.mov(r, 1)
            b.place(short)
            return Int(r)
        if e.left.type.is_string():
            return self.strcmp(e)
        if isinstance(e.left.type, T.BufferType):
            return self.buffer_compare(e)
        if isinstance(e.left.type, T.ArrayType):
            a, c = self.mem_expr(e.left), self.mem_expr(e.right)
            same = 1 if e.op == "==" else 0
            return self.compare_bytes(a, c, a.size, same, 1 - same, nul_ends=False)
        left = self.held(self.int_expr(e.left), e.right)
        right = self.int_expr(e.right)
        if e.scale > 1:
            scaled = b.vreg()
            b.mov(scaled, right.reg)
            b.alu("mul", scaled, e.scale)
            right = Int(scaled)
        r = b.vreg()
        if op in self.CMP_OPS:
            yes = b.label()
            b.mov(r, 1)
            b.jcond(self.cmp_op(e), left.reg, right.reg, yes)
            b.mov(r, 0)
            b.place(yes)
            return Int(r)
        b.mov(r, left.reg)
        # a literal divisor other than 0 needs no check (`$ns / 1000`)
        self.arith(op, r, right.reg, e.left.type, e.right.type, e.span,
                   nonzero=isinstance(e.right, ast.Integer) and e.right.value != 0)
        return Int(r)

    def strcmp(self, e: ast.Binop) -> Int:
        """String equality, byte by byte up to the first NUL."""
        a, c = self.mem_expr(e.left), self.mem_expr(e.right)
        same = 1 if e.op == "==" else 0
        return self.compare_bytes(a, c, min(a.size, c.size), same, 1 - same,
                                  whole=True)

    def buffer_compare(self, e: ast.Binop) -> Int:
        """Two buf() values are equal when they hold as many bytes, the
        same ones (their 8-byte counts, then the bytes those count)."""
        b = self.b
        a, c = self.mem_expr(e.left), self.mem_expr(e.right)
        same = 1 if e.op == "==" else 0
        r, n, m, x, y = b.vreg(), b.vreg(), b.vreg(), b.vreg(), b.vreg()
        eq, ne, done = b.label("bufeq"), b.label("bufne"), b.label()
        b.ldx(8, n, a.base, a.off)
        b.ldx(8, m, c.base, c.off)
        b.jcond("ne", n, m, ne)
        for i in range(min(e.left.type.length, e.right.type.length)):
            b.jcond("le", n, i, eq)
            b.ldx(1, x, a.base, a.off + 8 + i)
            b.ldx(1, y, c.base, c.off + 8 + i)
            b.jcond("ne", x, y, ne)
        b.place(eq)
        b.mov(r, same)
        b.ja(done)
        b.place(ne)
        b.mov(r, 1 - same)
        b.place(done)
        return Int(r)

    def compare_bytes(self, a: Mem, c: Mem, n: int, if_equal: int, if_not: int,
                      whole: bool = False, nul_ends: bool = True) -> Int:
        """``if_equal`` when the first ``n`` bytes of two strings match up to
        a shared NUL, else ``if_not``. With ``whole``, a longer buffer must
        also end where the shorter one did; without ``nul_ends`` (arrays)
        every byte counts."""
        b = self.b
        r, x, y = b.vreg(), b.vreg(), b.vreg()
        eq, ne, done = b.label("streq"), b.label("strne"), b.label()
        for i in range(n):
            b.ldx(1, x, a.base, a.off + i)
            b.ldx(1, y, c.base, c.off + i)
            b.jcond("ne", x, y, ne)
            if nul_ends:
                b.jcond("eq", x, 0, eq)
        if whole and a.size != c.size:
            longer = a if a.size > c.size else c
            b.ldx(1, x, longer.base, longer.off + n)
            b.jcond("ne", x, 0, ne)
        b.place(eq)
        b.mov(r, if_equal)
        b.ja(done)
        b.place(ne)
        b.mov(r, if_not)
        b.place(done)
        return Int(r)

    def unop(self, e: ast.Unop) -> Int:
        b = self.b
        if e.op in ("++", "--"):
            return self.incdec(e)
        if e.op == "&":
            return self.address_of(e.operand)
        v = self.int_expr(e.operand)
        r = b.vreg()
        b.mov(r, v.reg)
        if e.op == "-":
            b.alu("neg", r)
        elif e.op == "~":
            b.alu("xor", r, -1)
        elif e.op == "!":
            yes = b.label()
            b.mov(r, 1)
            b.jcond("eq", v.reg, 0, yes)
            b.mov(r, 0)
            b.place(yes)
        elif e.op != "+":
            raise SemanticError(f"unary '{e.op}' is not supported yet", e.span)
        return Int(r)

    def address_of(self, x: ast.Expr) -> Int:
        """``&x``: where a member/element/dereferenced value lies, or where
        the program holds a value in memory (sema.address_of)."""
        if isinstance(x, (ast.FieldAccess, ast.Index)) and isinstance(x.expr.type, T.TupleType):
            t = x.expr.type
            i = (t.names.index(x.field) if t.names and x.field in t.names else int(x.field)) \
                if isinstance(x, ast.FieldAccess) else x.index.value
            place = self.mem_expr(x.expr).at(t.offsets[i], T.align8(t.elems[i].size))
        else:
            place = self.place(x) if self.is_typed_access(x) else self.mem_expr(x)
        r = self.b.vreg()
        self.b.mov(r, place.base if isinstance(place, Mem) else place.addr)
        if place.off:
            self.b.alu("add", r, place.off)
        return Int(r)


def _config_int(config: dict, key: str, default: int) -> int:
    try:
        return int(config.get(key, default))
    except (TypeError, ValueError):
        raise SemanticError(f"Invalid value for {key}: {config.get(key)!r}, expected an integer") from None


def compile_program(analyzer: Analyzer) -> CompiledScript:
    return ScriptCompiler(analyzer).compile()


def _assigns(e) -> bool:
    """Whether evaluating ``e`` (an expression or a list) may assign a variable."""
    for n in ast.walk(e):
        if isinstance(n, (ast.AssignVar, ast.VarDecl, ast.InlineCall, ast.ForMap, ast.ForRange)):
            return True
        if isinstance(n, ast.Unop) and n.op in ("++", "--") and isinstance(n.operand, ast.Variable):
            return True
    return False
