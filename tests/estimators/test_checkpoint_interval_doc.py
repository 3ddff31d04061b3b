"""The docstrings of both estimators say that ``checkpoint_interval`` needs ``checkpoint``
(since 764bc35 an interval alone raises XentlearnInputError at fit and partial_fit)."""

from __future__ import annotations

import inspect
import re

import pytest

import xentlearn


def _entry(cls, name: str) -> str:
    """The text of parameter `name` in a numpydoc docstring: its line and the lines
    indented under it."""
    doc = inspect.cleandoc(cls.__doc__)
    match = re.search(rf"^{name} :.*\n((?:(?:    .*)?\n)*?)(?=\S|\n*\Z)", doc + "\n", re.M)
    assert match, f"{cls.__name__} does not document {name}"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize("cls", [xentlearn.LogisticRegression, xentlearn.MLPClassifier])
def test_checkpoint_interval_is_documented_as_needing_checkpoint(cls):
    entry = _entry(cls, "checkpoint_interval")
    assert re.search(r"[Nn]eeds ``checkpoint``", entry), entry
    assert "XentlearnInputError" in entry
