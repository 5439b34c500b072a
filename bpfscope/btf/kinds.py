"""BTF format constants: kinds, INT encoding bits, linkage, record sizes.

Facts come from the kernel's include/uapi/linux/btf.h and
Documentation/bpf/btf.rst. Every record in the type section is a 12-byte
``struct btf_type`` (name_off, info, size-or-type) followed by kind-specific
data; ``EXTRA_WORDS`` says how many 32-bit words follow, so the index pass
can step over a record without decoding it.
"""

from __future__ import annotations

MAGIC = 0xEB9F
VERSION = 1
HEADER_LEN = 24          # the smallest header we understand (hdr_len may be larger)

UNKN = 0
INT = 1
PTR = 2
ARRAY = 3
STRUCT = 4
UNION = 5
ENUM = 6
FWD = 7
TYPEDEF = 8
VOLATILE = 9
CONST = 10
RESTRICT = 11
FUNC = 12
FUNC_PROTO = 13
VAR = 14
DATASEC = 15
FLOAT = 16
DECL_TAG = 17
TYPE_TAG = 18
ENUM64 = 19

KIND_NAMES = {
    UNKN: "UNKN", INT: "INT", PTR: "PTR", ARRAY: "ARRAY", STRUCT: "STRUCT",
    UNION: "UNION", ENUM: "ENUM", FWD: "FWD", TYPEDEF: "TYPEDEF",
    VOLATILE: "VOLATILE", CONST: "CONST", RESTRICT: "RESTRICT", FUNC: "FUNC",
    FUNC_PROTO: "FUNC_PROTO", VAR: "VAR", DATASEC: "DATASEC", FLOAT: "FLOAT",
    DECL_TAG: "DECL_TAG", TYPE_TAG: "TYPE_TAG", ENUM64: "ENUM64",
}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}

# Kinds that only qualify another type: skipped when resolving to the
# underlying type (typedef is resolved separately so callers can keep it).
MODIFIERS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})

# INT encoding bits (BTF_INT_ENCODING of the word after btf_type).
INT_SIGNED = 1 << 0
INT_CHAR = 1 << 1
INT_BOOL = 1 << 2

# FUNC linkage lives in vlen; VAR linkage in the btf_var word.
FUNC_STATIC = 0
FUNC_GLOBAL = 1
FUNC_EXTERN = 2
VAR_STATIC = 0
VAR_GLOBAL_ALLOCATED = 1
VAR_GLOBAL_EXTERN = 2

# Words after the 3-word btf_type: a fixed part plus a per-vlen part.
# Kinds above ENUM64 are unknown to us; the index pass rejects them because
# their record length cannot be known.
_FIXED = {INT: 1, ARRAY: 3, VAR: 1, DECL_TAG: 1}
_PER_VLEN = {STRUCT: 3, UNION: 3, ENUM: 2, FUNC_PROTO: 2, DATASEC: 3, ENUM64: 3}
MAX_KIND = ENUM64
# Indexed by kind, padded to 32 entries (the kind field has 5 bits) so the
# hot loop never needs a bounds check; -1 marks a kind we cannot step over.
FIXED_WORDS = tuple(_FIXED.get(k, 0) if k <= MAX_KIND else -1 for k in range(32))
PER_VLEN_WORDS = tuple(_PER_VLEN.get(k, 0) for k in range(32))


def kind_of(kind: int | str) -> int:
    """A kind given as a number or a name ('struct', 'FUNC') as a number."""
    if isinstance(kind, int):
        return kind
    try:
        return KIND_BY_NAME[kind.upper()]
    except KeyError:
        raise ValueError(f"unknown BTF kind {kind!r}") from None
