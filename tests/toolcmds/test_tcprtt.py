"""tcprtt's filters, keys and histograms."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds.common import ToolError



def test_filters_make_the_predicate(tool_plan):
    p = tool_plan("tcprtt", "-p", "80", "-P", "9", "-a", "127.0.0.1", "-m")
    assert "args.sport == 80 && args.dport == 9 && args.family == 2 && " in p.text
    assert "== 16777343/" in p.text            # 127.0.0.1 as the u32 in memory
    assert "@ = hist(args.srtt / 1000);" in p.text
    api.check_syntax(p.text)
    assert "/args.family == 10/" in tool_plan("tcprtt", "-6").text


def test_by_address_sections_and_average(tool_plan):
    p = tool_plan("tcprtt", "-B", "-e")
    assert "@[args.family == 2 ? (((uint32)args.daddr[4] << 0)" in p.text
    api.check_syntax(p.text)
    data = MapData("@", "hist", [((16777343,), {4: 3}), ((0,), {2: 1})],
                   sums={(16777343,): 15, (0,): 1})
    text = p.formats["@"](data)
    assert text.startswith("\nRemote Address = (not IPv4)\n     usecs ")
    assert "\nRemote Address = 127.0.0.1\n" in text
    assert text.endswith("\navg = 4 usecs, total: 16 usecs, count: 4\n")


@pytest.mark.parametrize("argv, message", [(["-a", "::1"], "IPv4 addresses"),
                                           (["-A", "nonsense"], "not an IP address")])
def test_bad_addresses(argv, message, tool_plan):
    with pytest.raises(ToolError, match=message):
        tool_plan("tcprtt", *argv)
