"""Choosing what to annotate next (`corpus project push --select`).

- `uncertain`: the sentences the model is least sure of first. A sentence's uncertainty is
  `1 - margin` of its least certain token, where the margin is the gap between the token's two
  likeliest tags under the CRF's marginal probabilities (0: sure of every token; 1: a toss-up).
- `diverse`: the same ranking, spread out: a sentence from an article group (an article and its
  near-duplicates) already picked, or with the same normalised text as one picked, waits for the
  next round, so one long or duplicated story cannot fill the batch.
- `random`: a seeded hash order (no model needed), the baseline the others are measured against.

Ties keep a hash order, so the same data and model always give the same ranking.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

STRATEGIES = ("uncertain", "diverse", "random")


def _hash_order(keys: Sequence[str], seed: int = 0) -> np.ndarray:
    return np.array(
        [
            int.from_bytes(
                hashlib.blake2b(f"{seed}\x1f{k}".encode(), digest_size=8).digest(), "big"
            )
            for k in keys
        ],
        dtype=np.uint64,
    )


def uncertainties(model, texts: Sequence[str]) -> np.ndarray:
    """The model's uncertainty (0..1, see the module docstring) for each text."""
    return np.array([model.analyse(t, uncertainty=True)[1] for t in texts], dtype=np.float64)


def rank(
    strategy: str,
    ids: Sequence[str],
    texts: Sequence[str],
    groups: Sequence[str] | None = None,
    model=None,
    seed: int = 0,
    scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(order, uncertainty scores): indexes into `ids` in the order to annotate them.

    `model` is needed for "uncertain" and "diverse" (or precomputed `scores`); `groups` (article
    group of each sentence) for "diverse"."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    tie = _hash_order(ids, seed)
    if strategy == "random":
        return np.argsort(tie, kind="stable"), None
    if scores is None:
        scores = uncertainties(model, texts)
    # Highest uncertainty first; ties by the hash order.
    order = np.lexsort((tie, -scores))
    if strategy == "uncertain":
        return order, scores
    from corpus.text import normalize_for_matching

    seen_group: Counter = Counter()
    seen_text: Counter = Counter()
    rounds = np.zeros(len(ids), dtype=np.int64)
    for i in order:
        g = groups[i] if groups is not None else ""
        t = " ".join(normalize_for_matching(texts[i]).split())
        rounds[i] = max(seen_group[g] if g else 0, seen_text[t])
        if g:
            seen_group[g] += 1
        seen_text[t] += 1
    position = np.empty(len(ids), dtype=np.int64)
    position[order] = np.arange(len(ids))
    return np.lexsort((position, rounds)), scores


def model_name_for(workspace, name: str | None) -> str:
    """The model `--select` uses: `name`, else the workspace's `model:NAME` pre-labeler, else
    "default" (what `corpus train` names a model by default)."""
    if name:
        return name
    spec = (workspace.section("prelabel").get("prelabeler") or "").strip()
    return spec.split(":", 1)[1] if spec.startswith("model:") else "default"


def make_ranker(workspace, strategy: str, model: str | None = None, seed: int = 0, on_score=None):
    """A `Selection.ranker` for `strategy` over the workspace's sentences.

    The model (for "uncertain" and "diverse") is loaded now, so a missing or stale one is an
    error before anything is sent. `on_score(n)` is called as sentences are scored."""
    from corpus.errors import CorpusError

    if strategy not in STRATEGIES:
        raise CorpusError(
            f"Unknown --select strategy {strategy!r}.", f"Use one of: {', '.join(STRATEGIES)}."
        )
    prelabeler = None
    if strategy != "random":
        from corpus.train.prelabeler import ModelPrelabeler

        prelabeler = ModelPrelabeler.from_spec(
            f"model:{model_name_for(workspace, model)}", workspace
        )
    groups_of: dict[str, str] = {}
    if strategy == "diverse" and workspace.articles_path.exists():
        from corpus.io import parquet_file

        arts = parquet_file(workspace.articles_path).read(columns=["article_id", "dup_group"])
        groups_of = dict(
            zip(
                arts.column("article_id").to_pylist(),
                arts.column("dup_group").to_pylist(),
                strict=True,
            )
        )

    def ranker(sentences, candidates: np.ndarray) -> np.ndarray:
        if not len(candidates):
            return candidates
        import pyarrow as pa

        take = np.asarray(candidates, dtype=np.int64)
        rows = sentences.select(["sentence_id", "text", "article_id"]).take(pa.array(take))
        ids = rows.column("sentence_id").to_pylist()
        texts = rows.column("text").to_pylist()
        arts = rows.column("article_id").to_pylist()
        groups = [groups_of.get(a, a) for a in arts]
        scores = None
        if prelabeler is not None:
            scores = np.empty(len(texts))
            for k, t in enumerate(texts):
                scores[k] = prelabeler.model.analyse(t, uncertainty=True)[1]
                if on_score and (k + 1) % 500 == 0:
                    on_score(500)
        order, _ = rank(strategy, ids, texts, groups, seed=seed, scores=scores)
        return take[order]

    ranker.model_version = prelabeler.version if prelabeler else None  # type: ignore[attr-defined]
    return ranker
