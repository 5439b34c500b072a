"""Bucket index functions shared by codegen and the printers."""

from bpfscope.runtime.values import (hist_bucket_count, hist_index,
                                     hist_upper, lhist_bucket_count,
                                     lhist_index)


def test_hist_index_k0():
    assert [hist_index(v) for v in (-9, 0, 1, 2, 3, 4, 7, 8, 1023, 1024)] \
        == [0, 1, 2, 3, 3, 4, 4, 5, 11, 12]
    assert hist_bucket_count() == 66


def test_hist_index_k2_matches_bounds():
    for v in range(0, 5000):
        i = hist_index(v, 2)
        assert hist_upper(i - 1, 2) <= v < hist_upper(i, 2)
    assert hist_index(8, 2) == 9 and hist_upper(9, 2) == 10


def test_lhist_index():
    assert [lhist_index(v, 0, 100, 10) for v in (-1, 0, 9, 10, 99, 100, 500)] \
        == [0, 1, 1, 2, 10, 11, 11]
    assert lhist_bucket_count(0, 100, 10) == 12
