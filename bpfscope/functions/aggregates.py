"""The aggregations: count, sum, avg, min, max, stats, hist, lhist, tseries.

Each is assigned to a map (``@m[k] = hist($x)``) and updates its entry in
place on every event; the entries are per-CPU and user space merges them
(runtime.mapread). The lookup, the miss path and the update are
codegen.lower_maps' (``aggregate``); a record here says what the entry
holds: its first value, how an event adds into it, its bucket index, and
how a script's read of it (in BPF) and user space's (``combine``) merge
the CPUs.
"""

from __future__ import annotations

from ..codegen.insn import R0
from ..lang import ast
from ..runtime.decode import s64, u64
from ..runtime.usermap import on_usermap_record
from ..runtime.values import AvgValue, StatsValue, hist_index, lhist_index
from ..sema import types as T
from ..sema.registry import Aggregation, register, register_event


def check_count(an, e: ast.Call) -> T.Type:
    an.nargs(e, 0)
    return T.AggType("count", True)


def check_value(an, e: ast.Call) -> T.Type:
    """sum, avg, min, max, stats: one integer, whose signedness the entry
    keeps (a narrower unsigned one fits in a signed 64-bit total)."""
    an.nargs(e, 1)
    t = an.int_arg(e, 0)
    return T.AggType(e.name, True if t is None else (t.signed or t.bits < 64))


