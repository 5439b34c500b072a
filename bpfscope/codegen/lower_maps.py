"""Maps in the kernel: keys, lookups and updates, the per-CPU
aggregations and their histogram buckets, merged reads.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

import os

from ..lang import ast
from ..lang.names import unique_names
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4, R10, VReg
from .loweringvalues import BPF_ANY, Int, Mem
from .script import USTACK_PIDS, MapSpec


class MapLowering:
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
        if len(keys) == 1 and isinstance(keys[0].type, T.TupleType) and keys[0].type.elems:
            # a tuple is the keys of a multi-key map (sema.map_key)
            if isinstance(keys[0], ast.Tuple):
                keys = list(keys[0].elems)
            else:
                self.store(keys[0], mem.at(0, size), kt)
                return mem
        if spec.key_names is None:
            spec.key_names = unique_names(keys, "key")
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
            self.count_lost(self.sc.drop_site("full", name, span))
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
            slot = self.vars[target.key]
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
        would print it. A plain value of a map declared per-CPU is this
        CPU's own (the helpers' meaning), which ++ and += then update."""
        spec = self.sc.maps[m.ident]
        b = self.b
        key = self.map_key(m)
        if "percpu" in spec.map_type and spec.kind != "plain":
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
            if extra:  # the bucket's total
                b.ldx(8, t, p, 8)
                b.alu("add", t, arg.reg)
                b.stx(8, p, 8, t)
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
            if extra:
                b.stx(8, val.base, val.off + 8, arg.reg)
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
