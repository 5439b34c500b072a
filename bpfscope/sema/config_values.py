"""What each config variable takes, checked where it is set.

A config block's value is checked at its item (``max_strlen = f`` is a
located error, as bpftrace's config analyser makes it) and a
``BPFTRACE_*`` environment value or a caller's value by its name, before
anything reads them: codegen and the runtime take them as they are.
"""

from __future__ import annotations

from ..errors import SemanticError, Span

INT_CONFIG = frozenset(("log_size", "max_bpf_progs", "max_cat_bytes", "max_map_keys",
                        "max_probes", "max_strlen", "max_type_res_iterations",
                        "on_stack_limit", "perf_rb_pages"))
BOOL_CONFIG = frozenset(("cpp_demangle", "lazy_symbolication", "print_maps_on_exit",
                         "probe_inline", "show_debug_info", "use_blazesym"))
# text as written (a config block's "12" stays a string)
STR_CONFIG = frozenset(("license", "str_trunc_trailer"))
_UNSTABLE = ("error", "warn", "enable", "0", "1")
# names taking one of a few words (in any case)
CHOICE_CONFIG = {"symbol_source": ("dwarf", "symbol_table"),
                 "stack_mode": ("bpftrace", "perf", "raw", "build_id"),
                 "missing_probes": ("error", "warn", "ignore"),
                 "cache_user_symbols": ("per_pid", "per_program", "none"),
                 "unstable_map_decl": _UNSTABLE, "unstable_tseries": _UNSTABLE,
                 "unstable_addr": _UNSTABLE, "unstable_import": _UNSTABLE,
                 "unstable_dw_ustack": _UNSTABLE,
                 "ustack_unwind": ("frame_pointer", "dwarf")}


def _type_name(value) -> str:
    return "integer" if isinstance(value, int) else "string"


def check_config_value(key: str, name: str, value, span: Span | None = None):
    """``value`` as ``key`` takes it; a SemanticError naming ``name`` (as
    the user wrote it) otherwise."""
    if key in INT_CONFIG:
        if not isinstance(value, int) or value < 0:
            if isinstance(value, int):
                raise SemanticError(f"Invalid value for {name}: {value}", span)
            raise SemanticError(f"Invalid type for {name}. Type: {_type_name(value)}. "
                                "Expected Type: integer", span)
    elif key in BOOL_CONFIG:
        if value not in (0, 1):
            if isinstance(value, int):
                raise SemanticError(f"Invalid value for {name}. Needs to be 0 or 1. "
                                    f"Value: {value}", span)
            raise SemanticError(f"Invalid type for {name}. Type: string. "
                                "Expected Type: bool", span)
    elif key in STR_CONFIG:
        return str(value)
    elif key in CHOICE_CONFIG:
        if str(value).lower() not in CHOICE_CONFIG[key]:
            raise SemanticError(f"Invalid value for {name}: {value!r}. Valid values: "
                                + ", ".join(CHOICE_CONFIG[key]), span)
        return str(value).lower()
    return value
