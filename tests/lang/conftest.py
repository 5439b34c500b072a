"""Shared helpers for the lang tests: structural tree comparison."""

import pytest


def tree(node) -> str:
    """A span-free structural rendering: dataclass reprs leave spans and
    sema types out, so two trees are equal exactly when their reprs are."""
    return repr(node)


@pytest.fixture
def same_tree():
    def check(a, b) -> bool:
        return tree(a) == tree(b)
    return check
