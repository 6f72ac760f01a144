"""Near-duplicate detection: signatures as a map stage, then one global grouping step.

1. `signature_batch` (pure, per batch): MinHash of each article's character shingles.
2. `band_batch` (pure, per batch): the signature cut into LSH bands, one 64-bit hash a band.
3. `NearDuplicateIndex.group` (the global step): rows sharing a band hash are candidate pairs; a
   pair is confirmed when its signatures estimate a Jaccard similarity of at least the threshold;
   confirmed pairs are joined with union-find. It goes band by band over hashes sorted in memory
   (8 bytes a row), then fetches only the candidates' signatures: never every signature at once.
   With `engine="ray"` the bands are grouped by (band, bucket) on Ray Data instead.

Signatures persist in data/minhash.parquet (with each article's group) so a later ingest groups
against everything ingested before. Earlier groups are never re-keyed (an article keeps its split
in every release): a new article joins the smallest earlier group key it is linked to, else the
key of the first-ingested article of its new group.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.io import ParquetSink, data_path, filesystem, is_remote, parquet_file
from corpus.text import normalize_for_matching

NUM_PERM = 64
SHINGLE = 12  # characters (~2 words): small edits disturb few shingles
SAMPLE = 4  # keep 1 shingle in 4, by hash (a 3 KB article keeps ~650)
BATCH_ROWS = 16_384  # signature rows read or written at a time (4 MB)
ROW_BUDGET = 131_072  # candidate signatures held at once for confirmation (32 MB)
PART_ROWS = 65_536  # candidate pairs are confirmed in ranges of this many earlier rows
PAIR_BUDGET = 1 << 20  # candidate pairs deduplicated at a time (8 MB)
COMPARE_PAIRS = 16_384  # pairs compared at a time (two 4 MB gathers)

RAY_PARTS = 32  # groups the Ray path sorts buckets in

_P = 0x01000193  # multiplier of the polynomial window hash (wrapping mod 2^32)

SIGNATURE = pa.binary(NUM_PERM * 4)  # little-endian uint32 slots
SIGNATURES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("dup_group", pa.string(), nullable=False),
        pa.field("signature", SIGNATURE, nullable=False),
    ]
)
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


def _ray_read(path: Path):
    """A signature file as a Ray dataset; a remote one is read by the workers themselves."""
    import ray.data

    fs, where = filesystem(path)
    return ray.data.read_parquet(where, filesystem=fs)


def _batches(path: Path, batch_rows: int, columns: list[str] | None = None):
    """Record batches of a Parquet file, one row group in memory at a time: pre-buffering
    (pyarrow's default) reads ahead the whole file and threads keep their own buffers."""
    pf = parquet_file(path, pre_buffer=False)
    return pf.iter_batches(batch_rows, columns=columns, use_threads=False)


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


def iter_bucket_pairs(
    keys: np.ndarray, refs: np.ndarray | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All pairs (refs[i], refs[j]), i < j in the given order, of rows with equal keys (refs
    default to the row numbers), in parts: one part per distance within a bucket.

    Sorts stably, so pairs come out with the earlier row first. Memory stays linear in the
    rows, however many pairs big buckets make.
    """
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    same = ks[1:] == ks[:-1]
    member = np.zeros(len(ks), bool)
    member[1:] |= same
    member[:-1] |= same
    idx = np.flatnonzero(member)
    del same, member
    ks, rs = ks[idx], order[idx] if refs is None else refs[order[idx]]
    del order, idx
    d = 1
    while d < len(ks):
        ok = ks[d:] == ks[:-d]
        if not ok.any():
            break
        yield rs[:-d][ok], rs[d:][ok]
        d += 1


def bucket_pairs(keys: np.ndarray, refs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`iter_bucket_pairs` as two arrays."""
    parts = list(iter_bucket_pairs(keys, refs))
    if not parts:
        empty = np.zeros(0, np.int64 if refs is None else refs.dtype)
        return empty, empty
    return np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])


@dataclass
class Members:
    """The rows of confirmed pairs: id, earlier group (None for a new row) and new-row
    position (-1 for an earlier row)."""

    ids: list[str]
    groups: list[str | None]
    new_pos: np.ndarray


