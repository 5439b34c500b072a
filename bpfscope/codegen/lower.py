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
import re
import time
from dataclasses import dataclass

from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from ..sema.analyzer import Analyzer
from ..sema.probes import ExpandedProbe
from .builder import Builder, StackOverflow
from .insn import R0, R1, R2, R3, R4, R10, VReg
from .script import (EXIT, LOST, RINGBUF, SCRATCH, STACK_FRAMES, STACK_MAPS, USTACK_PIDS,
                     CompiledScript, EventSpec, MapSpec, ProgSpec)

PROG_TYPES = {"BEGIN": "raw_tracepoint", "END": "raw_tracepoint",
              "tracepoint": "tracepoint", "interval": "perf_event",
              "profile": "perf_event", "software": "perf_event",
              "hardware": "perf_event", "uprobe": "kprobe", "uretprobe": "kprobe",
              "kprobe": "kprobe", "kretprobe": "kprobe",
              "fentry": "tracing", "fexit": "tracing", "usdt": "kprobe"}

BPF_ANY = 0
USER_PROVIDERS = {"uprobe", "uretprobe", "usdt"}


@dataclass
class Int:
    reg: VReg


@dataclass
class Mem:
    """``size`` bytes at ``base + off``; base is R10 or a pointer vreg."""
    base: object
    off: int
    size: int

    def at(self, delta: int, size: int) -> "Mem":
        return Mem(self.base, self.off + delta, size)


