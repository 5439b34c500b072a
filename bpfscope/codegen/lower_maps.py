"""Maps in the kernel: keys, lookups and updates, the shared update and
merged read of the per-CPU aggregations (whose entries the records in
functions.aggregates describe).

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

import os

from ..errors import SemanticError
from ..lang import ast
from ..lang.names import unique_names
from ..sema import registry
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4, R10, VReg
from .loweringvalues import BPF_ANY, Int, Mem
from .script import USTACK_PIDS, MapSpec
from .stack import MAX_STACK


def value_bound(e) -> int | None:
    """B when integer expression ``e`` is known to be in [0, B]: ``x &
    MASK`` of a 64-bit result and a literal mask (what histograms of
    ``nsecs & 0xfffff`` are made of); None when nothing is known."""
    t = getattr(e, "type", None)
    if not (isinstance(e, ast.Binop) and e.op == "&" and isinstance(t, T.IntType)
            and t.bits == 64):
        return None
    sides = [x.value for x in (e.left, e.right) if isinstance(x, ast.Integer)]
    return min(sides) if sides and 0 <= min(sides) < 1 << 63 else None


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
        if (len(keys) == 1 and isinstance(keys[0].type, T.TupleType) and keys[0].type.elems
                and not keys[0].type.names):
            # a tuple is the keys of a multi-key map, a record one key (sema.map_key)
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

    def user_map_update(self, s: ast.AssignMap, spec: MapSpec):
        """A map kept in user space (runtime.usermap): one record with
        the key parts and the value (the aggregation's argument; none for
        count())."""
        keys = list(s.map.keys)
        if len(keys) == 1 and isinstance(keys[0], ast.Tuple) and \
                isinstance(keys[0].type, T.TupleType) and len(spec.key.elems) > 1:
            keys = list(keys[0].elems)
        v = s.value
        if isinstance(v, ast.Call) and spec.kind != "plain":
            values, vtypes = v.args[:1], [T.INT64] * len(v.args[:1])
        else:
            values, vtypes = [v], [spec.value]
        ev = self.sc.event("usermap", map=s.map.ident, args=[*spec.key.elems, *vtypes])
        self.emit_event(ev, [*keys, *values])

    def kernel_map(self, name: str) -> None:
        """Refuse to touch a map kept in user space from BPF (sema lets
        only updates through; has_key, delete and the like come here)."""
        spec = self.sc.maps.get(name)
        if spec is not None and spec.map_type == "user":
            raise SemanticError(f"{name} is kept in user space (its key holds dw_ustack()): "
                                "a probe can update, print, clear and zero it, not look "
                                "in it", self.probe.span)

    def lookup(self, name: str, key: Mem) -> VReg:
        self.kernel_map(name)
        b = self.b
        b.ld_map_fd(R1, name)
        self.addr(R2, key)
        b.call("map_lookup_elem")
        r = b.vreg()
        b.mov(r, R0)
        return r

    def update(self, name: str, key: Mem, val: Mem, flags: int = BPF_ANY, span=None,
               site: str | None = None, also: int | None = None):
        """map_update_elem; with ``span``, a full map is reported to user
        space (one record, only on the failure path), as a failure of map
        ``site`` (default ``name``); ``also``: a second LOST slot that
        counts the same failure."""
        self.kernel_map(name)
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
            self.count_lost(self.sc.drop_site("full", site or name, span))
            if also is not None:
                self.count_lost(also)
            b.place(ok)

    def assign_map(self, s: ast.AssignMap):
        spec = self.sc.maps[s.map.ident]
        v = s.value
        if spec.map_type == "user":
            return self.user_map_update(s, spec)
        if isinstance(v, ast.Call) and spec.kind != "plain":
            return self.aggregate(s.map, v, spec)
        if s.op != "=":
            cur = self.map_read(s.map, checked=False)  # a missing key is 0
            rhs = self.int_expr(v)
            self.arith(s.op[:-1], cur.reg, rhs.reg, s.map.type, v.type, v.span)
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
        cur = self.map_read(target, checked=False)
        old = b.vreg()
        b.mov(old, cur.reg)
        b.alu("add", cur.reg, delta)
        key = self.map_key(target)
        val = self.stack_mem(8)
        b.stx(8, val.base, val.off, cur.reg)
        self.update(target.ident, key, val, span=target.span)
        return Int(old if e.postfix else cur.reg)

    def map_read(self, m: ast.Map, checked: bool = True) -> Int:
        """Read an integer map value; a missing key reads as 0. Aggregations
        are per-CPU: their value is merged over every CPU, as user space
        would print it. A plain value of a map declared per-CPU is this
        CPU's own (the helpers' meaning), which ++ and += then update (not
        ``checked``: their missing key is no mistake for -k to report)."""
        spec = self.sc.maps[m.ident]
        b = self.b
        key = self.map_key(m)
        if "percpu" in spec.map_type and spec.kind != "plain":
            return self.percpu_read(m.ident, spec, key)
        p = self.lookup(m.ident, key)
        out = b.vreg()
        b.mov(out, 0)
        miss = b.label("miss")
        if checked and self.helper_checks():
            found = b.label("found")
            b.jcond("ne", p, 0, found)
            self.count_lost(self.sc.drop_site("lookup", m.ident, m.span))
            b.ja(miss)
            b.place(found)
        else:
            b.jcond("eq", p, 0, miss)
        b.ldx(8, out, p, 0)
        b.place(miss)
        return Int(out)

    def helper_checks(self) -> bool:
        """-k: count the map lookups and deletes that find no element, per
        place, for user space to warn about (bpftrace's run-time checks)."""
        return bool(self.sc.an.config.get("helper_check"))

    def percpu_read(self, name: str, spec: MapSpec, key: Mem) -> Int:
        """The aggregation's entry merged over every CPU by its record."""
        b = self.b
        agg = registry.aggregation(spec.kind)
        signed = getattr(spec.value, "signed", True)
        acc, aux, cpu, t = b.vreg(), b.vreg(), b.vreg(), b.vreg()
        b.mov(acc, 0)
        b.mov(aux, 0)
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
        agg.merge(self, p, acc, aux, t, nxt, signed)
        b.place(nxt)
        b.alu("add", cpu, 1)
        b.ja(top)
        b.place(done)
        if agg.finish is not None:
            agg.finish(self, acc, aux, signed)
        return Int(acc)

    def map_read_mem(self, m: ast.Map, dst: Mem, t: T.Type):
        """Copy a string/tuple map value into ``dst`` (zeroes when missing)."""
        spec = self.sc.maps[m.ident]
        b = self.b
        key = self.map_key(m)
        p = self.lookup(m.ident, key)
        miss, done = b.label("miss"), b.label("done")
        b.jcond("eq", p, 0, miss)
        n = min(dst.size, spec.value.size)
        self.copy(dst, Mem(p, 0, spec.value.size), n)
        if n < dst.size:
            # a wider slot (a map key's string part): bytes past the value
            # would be the stack's leftovers, and a key holding them is
            # another key on every event
            self.zero(dst, n)
        b.ja(done)
        b.place(miss)
        if self.helper_checks():
            self.count_lost(self.sc.drop_site("lookup", m.ident, m.span))
        self.zero(dst)
        b.place(done)

    def aggregate(self, m: ast.Map, call: ast.Call, spec: MapSpec):
        """``@m[k] = agg(x)``: look the entry up (its bucket's, for a
        histogram); the aggregation's record adds ``x`` into the entry
        found, or writes the first value of a new one, which is stored."""
        b = self.b
        agg = registry.aggregation(spec.kind)
        arg = self.int_expr(call.args[0]) if call.args else None
        if spec.copies is not None:
            return self.aggregate_by_ids(m, agg, arg, spec,
                                         value_bound(call.args[0]) if call.args else None)
        if spec.short is not None and self.short_str_aggregate(m, agg, arg, spec):
            return
        key = self.map_key(m, extra=8 if agg.bucketed else 0)
        if agg.bucketed:
            idx = agg.bucket(self, arg.reg, spec.params, bound=value_bound(call.args[0]))
            b.stx(8, key.base, key.off + key.size - 8, idx)
        if spec.short is None:
            return self.aggregate_into(m, m.ident, key, agg, arg, spec)
        # a string that ends before the short key's last two bytes (its
        # byte SHORT - 2 is the NUL or padding) goes there: the kernel
        # hashes and compares that many bytes, not max_strlen
        # (codegen.shortkeys; short_str_aggregate's test, said otherwise)
        short, size = spec.short
        byte, long_key, done = b.vreg(), b.label("long_key"), b.label("tiered")
        b.ldx(1, byte, key.base, key.off + size - 2)
        b.jcond("ne", byte, 0, long_key)
        self.aggregate_into(m, short, Mem(key.base, key.off, size), agg, arg, spec)
        b.ja(done)
        b.place(long_key)
        self.aggregate_into(m, m.ident, key, agg, arg, spec)
        b.place(done)

    def aggregate_by_ids(self, m: ast.Map, agg, arg, spec: MapSpec, bound=None):
        """``@m[kstack, ...] = agg(x)`` with the stacks' ids in the key
        (codegen.stackids). A stack bpf_get_stackid gave no id sets
        ``failed`` (store_stack): the event then goes to the map of copies,
        its key's stacks walked again into it, the other elements taken
        from the key built (not evaluated twice)."""
        b = self.b
        failed = self.stackid_failed = b.vreg()
        b.mov(failed, 0)
        key = self.map_key(m, extra=8 if agg.bucketed else 0)
        self.stackid_failed = None
        idx = agg.bucket(self, arg.reg, spec.params, bound=bound) if agg.bucketed else None
        if idx is not None:
            b.stx(8, key.base, key.off + key.size - 8, idx)
        slow, done = b.label("stack_copies"), b.label("stacks_kept")
        b.jcond("ne", failed, 0, slow)
        self.aggregate_into(m, m.ident, key, agg, arg, spec,
                            on_new=lambda: self.note_key_pids(key, spec.key))
        b.ja(done)
        b.place(slow)
        self.count_lost(self.sc.drop_site("stackid", m.ident, m.span))
        copies = self.sc.maps[spec.copies]
        ckey = self.lazy_scratch(copies.key_size)
        for t, off, ct, coff in zip(spec.key.elems, spec.key.offsets, copies.key.elems,
                                    copies.key.offsets):
            dst = ckey.at(coff, T.align8(ct.size))
            if isinstance(t, T.StackType) and t.ids:
                self.store_stack(ct, dst, m.span)
            else:
                self.copy(dst, key.at(off, T.align8(t.size)), T.align8(t.size))
        if idx is not None:
            b.stx(8, ckey.base, ckey.off + ckey.size - 8, idx)
        # a full map of copies loses the event: counted as a full map at
        # the place, and apart, so -v can say how many of the stacks that
        # went the slow way were lost
        self.aggregate_into(m, spec.copies, ckey, agg, arg, spec,
                            also=self.sc.drop_site("stackid_lost", m.ident, m.span))
        b.place(done)

    def short_str_aggregate(self, m: ast.Map, agg, arg, spec: MapSpec) -> bool:
        """``@m[str(p)] = agg(x)`` with a short map (codegen.shortkeys): the
        string is read into the short key alone, on the stack, where it
        fits: a read of SHORT bytes that gives at most SHORT - 1 (the NUL
        counted) ended in it, and the entry is the short map's; anything
        longer is read again, into the whole key (zeroed whole, in the
        scratch map, looked up on that path only: store_str's way, its cut
        counted). False (nothing emitted) for any other key."""
        k = m.keys[0] if len(m.keys) == 1 else None
        if not (isinstance(k, ast.Call) and k.name == "str" and len(k.args) == 1
                and not isinstance(k.args[0], ast.PositionalParam) and k.args[0].type.is_int()
                and k.type.length == spec.user_key_size == self.sc.an.max_strlen):
            return False
        if spec.key_names is None:
            spec.key_names = unique_names(m.keys, "key")
        b, size, (short, short_size) = self.b, spec.user_key_size, spec.short
        ptr = self.int_expr(k.args[0])
        helper = self.read_helper(k.args[0].type, string=True)
        # the BPF stack when it has room to spare (the short key is
        # hashed there as well as anywhere), else the scratch map
        key = (Mem(R10, b.stack(short_size), short_size)
               if b.stack_mark() + short_size <= MAX_STACK // 2 else self.stack_mem(short_size))
        self.zero(key)
        self.addr(R1, key)
        b.mov(R2, short_size)
        b.mov(R3, ptr.reg)
        b.call(helper)
        res = b.vreg()
        b.mov(res, R0)
        long_key, done = b.label("long_key"), b.label("tiered")
        b.jcond("sgt", res, short_size - 1, long_key)  # failed: all zero, the empty string
        self.aggregate_into(m, short, key, agg, arg, spec)
        b.ja(done)
        b.place(long_key)
        full = self.lazy_scratch(size)
        self.zero(full)
        self.addr(R1, full)
        b.mov(R2, size)
        b.mov(R3, ptr.reg)
        b.call(helper)
        self.count_cut(ptr, size, k.args[0].type, self.sc.drop_site("strcut", "str", k.span))
        self.aggregate_into(m, m.ident, full, agg, arg, spec)
        b.place(done)
        return True

    def note_key_pids(self, key: Mem, kt: T.TupleType):
        """note_pid for each user stack id's pid in ``key``: a new entry's
        (its pid is in no key before it, so noting new entries notes every
        pid the map holds, and other events pay no lookup)."""
        for t, off in zip(kt.elems, kt.offsets):
            if isinstance(t, T.StackType) and t.ids and t.kind == "user":
                pid = self.b.vreg()
                self.b.ldx(8, pid, key.base, key.off + off + 8)
                self.note_pid(pid)

    def aggregate_into(self, m: ast.Map, name: str, key: Mem, agg, arg, spec: MapSpec,
                       on_new=None, also: int | None = None):
        """The lookup, then the add or the first value, in kernel map
        ``name``; ``on_new`` emits code run for a new entry only; ``also``
        as update's."""
        b = self.b
        p = self.lookup(name, key)
        miss, done = b.label("miss"), b.label("done")
        b.jcond("eq", p, 0, miss)
        agg.add(self, p, arg, b.vreg(), spec)
        b.ja(done)
        b.place(miss)
        if on_new is not None:
            on_new()
        val = self.stack_mem(spec.value_size)
        agg.first(self, val, arg, spec)
        self.update(name, key, val, span=m.span, site=m.ident, also=also)
        b.place(done)

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