@dataclass
class Stats:
    """What the global step did; `peak_signature_rows` is the most signature rows held at once."""

    rows: int = 0
    candidates: int = 0
    confirmed: int = 0
    signatures_fetched: int = 0
    peak_signature_rows: int = 0

    def held(self, n: int) -> None:
        self.peak_signature_rows = max(self.peak_signature_rows, n)


class _UnionFind:
    """Union-find over hashable nodes; each root keeps the smallest node of its set."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo
            self.parent.setdefault(lo, lo)


def confirm(sigs: np.ndarray, ia: np.ndarray, ib: np.ndarray, needed: int) -> np.ndarray:
    """Which pairs (row indices into `sigs`) have at least `needed` equal signature slots, i.e.
    an estimated Jaccard similarity of at least the threshold."""
    keep = np.zeros(len(ia), bool)
    for s in range(0, len(ia), COMPARE_PAIRS):
        a, b = sigs[ia[s : s + COMPARE_PAIRS]], sigs[ib[s : s + COMPARE_PAIRS]]
        keep[s : s + COMPARE_PAIRS] = (a == b).sum(axis=1) >= needed
    return keep


def link(members: Members, ia: np.ndarray, ib: np.ndarray) -> dict[int, str]:
    """Join confirmed pairs (indices into `members`): new-row position -> group key.

    Nodes are an earlier group (0, key), so a new article linked to any member of an earlier
    group joins it, or a new row (1, position); every set is keyed by its smallest node: the
    smallest earlier group key, else the first-ingested new row.
    """

    def node(i: int) -> tuple:
        g = members.groups[i]
        return (0, g) if g is not None else (1, int(members.new_pos[i]))

    uf = _UnionFind()
    for a, b in zip(ia.tolist(), ib.tolist(), strict=True):
        uf.union(node(a), node(b))
    id_of_new = {int(p): members.ids[i] for i, p in enumerate(members.new_pos) if p >= 0}
    out = {}
    for n in list(uf.parent):
        if n[0] == 1:
            kind, key = uf.find(n)
            out[n[1]] = key if kind == 0 else id_of_new[key]
    return {p: g for p, g in out.items() if g != id_of_new[p]}


class NearDuplicateIndex:
    """Groups the articles added in this run with each other and with all earlier ones.

    Use: `add` (or `add_signatures`, the output of the `signature_batch` map stage) for every new
    article in ingest order, then `group()` once, then `save(groups)`; `close()` (or a `with`
    block) removes the working files. Working files live in a temporary folder next to `path`.
    """

    def __init__(self, path: Path, threshold: float = 0.7, *, batch_rows: int = BATCH_ROWS):
        self.path = data_path(path)  # may be remote (workspace data on S3)
        self.threshold = threshold
        self.bands, self.rows = lsh_params(threshold)
        self.needed = int(np.ceil(threshold * NUM_PERM))
        self.batch_rows = batch_rows
        local = not is_remote(self.path)
        if local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(
            prefix=".minhash-", dir=self.path.parent if local else None
        )
        self.new_path = self.workdir / "new.parquet"
        self._sink: ParquetSink | None = None
        self._ids: list[str] = []
        self._sigs: list[bytes] = []
        self.new_rows = 0
        self.stats = Stats()

    # ---- adding new articles (streamed to disk) ----

    def add(self, article_id: str, text: str) -> None:
        self._ids.append(article_id)
        self._sigs.append(signature(text).astype("<u4").tobytes())
        if len(self._ids) >= self.batch_rows:
            self._flush_pending()

    def add_signatures(self, table: pa.Table) -> None:
        """Rows of the `signature_batch` map stage, in ingest order."""
        self._flush_pending()
        self._write(table.select(["article_id", "signature"]))

    def _flush_pending(self) -> None:
        if self._ids:
            sigs = pa.FixedSizeBinaryArray.from_buffers(
                SIGNATURE, len(self._ids), [None, pa.py_buffer(b"".join(self._sigs))]
            )
            self._write(pa.table([pa.array(self._ids, pa.string()), sigs], schema=NEW_SIGNATURES))
            self._ids, self._sigs = [], []

    def _write(self, table: pa.Table) -> None:
        if self._sink is None:
            self._sink = ParquetSink(self.new_path, NEW_SIGNATURES, compression="none")
        self._sink.write(table)
        self.new_rows += table.num_rows

    def _finish_adding(self) -> None:
        self._flush_pending()
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # ---- the global step ----

    @property
    def workdir(self) -> Path:
        """A local temporary folder (next to `path` when it is local), removed by `close`."""
        return Path(self._tmp.name)

    @property
    def old_rows(self) -> int:
        return parquet_file(self.path).metadata.num_rows if self.path.exists() else 0

    def _signature_files(self) -> Iterator[tuple[Path, bool]]:
        if self.path.exists():
            yield self.path, False
        if self.new_path.exists():
            yield self.new_path, True

    def group(self, engine: str = "local") -> dict[int, str]:
        """Group the new rows: position (in add order) -> group key, for the rows that joined
        another article's group (every other new row is its own group)."""
        self._finish_adding()
        self.stats = Stats(rows=self.old_rows + self.new_rows)
        if not self.new_rows:
            return {}
        if engine == "ray":
            return self._group_ray()
        if engine != "local":
            raise ValueError(f"unknown engine {engine!r} (local or ray)")
        return self._group_local()

    def _group_local(self) -> dict[int, str]:
        n_old = self.old_rows
        bands_path = self.workdir / "bands.parquet"
        schema = pa.schema([(f"b{k}", pa.uint64()) for k in range(self.bands)])
        with ParquetSink(bands_path, schema, compression="none") as sink:
            for path, _ in self._signature_files():
                for batch in _batches(path, self.batch_rows, columns=["signature"]):
                    self.stats.held(batch.num_rows)
                    sink.write(band_batch(pa.Table.from_batches([batch]), self.bands, self.rows))
        # Candidate pairs, band by band, spilled to disk by range of their earlier row: the
        # pairs of one range are then deduplicated and confirmed together, so memory holds
        # one range's pairs, whatever the corpus size (similar-looking corpora have many).
        total = self.stats.rows
        n_parts = max(1, -(-total // PART_ROWS))
        spill = [self.workdir / f"pairs-{p}.bin" for p in range(n_parts)]
        bands = pq.ParquetFile(bands_path, pre_buffer=False)
        for k in range(self.bands):
            h = bands.read([f"b{k}"], use_threads=False).column(0).to_numpy()
            for a, b in iter_bucket_pairs(h):
                new = b >= n_old  # b is the later row: a pair matters if it involves a new row
                a, b = a[new], b[new]
                part = a // PART_ROWS
                order = np.argsort(part, kind="stable")
                codes, part = (a * total + b)[order], part[order]
                bounds = np.searchsorted(part, np.arange(n_parts + 1))
                for p in range(n_parts):
                    if bounds[p + 1] > bounds[p]:
                        with open(spill[p], "ab") as f:
                            f.write(codes[bounds[p] : bounds[p + 1]].tobytes())
            del h
        bands_path.unlink()
        confirmed = []
        for path in spill:
            if not path.exists():
                continue
            # In slices, should one range hold very many pairs: a pair seen in two slices is
            # only confirmed twice.
            n_pairs = path.stat().st_size // 8
            for start in range(0, n_pairs, PAIR_BUDGET):
                count = min(PAIR_BUDGET, n_pairs - start)
                pair_codes = np.unique(np.fromfile(path, np.int64, count, offset=start * 8))
                self.stats.candidates += len(pair_codes)
                for chunk in self._chunks(pair_codes):
                    ra, rb = chunk // total, chunk % total
                    rows = np.unique(np.concatenate([ra, rb]))
                    sigs = self._read_signatures(rows)
                    ra, rb = np.searchsorted(rows, ra), np.searchsorted(rows, rb)
                    del rows
                    confirmed.append(chunk[confirm(sigs, ra, rb, self.needed)])
                    del sigs, ra, rb
                del pair_codes
            path.unlink()
        edges = np.unique(np.concatenate(confirmed)) if confirmed else np.zeros(0, np.int64)
        self.stats.confirmed = len(edges)
        ra, rb = edges // total, edges % total
        rows = np.unique(np.concatenate([ra, rb]))
        members = self._read_members(rows, n_old)
        return link(members, np.searchsorted(rows, ra), np.searchsorted(rows, rb))

    def _chunks(self, pair_codes: np.ndarray) -> Iterator[np.ndarray]:
        """The candidate pairs in as few chunks as keep each chunk's rows within ROW_BUDGET
        (one chunk, so one signature pass, unless the candidates are very many)."""
        total = self.stats.rows
        todo = [pair_codes]
        while todo:
            chunk = todo.pop()
            rows = len(np.unique(np.concatenate([chunk // total, chunk % total])))
            if rows <= ROW_BUDGET or len(chunk) == 1:
                if len(chunk):
                    yield chunk
            else:
                half = len(chunk) // 2
                todo += [chunk[half:], chunk[:half]]

    def _scan(self, rows: np.ndarray, columns: list[str], fn) -> None:
        """Stream the signature files (earlier rows, then new rows in add order), calling
        `fn(batch, is_new, local_indices, slot)` for each batch holding some of `rows` (sorted
        row numbers); `slot` is the range of `rows` it holds."""
        start = 0
        for path, is_new in self._signature_files():
            cols = [c for c in columns if c != "dup_group" or not is_new]
            for batch in _batches(path, self.batch_rows, columns=cols):
                end = start + batch.num_rows
                lo, hi = np.searchsorted(rows, [start, end])
                if hi > lo:
                    fn(batch, is_new, pa.array(rows[lo:hi] - start), slice(lo, hi))
                start = end

    def _read_signatures(self, rows: np.ndarray) -> np.ndarray:
        """The signatures of the given sorted row numbers, as an (n, NUM_PERM) matrix."""
        sigs = np.empty((len(rows), NUM_PERM), np.uint32)

        def keep(batch, is_new, local, slot):
            self.stats.held(len(rows) + batch.num_rows)
            sigs[slot] = signature_matrix(batch.column("signature").take(local))

        self._scan(rows, ["signature"], keep)
        self.stats.signatures_fetched += len(rows)
        return sigs

    def _read_members(self, rows: np.ndarray, n_old: int) -> Members:
        """Ids and earlier groups of the given sorted row numbers (no signatures)."""
        ids: list[str] = []
        groups: list[str | None] = []

        def keep(batch, is_new, local, slot):
            ids.extend(batch.column("article_id").take(local).to_pylist())
            if is_new:
                groups.extend([None] * len(local))
            else:
                groups.extend(batch.column("dup_group").take(local).to_pylist())

        self._scan(rows, ["article_id", "dup_group"], keep)
        return Members(ids, groups, np.where(rows >= n_old, rows - n_old, -1))

    def _group_ray(self) -> dict[int, str]:
        import ray

        if not ray.is_initialized():
            ray.init()  # joins RAY_ADDRESS when set, else starts a local cluster
        parts = [
            _ray_read(path)
            .select_columns(["article_id", "signature"])
            .map_batches(
                band_rows,
                fn_kwargs={"bands": self.bands, "rows": self.rows, "new": is_new},
                batch_format="pyarrow",
            )
            for path, is_new in self._signature_files()
        ]
        ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        # Grouping by the bucket key itself would call Python once per bucket (millions);
        # grouping by a slice of the key keeps every bucket whole in fewer, bigger groups.
        # One shuffle partition per million band rows: small corpora need no more.
        parts = max(1, min(RAY_PARTS, self.stats.rows * self.bands // 1_000_000))
        pairs = ds.groupby("part", num_partitions=parts).map_groups(
            _bucket_id_pairs, batch_format="pyarrow"
        )
        found: set[tuple[str, str]] = set()
        for batch in pairs.iter_batches(batch_format="pyarrow", batch_size=self.batch_rows):
            found.update(
                zip(batch.column("a").to_pylist(), batch.column("b").to_pylist(), strict=True)
            )
        self.stats.candidates = len(found)
        if not found:
            return {}
        members, sigs = self._fetch_ids({i for p in found for i in p})
        index = {aid: i for i, aid in enumerate(members.ids)}
        ia = np.array([index[a] for a, _ in found], np.int64)
        ib = np.array([index[b] for _, b in found], np.int64)
        ok = confirm(sigs, ia, ib, self.needed)
        self.stats.confirmed = int(ok.sum())
        return link(members, ia[ok], ib[ok])

    def _fetch_ids(self, wanted: set[str]) -> tuple[Members, np.ndarray]:
        """Members and signatures by article id (the Ray path has ids, not row numbers)."""
        value_set = pa.array(sorted(wanted), pa.string())
        ids: list[str] = []
        groups: list[str | None] = []
        pos: list[int] = []
        sig_parts = []
        for path, is_new in self._signature_files():
            start = 0
            columns = ["article_id", "signature"] + ([] if is_new else ["dup_group"])
            for batch in _batches(path, self.batch_rows, columns=columns):
                hit = pc.is_in(batch.column("article_id"), value_set=value_set)
                local = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
                if len(local):
                    self.stats.held(len(ids) + batch.num_rows)
                    take = pa.array(local)
                    ids += batch.column("article_id").take(take).to_pylist()
                    if is_new:
                        groups += [None] * len(local)
                        pos += (local + start).tolist()
                    else:
                        groups += batch.column("dup_group").take(take).to_pylist()
                        pos += [-1] * len(local)
                    sig_parts.append(signature_matrix(batch.column("signature").take(take)))
                start += batch.num_rows
        self.stats.signatures_fetched += len(ids)
        return Members(ids, groups, np.array(pos, np.int64)), np.concatenate(sig_parts)

    # ---- persisting ----

    def save(self, groups: dict[int, str]) -> None:
        """Append the new rows with their groups to `path` (atomically, streamed)."""
        self._finish_adding()
        if not self.new_rows:
            return
        with ParquetSink(self.path, SIGNATURES) as sink:
            if self.path.exists():
                for batch in _batches(self.path, self.batch_rows):
                    sink.write(batch)
            start = 0
            for batch in _batches(self.new_path, self.batch_rows):
                ids = batch.column("article_id").to_pylist()
                dup = [groups.get(start + i, aid) for i, aid in enumerate(ids)]
                start += len(ids)
                sink.write(
                    pa.table(
                        [batch.column("article_id"), pa.array(dup), batch.column("signature")],
                        schema=SIGNATURES,
                    )
                )

    def close(self) -> None:
        if self._sink is not None:
            self._sink.abort()
            self._sink = None
        self._tmp.cleanup()

    def __enter__(self) -> NearDuplicateIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def band_rows(batch: pa.Table, bands: int, rows: int, new: bool) -> pa.Table:
    """Map stage for the Ray path: one (key, article_id, new) row per band of each signature."""
    h = band_hashes(signature_matrix(batch.column("signature")), bands, rows)
    n = batch.num_rows
    return pa.table(
        {
            "key": pa.array(h.reshape(-1), pa.uint64()),
            "article_id": batch.column("article_id").take(np.repeat(np.arange(n), bands)),
            "new": pa.array(np.full(n * bands, new), pa.bool_()),
            "part": pa.array(h.reshape(-1) % np.uint64(RAY_PARTS), pa.uint64()),
        }
    )


def _bucket_id_pairs(group: pa.Table) -> pa.Table:
    """Ray `map_groups` over whole buckets: every pair of rows sharing a bucket that involves a
    new row, as (smaller id, larger id)."""
    keys = group.column("key").to_numpy()
    i, j = bucket_pairs(keys, np.arange(len(keys), dtype=np.int64))
    new = group.column("new").to_numpy(zero_copy_only=False)
    keep = new[i] | new[j]
    ids = group.column("article_id")
    a, b = ids.take(pa.array(i[keep])), ids.take(pa.array(j[keep]))
    first = pc.less(a, b)
    return pa.table(
        {"a": pc.if_else(first, a, b), "b": pc.if_else(first, b, a)},
        schema=pa.schema([("a", pa.string()), ("b", pa.string())]),
    )
