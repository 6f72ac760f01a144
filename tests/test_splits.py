"""Split assignment by article group (`corpus.publish.splits`): ratios, stability, configuration errors."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.errors import WorkspaceConfigError
from corpus.publish.splits import (
    SPLITS,
    SplitSpec,
    assign_group_splits,
    assign_splits,
    group_position,
    split_of,
)
from corpus.workspace import DEFAULT_CONFIG

DEFAULT = SplitSpec.from_config(DEFAULT_CONFIG["splits"])


def test_default_config_is_80_10_10_with_seed_13():
    assert DEFAULT == SplitSpec(0.8, 0.1, 0.1, 13)


def test_ratios_are_respected_over_many_groups():
    keys = [f"art-{i}" for i in range(20_000)]
    counts = Counter(assign_splits(pa.array(keys), DEFAULT).to_pylist())
    assert set(counts) == set(SPLITS)
    for split, ratio in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
        assert abs(counts[split] / len(keys) - ratio) < 0.01, counts


def test_a_group_always_lands_in_the_same_split_whatever_else_is_in_the_batch():
    keys = [f"g{i}" for i in range(500)]
    alone = {k: split_of(k, DEFAULT) for k in keys}
    mixed = keys[::-1] + [f"new-{i}" for i in range(300)] + keys[:50]
    got = assign_splits(pa.array(mixed), DEFAULT).to_pylist()
    for k, s in zip(mixed, got, strict=True):
        if k in alone:
            assert s == alone[k]


def test_the_seed_changes_the_assignment():
    keys = [f"g{i}" for i in range(200)]
    other = SplitSpec(0.8, 0.1, 0.1, seed=14)
    assert [split_of(k, DEFAULT) for k in keys] != [split_of(k, other) for k in keys]
    assert group_position("g1", 13) != group_position("g1", 14)


def test_zero_ratios_never_receive_groups():
    spec = SplitSpec(0.9, 0.1, 0.0, 1)
    assert "test" not in {split_of(f"g{i}", spec) for i in range(2000)}
    only_train = SplitSpec(1.0, 0.0, 0.0, 1)
    assert {split_of(f"g{i}", only_train) for i in range(500)} == {"train"}


@given(st.lists(st.text(min_size=1, max_size=20), max_size=50), st.integers(0, 2**31))
def test_assign_splits_is_split_of_per_row(keys, seed):
    spec = SplitSpec(0.6, 0.2, 0.2, seed)
    assert assign_splits(pa.array(keys, pa.string()), spec).to_pylist() == [
        split_of(k, spec) for k in keys
    ]


@given(st.text(max_size=30), st.integers(-(2**40), 2**40))
def test_position_is_in_the_unit_interval(key, seed):
    assert 0.0 <= group_position(key, seed) < 1.0


@pytest.mark.parametrize(
    "cfg, problem",
    [
        ({"train": 0.8, "validation": 0.1, "test": 0.2}, "must be 1"),
        ({"train": -0.1, "validation": 0.6, "test": 0.5}, "ratio >= 0"),
        ({"train": "0.8"}, "must be a number"),
        ({"train": True}, "must be a number"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"train": float("nan")}, "ratio >= 0"),
    ],
)
def test_bad_split_config_is_a_clear_error(cfg, problem):
    with pytest.raises(WorkspaceConfigError, match=problem) as e:
        SplitSpec.from_config(cfg)
    assert "[splits]" in e.value.message


def test_null_group_keys_are_refused():
    with pytest.raises(ValueError, match="must not be null"):
        assign_splits(pa.array(["a", None]), DEFAULT)


# --- small corpora and stability across versions (assign_group_splits) --------------------------


def test_few_groups_still_fill_validation_and_test():
    spec = SplitSpec()
    for n in (3, 4, 5, 8):
        groups = pa.array([f"g{i}" for i in range(n)])
        rows, info = assign_group_splits(groups, spec)
        got = dict(zip(groups.to_pylist(), rows.to_pylist(), strict=True))
        assert set(got.values()) == set(SPLITS), n
        # Moved groups are the train groups nearest the held-out bands (highest positions).
        plain = {g: split_of(g, spec) for g in got}
        moved = [g for g in got if got[g] != plain[g]]
        assert len(moved) == info["moved"]
        stayed = [g for g in got if got[g] == "train"]
        pos = lambda g: group_position(g, spec.seed)  # noqa: E731
        assert all(pos(m) > pos(s) for m in moved for s in stayed)


def test_train_keeps_a_group_and_zero_ratios_get_none():
    rows, _ = assign_group_splits(pa.array(["a", "b"]), SplitSpec())
    assert "train" in rows.to_pylist() and len(set(rows.to_pylist())) == 2
    rows, _ = assign_group_splits(
        pa.array(["a", "b", "c"]), SplitSpec(train=0.9, validation=0.0, test=0.1)
    )
    assert "validation" not in rows.to_pylist()
    rows, _ = assign_group_splits(pa.array(["a", "b", "c"]), SplitSpec(min_groups=0))
    assert rows.to_pylist() == [split_of(g, SplitSpec()) for g in "abc"]


def test_many_groups_follow_the_hash_rule():
    groups = pa.array([f"group-{i}" for i in range(2000)])
    rows, info = assign_group_splits(groups, SplitSpec())
    assert info["moved"] == 0 and rows.equals(assign_splits(groups, SplitSpec()))


def test_groups_of_the_previous_version_keep_their_split():
    spec = SplitSpec()
    first, _ = assign_group_splits(pa.array(["a", "b", "c"]), spec)
    previous = dict(zip("abc", first.to_pylist(), strict=True))
    more = pa.array(["a", "b", "c"] + [f"n{i}" for i in range(40)])
    rows, info = assign_group_splits(more, spec, previous)
    assert rows.to_pylist()[:3] == first.to_pylist() and info["kept"] == 3


def test_min_groups_must_be_a_non_negative_integer():
    assert SplitSpec.from_config({"min_groups": 2}).min_groups == 2
    with pytest.raises(WorkspaceConfigError, match="min_groups must be an integer >= 0"):
        SplitSpec.from_config({"min_groups": -1})
