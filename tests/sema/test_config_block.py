"""A config block accepts only bpftrace's config variables: unknown names
(`unsafe` among them) and environment-only names are located errors, so a
script cannot allow system()/signal() for itself."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.errors import BpfscopeError


def error_of(text: str) -> str:
    with pytest.raises(BpfscopeError) as e:
        api.compile_script(text)
    return e.value.format()


@pytest.mark.parametrize("item, shown", [
    ("unsafe = 1", "unsafe"),
    ("BPFTRACE_UNSAFE = true", "BPFTRACE_UNSAFE"),
    ('unsafe = "yes"', "unsafe"),
    ("bad_config = 1", "bad_config"),
])
def test_unknown_key_is_a_located_error(item, shown):
    text = f'config = {{ {item} }} BEGIN {{ system("id"); }}'
    assert error_of(text) == (
        f"stdin:1:12-{12 + len(shown)}: ERROR: Unrecognized config variable: {shown}\n"
        f"{text}\n"
        f"{' ' * 11}{'~' * len(shown)}")


def test_environment_only_key():
    text = "config = { kernel_build = 1 } BEGIN { }"
    assert error_of(text).startswith(
        "stdin:1:12-24: ERROR: kernel_build can only be set as an environment variable\n")


def test_second_item_located():
    text = "config = { max_strlen = 8; unsafe = 1 } BEGIN { }"
    assert error_of(text).startswith("stdin:1:28-34: ERROR: Unrecognized config variable: unsafe")


def test_known_keys_in_every_spelling_still_work():
    script = api.compile_script(
        "config = { BPFTRACE_MAX_STRLEN = 16; MAX_MAP_KEYS = 10; stack_mode = perf } "
        "BEGIN { exit(); }")
    assert script.config["max_strlen"] == 16
    assert script.config["max_map_keys"] == 10


def test_unsafe_functions_need_the_caller(monkeypatch):
    monkeypatch.setenv("BPFTRACE_UNSAFE", "1")  # the environment does not grant it either
    for call in ('system("id")', "signal(9)"):
        assert "is an unsafe function, use --unsafe" in error_of(f"BEGIN {{ {call}; }}")
        api.compile_script(f"BEGIN {{ {call}; }}", config={"unsafe": 1})


@pytest.mark.parametrize("item, message", [
    # what used to be an unlocated ValueError or a silent default
    ("on_stack_limit = f", "Invalid type for on_stack_limit. Type: string. Expected Type: integer"),
    ("max_strlen = f", "Invalid type for max_strlen. Type: string. Expected Type: integer"),
    ('BPFTRACE_MAX_PROBES = "hello"',
     "Invalid type for BPFTRACE_MAX_PROBES. Type: string. Expected Type: integer"),
    ("perf_rb_pages = f", "Invalid type for perf_rb_pages. Type: string. Expected Type: integer"),
    ("on_stack_limit = -1", "Invalid value for on_stack_limit: -1"),
    ("on_stack_limit = (1 + 2)", "Assignment for on_stack_limit must be literal."),
    ("cpp_demangle = 7", "Invalid value for cpp_demangle. Needs to be 0 or 1. Value: 7"),
    ("print_maps_on_exit = f", "Invalid type for print_maps_on_exit. Type: string. "
     "Expected Type: bool"),
    ("license = 5", "Invalid type for license. Type: integer. Expected Type: string"),
    ("str_trunc_trailer = 12", "Invalid type for str_trunc_trailer. Type: integer. "
     "Expected Type: string"),
])
def test_value_of_the_wrong_type_is_located_at_its_item(item, message):
    text = f'config = {{ {item} }} begin {{ print((1, (2, ""))); }}'
    assert error_of(text) == (f"stdin:1:12-{12 + len(item)}: ERROR: {message}\n{text}\n"
                              f"{' ' * 11}{'~' * len(item)}")


def test_environment_value_of_the_wrong_type_names_the_variable(monkeypatch):
    monkeypatch.setenv("BPFTRACE_MAX_STRLEN", "f")
    assert error_of("begin { print(1); }") == (
        "ERROR: Invalid type for BPFTRACE_MAX_STRLEN. Type: string. Expected Type: integer")


def test_values_of_the_right_type_are_taken():
    script = api.compile_script("config = { on_stack_limit = 64; print_maps_on_exit = false; "
                                "cpp_demangle = 1 } begin { exit(); }")
    assert (script.config["on_stack_limit"], script.config["print_maps_on_exit"],
            script.config["cpp_demangle"]) == (64, 0, 1)


@pytest.mark.parametrize("item", [
    "max_type_res_iterations = 3", "BPFTRACE_MAX_TYPE_RES_ITERATIONS = 0",
    "probe_inline = 0", "probe_inline = true", 'symbol_source = "dwarf"',
    "symbol_source = symbol_table", "use_blazesym = 1", "USE_BLAZESYM = false",
    "unstable_import = enable",
])
def test_every_config_variable_of_bpftrace_is_accepted(item):
    script = api.compile_script(f"config = {{ {item} }} begin {{ exit(); }}")
    key = item.split(" = ")[0].lower().removeprefix("bpftrace_")
    assert key in script.config


@pytest.mark.parametrize("item, message", [
    ("use_blazesym = 2", "Invalid value for use_blazesym. Needs to be 0 or 1. Value: 2"),
    ("probe_inline = yes", "Invalid type for probe_inline. Type: string. Expected Type: bool"),
    ("symbol_source = elf", "Invalid value for symbol_source: 'elf'. Valid values: dwarf, "
     "symbol_table"),
    ("max_type_res_iterations = x", "Invalid type for max_type_res_iterations. Type: string. "
     "Expected Type: integer"),
    ("probe_inlined = 1", "Unrecognized config variable: probe_inlined"),
    ("blazesym = 1", "Unrecognized config variable: blazesym"),
])
def test_their_values_are_checked_and_other_names_still_refused(item, message):
    # an unknown name is underlined alone, a bad value with its name
    end = 12 + (len(item.split(" = ")[0]) if "Unrecognized" in message else len(item))
    assert error_of(f"config = {{ {item} }} begin {{ }}").startswith(
        f"stdin:1:12-{end}: ERROR: {message}\n")


@pytest.mark.parametrize("item, message", [
    # stack_mode = bogus used to end in a ValueError traceback when printing stacks
    ("stack_mode = bogus", "Invalid value for stack_mode: 'bogus'. Valid values: bpftrace, "
     "perf, raw, build_id"),
    ('missing_probes = "sometimes"', "Invalid value for missing_probes: 'sometimes'. "
     "Valid values: error, warn, ignore"),
    ("unstable_addr = maybe", "Invalid value for unstable_addr: 'maybe'. Valid values: "
     "error, warn, enable, 0, 1"),
])
def test_words_outside_a_variables_choices_are_refused(item, message):
    assert error_of(f"config = {{ {item} }} begin {{ @[kstack] = count(); }}").startswith(
        f"stdin:1:12-{12 + len(item)}: ERROR: {message}\n")


def test_choices_are_taken_in_any_case():
    script = api.compile_script('config = { stack_mode = PERF; cache_user_symbols = '
                                '"PER_PROGRAM"; unstable_map_decl = 1 } begin { exit(); }')
    assert script.config["stack_mode"] == "perf"


def test_environment_choice_names_the_variable(monkeypatch):
    monkeypatch.setenv("BPFTRACE_STACK_MODE", "bogus")
    assert error_of("begin { print(1); }") == (
        "ERROR: Invalid value for BPFTRACE_STACK_MODE: 'bogus'. Valid values: bpftrace, "
        "perf, raw, build_id")


def test_a_string_value_stays_text():
    script = api.compile_script('config = { str_trunc_trailer = "12" } begin { exit(); }')
    assert script.config["str_trunc_trailer"] == "12"


def test_the_older_environment_name_of_max_strlen_still_sets_it(monkeypatch):
    monkeypatch.setenv("BPFTRACE_STRLEN", "12")
    script = api.compile_script("begin { print(str(comm)); }")
    assert script.config["max_strlen"] == 12
    assert any("BPFTRACE_STRLEN is deprecated. Use BPFTRACE_MAX_STRLEN instead." in w.format()
               for w in script.warnings)
