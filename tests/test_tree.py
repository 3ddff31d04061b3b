"""Parameter-dict helpers that the loop relies on for its divergence checks."""

import numpy as np
import pytest

from xentlearn import _tree


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_entry(dtype, bad):
    tree = {"W": np.ones((5, 3), dtype), "b": np.zeros(3, dtype)}
    assert _tree.all_finite(tree)
    tree["W"][4, 2] = bad
    assert not _tree.all_finite(tree)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_is_not_fooled_by_a_sum_of_squares_that_overflows(dtype):
    huge = np.finfo(dtype).max / 2            # finite, but its square is not
    tree = {"W": np.full((2, 2), huge, dtype), "b": np.array([], dtype)}
    assert _tree.all_finite(tree)
    tree["W"][0, 0] = np.inf
    assert not _tree.all_finite(tree)
