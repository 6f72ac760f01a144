"""Leakage-free splits: every article group (an article and its near-duplicates) lands in one
split, chosen from a hash of the group key, the workspace seed and the split ratios.

`split_of` / `assign_splits` are the plain hash rule: it depends on nothing else (not on the other
rows, their order or the version). `assign_group_splits` is what publish uses; it adds two
things on top of the hash rule, both still by group:

- Small corpora: with few groups, validation or test may get none by hash. Each of them (if its
  ratio is above 0) then gets at least `min_groups` groups, taken from train's groups with the
  highest hash positions (the ones nearest the held-out bands), test first, while train keeps
  at least one group.
- Stability across versions: a group published in the previous version keeps the split it had
  there (when `[splits]` is unchanged), so an article never changes split between releases,
  even one that was moved to fill a small split. Only new groups are hashed or moved.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import WorkspaceConfigError

SPLITS = ("train", "validation", "test")
_DEFAULTS = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 13, "min_groups": 1}


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """Split ratios (summing to 1) and the seed mixed into the group hash."""

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 13
    min_groups: int = 1  # at least this many groups in validation and test (if ratio > 0)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SplitSpec:
        """From the workspace `[splits]` table; a clear error for bad ratios."""

        def bad(problem: str) -> WorkspaceConfigError:
            return WorkspaceConfigError("corpus.toml", f"[splits] {problem}")

        ratios = {}
        for name in SPLITS:
            value = cfg.get(name, _DEFAULTS[name])
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(f"{name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise bad(f"{name} must be a ratio >= 0, not {value!r}")
            ratios[name] = float(value)
        total = sum(ratios.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise bad(f"train + validation + test must be 1, not {total:g}")
        seed = cfg.get("seed", _DEFAULTS["seed"])
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise bad(f"seed must be an integer, not {seed!r}")
        min_groups = cfg.get("min_groups", _DEFAULTS["min_groups"])
        if isinstance(min_groups, bool) or not isinstance(min_groups, int) or min_groups < 0:
            raise bad(f"min_groups must be an integer >= 0, not {min_groups!r}")
        return cls(seed=seed, min_groups=min_groups, **ratios)

    def as_dict(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "seed": self.seed,
            "min_groups": self.min_groups,
        }

    def same_hash_rule(self, other: dict[str, Any]) -> bool:
        """Whether a release made with `other` (its manifest's splits) hashed groups the same way."""
        return all(
            other.get(k) == getattr(self, k) for k in ("train", "validation", "test", "seed")
        )


def group_position(group_key: str, seed: int) -> float:
    """Where the group falls in [0, 1): a keyed hash, uniform and independent of everything else."""
    digest = hashlib.blake2b(f"{seed}\x1f{group_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(group_key: str, spec: SplitSpec) -> str:
    """The split of one article group (cumulative ratio bands: train, then validation, test)."""
    x = group_position(group_key, spec.seed)
    if x < spec.train:
        return "train"
    if x < spec.train + spec.validation:
        return "validation"
    return "test" if spec.test > 0 else ("validation" if spec.validation > 0 else "train")


def assign_splits(groups: pa.Array | pa.ChunkedArray, spec: SplitSpec) -> pa.Array:
    """The split name for every row of `groups` (hashing each distinct group key once)."""
    if isinstance(groups, pa.ChunkedArray):
        groups = groups.combine_chunks()
    if groups.null_count:
        raise ValueError("article group keys (dup_group) must not be null")
    unique = pc.unique(groups)
    names = pa.array([split_of(g, spec) for g in unique.to_pylist()], pa.string())
    return pc.take(names, pc.index_in(groups, value_set=unique))


def assign_group_splits(
    groups: pa.Array | pa.ChunkedArray,
    spec: SplitSpec,
    previous: Mapping[str, str] | None = None,
) -> tuple[pa.Array, dict[str, int]]:
    """The split of every row of `groups` (see the module docstring) and counts of groups
    `kept` from the previous version and `moved` to fill a small split."""
    if isinstance(groups, pa.ChunkedArray):
        groups = groups.combine_chunks()
    if groups.null_count:
        raise ValueError("article group keys (dup_group) must not be null")
    unique = pc.unique(groups)
    keys = unique.to_pylist()
    split = {g: split_of(g, spec) for g in keys}
    kept = {g for g in keys if previous and g in previous}
    for g in kept:
        split[g] = previous[g]
    moved = 0
    for target in ("test", "validation"):
        if getattr(spec, target) <= 0:
            continue
        have = sum(1 for g in keys if split[g] == target)
        train = [g for g in keys if split[g] == "train"]
        movable = sorted(
            (g for g in train if g not in kept),
            key=lambda g: (-group_position(g, spec.seed), g),
        )
        n_train = len(train)
        for g in movable:
            if have >= spec.min_groups or n_train <= 1:
                break
            split[g] = target
            have, n_train, moved = have + 1, n_train - 1, moved + 1
    names = pa.array([split[g] for g in keys], pa.string())
    rows = pc.take(names, pc.index_in(groups, value_set=unique))
    return rows, {"kept": len(kept), "moved": moved}
