"""The provider registry (attach/providers.py) with toy providers defined
here: names and aliases, the declared program type stamped on probes,
declared fallbacks applied (syntax first, then the kernel's say), -l and
--info going to the provider, run-once probes. No kernel needed."""

from __future__ import annotations

import pytest

from bpfscope.attach import providers
from bpfscope.attach.provider import Provider
from bpfscope.errors import SemanticError
from bpfscope.sema.probes import NO_CONTEXT, PT_REGS, ExpandedProbe


class _AP:
    def __init__(self, text: str):
        self.raw, self.parts, self.span = text, text.split(":"), None


class Alpha(Provider):
    """alpha:NAME, which this 'kernel' cannot run: beta runs instead."""
    names = ("alpha",)
    aliases = {"al": "alpha"}
    prog_type = "kprobe"
    fallback = {"alpha": "beta"}
    why = "alpha is switched off"

    def parse_spec(self, ap, provider):
        if len(ap.parts) != 2:
            raise SemanticError("alpha takes one name", ap.span)
        return ap.parts[1]

    def probes(self, ap, provider, spec):
        return [ExpandedProbe("alpha", f"alpha:{spec}", (spec,), None, ap.span, layout=PT_REGS)]

    def status(self):
        return self.why

    def list(self, pattern, verbose, options):
        return [f"alpha:one{' (verbose)' if verbose else ''}"]

    def info(self):
        return [("alpha", "no (" + self.why + ")")]


class Beta(Provider):
    names = ("beta",)
    prog_type = "perf_event"
    why = None

    def expand(self, ap, provider, options):
        return [ExpandedProbe("beta", ap.raw, (), None, ap.span, layout=NO_CONTEXT)]

    def status(self):
        return self.why

    def expand_instead(self, ap, provider, spec, why):
        return [ExpandedProbe("beta", f"{provider}:{spec}", (spec,), None, ap.span,
                              layout=NO_CONTEXT)]


class Once(Provider):
    names = ("START",)
    prog_type = "raw_tracepoint"
    run_once = {"START": "begin"}

    def expand(self, ap, provider, options):
        return [ExpandedProbe("START", "START", (), None, ap.span)]


@pytest.fixture
def toys(monkeypatch, fresh_warnings):
    made = [Alpha(), Beta(), Once()]
    for p in made:
        providers.register(p)
    yield made
    for p in made:
        providers.unregister(p)
    assert not {"alpha", "beta", "START", "al"} & (set(providers.PROVIDERS) |
                                                    set(providers.ALIASES))


def test_alias_and_fallback(toys, capsys):
    [p] = providers.expand(_AP("al:x"))
    # beta runs in alpha's place, under alpha's name, with beta's program type
    assert (p.provider, p.name, p.prog_type, p.context) == ("beta", "alpha:x", "perf_event",
                                                             "none")
    assert capsys.readouterr().err == ""  # saying so is the target provider's business


def test_own_probes_when_the_kernel_can(toys, monkeypatch):
    monkeypatch.setattr(Alpha, "why", None)
    [p] = providers.expand(_AP("alpha:x"))
    assert (p.provider, p.prog_type, p.context) == ("alpha", "kprobe", "regs")


def test_syntax_errors_come_before_the_kernel(toys, monkeypatch):
    monkeypatch.setattr(Beta, "why", "beta too")
    with pytest.raises(SemanticError, match="alpha takes one name"):
        providers.expand(_AP("alpha:x:y"))
    with pytest.raises(SemanticError) as e:
        providers.expand(_AP("alpha:x"))
    assert e.value.message == "alpha:x cannot be attached: alpha is switched off and beta too"


def test_listing_info_and_run_once(toys):
    assert providers.listing("al:*", True) == ["alpha:one (verbose)"]
    assert providers.listing("beta:*") == []   # lists nothing, and has ':'
    assert "  alpha: no (alpha is switched off)" in providers.info_lines()
    [start] = providers.expand(_AP("START"))
    [beta] = providers.expand(_AP("beta"))
    assert (providers.run_once(start), providers.run_once(beta)) == ("begin", "")


def test_unknown_probe_type():
    with pytest.raises(SemanticError, match="Invalid probe type: nosuch"):
        providers.expand(_AP("nosuch:x"))


@pytest.mark.parametrize("written", ["BEGIN", "begin", "END", "end"])
def test_begin_and_end_are_named_in_lower_case_as_bpftrace_026(written):
    (p,) = providers.expand(_AP(written))
    assert (p.provider, p.name) == (written.upper(), written.lower())


def test_lazy_providers_declare_what_their_classes_do():
    # the registry reads these without importing the module
    for prov in providers.BUILTIN:
        if isinstance(prov, providers.LazyProvider):
            real = prov.real()
            for attr in ("names", "aliases", "prog_type", "fallback", "run_once", "reattaches"):
                assert getattr(prov, attr) == getattr(real, attr), (real, attr)
            assert prov.info() == real.info()


def test_a_begin_script_does_not_import_the_uprobe_provider():
    import subprocess
    import sys
    code = ("import sys, bpfscope.api, bpfscope.cli; "
            "from bpfscope.attach import providers; "
            "providers.expand; "
            "print('bpfscope.attach.uprobe' in sys.modules, 'bpfscope.attach.usdt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False False\n"
