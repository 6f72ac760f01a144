"""Leakage-free splits: every article group (an article and its near-duplicates) lands in one
split, chosen from a hash of the group key, the workspace seed and the split ratios.

The assignment depends on nothing else (not on the other rows, their order or the version), so
an article never changes split between releases as long as `[splits]` in corpus.toml is
unchanged, and near-duplicates cannot leak across train / validation / test.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import WorkspaceConfigError

SPLITS = ("train", "validation", "test")
_DEFAULTS = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 13}


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """Split ratios (summing to 1) and the seed mixed into the group hash."""

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 13

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
        return cls(seed=seed, **ratios)

    def as_dict(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "seed": self.seed,
        }


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
