"""examples/trace.ipynb executed for real with nbclient (a Jupyter
kernel of this Python, tracing the cells it runs) and its outputs checked;
bpfscope.notebook's helpers on values without a kernel. pandas,
matplotlib, nbclient and ipykernel are optional: .ci/run installs them,
and where they are missing the tests skip and say so."""

from __future__ import annotations

import base64
import os
import re

import pytest

from bpfscope.tracer import Bucket, Stats

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(REPO, "examples", "trace.ipynb")


def _need(*modules):
    for m in modules:
        pytest.importorskip(m, reason=f"{m} is not installed (pip install 'bpfscope[notebook]' "
                                      "nbclient ipykernel)")


def test_dataframes_of_values():
    _need("pandas")
    from bpfscope.notebook import to_dataframe
    df = to_dataframe({("bash", 1): 3, ("ls", 2): 7})
    assert list(df.columns) == ["key0", "key1", "value"]
    assert df.to_dict("records") == [{"key0": "ls", "key1": 2, "value": 7},
                                     {"key0": "bash", "key1": 1, "value": 3}]
    df = to_dataframe({"x": [Bucket(0, 1, 2), Bucket(1, 2, 0)]})
    assert df.to_dict("records") == [{"key": "x", "low": 0, "high": 1, "count": 2},
                                     {"key": "x", "low": 1, "high": 2, "count": 0}]
    df = to_dataframe(Stats(3, 9, 3))
    assert df.to_dict("records") == [{"count": 3, "sum": 9, "avg": 3}]


def test_the_example_notebook_runs(kernel):
    _need("nbclient", "nbformat", "ipykernel", "pandas", "matplotlib")
    import nbclient
    import nbformat
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": REPO}}).execute()
    outs = [c.outputs for c in nb.cells if c.cell_type == "code"]
    assert not [o for cell in outs for o in cell if o.output_type == "error"]
    text = ["".join(o.get("text", "") for o in cell) for cell in outs]
    assert text[1] == "321\n"  # the example
    # 6 sizes read 1+2+3 times from three fds: six log2 buckets [1] .. [64K, 128K)
    assert text[2] == "36 reads in 17 buckets\n"
    data = {k: v for o in outs[2] for k, v in (o.get("data") or {}).items()}
    table = data["text/html"]
    assert "<table" in table and re.search(r"<th>fd</th>", table)
    counts = [int(n) for n in re.findall(r"<td>(\d+)</td>\s*</tr>", table)]
    assert counts == [18, 12, 6]
    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    svg = {k: v for o in outs[3] for k, v in (o.get("data") or {}).items()}["image/svg+xml"]
    assert svg.startswith("<svg") and "do_syscall_64" in svg and "(100 samples" in svg
