"""MinHash signatures and LSH band hashes: the map stages of near-duplicate detection (pure,
per batch; `corpus.ingest.dedup` is the global grouping step over their output).

1. `signature_batch`: MinHash of each article's character shingles (NUM_PERM uint32 slots).
2. `band_batch`: the signature cut into LSH bands, one 64-bit hash a band.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from corpus.text import normalize_for_matching

NUM_PERM = 64
SHINGLE = 12  # characters (~2 words): small edits disturb few shingles
SAMPLE = 4  # keep 1 shingle in 4, by hash (a 3 KB article keeps ~650)


_P = 0x01000193  # multiplier of the polynomial window hash (wrapping mod 2^32)

SIGNATURE = pa.binary(NUM_PERM * 4)  # little-endian uint32 slots
NEW_SIGNATURES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("signature", SIGNATURE, nullable=False),
    ]
)


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


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    # datasketch's "affine32" permutations (seed 1): signatures stored earlier stay comparable.
    # Imported here: it pulls in scipy (~60 MB), which grouping alone does not need.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1).permutations


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


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (as datasketch's `_fmix(h, 32)`): spreads the window
    hashes before sampling."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signature(text: str) -> np.ndarray:
    """MinHash (NUM_PERM uint32 slots) of the text's character shingles, vectorised with numpy.

    Shingles are SHINGLE consecutive letters/digits after matching folds (see `_fold_table`), with
    spaces, punctuation, diacritics and tatweel dropped, so reformatting does not count as a
    difference. One shingle in SAMPLE is kept, chosen by hash (the same in every text), which keeps
    the Jaccard estimate unbiased at a fraction of the cost.
    """
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes = _fold_table()[np.minimum(codes, 0xFFFF)]
    codes = codes[codes != 0]
    if len(codes) < SHINGLE:
        codes = np.concatenate([codes, np.zeros(SHINGLE - len(codes), np.uint32)])
    hv = _fmix32(_window_hash(codes, SHINGLE))
    sampled = hv[hv % SAMPLE == 0]
    hv = np.unique(sampled if len(sampled) >= 8 else hv)
    a, b = _permutations()
    values = (a[:, None] * hv[None, :] + b[:, None]).min(axis=1)  # uint32, wrapping
    return values


def signature_batch(table: pa.Table) -> pa.Table:
    """Map stage: (article_id, text) rows -> (article_id, signature) rows, same order."""
    texts = table.column("text").to_pylist()
    sigs = b"".join(signature(t or "").astype("<u4").tobytes() for t in texts)
    column = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(NUM_PERM * 4), len(texts), [None, pa.py_buffer(sigs)]
    )
    return pa.table([table.column("article_id"), column.cast(SIGNATURE)], schema=NEW_SIGNATURES)


def signature_matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A signature column as an (n, NUM_PERM) uint32 matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], SIGNATURE)
    fixed = column.cast(pa.binary(NUM_PERM * 4))
    if len(fixed) == 0:
        return np.zeros((0, NUM_PERM), np.uint32)
    data = np.frombuffer(fixed.buffers()[1], dtype="<u4")
    start = fixed.offset * NUM_PERM
    return data[start : start + len(fixed) * NUM_PERM].reshape(-1, NUM_PERM).astype(np.uint32)


@functools.cache
def lsh_params(threshold: float) -> tuple[int, int]:
    """(bands, rows per band): LSH finds candidates generously (0.15 below the threshold, for
    recall); the signature estimate then confirms them against the threshold (precision).

    The split that minimises the false-positive area below that point plus the false-negative
    area above it (equal weights; the candidate probability at similarity s is
    1 - (1 - s^rows)^bands), as datasketch chooses it, without importing scipy for it.
    """
    t = max(0.3, threshold - 0.15)
    best, best_error = (1, NUM_PERM), float("inf")
    below, above = np.linspace(0.0, t, 1001), np.linspace(t, 1.0, 1001)
    for bands in range(1, NUM_PERM + 1):
        for rows in range(1, NUM_PERM // bands + 1):
            fp = np.trapezoid(1 - (1 - below**rows) ** bands, below)
            fn = np.trapezoid((1 - above**rows) ** bands, above)
            if 0.5 * fp + 0.5 * fn < best_error:
                best, best_error = (bands, rows), 0.5 * fp + 0.5 * fn
    return best


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 arrays, wrapping)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: one hash of each band's `rows` slots, seeded by the band number so a
    hash alone names its (band, bucket). A collision only adds a candidate, which is then
    checked against the signatures, so it can never link two articles."""
    h = np.empty((len(sigs), bands), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):  # band by band: no (n, bands, rows) uint64 intermediate
            hb = np.full(len(sigs), band + 1, np.uint64)
            for slot in sigs[:, band * rows : (band + 1) * rows].T:
                hb = _mix64(hb * np.uint64(0x9E3779B97F4A7C15) ^ slot.astype(np.uint64))
            h[:, band] = hb
    return h


def band_batch(table: pa.Table, bands: int, rows: int) -> pa.Table:
    """Map stage: signature rows -> one uint64 column per band (`b0`, `b1`, ...), same order."""
    h = band_hashes(signature_matrix(table.column("signature")), bands, rows)
    return pa.table({f"b{k}": h[:, k] for k in range(bands)})
