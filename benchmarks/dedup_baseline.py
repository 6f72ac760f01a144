"""The near-duplicate index ingest used before the scaled one: every signature held in memory in a
datasketch MinHashLSH, each article grouped online as it arrives.

Kept (outside the installed package) as the baseline for scripts/bench_dedup.py and as a
reference in tests: on corpora without bridging articles it must give the same groups.
"""

from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from corpus.ingest.minhash import NUM_PERM, signature


class InMemoryIndex:
    """Assigns each new article to the near-duplicate group of a similar earlier one, or its own."""

    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=max(0.3, threshold - 0.15), num_perm=NUM_PERM)
        self._sigs: dict[str, np.ndarray] = {}
        self._group: dict[str, str] = {}
        self._needed = int(np.ceil(threshold * NUM_PERM))

    def assign(self, article_id: str, text: str) -> str:
        return self.assign_signature(article_id, signature(text))

    def assign_signature(self, article_id: str, hv: np.ndarray) -> str:
        m = LeanMinHash(seed=1, hashvalues=hv, scheme="affine32")
        matches = [
            k for k in self._lsh.query(m) if np.count_nonzero(self._sigs[k] == hv) >= self._needed
        ]
        group = min(self._group[k] for k in matches) if matches else article_id
        self._lsh.insert(article_id, m, check_duplication=False)
        self._group[article_id] = group
        self._sigs[article_id] = hv
        return group
