"""Near-duplicate detection: the one global step of ingest, behind one small interface.

MinHash over character shingles of matching-normalised Arabic, indexed with LSH (datasketch).
Signatures are persisted next to the articles so a later ingest compares against everything
ingested before, without re-reading article text.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import MinHash, MinHashLSH
from datasketch.minhash import _fmix

from corpus.io import write_table
from corpus.text import normalize_for_matching

NUM_PERM = 64
SHINGLE = 12  # characters (~2 words): small edits disturb few shingles
SAMPLE = 4  # keep 1 shingle in 4, by hash

# Letters and digits (Basic Multilingual Plane); everything else is dropped before shingling.
_WORD_CHAR = np.array([chr(c).isalnum() for c in range(0x10000)], dtype=bool)
SCHEME = "affine32"

SIGNATURES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("dup_group", pa.string(), nullable=False),
        pa.field("signature", pa.binary(NUM_PERM * 4), nullable=False),
    ]
)


def _crc32(b: bytes) -> int:
    return zlib.crc32(b)


class NearDuplicateIndex:
    """Assigns each new article to the near-duplicate group of a similar earlier one, or its own."""

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._template = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_crc32)
        self._group: dict[str, str] = {}
        self._new: list[dict] = []

    def signature(self, text: str) -> MinHash:
        """MinHash of the text's character shingles (vectorised with numpy).

        Shingles are SHINGLE consecutive letters/digits of the matching-normalised text with
        spaces and punctuation dropped, so reformatting, punctuation and diacritics do not count
        as differences. One shingle in SAMPLE is kept (chosen by hash, so the same in every
        text), which keeps the Jaccard estimate unbiased at a fraction of the cost.
        """
        codes = np.frombuffer(normalize_for_matching(text).encode("utf-32-le"), dtype=np.uint32)
        codes = codes[_WORD_CHAR[np.minimum(codes, 0xFFFF)]]
        n = len(codes) - SHINGLE + 1
        if n <= 0:
            codes = np.concatenate([codes, np.zeros(SHINGLE, np.uint32)])
            n = len(codes) - SHINGLE + 1
        hv = np.zeros(n, dtype=np.uint32)
        for j in range(SHINGLE):  # polynomial hash of each window, wrapping mod 2^32
            hv = hv * np.uint32(0x01000193) + codes[j : j + n]
        hv = np.unique(_fmix(hv, 32))
        sampled = hv[hv % SAMPLE == 0]
        hv = sampled if len(sampled) >= 8 else hv
        a, b = self._template.permutations
        values = (a[:, None] * hv[None, :] + b[:, None]).min(axis=1)
        return MinHash(
            hashvalues=values,
            permutations=self._template.permutations,
            scheme=SCHEME,
            hashfunc=_crc32,
        )

    def assign(self, article_id: str, text: str) -> str:
        """The dup_group for a new article (the group key of its nearest earlier match)."""
        m = self.signature(text)
        matches = self._lsh.query(m)
        if matches:
            # Deterministic: the smallest group key among the matches' groups.
            group = min(self._group[k] for k in matches)
        else:
            group = article_id
        self._lsh.insert(article_id, m, check_duplication=False)
        self._group[article_id] = group
        self._new.append(
            {
                "article_id": article_id,
                "dup_group": group,
                "signature": m.hashvalues.astype("<u4").tobytes(),
            }
        )
        return group

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._group

    @classmethod
    def load(cls, path: Path, threshold: float = 0.8) -> NearDuplicateIndex:
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
                        m = MinHash(
                            hashvalues=hv,
                            permutations=index._template.permutations,
                            scheme=SCHEME,
                            hashfunc=_crc32,
                        )
                        session.insert(aid, m, check_duplication=False)
                        index._group[aid] = grp
        index._existing_path = Path(path)
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