def ring_pages(asked: int) -> int:
    """Pages of the ring buffer: as asked, else by memory as bpftrace 0.26
    does (64 pages at least, 4096 at most), rounded down to a power of two
    as the kernel requires."""
    if asked <= 0:
        try:
            with open("/proc/meminfo") as f:
                kib = int(f.readline().split()[1])
        except (OSError, ValueError, IndexError):
            kib = 0
        asked = max(64, min(4096, kib // 4096))  # 1/1024 of memory, in 4 KiB pages
    return 1 << (asked.bit_length() - 1)


def map_spec(info, max_keys: int) -> MapSpec:
    """The kernel map of a bpftrace map; a declaration (``let @a =
    lruhash(N)``) picks LRU eviction and the number of entries."""
    v = info.value
    key_size = max(8, info.key.size if info.key else 0)
    lru = info.decl_kind == "lruhash"
    if info.decl_entries:
        max_keys = info.decl_entries
    if isinstance(v, T.AggType):
        kind = "lru_percpu_hash" if lru else "percpu_hash"
        if v.kind in ("hist", "lhist"):
            return MapSpec(info.name, kind, key_size + 8, 8, max_keys * 16, v.kind, info.key, v)
        return MapSpec(info.name, kind, key_size, v.size, max_keys, v.kind, info.key, v)
    return MapSpec(info.name, "lru_hash" if lru else "hash", key_size,
                   max(8, T.align8(v.size)), max_keys, "plain", info.key, v)


class ScriptCompiler:
    """Compiles an analysed program: call :meth:`compile`."""

    def __init__(self, analyzer: Analyzer):
        self.an = analyzer
        self.max_keys = int(analyzer.config["max_map_keys"])
        self.maps: dict[str, MapSpec] = {}
        self.events: dict[int, EventSpec] = {}
        self.full_sites: list[tuple[str, object]] = []
        self.scratch_total = 0  # bytes of the per-CPU scratch value so far
        self.start_ns = time.monotonic_ns()

    def compile(self) -> CompiledScript:
        for name, info in sorted(self.an.maps.items()):
            self.maps[name] = map_spec(info, self.max_keys)
        pages = ring_pages(int(self.an.config.get("perf_rb_pages", 0)))
        self.maps[RINGBUF] = MapSpec(RINGBUF, "ringbuf", 0, 0, pages * 4096, "ringbuf")
        # slot 0 counts lost records, slot i the failures of map_full_site i;
        # max_entries is fixed once every program is lowered
        self.maps[LOST] = MapSpec(LOST, "percpu_array", 4, 8, 1, "lost")
        self.maps[EXIT] = MapSpec(EXIT, "array", 4, 16, 1, "exit")
        progs = []
        for probe, exps in self.an.expanded:
            for exp in exps:
                self.an.analyze_probe(probe, exp, final=True)
                ptype = PROG_TYPES.get(exp.provider)
                if ptype is None:
                    raise SemanticError(f"{exp.provider} probes are not supported yet", exp.span)
                lw = ProbeLowering(self, exp, ptype)
                try:
                    program = lw.lower(probe)
                except StackOverflow as e:
                    raise SemanticError(f"{exp.name}: {e.message}; use fewer or shorter "
                                        "strings (max_strlen) in one probe", exp.span) from None
                progs.append(ProgSpec(exp, ptype, program, exp.name))
        self.maps[LOST].max_entries = 1 + len(self.full_sites)
        if self.scratch_total:
            # one slot per CPU, indexed by the CPU's number: programs that
            # nest on one CPU have regions of their own
            self.maps[SCRATCH] = MapSpec(SCRATCH, "array", 4, self.scratch_total,
                                         os.cpu_count() or 1, "scratch")
        return CompiledScript(progs, self.maps, self.events, dict(self.an.config), self.start_ns,
                              self.full_sites)

    def map_full_site(self, name: str, span) -> int:
        """A LOST array slot counting failed updates at one place."""
        self.full_sites.append((name, span))
        return len(self.full_sites)

    def stack_map(self, kind: str) -> str:
        name = STACK_MAPS[kind]
        if name not in self.maps:
            self.maps[name] = MapSpec(name, "stack_trace", 4, 8 * STACK_FRAMES,
                                      self.max_keys, "stack")
            if kind == "user":
                self.maps[USTACK_PIDS] = MapSpec(USTACK_PIDS, "hash", 4, 8, 4 * self.max_keys,
                                                 "pids")
        return name

    def event(self, kind: str, **kw) -> EventSpec:
        ev = EventSpec(len(self.events) + 1, kind, **kw)
        self.events[ev.id] = ev
        return ev


class _Return(Exception):
    pass


class ProbeLowering:
    def __init__(self, sc: ScriptCompiler, probe: ExpandedProbe, prog_type: str):
        self.sc = sc
        self.probe = probe
        self.prog_type = prog_type
        self.b = Builder()
        self.vars: dict[str, object] = {}
        self.loops: list[tuple] = []  # (continue label, break label)
        self.on_stack_limit = int(sc.an.config.get("on_stack_limit", 32))
        self.scratch_used = self.scratch_high = 0
        self.exit_label = self.b.label("exit")

    # ------------------------------------------------------------ driver

    def lower(self, probe: ast.Probe):
        b = self.b
        self.ctx = b.vreg()
        b.mov(self.ctx, R1)
        self.scratch = b.vreg()
        self.zero_slot = self.stack_mem(8)
        self.declare_vars(probe)
        if probe.predicate is not None:
            self.branch_false(probe.predicate, self.exit_label)
        self.block(probe.body)
        b.place(self.exit_label)
        if self.scratch_high:
            self.scratch_prologue()
        b.mov(R0, 0)
        b.exit_()
        return b.finish()

    def declare_vars(self, probe: ast.Probe):
        """Give every scratch variable its storage and a zero value up front:
        bpftrace variables read as zero before assignment, and the verifier
        rejects reads of uninitialised registers or stack."""
        for node in ast.walk(probe.body):
            if isinstance(node, ast.Variable) and node.name not in self.vars:
                t = self.sc.an._scope.vars.get(node.name)
                if t is None:
                    continue
                if t.is_int():
                    r = self.b.vreg()
                    self.b.mov(r, 0)
                    self.vars[node.name] = Int(r)
                else:
                    m = self.stack_mem(t.size)
                    self.zero(m)
                    self.vars[node.name] = m

    # ------------------------------------------------------------ memory helpers

    def stack_mem(self, size: int) -> Mem:
        """Room for a temporary: on the BPF stack when small, else in this
        program's region of the per-CPU scratch map (the stack has 512
        bytes; strings of max_strlen would not fit)."""
        size = T.align8(max(size, 1))
        if size > self.on_stack_limit:
            off = self.scratch_used
            self.scratch_used += size
            self.scratch_high = max(self.scratch_high, self.scratch_used)
            return Mem(self.scratch, off, size)
        return Mem(R10, self.b.stack(size), size)

    def scratch_prologue(self):
        """Point ``self.scratch`` at this program's scratch region: emitted
        last, moved to the start, and only when a temporary needed it."""
        b = self.b
        start = len(b.insns)
        b.call("get_smp_processor_id")
        cpu = b.vreg()
        b.mov(cpu, R0)
        b.stx(4, R10, self.zero_slot.off, cpu)
        p = self.lookup(SCRATCH, Mem(R10, self.zero_slot.off, 4))
        b.jcond("eq", p, 0, self.exit_label)
        b.mov(self.scratch, p)
        b.alu("add", self.scratch, self.sc.scratch_total)
        code = b.insns[start:]
        del b.insns[start:]
        b.insns[1:1] = code  # right after the context is saved
        self.sc.scratch_total += T.align8(self.scratch_high)

    def zero(self, m: Mem, start: int = 0):
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
            for _ in range(self.sc.an.const_int(s.count, "unroll")):
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
        elif isinstance(s, ast.ForRange):
            i = self.vars[s.var.name].reg
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
        elif isinstance(s, ast.Jump):
            if s.kind == "return":
                b.ja(self.exit_label)
            elif not self.loops:
                raise SemanticError(f"'{s.kind}' used outside of a loop", s.span)
            else:
                cont, brk = self.loops[-1]
                b.ja(cont if s.kind == "continue" else brk)
        else:
            raise SemanticError(f"{type(s).__name__} is not supported yet", s.span)

    def assign_var(self, var: ast.Variable, value: ast.Expr, op: str):
        slot = self.vars[var.name]
        if isinstance(slot, Int):
            v = self.int_expr(value)
            if op == "=":
                self.b.mov(slot.reg, v.reg)
            else:
                self.arith(op[:-1], slot.reg, v.reg, var.type, value.type)
        else:
            self.store(value, slot, self.sc.an._scope.vars[var.name])

    def effect(self, e: ast.Expr):
        if isinstance(e, ast.Call):
            self.call_stmt(e)
        elif isinstance(e, ast.Unop) and e.op in ("++", "--"):
            self.incdec(e)
        else:
            self.value(e)

    # ------------------------------------------------------------ maps

    def map_key(self, m: ast.Map, keys=None, extra: int = 0) -> Mem:
        """Build the kernel key of ``@m[keys]`` on the stack; ``extra`` bytes
        follow it (the bucket index of a histogram)."""
        spec = self.sc.maps[m.ident]
        keys = m.keys if keys is None else keys
        size = spec.user_key_size
        mem = self.stack_mem(size + extra)
        if not keys:
            self.zero(mem)
            return mem
        kt = spec.key
        for i, (k, off) in enumerate(zip(keys, kt.offsets)):
            self.store(k, mem.at(off, T.align8(kt.elems[i].size)), kt.elems[i])
        return mem

    def lookup(self, name: str, key: Mem) -> VReg:
        b = self.b
        b.ld_map_fd(R1, name)
        self.addr(R2, key)
        b.call("map_lookup_elem")
        r = b.vreg()
        b.mov(r, R0)
        return r

    def update(self, name: str, key: Mem, val: Mem, flags: int = BPF_ANY, span=None):
        """map_update_elem; with ``span``, a full map is reported to user
        space (one record, only on the failure path)."""
        b = self.b
        b.ld_map_fd(R1, name)
        self.addr(R2, key)
        self.addr(R3, val)
        b.mov(R4, flags)
        b.call("map_update_elem")
        if span is not None:
            ok = b.label("stored")
            res = b.vreg()
            b.mov(res, R0)
            b.jcond("sge", res, 0, ok)
            self.count_lost(self.sc.map_full_site(name, span))
            b.place(ok)

    def assign_map(self, s: ast.AssignMap):
        spec = self.sc.maps[s.map.ident]
        v = s.value
        if isinstance(v, ast.Call) and spec.kind != "plain":
            return self.aggregate(s.map, v, spec)
        if s.op != "=":
            cur = self.map_read(s.map)
            rhs = self.int_expr(v)
            self.arith(s.op[:-1], cur.reg, rhs.reg, s.map.type, v.type)
            key = self.map_key(s.map)
            val = self.stack_mem(8)
            self.b.stx(8, val.base, val.off, cur.reg)
            self.update(s.map.ident, key, val, span=s.map.span)
            return
        val = self.stack_mem(spec.value_size)
        self.store(v, val, spec.value)
        key = self.map_key(s.map)
        self.update(s.map.ident, key, val, span=s.map.span)

    def incdec(self, e: ast.Unop, want_value: bool = False):
        target = e.operand
        b = self.b
        delta = 1 if e.op == "++" else -1
        if isinstance(target, ast.Variable):
            slot = self.vars[target.name]
            old = b.vreg()
            b.mov(old, slot.reg)
            b.alu("add", slot.reg, delta)
            return Int(old if e.postfix else slot.reg)
        cur = self.map_read(target)
        old = b.vreg()
        b.mov(old, cur.reg)
        b.alu("add", cur.reg, delta)
        key = self.map_key(target)
        val = self.stack_mem(8)
        b.stx(8, val.base, val.off, cur.reg)
        self.update(target.ident, key, val, span=target.span)
        return Int(old if e.postfix else cur.reg)

    def map_read(self, m: ast.Map) -> Int:
        """Read an integer map value; a missing key reads as 0. Aggregations
        are per-CPU: their value is merged over every CPU, as user space
        would print it."""
        spec = self.sc.maps[m.ident]
        b = self.b
        key = self.map_key(m)
        if "percpu" in spec.map_type:
            return self.percpu_read(m.ident, spec, key)
        p = self.lookup(m.ident, key)
        out = b.vreg()
        b.mov(out, 0)
        miss = b.label("miss")
        b.jcond("eq", p, 0, miss)
        b.ldx(8, out, p, 0)
        b.place(miss)
        return Int(out)

    def percpu_read(self, name: str, spec: MapSpec, key: Mem) -> Int:
        b = self.b
        kind = spec.kind
        signed = getattr(spec.value, "signed", True)
        acc, aux, cpu, t = b.vreg(), b.vreg(), b.vreg(), b.vreg()
        b.mov(acc, 0)
        b.mov(aux, 0)  # avg: the count; min/max: whether acc is set
        b.mov(cpu, 0)
        top, nxt, done = b.label("cpus"), b.label("nextcpu"), b.label("cpusdone")
        b.place(top)
        b.jcond("ge", cpu, os.cpu_count() or 1, done)
        b.ld_map_fd(R1, name)
        self.addr(R2, key)
        b.mov(R3, cpu)
        b.call("map_lookup_percpu_elem")
        p = b.vreg()
        b.mov(p, R0)
        b.jcond("eq", p, 0, nxt)
        if kind in ("count", "sum"):
            b.ldx(8, t, p, 0)
            b.alu("add", acc, t)
        elif kind == "avg":
            b.ldx(8, t, p, 0)
            b.alu("add", aux, t)
            b.ldx(8, t, p, 8)
            b.alu("add", acc, t)
        else:  # min, max: (value, is-set)
            b.ldx(8, t, p, 8)
            b.jcond("eq", t, 0, nxt)
            b.ldx(8, t, p, 0)
            take = b.label("take")
            b.jcond("eq", aux, 0, take)
            op = ("sge" if signed else "ge") if kind == "min" else ("sle" if signed else "le")
            b.jcond(op, t, acc, nxt)
            b.place(take)
            b.mov(acc, t)
            b.mov(aux, 1)
        b.place(nxt)
        b.alu("add", cpu, 1)
        b.ja(top)
        b.place(done)
        if kind == "avg":
            zero = b.label()
            b.jcond("eq", aux, 0, zero)
            b.alu("sdiv" if signed else "div", acc, aux)
            b.place(zero)
        return Int(acc)

    def map_read_mem(self, m: ast.Map, dst: Mem, t: T.Type):
        """Copy a string/tuple map value into ``dst`` (zeroes when missing)."""
        spec = self.sc.maps[m.ident]
        b = self.b
        key = self.map_key(m)
        p = self.lookup(m.ident, key)
        miss, done = b.label("miss"), b.label("done")
        b.jcond("eq", p, 0, miss)
        self.copy(dst, Mem(p, 0, spec.value.size), min(dst.size, spec.value.size))
        b.ja(done)
        b.place(miss)
        self.zero(dst)
        b.place(done)

    def aggregate(self, m: ast.Map, call: ast.Call, spec: MapSpec):
        b = self.b
        kind = spec.kind
        arg = self.int_expr(call.args[0]) if call.args else None
        extra = 8 if kind in ("hist", "lhist") else 0
        key = self.map_key(m, extra=extra)
        if extra:
            idx = self.hist_index(arg.reg, call) if kind == "hist" else self.lhist_index(arg.reg, call)
            b.stx(8, key.base, key.off + key.size - 8, idx)
        p = self.lookup(m.ident, key)
        miss, done = b.label("miss"), b.label("done")
        b.jcond("eq", p, 0, miss)
        t = b.vreg()
        if kind in ("count", "hist", "lhist"):
            b.ldx(8, t, p, 0)
            b.alu("add", t, 1)
            b.stx(8, p, 0, t)
        elif kind == "sum":
            b.ldx(8, t, p, 0)
            b.alu("add", t, arg.reg)
            b.stx(8, p, 0, t)
        elif kind in ("avg", "stats"):
            b.ldx(8, t, p, 0)
            b.alu("add", t, 1)
            b.stx(8, p, 0, t)
            b.ldx(8, t, p, 8)
            b.alu("add", t, arg.reg)
            b.stx(8, p, 8, t)
        elif kind in ("min", "max"):
            skip = b.label()
            b.ldx(8, t, p, 8)
            set_ = b.label()
            b.jcond("eq", t, 0, set_)
            b.ldx(8, t, p, 0)
            signed = spec.value.signed
            op = ("sle" if signed else "le") if kind == "min" else ("sge" if signed else "ge")
            b.jcond(op, t, arg.reg, skip)
            b.place(set_)
            b.stx(8, p, 0, arg.reg)
            b.st(8, p, 8, 1)
            b.place(skip)
        b.ja(done)
        b.place(miss)
        val = self.stack_mem(spec.value_size)
        if kind in ("count", "hist", "lhist"):
            b.st(8, val.base, val.off, 1)
        elif kind == "sum":
            b.stx(8, val.base, val.off, arg.reg)
        elif kind in ("avg", "stats"):
            b.st(8, val.base, val.off, 1)
            b.stx(8, val.base, val.off + 8, arg.reg)
        else:
            b.stx(8, val.base, val.off, arg.reg)
            b.st(8, val.base, val.off + 8, 1)
        self.update(m.ident, key, val, span=m.span)
        b.place(done)

    def hist_index(self, v: VReg, call: ast.Call) -> VReg:
        """runtime.values.hist_index in BPF: 0 for negatives, v+1 below 2**k,
        else 1 + (e-k)*2**k + (v >> (e-k)) with e = floor(log2 v)."""
        b = self.b
        k = self.sc.an.const_int(call.args[1], "hist") if len(call.args) > 1 else 0
        idx, x, e, t = b.vreg(), b.vreg(), b.vreg(), b.vreg()
        done, small = b.label("hdone"), b.label("hsmall")
        b.mov(idx, 0)
        b.jcond("slt", v, 0, done)
        b.mov(idx, v)
        b.alu("add", idx, 1)
        b.jcond("lt", v, 1 << k, done)
        b.mov(x, v)
        b.mov(e, 0)
        for s in (32, 16, 8, 4, 2, 1):
            nxt = b.label()
            b.mov(t, x)
            b.alu("rsh", t, s)
            b.jcond("eq", t, 0, nxt)
            b.mov(x, t)
            b.alu("add", e, s)
            b.place(nxt)
        # idx = 1 + (e - k) * 2**k + (v >> (e - k))
        b.alu("sub", e, k)
        b.mov(idx, v)
        b.alu("rsh", idx, e)
        b.alu("lsh", e, k)
        b.alu("add", idx, e)
        b.alu("add", idx, 1)
        b.place(small)
        b.place(done)
        return idx

    def lhist_index(self, v: VReg, call: ast.Call) -> VReg:
        b = self.b
        lo, hi, step = (self.sc.an.const_int(a, "lhist") for a in call.args[1:])
        n = (hi - lo) // step
        idx = b.vreg()
        done = b.label("ldone")
        b.mov(idx, 0)
        b.jcond("slt", v, lo, done)
        b.mov(idx, n + 1)
        b.jcond("sge", v, hi, done)
        b.mov(idx, v)
        b.alu("sub", idx, lo)
        b.alu("div", idx, step)
        b.alu("add", idx, 1)
        b.place(done)
        return idx

    # ------------------------------------------------------------ calls as statements

    def call_stmt(self, e: ast.Call):
        b = self.b
        name = e.name
        if name == "printf":
            fmt = e.args[0].value
            ev = self.sc.event("printf", fmt=fmt, args=[a.type for a in e.args[1:]])
            self.emit_event(ev, e.args[1:])
        elif name == "print":
            a = e.args[0]
            if isinstance(a, ast.Map) and not a.keys:
                top = self.sc.an.const_int(e.args[1], "print") if len(e.args) > 1 else 0
                div = self.sc.an.const_int(e.args[2], "print") if len(e.args) > 2 else 1
                ev = self.sc.event("print_map", map=a.ident, top=top, div=div)
                self.emit_event(ev, [])
            else:
                ev = self.sc.event("print_value", args=[a.type])
                self.emit_event(ev, [a])
        elif name == "exit":
            code = self.int_expr(e.args[0]).reg if e.args else None
            slot = self.key_zero_slot()
            b.st(4, R10, slot.off, 0)
            p = self.lookup(EXIT, Mem(R10, slot.off, 4))
            sent = b.label()
            b.jcond("eq", p, 0, sent)
            if code is not None:
                b.stx(8, p, 8, code)
            b.st(8, p, 0, 1)
            b.place(sent)
            # A record too, so that user space wakes up at once.
            self.emit_event(self.sc.event("exit"), [])
            b.ja(self.exit_label)
        elif name == "time":
            fmt = e.args[0].value if e.args else "%H:%M:%S\n"
            self.emit_event(self.sc.event("time", fmt=fmt), [])
        elif name in ("clear", "zero"):
            self.emit_event(self.sc.event(name, map=e.args[0].ident), [])
        elif name in ("cat", "system"):
            ev = self.sc.event(name, fmt=e.args[0].value, args=[a.type for a in e.args[1:]])
            self.emit_event(ev, e.args[1:])
        elif name == "join":
            self.join(e)
        elif name == "signal":
            a = e.args[0]
            if isinstance(a, ast.String):
                from ..sema.analyzer import signal_number
                b.mov(R1, signal_number(a.value))
            else:
                b.mov(R1, self.int_expr(a).reg)
            b.call("send_signal")
        elif name == "delete":
            m = e.args[0]
            spec = self.sc.maps[m.ident]
            if spec.kind in ("hist", "lhist"):
                raise SemanticError("delete() of a histogram entry is not supported yet", e.span)
            key = self.map_key(m, [e.args[1]] if len(e.args) == 2 else None)
            b.ld_map_fd(R1, m.ident)
            self.addr(R2, key)
            b.call("map_delete_elem")
        else:
            self.value(e)

    def emit_event(self, ev: EventSpec, args: list[ast.Expr]):
        """Write one ring buffer record: the event id, then each argument.
        Integers are computed before the reservation so that it is held for
        as short a time as possible; strings are written straight into it."""
        b = self.b
        layout = ev.layout
        pre = {}
        for a in args:
            if a.type.is_int():
                pre[id(a)] = self.int_expr(a)
        rec, lost, done = self.reserve_record(ev)
        for a, t, off in zip(args, layout.elems, layout.offsets):
            dst = Mem(rec, 8 + off, T.align8(t.size))
            if id(a) in pre:
                b.stx(8, rec, 8 + off, pre[id(a)].reg)
            else:
                self.store(a, dst, t)
        self.submit_record(rec, lost, done)

    def reserve_record(self, ev: EventSpec):
        """Reserve a record for ``ev`` and write its id; returns the record
        pointer and the labels submit_record needs."""
        b = self.b
        b.ld_map_fd(R1, RINGBUF)
        b.mov(R2, 8 + ev.layout.size)
        b.mov(R3, 0)
        b.call("ringbuf_reserve")
        rec = b.vreg()
        b.mov(rec, R0)
        lost, done = b.label("lost"), b.label("sent")
        b.jcond("eq", rec, 0, lost)
        idr = b.vreg()
        b.mov(idr, ev.id)
        b.stx(8, rec, 0, idr)
        return rec, lost, done

    def submit_record(self, rec, lost, done):
        """Submit the record; a full ring buffer counts a lost record."""
        b = self.b
        b.mov(R1, rec)
        b.mov(R2, 0)
        b.call("ringbuf_submit")
        b.ja(done)
        b.place(lost)
        self.count_lost()
        b.place(done)

    JOIN_ARGS = 16

    def join(self, e: ast.Call):
        """join(argv [, delim]): up to JOIN_ARGS strings of a NULL-ended
        array of user pointers, read straight into one record."""
        b = self.b
        n, slen = self.JOIN_ARGS, self.sc.an.max_strlen
        delim = e.args[1].value if len(e.args) > 1 else " "
        ev = self.sc.event("join", fmt=delim, args=[T.StringType(slen)] * n)
        argv = self.int_expr(e.args[0])
        rec, lost, done = self.reserve_record(ev)
        end, ptr = b.label("joined"), b.vreg()
        for i, off in enumerate(ev.layout.offsets):
            b.st(1, rec, 8 + off, 0)  # an empty string ends the list
        slot = self.stack_mem(8)
        for i, off in enumerate(ev.layout.offsets):
            self.addr(R1, slot)
            b.mov(R2, 8)
            b.mov(R3, argv.reg)
            if i:
                b.alu("add", R3, 8 * i)
            b.call("probe_read_user")
            b.ldx(8, ptr, R10, slot.off)
            b.jcond("eq", ptr, 0, end)
            b.mov(R1, rec)
            b.alu("add", R1, 8 + off)
            b.mov(R2, slen)
            b.mov(R3, ptr)
            b.call("probe_read_user_str")
        b.place(end)
        self.submit_record(rec, lost, done)

    def count_lost(self, index: int = 0):
        """Count one in slot ``index`` of the per-CPU LOST array: 0 counts
        dropped records, others the failures of one map update site."""
        b = self.b
        slot = self.key_zero_slot()
        b.st(4, R10, slot.off, index)
        p = self.lookup(LOST, Mem(R10, slot.off, 4))
        skip = b.label()
        b.jcond("eq", p, 0, skip)
        t = b.vreg()
        b.ldx(8, t, p, 0)
        b.alu("add", t, 1)
        b.stx(8, p, 0, t)
        b.place(skip)

    # ------------------------------------------------------------ storing values

    def store(self, e: ast.Expr, dst: Mem, t: T.Type):
        """Evaluate ``e`` into ``dst``, which holds a value of type ``t``."""
        b = self.b
        if t.is_int():
            v = self.int_expr(e)
            b.stx(8, dst.base, dst.off, v.reg)
            return
        if isinstance(t, T.StringType):
            return self.store_string(e, dst, t.length)
        if isinstance(t, T.InetType) and isinstance(e, ast.Call):
            return self.store_ntop(e, dst)
        if isinstance(t, T.UserSymType) and isinstance(e, ast.Call):
            return self.store_usym(e, dst)
        if isinstance(t, T.StackType):
            if isinstance(e, (ast.Builtin, ast.Call)):
                return self.store_stack(t, dst)
            if isinstance(e, ast.Map):
                return self.map_read_mem(e, dst, t)
            return self.copy(dst, self.mem_place(e), t.size)
        if isinstance(t, T.TupleType):
            if isinstance(e, (ast.Tuple, ast.Record)):
                elems = e.elems if isinstance(e, ast.Tuple) else [x for _, x in e.fields]
                for x, et, off in zip(elems, t.elems, t.offsets):
                    self.store(x, dst.at(off, T.align8(et.size)), et)
                return
            if isinstance(e, ast.Map):
                return self.map_read_mem(e, dst, t)
            if isinstance(e, ast.Ternary):
                return self.store_branches(e, dst, t)
            src = self.mem_place(e)
            if e.type == t:
                self.copy(dst, src, t.size)
            else:
                # same shape, wider strings: element by element
                for et_src, et, so, do in zip(e.type.elems, t.elems, e.type.offsets, t.offsets):
                    if et.is_int():
                        self.copy(dst.at(do, 8), src.at(so, 8), 8)
                    else:
                        self.zero(dst.at(do, T.align8(et.size)))
                        self.copy(dst.at(do, et.size), src.at(so, et_src.size),
                                  min(et.size, et_src.size))
            return
        raise SemanticError(f"Cannot store a value of type {t}", e.span)

    def store_string(self, e: ast.Expr, dst: Mem, length: int):
        b = self.b
        if isinstance(e, ast.String):
            data = e.value.encode()[:length - 1]
            data = data.ljust(dst.size, b"\0")
            for off in range(0, dst.size - 3, 4):
                b.st(4, dst.base, dst.off + off,
                     int.from_bytes(data[off:off + 4], "little", signed=True))
            return
        if isinstance(e, ast.Builtin) and e.name == "comm":
            self.zero(dst)
            self.addr(R1, dst)
            b.mov(R2, min(16, length))
            b.call("get_current_comm")
            return
        if isinstance(e, ast.PositionalParam):
            # str($1) is the parameter's text, whatever it looks like
            params = self.sc.an.params
            text = params[e.index - 1] if e.index <= len(params) else ""
            return self.store_string(ast.String(e.span, text), dst, length)
        if isinstance(e, ast.Builtin) and e.name in ("probe", "func"):
            text = self.probe.name if e.name == "probe" else self.probe.func
            return self.store_string(ast.String(e.span, text), dst, length)
        if isinstance(e, ast.Call) and e.name == "str":
            return self.store_str_call(e, dst, length)
        if isinstance(e, ast.FieldAccess) and isinstance(e.expr.type, T.ArgsType):
            return self.store_arg_string(e, dst, length)
        if isinstance(e, ast.Map):
            return self.map_read_mem(e, dst, e.type)
        if isinstance(e, ast.Ternary):
            return self.store_branches(e, dst, T.StringType(length))
        src = self.mem_place(e)
        # A shorter destination keeps its last byte for the terminating NUL.
        n = min(src.size, length - 1 if src.size > length else length)
        if dst.size > n:
            self.zero(dst)
        self.copy(dst, src, n)

    def store_usym(self, e: ast.Call, dst: Mem):
        """(address, pid): the symbol is looked up in user space, in the
        address space of the process that was running."""
        b = self.b
        addr = self.int_expr(e.args[0])
        b.stx(8, dst.base, dst.off, addr.reg)
        b.call("get_current_pid_tgid")
        pid = b.vreg()
        b.mov(pid, R0)
        b.alu("rsh", pid, 32)
        b.stx(8, dst.base, dst.off + 8, pid)
        self.sc.stack_map("user")  # the map of pids whose symbols to keep
        self.note_pid(pid)

    AF_INET, AF_INET6 = 2, 10

    def store_ntop(self, e: ast.Call, dst: Mem):
        """(family, 16 address bytes) for ntop([af,] addr): an address of
        a tracepoint byte array, or an IPv4 address held in an integer."""
        b = self.b
        addr = e.args[-1]
        self.zero(dst)
        f = self.probe.arg(addr.field) if isinstance(addr, ast.FieldAccess) else None
        if f is not None and f.kind == "array":
            family = self.AF_INET if f.size == 4 else self.AF_INET6
            self.copy_from_ctx(dst.at(8, 16), f.offset, f.size)
        else:
            family = self.AF_INET
            v = self.int_expr(addr)
            b.stx(4, dst.base, dst.off + 8, v.reg)
        if len(e.args) == 2:
            b.stx(8, dst.base, dst.off, self.int_expr(e.args[0]).reg)
        else:
            b.st(8, dst.base, dst.off, family)

    BPF_F_USER_STACK = 1 << 8

    def store_stack(self, t: T.StackType, dst: Mem):
        """The stack id from bpf_get_stackid, and for a user stack the pid
        whose address space gives its addresses meaning."""
        b = self.b
        b.mov(R1, self.ctx)
        b.ld_map_fd(R2, self.sc.stack_map(t.kind))
        b.mov(R3, self.BPF_F_USER_STACK if t.kind == "user" else 0)
        b.call("get_stackid")
        sid = b.vreg()
        b.mov(sid, R0)
        b.stx(8, dst.base, dst.off, sid)
        if t.kind == "user":
            b.call("get_current_pid_tgid")
            pid = b.vreg()
            b.mov(pid, R0)
            b.alu("rsh", pid, 32)
            b.stx(8, dst.base, dst.off + 8, pid)
            self.note_pid(pid)

    def note_pid(self, pid: VReg):
        """Add ``pid`` to USTACK_PIDS unless it is there: a lookup is
        cheaper than an update on the per-event path."""
        b = self.b
        key = self.stack_mem(8)
        b.stx(4, R10, key.off, pid)
        p = self.lookup(USTACK_PIDS, Mem(R10, key.off, 4))
        known = b.label("pid_known")
        b.jcond("ne", p, 0, known)
        one = self.stack_mem(8)
        b.st(8, R10, one.off, 1)
        self.update(USTACK_PIDS, Mem(R10, key.off, 4), one)
        b.place(known)

    def store_branches(self, e: ast.Ternary, dst: Mem, t: T.Type):
        b = self.b
        els, end = b.label(), b.label()
        self.branch_false(e.cond, els)
        self.store(e.then, dst, t)
        b.ja(end)
        b.place(els)
        self.store(e.orelse, dst, t)
        b.place(end)

    def mem_place(self, e: ast.Expr) -> Mem:
        """Where a string or tuple value already is in memory: a variable or
        an element of one. Anything else must be stored by a writer."""
        if isinstance(e, (ast.Variable, ast.FieldAccess, ast.Index)):
            v = self.value(e)
            if isinstance(v, Mem):
                return v
        raise SemanticError(f"{type(e).__name__} of type '{e.type}' can not be used here yet",
                            e.span)

    def store_str_call(self, e: ast.Call, dst: Mem, length: int):
        b = self.b
        arg = e.args[0]
        if arg.type.is_string() or isinstance(arg, ast.PositionalParam):
            return self.store_string(arg, dst, length)
        n = length
        if len(e.args) == 2 and not isinstance(e.args[1], ast.Integer):
            raise SemanticError("str(): a non-constant length is not supported yet", e.args[1].span)
        ptr = self.int_expr(arg)
        # a plain integer is an address in the traced thread's memory: user
        # memory for user-space probes, kernel memory otherwise
        user = (arg.type.user if isinstance(arg.type, T.PointerType)
                else self.probe.provider in USER_PROVIDERS)
        self.zero(dst)
        self.addr(R1, dst)
        b.mov(R2, n)
        b.mov(R3, ptr.reg)
        b.call("probe_read_user_str" if user else "probe_read_kernel_str")

    def store_arg_string(self, e: ast.FieldAccess, dst: Mem, length: int):
        b = self.b
        f = self.probe.arg(e.field)
        if f.kind == "char_array":
            n = min(f.size, length - 1 if f.size > length else length)
            if dst.size > n:
                self.zero(dst)
            self.copy_from_ctx(dst, f.offset, n)
            return
        # __data_loc: a u32 with the string's offset in the low 16 bits
        loc = b.vreg()
        b.ldx(4, loc, self.ctx, f.offset)
        b.alu("and", loc, 0xFFFF)
        p = b.vreg()
        b.mov(p, self.ctx)
        b.alu("add", p, loc)
        self.zero(dst)
        self.addr(R1, dst)
        b.mov(R2, length)
        b.mov(R3, p)
        b.call("probe_read_kernel_str")

    def copy_from_ctx(self, dst: Mem, off: int, n: int):
        self.copy_chunks(dst, self.ctx, off, n)

    def mem_expr(self, e: ast.Expr) -> Mem:
        """A string or tuple value in memory (a variable, or a fresh temp)."""
        if isinstance(e, (ast.Variable, ast.FieldAccess, ast.Index)) and \
                not isinstance(getattr(e, "expr", None) and e.expr.type, T.ArgsType):
            return self.mem_place(e)
        m = self.stack_mem(e.type.size)
        self.store(e, m, e.type)
        return Mem(m.base, m.off, e.type.size)

    # ------------------------------------------------------------ integer expressions

    def int_expr(self, e: ast.Expr) -> Int:
        v = self.value(e)
        if not isinstance(v, Int):
            raise SemanticError("expected an integer", e.span)
        return v

    def value(self, e: ast.Expr):
        b = self.b
        if isinstance(e, (ast.Integer, ast.Bool)):
            r = b.vreg()
            b.mov(r, int(e.value))
            return Int(r)
        if isinstance(e, ast.PositionalCount):
            r = b.vreg()
            b.mov(r, len(self.sc.an.params))
            return Int(r)
        if isinstance(e, ast.PositionalParam):
            if e.type.is_int():
                r = b.vreg()
                p = self.sc.an.params
                b.mov(r, int(p[e.index - 1], 0) if e.index <= len(p) else 0)
                return Int(r)
            return self.mem_expr(ast.String(e.span, self.sc.an.params[e.index - 1]))
        if isinstance(e, ast.Variable):
            return self.vars[e.name]
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
        if isinstance(e, ast.Cast):
            v = self.int_expr(e.expr)
            r = b.vreg()
            b.mov(r, v.reg)
            self.narrow(r, e.type)
            return Int(r)
        if isinstance(e, (ast.Tuple, ast.Record, ast.String)) or (isinstance(e, ast.Call) and (
                e.type.is_string() or isinstance(e.type, (T.StackType, T.InetType,
                                                           T.UserSymType)))):
            return self.mem_expr(e)
        if isinstance(e, ast.Sizeof):
            r = b.vreg()
            b.mov(r, e.size)
            return Int(r)
        if isinstance(e, ast.Call):
            if e.name in self.VALUE_CALLS:
                return getattr(self, "call_" + e.name)(e)
            self.call_stmt(e)
            r = b.vreg()
            b.mov(r, 0)
            return Int(r)
        raise SemanticError(f"{type(e).__name__} is not supported yet", e.span)

    # ------------------------------------------------------------ functions with values

    VALUE_CALLS = {"has_key", "strlen", "strncmp", "strcontains", "nsecs", "strftime",
                   "strerror", "ksym", "kaddr"}

    def call_strerror(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[0])  # printed as text in user space

    call_ksym = call_strerror

    def call_kaddr(self, e: ast.Call) -> Int:
        from ..runtime.ksyms import kernel_symbols
        name = e.args[0].value
        try:
            addr = kernel_symbols().lookup_name(name)
        except OSError:
            addr = None
        if not addr:
            raise SemanticError(f"Failed to resolve kernel symbol: {name}", e.span)
        r = self.b.vreg()
        self.b.mov(r, addr)
        return Int(r)

    def call_has_key(self, e: ast.Call) -> Int:
        m = e.args[0]
        keys = e.args[1:]
        if len(keys) == 1 and isinstance(keys[0], ast.Tuple) and len(self.sc.maps[m.ident].key.elems) > 1:
            keys = keys[0].elems
        key = self.map_key(m, list(keys))
        p = self.lookup(m.ident, key)
        r = self.b.vreg()
        self.b.mov(r, 1)
        done = self.b.label()
        self.b.jcond("ne", p, 0, done)
        self.b.mov(r, 0)
        self.b.place(done)
        return Int(r)

    def call_strlen(self, e: ast.Call) -> Int:
        """Bytes before the first NUL, unrolled over the buffer."""
        b = self.b
        s = self.mem_expr(e.args[0])
        n, x = b.vreg(), b.vreg()
        done = b.label("strlen")
        b.mov(n, 0)
        for i in range(s.size):
            b.ldx(1, x, s.base, s.off + i)
            b.jcond("eq", x, 0, done)
            b.alu("add", n, 1)
        b.place(done)
        return Int(n)

    def call_strncmp(self, e: ast.Call) -> Int:
        """0 when the first ``n`` bytes (up to a shared NUL) are equal, else 1."""
        a, c = self.mem_expr(e.args[0]), self.mem_expr(e.args[1])
        n = min(self.sc.an.const_int(e.args[2], "strncmp"), a.size, c.size)
        return self.compare_bytes(a, c, n, 0, 1)

    def call_strcontains(self, e: ast.Call) -> Int:
        """Naive search for a literal needle at every start position."""
        b = self.b
        hay = self.mem_expr(e.args[0])
        needle = e.args[1].value.encode()
        r, x = b.vreg(), b.vreg()
        yes, done = b.label("found"), b.label()
        b.mov(r, 0)
        if not needle:
            b.ja(yes)
        for start in range(0, hay.size - len(needle) + 1 if needle else 0):
            nxt = b.label()
            # a NUL before this position ends the haystack
            if start:
                b.ldx(1, x, hay.base, hay.off + start - 1)
                b.jcond("eq", x, 0, done)
            for j, ch in enumerate(needle):
                b.ldx(1, x, hay.base, hay.off + start + j)
                b.jcond("ne", x, ch, nxt)
            b.ja(yes)
            b.place(nxt)
        b.ja(done)
        b.place(yes)
        b.mov(r, 1)
        b.place(done)
        return Int(r)

    def call_nsecs(self, e: ast.Call) -> Int:
        from ..sema.analyzer import CLOCKS
        r = self.b.vreg()
        self.b.call(CLOCKS[e.args[0].name] if e.args else "ktime_get_ns")
        self.b.mov(r, R0)
        return Int(r)

    def call_strftime(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[1])

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

    def builtin(self, e: ast.Builtin):
        b = self.b
        name = e.name
        r = b.vreg()
        simple = {"nsecs": "ktime_get_ns", "cpu": "get_smp_processor_id",
                  "cgroup": "get_current_cgroup_id", "rand": "get_prandom_u32",
                  "jiffies": "jiffies64", "curtask": "get_current_task",
                  "numaid": "get_numa_node_id"}
        if name in simple:
            b.call(simple[name])
            b.mov(r, R0)
        elif name in ("pid", "tid"):
            b.call("get_current_pid_tgid")
            b.mov(r, R0)
            if name == "pid":
                b.alu("rsh", r, 32)
            else:
                b.mov(r, r, w=32)
        elif name in ("uid", "gid", "username"):
            b.call("get_current_uid_gid")
            b.mov(r, R0)
            if name == "gid":
                b.alu("rsh", r, 32)
            else:
                b.mov(r, r, w=32)
        elif name == "elapsed":
            b.call("ktime_get_ns")
            b.mov(r, R0)
            start = b.vreg()
            b.mov(start, self.sc.start_ns)
            b.alu("sub", r, start)
        elif name == "cpid":
            b.mov(r, self.sc.an.cpid)
        elif name == "ppid":
            self.ppid(r, e)
        elif name == "ncpus":
            b.mov(r, os.cpu_count() or 1)
        elif name in ("comm", "probe", "func", "kstack", "ustack"):
            return self.mem_expr(e)
        elif name == "retval" and self.probe.arg("$retval") is not None:
            f = self.probe.arg("$retval")  # fexit: after the arguments
            b.ldx(8, r, self.ctx, f.offset)
            if f.size < 8:
                self.narrow(r, T.IntType(f.size * 8, f.signed))
        elif self.probe.context == "record" and re.fullmatch(r"arg\d+", name):
            b.ldx(8, r, self.ctx, 8 * int(name[3:]))  # fentry: u64 argument slots
        elif self.probe.context == "usdt" and re.fullmatch(r"arg\d+", name):
            self.usdt_arg(r, self.probe.usdt_args[int(name[3:])])
        elif name == "retval" or re.fullmatch(r"s?arg\d+", name):
            from ..sema.analyzer import REGS_ARGS, REGS_RETVAL
            off = REGS_RETVAL if name == "retval" else REGS_ARGS[int(name.lstrip("sarg"))]
            b.ldx(8, r, self.ctx, off)
        else:
            raise SemanticError(f"Builtin '{name}' is not supported yet", e.span)
        return Int(r)

    def usdt_arg(self, r: VReg, a):
        """A USDT argument from the registers of the traced thread."""
        b = self.b
        if a.kind == "const":
            b.mov(r, a.value)
            return
        if a.kind == "reg":
            b.ldx(8, r, self.ctx, a.reg)
            if a.byte_off:
                b.alu("rsh", r, 8 * a.byte_off)
        else:
            addr = b.vreg()
            b.mov(addr, a.disp)
            t = b.vreg()
            if a.base is not None:
                b.ldx(8, t, self.ctx, a.base)
                b.alu("add", addr, t)
            if a.index is not None:
                b.ldx(8, t, self.ctx, a.index)
                b.alu("mul", t, a.scale)
                b.alu("add", addr, t)
            tmp = self.stack_mem(8)
            b.st(8, R10, tmp.off, 0)
            self.addr(R1, tmp)
            b.mov(R2, a.size)
            b.mov(R3, addr)
            b.call("probe_read_user")
            b.ldx(8, r, R10, tmp.off)
        if a.size < 8:
            self.narrow(r, T.IntType(a.size * 8, a.signed))

    def ppid(self, r: VReg, e: ast.Expr):
        """current->real_parent->tgid, with the offsets the running kernel's
        BTF gives."""
        from ..btf import load_vmlinux
        try:
            btf = load_vmlinux()
            parent_off = btf.offsetof("struct task_struct", "real_parent")
            tgid_off = btf.offsetof("struct task_struct", "tgid")
        except Exception as err:  # noqa: BLE001 - any BTF failure: say so
            raise SemanticError(f"ppid needs the kernel's BTF: {err}", e.span) from None
        b = self.b
        tmp = self.stack_mem(8)
        b.call("get_current_task")
        task = b.vreg()
        b.mov(task, R0)
        for ptr, off, size in ((task, parent_off, 8), (None, tgid_off, 4)):
            src = task if ptr is not None else r
            b.st(8, R10, tmp.off, 0)
            self.addr(R1, tmp)
            b.mov(R2, size)
            b.mov(R3, src)
            b.alu("add", R3, off)
            b.call("probe_read_kernel")
            b.ldx(size, r, R10, tmp.off)

    def field(self, e: ast.FieldAccess):
        base_t = e.expr.type
        if isinstance(base_t, T.ArgsType):
            if e.type.is_string():
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

    def arith(self, op: str, dst: VReg, src: VReg, lt: T.Type, rt: T.Type):
        signed = lt is not None and rt is not None and lt.signed and rt.signed
        ops = {"+": "add", "-": "sub", "*": "mul", "/": "sdiv" if signed else "div",
               "%": "smod" if signed else "mod", "&": "and", "|": "or", "^": "xor",
               "<<": "lsh", ">>": "arsh" if lt is not None and lt.signed else "rsh"}
        if op in ("/", "%"):
            # bpftrace defines x/0 and x%0 as 0 instead of trapping.
            b = self.b
            ok, done = b.label(), b.label()
            b.jcond("ne", src, 0, ok)
            b.mov(dst, 0)
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
        if isinstance(e, ast.Binop) and e.op in self.CMP_OPS and not e.left.type.is_string():
            left = self.int_expr(e.left)
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
        left = self.int_expr(e.left)
        right = self.int_expr(e.right)
        r = b.vreg()
        if op in self.CMP_OPS:
            yes = b.label()
            b.mov(r, 1)
            b.jcond(self.cmp_op(e), left.reg, right.reg, yes)
            b.mov(r, 0)
            b.place(yes)
            return Int(r)
        b.mov(r, left.reg)
        self.arith(op, r, right.reg, e.left.type, e.right.type)
        return Int(r)

    def strcmp(self, e: ast.Binop) -> Int:
        """String equality, byte by byte up to the first NUL."""
        a, c = self.mem_expr(e.left), self.mem_expr(e.right)
        same = 1 if e.op == "==" else 0
        return self.compare_bytes(a, c, min(a.size, c.size), same, 1 - same,
                                  whole=True)

    def compare_bytes(self, a: Mem, c: Mem, n: int, if_equal: int, if_not: int,
                      whole: bool = False) -> Int:
        """``if_equal`` when the first ``n`` bytes of two strings match up to
        a shared NUL, else ``if_not``. With ``whole``, a longer buffer must
        also end where the shorter one did."""
        b = self.b
        r, x, y = b.vreg(), b.vreg(), b.vreg()
        eq, ne, done = b.label("streq"), b.label("strne"), b.label()
        for i in range(n):
            b.ldx(1, x, a.base, a.off + i)
            b.ldx(1, y, c.base, c.off + i)
            b.jcond("ne", x, y, ne)
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


def compile_program(analyzer: Analyzer) -> CompiledScript:
    return ScriptCompiler(analyzer).compile()
