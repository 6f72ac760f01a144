"""Near-duplicate detection: the one global step of ingest, behind one small interface.

MinHash over character shingles of matching-normalised Arabic, indexed with LSH (datasketch).
Signatures are persisted next to the articles so a later ingest compares against everything
ingested before, without re-reading article text.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.minhash import _fmix

from corpus.io import write_table
from corpus.text import normalize_for_matching

NUM_PERM = 64
SHINGLE = 12  # characters (~2 words): small edits disturb few shingles
SAMPLE = 4  # keep 1 shingle in 4, by hash (a 3 KB article keeps ~650)

_P = 0x01000193  # multiplier of the polynomial window hash (wrapping mod 2^32)


@functools.cache
def _fold_table() -> np.ndarray:
    """Code point -> folded code point (alef forms, ya, ta marbuta, digits, case), or 0 for what
    shingling ignores (not a letter or digit, diacritics, tatweel). Built once, lazily."""
    table = np.zeros(0x10000, dtype=np.uint32)
    for c in range(0x10000):
        ch = chr(c)
        if ch.isalnum() and not 0xD800 <= c <= 0xDFFF:
            folded = normalize_for_matching(ch)
            table[c] = ord(folded) if len(folded) == 1 else 0
    return table


def _window_hash(codes: np.ndarray, k: int) -> np.ndarray:
    """Polynomial hash of every window of k codes, by doubling: H[a+b](i) = H[a](i)*P^b + H[b](i+a)."""
    powers = {1: codes.copy()}
    size = 1
    while size * 2 <= k:
        h = powers[size]
        powers[size * 2] = h[:-size] * np.uint32(pow(_P, size, 1 << 32)) + h[size:]
        size *= 2
    out, width = powers[size], size
    for part in sorted((p for p in powers if p < size), reverse=True):
        if width + part <= k:
            n = len(out) - part
            out = out[:n] * np.uint32(pow(_P, part, 1 << 32)) + powers[part][width : width + n]
            width += part
    return out


SCHEME = "affine32"

SIGNATURES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("dup_group", pa.string(), nullable=False),
        pa.field("signature", pa.binary(NUM_PERM * 4), nullable=False),
    ]
)


class NearDuplicateIndex:
    """Assigns each new article to the near-duplicate group of a similar earlier one, or its own."""

    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold
        # LSH finds candidates generously (recall); the signature estimate then confirms them
        # against the real threshold (precision).
        self._lsh = MinHashLSH(threshold=max(0.3, threshold - 0.15), num_perm=NUM_PERM)
        self._sigs: dict[str, np.ndarray] = {}
        # Only datasketch's permutations are used: signatures are computed in `signature`.
        self._perm_a, self._perm_b = MinHash(num_perm=NUM_PERM, seed=1).permutations
        self._group: dict[str, str] = {}
        self._new: list[dict] = []

    def signature(self, text: str) -> LeanMinHash:
        """MinHash of the text's character shingles, vectorised with numpy.

        Shingles are SHINGLE consecutive letters/digits after matching folds (see `_fold_table`),
        with spaces, punctuation, diacritics and tatweel dropped, so reformatting does not count
        as a difference. One shingle in SAMPLE is kept, chosen by hash (the same in every text),
        which keeps the Jaccard estimate unbiased at a fraction of the cost.
        """
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        codes = _fold_table()[np.minimum(codes, 0xFFFF)]
        codes = codes[codes != 0]
        if len(codes) < SHINGLE:
            codes = np.concatenate([codes, np.zeros(SHINGLE - len(codes), np.uint32)])
        hv = _fmix(_window_hash(codes, SHINGLE), 32)
        sampled = hv[hv % SAMPLE == 0]
        hv = np.unique(sampled if len(sampled) >= 8 else hv)
        a, b = self._perm_a, self._perm_b
        values = (a[:, None] * hv[None, :] + b[:, None]).min(axis=1)
        return LeanMinHash(seed=1, hashvalues=values, scheme=SCHEME)

    def assign(self, article_id: str, text: str) -> str:
        """The dup_group for a new article (the group key of its nearest earlier match)."""
        m = self.signature(text)
        hv = m.hashvalues
        matches = [
            k for k in self._lsh.query(m) if np.count_nonzero(self._sigs[k] == hv) >= self._needed
        ]
        if matches:
            # Deterministic: the smallest group key among the matches' groups.
            group = min(self._group[k] for k in matches)
        else:
            group = article_id
        self._lsh.insert(article_id, m, check_duplication=False)
        self._group[article_id] = group
        self._sigs[article_id] = hv
        self._new.append(
            {
                "article_id": article_id,
                "dup_group": group,
                "signature": m.hashvalues.astype("<u4").tobytes(),
            }
        )
        return group

    @property
    def _needed(self) -> int:
        """Matching signature slots that estimate a Jaccard similarity of at least threshold."""
        return int(np.ceil(self.threshold * NUM_PERM))

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._group

    @classmethod
    def load(cls, path: Path, threshold: float = 0.7) -> NearDuplicateIndex:
        """The index with every signature saved at `path` (empty if there is none yet)."""
        index = cls(threshold)
        if Path(path).exists():
            for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
                ids = batch.column("article_id").to_pylist()
                groups = batch.column("dup_group").to_pylist()
                sigs = batch.column("signature").to_pylist()
                with index._lsh.insertion_session() as session:
                    for aid, grp, sig in zip(ids, groups, sigs, strict=True):
                        hv = np.frombuffer(sig, dtype="<u4").astype(np.uint32)
                        m = LeanMinHash(seed=1, hashvalues=hv, scheme=SCHEME)
                        session.insert(aid, m, check_duplication=False)
                        index._group[aid] = grp
                        index._sigs[aid] = m.hashvalues
        return index

    def save(self, path: Path) -> None:
        """Append this run's signatures to `path` (atomically)."""
        if not self._new:
            return
        new = pa.Table.from_pylist(self._new, schema=SIGNATURES)
        if Path(path).exists():
            new = pa.concat_tables([pq.read_table(path, schema=SIGNATURES), new])
        write_table(path, new, SIGNATURES)
        self._new = []
