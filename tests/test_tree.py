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


# ---------------------------------------------------------------- flat buffers

LAYOUT = (("W", (3, 2)), ("b", (2,)))


def flat_tree(dtype=np.float64):
    return _tree.FlatParams(np.arange(8, dtype=dtype), LAYOUT)


def test_flat_params_leaves_are_views_of_the_buffer_in_key_order():
    tree = flat_tree()
    assert list(tree) == ["W", "b"]
    np.testing.assert_array_equal(tree["W"], np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(tree["b"], [6.0, 7.0])
    assert all(np.shares_memory(value, tree.flat) for value in tree.values())
    tree["b"] *= 2.0                       # in place, as Objective.finish scales grads
    tree["W"] += 1.0
    assert tree.flat is not None
    np.testing.assert_array_equal(tree.flat, [1, 2, 3, 4, 5, 6, 12, 14])


def test_flat_params_refuses_a_layout_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        _tree.FlatParams(np.zeros(7), LAYOUT)


@pytest.mark.parametrize("mutate", [
    lambda t: t.__setitem__("W", np.zeros((3, 2))), lambda t: t.pop("b"),
    lambda t: t.update(c=np.zeros(1)), lambda t: t.__delitem__("W"),
    lambda t: t.setdefault("c", np.zeros(1)), lambda t: t.clear(), lambda t: t.popitem()])
def test_replacing_or_removing_a_leaf_unlinks_the_buffer(mutate):
    # The dict no longer matches the vector: every operation must treat it leaf by leaf.
    tree = flat_tree()
    mutate(tree)
    assert tree.flat is None and _tree.flat_of(tree) is None
    assert _tree.all_finite(tree)


def test_flat_params_survive_pickle_and_deepcopy_as_views():
    import copy
    import pickle

    for clone in (pickle.loads(pickle.dumps(flat_tree())), copy.deepcopy(flat_tree())):
        assert isinstance(clone, _tree.FlatParams)
        clone["W"][0, 0] = -1.0
        assert clone.flat[0] == -1.0
    unlinked = flat_tree()
    unlinked["W"] = np.ones((3, 2))
    assert type(pickle.loads(pickle.dumps(unlinked))) is dict


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_all_finite_on_a_flat_tree_finds_one_bad_entry(dtype, bad):
    tree = flat_tree(dtype)
    assert _tree.all_finite(tree)
    tree["b"][1] = bad
    assert not _tree.all_finite(tree)


def test_leafwise_gives_the_same_bits_flat_and_per_leaf():
    rng = np.random.default_rng(0)
    plain = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    other = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}

    def fn(x, y):
        return np.sqrt(np.abs(x)) / (y * y + 1e-3), x * 0.1 - y

    per_leaf = _tree.leafwise(fn, plain, other)
    flat = _tree.leafwise(fn, _tree.as_flat(plain), other)   # `other` laid out once
    for a, b in zip(per_leaf, flat):
        assert type(a) is dict and isinstance(b, _tree.FlatParams)
        for key in plain:
            assert b[key].dtype == a[key].dtype
            np.testing.assert_array_equal(a[key], b[key])


def test_vector_like_refuses_other_keys_shapes_or_dtypes():
    like = flat_tree()
    assert _tree.vector_like({"W": np.zeros((2, 3)), "b": np.zeros(2)}, like) is None
    assert _tree.vector_like({"W": np.zeros((3, 2), np.float32), "b": np.zeros(2)}, like) is None
    assert _tree.vector_like({"W": np.zeros((3, 2))}, like) is None
    assert _tree.vector_like(like, like) is like.flat          # no copy when already flat


def test_tree_helpers_agree_flat_and_plain():
    tree = flat_tree()
    plain = {key: value.copy() for key, value in tree.items()}
    for fn in (_tree.zeros_like, _tree.copy, lambda t: _tree.scale(0.5, t),
               lambda t: _tree.add(t, plain)):
        a, b = fn(plain), fn(tree)
        assert isinstance(b, _tree.FlatParams) and not np.shares_memory(b.flat, tree.flat)
        for key in plain:
            np.testing.assert_array_equal(a[key], b[key])
    assert _tree.global_norm(tree) == _tree.global_norm(plain)
    np.testing.assert_array_equal(_tree.ravel(tree), _tree.ravel(plain))
    assert not np.shares_memory(_tree.ravel(tree), tree.flat)


def test_flat_params_cut_right_when_layouts_alternate():
    # FlatParams remembers the cuts of the last layout object it saw: layouts that
    # follow each other, equal or not, must each get their own leaves.
    other = (("W", (2, 3)), ("b", (2,)))
    equal_copy = tuple((key, tuple(shape)) for key, shape in LAYOUT)
    for layout in (LAYOUT, other, equal_copy, LAYOUT, other):
        tree = _tree.FlatParams(np.arange(8.0), layout)
        assert [(key, value.shape) for key, value in tree.items()] == list(layout)
        assert tree["b"].tolist() == [6.0, 7.0]
        empty = _tree.empty(layout, np.float32)
        assert empty.flat.dtype == np.float32 and empty["W"].shape == dict(layout)["W"]
