"""Maps keyed by one long string keep short strings in a map with a short
key (codegen.shortkeys): what they print, clear and zero is what one map
holds, for strings on both sides of the short key's size and strings cut at
max_strlen."""

import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

# 62 and 63 bytes end inside the short key (its byte 63 is the NUL or a
# pad); 64 and more go to the full map; 1100 is cut at max_strlen
PATHS = {"/bse2e-k/" + "a" * (n - 9): k for n, k in ((10, 1), (62, 2), (63, 3), (64, 4), (300, 5))}
LONG = "/bse2e-k/" + "/".join(["b" * 200] * 6)  # 1214 bytes
SCRIPT = """
tracepoint:syscalls:sys_enter_openat /comm == "bse2e"/ {
  @[str(args->filename)] = count();
  @s[str(args->filename)] = sum(3);
  @z[str(args->filename)] = count();
  @c[str(args->filename)] = count();
  @r[str(args->filename)] = count();
  if (@r[str(args->filename)] > 1000) { printf("never\\n"); }
}
tracepoint:syscalls:sys_enter_openat /comm == "bse2e" && str(args->filename) == "/bse2e-end"/ {
  print(@s); clear(@c); zero(@z); exit();
}
"""


def test_short_and_long_string_keys_print_as_one_map(e2e, helper):
    t = e2e.Trace("-e", SCRIPT)
    for path, n in PATHS.items():
        subprocess.run([helper, "open", path, str(n)], check=True)
    subprocess.run([helper, "open", LONG, "2"], check=True)
    subprocess.run([helper, "open", "/bse2e-end", "1"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    cut = LONG[:1023]  # map keys print without the trailer
    want = {**PATHS, cut: 2}
    def entries(name, text=out):  # the helper's own paths (not the loader's)
        return {line.split("]: ")[0][len(name) + 1:]: int(line.split("]: ")[1])
                for line in text.splitlines() if line.startswith(name + "[/bse2e")}
    assert entries("@") == {**want, "/bse2e-end": 1}
    assert entries("@r") == {**want, "/bse2e-end": 1}
    # print(@s) in the probe after the one counting "/bse2e-end"
    assert entries("@s", out.split("\n\n")[0]) == {k: 3 * v for k, v in
                                                   {**want, "/bse2e-end": 1}.items()}
    assert entries("@z") == {k: 0 for k in [*want, "/bse2e-end"]}
    assert entries("@c") == {}
