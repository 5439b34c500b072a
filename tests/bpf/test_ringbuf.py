"""bpf/ringbuf.py: records written by a program with bpf_ringbuf_output are
read back in order, discarded ones are skipped, and the data area wraps."""

import select
import struct

import pytest

from bpfscope.bpf.consts import MapType, ProgType
from bpfscope.bpf.maps import BpfMap
from bpfscope.bpf.prog import load_program, prog_test_run
from bpfscope.bpf.ringbuf import RingBuffer
from bpfscope.bpf.sys import close_fd, page_size


def output_arg0(asm, rb_fd):
    """Raw tracepoint program: ringbuf_output(&args[0], 8, 0)."""
    return b"".join([
        asm.ldx_dw(2, 1, 0), asm.stx_dw(10, 2, -8),
        asm.ld_map_fd(1, rb_fd), asm.mov_reg(2, 10), asm.add_imm(2, -8),
        asm.mov_imm(3, 8), asm.mov_imm(4, 0), asm.call(asm.RINGBUF_OUTPUT),
        asm.mov_imm(0, 0), asm.exit(),
    ])


def reserve_and_discard(asm, rb_fd):
    """Raw tracepoint program: reserve 8 bytes, then discard them."""
    return b"".join([
        asm.ld_map_fd(1, rb_fd), asm.mov_imm(2, 8), asm.mov_imm(3, 0),
        asm.call(asm.RINGBUF_RESERVE),
        asm.jeq_imm(0, 0, 3),
        asm.mov_reg(1, 0), asm.mov_imm(2, 0), asm.call(asm.RINGBUF_DISCARD),
        asm.mov_imm(0, 0), asm.exit(),
    ])


@pytest.fixture
def ring(no_leaks, asm):
    m = no_leaks.map(BpfMap.create(MapType.RINGBUF, 0, 0, page_size(), name="rb"))
    rb = RingBuffer(m)
    out = no_leaks.prog(load_program(ProgType.RAW_TRACEPOINT, output_arg0(asm, m.fd)))
    drop = no_leaks.prog(load_program(ProgType.RAW_TRACEPOINT,
                                      reserve_and_discard(asm, m.fd)))
    yield rb, (lambda x: prog_test_run(out, ctx_in=[x])), \
        (lambda: prog_test_run(drop, ctx_in=[0]))
    close_fd(out)
    close_fd(drop)
    rb.close()
    m.close()


def test_records_in_order_and_discards_skipped(ring):
    rb, emit, discard = ring
    emit(1)
    discard()
    emit(2)
    got = []
    assert rb.consume(got.append) == 2
    assert got == [struct.pack("<Q", 1), struct.pack("<Q", 2)]
    assert rb.consume(got.append) == 0


def test_poll_wakes_on_data(ring):
    rb, emit, _ = ring
    got = []
    assert rb.poll(0, got.append) == 0
    emit(0xDEADBEEF)
    # The epoll fd is usable from the caller's own selector.
    assert select.select([rb.fileno()], [], [], 1.0)[0] == [rb.fileno()]
    assert rb.poll(1000, got.append) == 1
    assert got == [struct.pack("<Q", 0xDEADBEEF)]


def test_wraps_around_data_area(ring):
    rb, emit, discard = ring
    # Each record takes 16 bytes (header + 8); 3 pages' worth goes around a
    # one-page ring several times, consumed in chunks of 100.
    got = []
    for i in range(768):
        emit(i)
        if i % 3 == 0:
            discard()
        if i % 100 == 99:
            rb.consume(got.append)
    rb.consume(got.append)
    assert got == [struct.pack("<Q", i) for i in range(768)]


def test_full_ring_drops_not_blocks(ring):
    rb, emit, _ = ring
    for i in range(page_size() // 16 + 10):
        emit(i)
    got = []
    rb.consume(got.append)
    # The kernel refuses a reservation that would fill the ring to the last
    # byte, so one 16-byte slot short of a page fits.
    fits = (page_size() - 1) // 16
    assert got == [struct.pack("<Q", i) for i in range(fits)]
    emit(7)  # space is back once consumed
    assert rb.consume(got.append) == 1


def test_rejects_other_map_types(kernel):
    with BpfMap.create(MapType.ARRAY, 4, 4, 1) as m:
        with pytest.raises(ValueError):
            RingBuffer(m)


def test_consume_texts_turns_known_records_into_text_in_order(ring):
    """Records whose first u64 has a text function become text in the ring
    (written joined, at most ``batch`` at a time); the others go to the
    callback, after the texts before them; the callback may empty the
    table and so send every later record to itself."""
    rb, emit, discard = ring
    for x in (5, 6, 1, 5, 5):
        emit(x)
    discard()
    emit(5)
    written, slow = [], []
    texts = {5: lambda buf, off: f"five at {off % 8}\n", 6: lambda buf, off: "six\n"}

    def callback(rec):
        slow.append((len(written), rec))
        texts.clear()
    assert rb.consume_texts(texts, written.append, callback, batch=1) == 6
    assert written == ["five at 0\n", "six\n"]
    assert slow == [(2, struct.pack("<Q", x)) for x in (1, 5, 5, 5)]
    assert rb.consume(slow.append) == 0
    texts[5] = lambda buf, off: "5\n"
    for x in (5, 5, 5):
        emit(x)
    assert rb.consume_texts(texts, written.append, callback) == 3
    assert written[2:] == ["5\n5\n5\n"]