def check_hist(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    an.int_arg(e, 0)
    bits = an.const_int(e.args[1], "hist") if len(e.args) == 2 else 0
    if not 0 <= bits <= 5:
        an.err("hist: bits must be between 0 and 5", e.args[1].span)
    return T.AggType("hist", True, (bits,))


def check_lhist(an, e: ast.Call) -> T.Type:
    an.nargs(e, 4)
    an.int_arg(e, 0)
    lo, hi, step = (an.const_int(a, "lhist") for a in e.args[1:])
    if step <= 0:
        an.err("lhist: step must be positive", e.args[3].span)
    if hi <= lo:
        an.err("lhist: max must be greater than min", e.args[2].span)
    if (hi - lo) // step > 1000:
        an.err("lhist: too many buckets, max is 1000", e.span)
    return T.AggType("lhist", True, (lo, hi, step))


TSERIES_AGGS = ("avg", "max", "min", "sum")
TSERIES_MAX_INTERVALS = 1_000_000


def _tseries_literal(an, arg: ast.Expr, what: str) -> int | None:
    """interval_ns, num_intervals: a non-negative integer literal (or an
    integer $N), as bpftrace requires."""
    if isinstance(arg, (ast.Integer, ast.PositionalParam)):
        v = an.const_int(arg, "tseries")
        if v >= 0:
            return v
    an.err(f"tseries: invalid {what} value (must be non-negative literal)", arg.span)
    return None


def check_tseries(an, e: ast.Call) -> T.Type:
    """tseries(value, interval_ns, num_intervals[, "avg"|"max"|"min"|"sum"]):
    params are (interval_ns, num_intervals, the aggregation or "")."""
    an.nargs(e, 3, 4)
    t = an.int_arg(e, 0)
    interval = _tseries_literal(an, e.args[1], "interval_ns")
    n = _tseries_literal(an, e.args[2], "num_intervals")
    if interval is not None and interval < 1:
        an.err(f"tseries() interval_ns must be >= 1 ({interval} provided)", e.args[1].span)
    if n is not None and n < 1:
        an.err(f"tseries() num_intervals must be >= 1 ({n} provided)", e.args[2].span)
    if n is not None and n > TSERIES_MAX_INTERVALS:
        an.err(f"tseries() num_intervals must be < {TSERIES_MAX_INTERVALS} ({n} provided)",
               e.args[2].span)
    agg = ""
    if len(e.args) == 4:
        a = e.args[3]
        if not isinstance(a, ast.String):
            an.err("tseries() expects a string literal for argument 4 (the aggregation "
                   "function)", a.span)
        agg = a.value
        if agg not in TSERIES_AGGS:
            an.err("tseries() expects one of the following aggregation functions: "
                   f"{', '.join(TSERIES_AGGS)} (\"{agg}\" provided)", a.span)
    signed = True if t is None else (t.signed or t.bits < 64)
    return T.AggType("tseries", signed, (interval or 1, n or 1, agg))


# ---------------------------------------------------------------- entries
# count: the number of events. sum: the total. avg, stats: (count,
# total). min, max: (value, is-set). hist, lhist: per bucket (count,
# total of the bucket's values: the exporter's histogram _sum).


def add_one(lw, p, arg, t, spec) -> None:
    b = lw.b
    b.ldx(8, t, p, 0)
    b.alu("add", t, 1)
    b.stx(8, p, 0, t)


def add_to(lw, p, arg, t, spec, off: int = 0) -> None:
    b = lw.b
    b.ldx(8, t, p, off)
    b.alu("add", t, arg.reg)
    b.stx(8, p, off, t)


def add_counted(lw, p, arg, t, spec) -> None:
    add_one(lw, p, arg, t, spec)
    add_to(lw, p, arg, t, spec, 8)


def first_one(lw, val, arg, spec) -> None:
    lw.b.st(8, val.base, val.off, 1)


def first_value(lw, val, arg, spec) -> None:
    lw.b.stx(8, val.base, val.off, arg.reg)


def first_counted(lw, val, arg, spec) -> None:
    first_one(lw, val, arg, spec)
    lw.b.stx(8, val.base, val.off + 8, arg.reg)


def first_extreme(lw, val, arg, spec) -> None:
    first_value(lw, val, arg, spec)
    lw.b.st(8, val.base, val.off + 8, 1)


def beats(kind: str, signed: bool) -> str:
    """The jump taken when the left operand is already the ``kind`` of the
    two (ties keep it)."""
    if kind == "min":
        return "sle" if signed else "le"
    return "sge" if signed else "ge"


# ---------------------------------------------------------------- buckets


def hist_index_code(lw, v, params: tuple, bound: int | None = None):
    """runtime.values.hist_index in BPF: 0 for negatives, v+1 below 2**k,
    else 1 + (e-k)*2**k + (v >> (e-k)) with e = floor(log2 v). ``bound``:
    the value is known to be in [0, bound] (``x & MASK``), so neither the
    negative test nor the steps above its top bit are needed."""
    b = lw.b
    k = params[0]
    bits = 64 if bound is None else max(bound.bit_length(), 1)
    idx, x = b.vreg(), b.vreg()
    done = b.label("hdone")
    if bound is None:
        b.mov(idx, 0)
        b.jcond("slt", v, 0, done)
    if k == 0:
        # e accumulates straight into the index: 2 + e from v = 1 on
        b.mov(idx, 1)
        b.jcond("eq", v, 0, done)
        b.mov(x, v)
        b.alu("add", idx, 1)
        _log2_steps(b, x, idx, bits)
        b.place(done)
        return idx
    e = b.vreg()
    b.mov(idx, v)
    b.alu("add", idx, 1)
    b.jcond("lt", v, 1 << k, done)
    b.mov(x, v)
    b.mov(e, 0)
    _log2_steps(b, x, e, bits)
    # idx = 1 + (e - k) * 2**k + (v >> (e - k))
    b.alu("sub", e, k)
    b.mov(idx, v)
    b.alu("rsh", idx, e)
    b.alu("lsh", e, k)
    b.alu("add", idx, e)
    b.alu("add", idx, 1)
    b.place(done)
    return idx


def _log2_steps(b, x, acc, bits: int):
    """acc += floor(log2 x) for 1 <= x < 2**bits, x destroyed: a binary
    search by shifts, an immediate compare per step (3 instructions; the
    32 step, whose bound no 32-bit immediate holds, tests the shifted-out
    half instead) and the last step without a branch (x is 1..3 there)."""
    if bits > 32:
        t, nxt = b.vreg(), b.label()
        b.mov(t, x)
        b.alu("rsh", t, 32)
        b.jcond("eq", t, 0, nxt)
        b.mov(x, t)
        b.alu("add", acc, 32)
        b.place(nxt)
    for s in (16, 8, 4, 2):
        if bits > s:
            nxt = b.label()
            b.jcond("lt", x, 1 << s, nxt)
            b.alu("rsh", x, s)
            b.alu("add", acc, s)
            b.place(nxt)
    if bits > 1:
        b.alu("rsh", x, 1)
        b.alu("add", acc, x)


def lhist_index_code(lw, v, params: tuple, bound: int | None = None):
    """runtime.values.lhist_index in BPF: 0 below min, n+1 from max on."""
    b = lw.b
    lo, hi, step = params
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


# ---------------------------------------------------------------- tseries
# The kernel key is (key, interval number % num_intervals): a ring of
# slots per key. A slot is (value, meta, interval number), meta being the
# time of the value (no aggregation: the latest CPU's value wins) or
# avg's count; the slot's tag is the interval number (ktime_get_ns() /
# interval_ns) plus one, so that a zeroed slot reads as never used even
# in interval 0, which an interval longer than the uptime makes common.
# User space merges a slot's CPUs and lays the intervals out
# (runtime.mapread.read_tseries).


def tseries_slot_code(lw, v, params: tuple, bound: int | None = None):
    """The slot of this event's interval; the time and the interval number
    are left on the lowering (``tseries_now``) for the add or first value
    of the same entry, which codegen lowers right after."""
    b = lw.b
    interval, n = params[0], params[1]
    now, epoch, idx = b.vreg(), b.vreg(), b.vreg()
    b.call("ktime_get_ns")
    b.mov(now, R0)
    b.mov(epoch, now)
    b.alu("div", epoch, interval)
    b.mov(idx, epoch)
    b.alu("mod", idx, n)
    b.alu("add", epoch, 1)
    lw.tseries_now = (now, epoch)
    return idx


def _tseries_set(lw, base, off, arg, spec) -> None:
    """A slot's first value of its interval."""
    b = lw.b
    now, epoch = lw.tseries_now
    agg = spec.params[2]
    b.stx(8, base, off, arg.reg)
    if agg == "avg":
        b.st(8, base, off + 8, 1)
    elif agg == "":
        b.stx(8, base, off + 8, now)
    else:
        b.st(8, base, off + 8, 0)
    b.stx(8, base, off + 16, epoch)


def tseries_first(lw, val, arg, spec) -> None:
    _tseries_set(lw, val.base, val.off, arg, spec)


def tseries_add(lw, p, arg, t, spec) -> None:
    """A slot of an older interval starts again; one of this interval
    takes the value as its aggregation says."""
    b = lw.b
    epoch = lw.tseries_now[1]
    agg = spec.params[2]
    if agg == "":  # the value written last, whichever interval the slot held
        _tseries_set(lw, p, 0, arg, spec)
        return
    fresh, done = b.label("ts_fresh"), b.label("ts_done")
    b.ldx(8, t, p, 16)
    b.jcond("ne", t, epoch, fresh)
    if agg in ("sum", "avg"):
        add_to(lw, p, arg, t, spec)
        if agg == "avg":
            b.ldx(8, t, p, 8)
            b.alu("add", t, 1)
            b.stx(8, p, 8, t)
    else:
        b.ldx(8, t, p, 0)
        b.jcond(beats(agg, spec.value.signed), t, arg.reg, done)
        b.stx(8, p, 0, arg.reg)
    b.ja(done)
    b.place(fresh)
    _tseries_set(lw, p, 0, arg, spec)
    b.place(done)


# ---------------------------------------------------------------- reads


def merge_total(lw, p, acc, aux, t, nxt, signed) -> None:
    lw.b.ldx(8, t, p, 0)
    lw.b.alu("add", acc, t)


def merge_avg(lw, p, acc, aux, t, nxt, signed) -> None:
    """aux: the count."""
    b = lw.b
    b.ldx(8, t, p, 0)
    b.alu("add", aux, t)
    b.ldx(8, t, p, 8)
    b.alu("add", acc, t)


def finish_avg(lw, acc, aux, signed) -> None:
    b = lw.b
    zero = b.label()
    b.jcond("eq", aux, 0, zero)
    b.alu("sdiv" if signed else "div", acc, aux)
    b.place(zero)


def extreme(kind: str) -> Aggregation:
    """min, max: the entry is (value, is-set); an event's value replaces
    it unless it is set and beats that value."""
    def add(lw, p, arg, t, spec) -> None:
        b = lw.b
        skip = b.label()
        b.ldx(8, t, p, 8)
        set_ = b.label()
        b.jcond("eq", t, 0, set_)
        b.ldx(8, t, p, 0)
        b.jcond(beats(kind, spec.value.signed), t, arg.reg, skip)
        b.place(set_)
        b.stx(8, p, 0, arg.reg)
        b.st(8, p, 8, 1)
        b.place(skip)

    def merge(lw, p, acc, aux, t, nxt, signed) -> None:
        """aux: whether acc holds a CPU's value yet."""
        b = lw.b
        b.ldx(8, t, p, 8)
        b.jcond("eq", t, 0, nxt)
        b.ldx(8, t, p, 0)
        take = b.label("take")
        b.jcond("eq", aux, 0, take)
        # this CPU's value loses when it is the other extreme of the two
        b.jcond(beats("max" if kind == "min" else "min", signed), t, acc, nxt)
        b.place(take)
        b.mov(acc, t)
        b.mov(aux, 1)

    def combine(per_cpu: list[bytes], signed: bool) -> int:
        num = s64 if signed else u64
        vals = [num(v) for v in per_cpu if u64(v, 8)]
        return (min if kind == "min" else max)(vals) if vals else 0

    def fold(old, arg: int, params) -> int:
        return arg if old is None else (min if kind == "min" else max)(old, arg)

    return Aggregation(kind, check_value, add, first_extreme, merge=merge, combine=combine,
                       fold=fold)


def combine_counts(per_cpu: list[bytes], signed: bool) -> int:
    """count, and a histogram bucket's count: unsigned, whatever the values."""
    return sum(u64(v) for v in per_cpu)


def counted(make):
    """avg, stats: the entry is (count, total); ``make(count, total)``
    gives the value the printers take."""
    def combine(per_cpu: list[bytes], signed: bool):
        num = s64 if signed else u64
        return make(sum(u64(v) for v in per_cpu), sum(num(v, 8) for v in per_cpu))
    return combine


# user space's updates of an entry kept there (runtime.usermap)
def fold_count(old, arg, params) -> int:
    return (old or 0) + 1


def fold_sum(old, arg: int, params) -> int:
    return (old or 0) + arg


def fold_avg(old, arg: int, params) -> AvgValue:
    return AvgValue(arg, 1) if old is None else AvgValue(old.total + arg, old.count + 1)


def fold_stats(old, arg: int, params) -> StatsValue:
    return StatsValue(1, arg) if old is None else StatsValue(old.count + 1, old.total + arg)


def bucket_fold(index):
    """hist, lhist: the entry is {bucket index: count}."""
    def fold(old, arg: int, params) -> dict:
        out = dict(old or {})
        i = index(arg, *params)
        out[i] = out.get(i, 0) + 1
        return out
    return fold


register(
    Aggregation("count", check_count, add_one, first_one, merge=merge_total,
                combine=combine_counts, fold=fold_count),
    Aggregation("sum", check_value, add_to, first_value, merge=merge_total, fold=fold_sum),
    Aggregation("avg", check_value, add_counted, first_counted,
                merge=merge_avg, finish=finish_avg,
                combine=counted(lambda n, total: AvgValue(total, n)), fold=fold_avg),
    extreme("min"),
    extreme("max"),
    Aggregation("stats", check_value, add_counted, first_counted, combine=counted(StatsValue),
                fold=fold_stats),
    Aggregation("hist", check_hist, add_counted, first_counted, bucket=hist_index_code,
                combine=combine_counts, fold=bucket_fold(hist_index)),
    Aggregation("lhist", check_lhist, add_counted, first_counted, bucket=lhist_index_code,
                combine=combine_counts, fold=bucket_fold(lhist_index)),
    Aggregation("tseries", check_tseries, tseries_add, tseries_first, bucket=tseries_slot_code),
)
register_event("usermap", on_usermap_record)
