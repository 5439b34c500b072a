"""Talking to user space through the ring buffer: records (reserve, write,
submit), exit, and the count of lost records; the functions that send
records (printf, print, join, time, ...) are in bpfscope.functions.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations


from ..errors import SemanticError
from ..lang import ast
from ..sema import registry
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4, R10
from .loweringvalues import Int, Mem
from .script import EXIT, LOST, RINGBUF, EventSpec


class EventLowering:
    def call_stmt(self, e: ast.Call):
        """A call whose value, if it has one, is not used."""
        f = registry.lookup(e.name)
        if f is not None and f.emit is not None:
            return f.emit(self, e)
        if f is None or f.lower is None and f.store is None:
            raise SemanticError(f"{e.name}() has no lowering", e.span)
        self.value(e)

    def exit_program(self, code):
        """exit([code]): ask user space to stop (with ``code``, a register
        or None) and leave this program."""
        b = self.b
        p = b.vreg()
        b.ld_map_value(p, EXIT)  # its one element: no lookup, never NULL
        if code is not None:
            b.stx(8, p, 8, code)
        b.st(8, p, 0, 1)
        # A record too, so that user space wakes up at once.
        self.emit_event(self.sc.event("exit"), [])
        b.ja(self.exit_label)

    def emit_event(self, ev: EventSpec, args: list[ast.Expr]):
        """Write one ring buffer record: the event id, then each argument.
        Integers are computed before the reservation so that it is held for
        as short a time as possible; strings are written straight into it."""
        b = self.b
        layout = ev.layout
        if all(a.type.is_int() and a.type.size <= 8 for a in args) \
                and 8 + layout.size <= self.SMALL_RECORD:
            return self.output_record(ev, args)
        pre = {}
        for i, a in enumerate(args):
            if a.type.is_int():
                pre[id(a)] = self.held(self.int_expr(a), args[i + 1:])
        rec, lost, done = self.reserve_record(ev)
        for a, t, off in zip(args, layout.elems, layout.offsets):
            dst = Mem(rec, 8 + off, T.align8(t.size))
            if id(a) in pre:
                b.stx(8, rec, 8 + off, pre[id(a)].reg)
            else:
                self.store(a, dst, t)
        self.submit_record(rec, lost, done)

    # A record of integers up to this size is built on the stack and
    # copied by one bpf_ringbuf_output, which reserves, copies and submits
    # in one helper call: no NULL check of a reservation, no second call.
    SMALL_RECORD = 64

    def output_record(self, ev: EventSpec, args: list[ast.Expr]):
        """``ev``'s record of integer ``args`` written with ringbuf_output;
        a full ring buffer (a negative result) counts a lost record."""
        b = self.b
        rec = Mem(R10, b.stack(8 + ev.layout.size), 8 + ev.layout.size)
        for a, off in zip(args, ev.layout.offsets):
            v = self.int_expr(a)
            b.stx(8, R10, rec.off + 8 + off, v.reg)
        b.st(8, R10, rec.off, ev.id)
        b.ld_map_fd(R1, RINGBUF)
        self.addr(R2, rec)
        b.mov(R3, rec.size)
        b.mov(R4, 0)
        b.call("ringbuf_output")
        done = b.label("sent")
        res = b.vreg()
        b.mov(res, R0)
        b.jcond("sge", res, 0, done)
        self.count_lost()
        b.place(done)

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
        b.st(8, rec, 0, ev.id)
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

    def count_lost(self, index: int = 0):
        """Count one in slot ``index`` of LOST: 0 counts dropped records,
        others the failures of one map update site.  LOST is one array
        element whose address the loader resolves, so this is an atomic
        add and no lookup; it runs only on a failure path, where a shared
        cache line costs nothing on the per-event path."""
        b = self.b
        p, one = b.vreg(), b.vreg()
        b.ld_map_value(p, LOST, 8 * index)
        b.mov(one, 1)
        b.atomic_add(8, p, 0, one)
