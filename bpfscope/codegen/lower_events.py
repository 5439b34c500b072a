"""Calls that talk to user space through the ring buffer: printf, print,
exit, time, clear/zero, join, cat, system, and the count of lost records.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations


from ..errors import SemanticError
from ..lang import ast
from ..lang.names import unique_names
from ..sema import types as T
from .insn import R0, R1, R2, R3, R10
from .loweringvalues import Mem
from .script import EXIT, LOST, RINGBUF, EventSpec


class EventLowering:
    def call_stmt(self, e: ast.Call):
        b = self.b
        name = e.name
        if name in ("printf", "errorf", "warnf"):
            fmt = e.args[0].value
            ev = self.sc.event(name, fmt=fmt, args=[a.type for a in e.args[1:]], span=e.span,
                               names=unique_names(e.args[1:], "arg"))
            self.emit_event(ev, e.args[1:])
        elif name == "assert":
            # as bpftrace's macro: errorf("assert failed: %s", msg); exit(1)
            held = b.label("assert_ok")
            self.branch_true(e.args[0], held)
            ev = self.sc.event("errorf", fmt="assert failed: %s", args=[e.args[1].type],
                               span=e.span)
            self.emit_event(ev, e.args[1:])
            one = b.vreg()
            b.mov(one, 1)
            self.exit_program(one)
            b.place(held)
        elif name == "static_assert":
            pass  # checked at compile time
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
            self.exit_program(self.int_expr(e.args[0]).reg if e.args else None)
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

    def exit_program(self, code):
        """exit([code]): ask user space to stop (with ``code``, a register
        or None) and leave this program."""
        b = self.b
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
