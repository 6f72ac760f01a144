"""Near-duplicate grouping: the one global step over the MinHash map stages' output.

`NearDuplicateIndex` groups an ingest's new articles with each other and with everything stored
before (`corpus.ingest.signature_store`), in named steps, each bounded in memory:

1. candidates: band by band, rows sharing a band hash are sorted together and each is paired
   with its NEIGHBOURS nearest rows of the bucket (every pair of a small bucket; in a big one,
   the nearest in ingest order, where reprints usually fall). Linear in rows x bands however big
   the buckets. Only pairs with a new row are kept, spilled to disk by range of rows. With
   `engine="ray"` this step is a shuffle by band hash on Ray Data, emitting the same row pairs.
2. confirmation: a pair is linked when its signatures estimate a Jaccard similarity of at least
   the threshold. Signatures are read range by range, twice (one sketch byte per slot carried
   from the earlier row's range to the later row's), then the few pairs the sketch passes are
   checked on their full signatures: linear I/O, never every signature in memory.
3. linking: union-find over confirmed pairs. Earlier groups are never re-keyed (an article keeps
   its split in every release): a new article joins the smallest earlier group key it is linked
   to, else the key of the first-ingested article of its new group.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from corpus.ingest.minhash import (
    NEW_SIGNATURES,
    NUM_PERM,
    SIGNATURE,
    band_hashes,
    lsh_params,
    signature,
    signature_matrix,
)
from corpus.ingest.signature_store import (
    Rows,
    SignatureStore,
    Stats,
    band_names,
    open_source,
    part_schema,
)
from corpus.io import ParquetSink, filesystem, is_remote, parquet_file
from corpus.lock import STAGING_MARK, staging_name
from corpus.runner import Engine, ray_session

__all__ = ["NearDuplicateIndex", "Stats", "window_pairs"]

NEIGHBOURS = 16  # rows each row is paired with on either side in its bucket (per band)
BATCH_ROWS = 16_384  # new rows staged at a time
PART_ROWS = 65_536  # pairs are spilled and confirmed by range of rows (16 MB of signatures)
PAIR_BUDGET = 1 << 18  # pairs processed at a time (18 MB with their sketches)
ROW_BUDGET = 131_072  # signatures held at once for the exact check (32 MB)
COMPARE_PAIRS = 16_384  # pairs compared at a time (two 4 MB gathers)
# A Ray ingest filters earlier records by the new rows' buckets when the new rows are at most
# this fraction (1/N) of the corpus; a first big ingest gains nothing from it.
RAY_FILTER_RATIO = 4
RAY_PARTS = 32  # groups the Ray path sorts buckets in

SKETCHED = np.dtype([("code", "<i8"), ("sketch", "u1", (NUM_PERM,))])


def window_pairs(
    keys: np.ndarray, refs: np.ndarray | None = None, width: int = NEIGHBOURS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs (refs[i], refs[j]) of rows with equal keys at most `width` apart in (key, ref) order
    (refs default to the row numbers): every pair of a bucket of up to width + 1 rows, each row
    with its `width` nearest by ref on either side in a bigger one. Earlier ref first; one part
    per distance; at most rows x width pairs, so linear whatever the bucket sizes."""
    if refs is None:
        refs = np.arange(len(keys), dtype=np.int64)
    if len(refs) and (refs[1:] >= refs[:-1]).all():
        order = np.argsort(keys, kind="stable")  # refs already ascending: a cheaper sort
    else:
        order = np.lexsort((refs, keys))
    ks = keys[order]
    same = ks[1:] == ks[:-1]
    member = np.zeros(len(ks), bool)
    member[1:] |= same
    member[:-1] |= same
    idx = np.flatnonzero(member)
    del same, member
    ks, rs = ks[idx], refs[order[idx]]
    del order, idx
    for d in range(1, width + 1):
        ok = ks[d:] == ks[:-d]
        if not ok.any():
            break
        yield rs[:-d][ok], rs[d:][ok]


def confirm(sigs: np.ndarray, ia: np.ndarray, ib: np.ndarray, needed: int) -> np.ndarray:
    """Which pairs (row indices into `sigs`) have at least `needed` equal signature slots, i.e.
    an estimated Jaccard similarity of at least the threshold."""
    keep = np.zeros(len(ia), bool)
    for s in range(0, len(ia), COMPARE_PAIRS):
        a, b = sigs[ia[s : s + COMPARE_PAIRS]], sigs[ib[s : s + COMPARE_PAIRS]]
        keep[s : s + COMPARE_PAIRS] = (a == b).sum(axis=1) >= needed
    return keep


class _Spill:
    """Records appended to one file per range of a row number, read back range by range in
    slices of at most `budget` records (a slice is deduplicated on its own: a pair seen in two
    slices is only checked twice)."""

    def __init__(self, workdir: Path, name: str, total: int, dtype: np.dtype):
        self.dtype = dtype
        self.paths = [workdir / f"{name}-{p}.bin" for p in range(max(1, -(-total // PART_ROWS)))]

    def add(self, rows: np.ndarray, records: np.ndarray) -> None:
        part = rows // PART_ROWS
        order = np.argsort(part, kind="stable")
        part, records = part[order], records[order]
        bounds = np.searchsorted(part, np.arange(len(self.paths) + 1))
        for p, path in enumerate(self.paths):
            if bounds[p + 1] > bounds[p]:
                with open(path, "ab") as f:
                    f.write(records[bounds[p] : bounds[p + 1]].tobytes())

    def ranges(self, budget: int) -> Iterator[np.ndarray]:
        for path in self.paths:
            if not path.exists():
                continue
            n = path.stat().st_size // self.dtype.itemsize
            for start in range(0, n, budget):
                count = min(budget, n - start)
                yield np.fromfile(path, self.dtype, count, offset=start * self.dtype.itemsize)
            path.unlink()


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


def link(
    ids: list[str], groups: list[str | None], new_pos: np.ndarray, ia: np.ndarray, ib: np.ndarray
) -> dict[int, str]:
    """Join confirmed pairs (indices into the members `ids`, with their earlier `groups`, None
    for a new row, and `new_pos`, -1 for an earlier row): new-row position -> group key.

    Nodes are an earlier group (0, key), so a new article linked to any member of an earlier
    group joins it, or a new row (1, position); every set is keyed by its smallest node: the
    smallest earlier group key, else the first-ingested new row.
    """

    def node(i: int) -> tuple:
        g = groups[i]
        return (0, g) if g is not None else (1, int(new_pos[i]))

    uf = _UnionFind()
    for a, b in zip(ia.tolist(), ib.tolist(), strict=True):
        uf.union(node(a), node(b))
    id_of_new = {int(p): ids[i] for i, p in enumerate(new_pos) if p >= 0}
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
    block) removes the working files. `root` is the parts folder (data/minhash: a local path, a
    URI or a UPath); working files live in a local temporary folder (next to `root` when it is
    local).
    """

    def __init__(self, root: str | Path, threshold: float = 0.7, *, batch_rows: int = BATCH_ROWS):
        self.threshold = threshold
        self.bands, self.rows = lsh_params(threshold)
        self.needed = int(np.ceil(threshold * NUM_PERM))
        self.batch_rows = batch_rows
        self.store = SignatureStore(root, self.bands, self.rows)
        remote = is_remote(self.store.root)
        if not remote:
            self.store.root.parent.mkdir(parents=True, exist_ok=True)
        # Named as staging folders, so the next writing command removes them if this one is
        # killed (`lock.remove_stale_staging`).
        self._tmp = tempfile.TemporaryDirectory(
            prefix=".minhash-",
            suffix=STAGING_MARK + str(os.getpid()),
            dir=None if remote else self.store.root.parent,
        )
        # With remote data, Ray workers read the working files they need (new rows, computed
        # band hashes) from a copy beside the data, so a cluster reaches them (see `_for_ray`).
        self.shared = None
        if remote:
            self.shared = (
                self.store.root.parent / f".minhash-{secrets.token_hex(4)}-{staging_name('ray')}"
            )
        self.new_path = self.workdir / "new.parquet"
        self._schema = part_schema(self.bands, self.rows, with_group=False)
        self._sink: ParquetSink | None = None
        self._ids: list[str] = []
        self._sigs: list[bytes] = []
        self.new_rows = 0
        self.stats = Stats()

    @property
    def workdir(self) -> Path:
        """A local temporary folder, removed by `close`."""
        return Path(self._tmp.name)

    # ---- adding new articles (staged on disk with their band hashes) ----

    def add(self, article_id: str, text: str) -> None:
        self._ids.append(article_id)
        self._sigs.append(signature(text).astype("<u4").tobytes())
        if len(self._ids) >= self.batch_rows:
            self._flush_pending()

    def add_signatures(self, table: pa.Table) -> None:
        """Rows of the `signature_batch` map stage, in ingest order."""
        self._flush_pending()
        for start in range(0, table.num_rows, self.batch_rows):
            self._write(table.slice(start, self.batch_rows))

    def _flush_pending(self) -> None:
        if self._ids:
            sigs = pa.FixedSizeBinaryArray.from_buffers(
                SIGNATURE, len(self._ids), [None, pa.py_buffer(b"".join(self._sigs))]
            )
            self._write(pa.table([pa.array(self._ids, pa.string()), sigs], schema=NEW_SIGNATURES))
            self._ids, self._sigs = [], []

    def _write(self, table: pa.Table) -> None:
        if self._sink is None:
            self._sink = ParquetSink(self.new_path, self._schema, compression="none")
        sigs = table.column("signature")
        h = band_hashes(signature_matrix(sigs), self.bands, self.rows)
        columns = [table.column("article_id"), sigs] + [h[:, k] for k in range(self.bands)]
        self._sink.write(pa.table(columns, schema=self._schema))
        self.new_rows += table.num_rows

    def _finish_adding(self) -> None:
        self._flush_pending()
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # ---- the global step ----

    @property
    def old_rows(self) -> int:
        return sum(s.rows for s in self.store.sources())

    def _rows(self) -> Rows:
        """Every row: the stored files in order, then the staged new rows."""
        sources = self.store.sources()
        self.store.compute_missing_bands(sources, self.workdir)
        first = sum(s.rows for s in sources)
        sources.append(open_source(self.new_path, first, self.store.lsh, is_new=True))
        return Rows(sources, self.stats)

    def group(self, engine: str | Engine = "local") -> dict[int, str]:
        """Group the new rows: position (in add order) -> group key, for the rows that joined
        another article's group (every other new row is its own group).

        `engine`: "local", "ray", or the runner's Engine (whose cluster address Ray joins)."""
        self._finish_adding()
        self.stats = Stats()
        if not self.new_rows:
            self.stats.rows = self.old_rows
            return {}
        if isinstance(engine, str):
            if engine not in ("local", "ray"):
                raise ValueError(f"unknown engine {engine!r} (local or ray)")
            engine = Engine(engine)
        rows = self._rows()
        self.stats.rows = rows.total
        pairs = _Spill(self.workdir, "pairs", rows.total, np.dtype("<i8"))
        if engine.kind == "ray":
            self._candidates_on_ray(rows, pairs, engine)
        else:
            self._candidates(rows, pairs)
        confirmed = self._confirm(rows, pairs)
        self.stats.confirmed = len(confirmed)
        ra, rb = confirmed // rows.total, confirmed % rows.total
        members = np.unique(np.concatenate([ra, rb]))
        ids, groups = rows.members(members)
        n_old = rows.total - self.new_rows
        new_pos = np.where(members >= n_old, members - n_old, -1)
        return link(
            ids, groups, new_pos, np.searchsorted(members, ra), np.searchsorted(members, rb)
        )

    def _candidates(self, rows: Rows, pairs: _Spill) -> None:
        """Step 1, locally: band by band, window pairs in the buckets that hold a new row."""
        n_old, total = rows.total - self.new_rows, rows.total
        new_refs = np.arange(n_old, total, dtype=np.int64)
        for k in range(self.bands):
            new_h = rows.band_column(k, new=True)
            keys, refs = new_h, new_refs
            if n_old:
                # Earlier rows only matter in a bucket with a new row: a binary search into the
                # new hashes keeps the rest out of the sort.
                old_h = rows.band_column(k, new=False)
                s = np.sort(new_h)
                hit = np.flatnonzero(s[np.searchsorted(s, old_h).clip(max=len(s) - 1)] == old_h)
                keys, refs = np.concatenate([old_h[hit], new_h]), np.concatenate([hit, new_refs])
                del old_h, s, hit
            for a, b in window_pairs(keys, refs):
                new = b >= n_old  # b is the later row
                pairs.add(a[new], a[new] * total + b[new])

    def _candidates_on_ray(self, rows: Rows, pairs: _Spill, engine: Engine) -> None:
        """Step 1 on Ray Data: (band hash, row) records shuffled by hash, window pairs formed
        per bucket on the workers; the driver only streams the pairs to the spill files."""
        ray = ray_session(engine)  # joined as every stage joins (address, token, errors)
        # Workers open each file through the filesystem the driver uses (pickled once).
        files = [
            self._for_ray(src.path if src.has_bands else src.bands_path) for src in rows.sources
        ]
        items = [
            {"file": i, "group": g, "first": src.first + int(src.group_starts[g])}
            for i, src in enumerate(rows.sources)
            for g in range(len(src.group_starts) - 1)
        ]
        n_old = rows.total - self.new_rows
        wanted = None
        if n_old and self.new_rows * RAY_FILTER_RATIO <= rows.total:
            # As the local path: earlier rows only matter in a bucket with a new row, so the
            # shuffle carries the new rows' records and the earlier ones that share a bucket
            # with them, not every stored band hash. (Band hashes are seeded by the band
            # number: one sorted array serves every band.)
            wanted = np.unique(
                np.concatenate([rows.band_column(k, new=True) for k in range(self.bands)])
            )
        # One shuffle partition per million band rows (about: the filter keeps the new rows and
        # their buckets' earlier members): small corpora need no more.
        shuffled = rows.total if wanted is None else 2 * self.new_rows
        n_parts = max(1, min(RAY_PARTS, shuffled * self.bands // 1_000_000))
        # Grouping by the bucket key itself would call Python once per bucket (millions);
        # grouping by a slice of the key keeps every bucket whole in fewer, bigger groups.
        found = (
            ray.data.from_items(items)
            .map_batches(
                _band_records,
                fn_kwargs={"bands": self.bands, "files": files, "wanted": wanted},
                batch_size=1,
                batch_format="pyarrow",
            )
            .groupby("part", num_partitions=n_parts)
            .map_groups(
                _bucket_row_pairs,
                fn_kwargs={"n_old": n_old},
                batch_format="pyarrow",
            )
        )
        total = rows.total
        for batch in found.iter_batches(batch_format="pyarrow", batch_size=PAIR_BUDGET):
            a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
            pairs.add(a, a * total + b)

    def _for_ray(self, path) -> tuple:
        """(filesystem, path) Ray workers read `path` through: a local working file is copied
        beside the data first when the data is remote (a cluster cannot see this disk)."""
        if self.shared is None or is_remote(path) or Path(path).parent != self.workdir:
            return filesystem(path)
        fs, where = filesystem(self.shared / Path(path).name)
        fs.create_dir(str(Path(where).parent), recursive=True)
        pafs.copy_files(str(path), where, pafs.LocalFileSystem(), fs)
        return fs, where

    def _confirm(self, rows: Rows, pairs: _Spill) -> np.ndarray:
        """Step 2: the candidate pairs (codes a * total + b) with at least `needed` equal slots.

        Pass 1, by range of the earlier row: each pair takes a sketch of that row's signature
        (its slots' low bytes) to the later row's range. Pass 2, by that range: sketches are
        compared; equal slots have equal low bytes, so the sketch count is an upper bound and
        loses nothing. Pass 3: the pairs it passes (few) are checked on full signatures."""
        total = rows.total
        sketched = _Spill(self.workdir, "sketched", total, SKETCHED)
        for codes in pairs.ranges(PAIR_BUDGET):
            codes = np.unique(codes)
            self.stats.candidates += len(codes)
            a = codes // total
            need = np.unique(a)
            low = rows.signatures(need).astype(np.uint8)  # the low byte of each slot
            rec = np.empty(len(codes), SKETCHED)
            rec["code"], rec["sketch"] = codes, low[np.searchsorted(need, a)]
            del low
            sketched.add(codes % total, rec)
            del rec
        passed = []
        for rec in sketched.ranges(PAIR_BUDGET):
            b = rec["code"] % total
            need = np.unique(b)
            low = rows.signatures(need).astype(np.uint8)
            ib = np.searchsorted(need, b)
            ok = np.zeros(len(rec), bool)
            for s in range(0, len(rec), COMPARE_PAIRS):
                e = s + COMPARE_PAIRS
                ok[s:e] = (rec["sketch"][s:e] == low[ib[s:e]]).sum(axis=1) >= self.needed
            passed.append(rec["code"][ok])
            del low, rec
        codes = np.unique(np.concatenate(passed)) if passed else np.zeros(0, np.int64)
        self.stats.sketch_passed = len(codes)
        confirmed = [np.zeros(0, np.int64)]
        for chunk in self._chunks(codes, total):
            ra, rb = chunk // total, chunk % total
            need = np.unique(np.concatenate([ra, rb]))
            sigs = rows.signatures(need)
            ok = confirm(sigs, np.searchsorted(need, ra), np.searchsorted(need, rb), self.needed)
            confirmed.append(chunk[ok])
            del sigs
        return np.unique(np.concatenate(confirmed))

    @staticmethod
    def _chunks(codes: np.ndarray, total: int) -> Iterator[np.ndarray]:
        """The pairs in as few chunks as keep each chunk's rows within ROW_BUDGET."""
        todo = [codes]
        while todo:
            chunk = todo.pop()
            rows = len(np.unique(np.concatenate([chunk // total, chunk % total])))
            if rows <= ROW_BUDGET or len(chunk) == 1:
                if len(chunk):
                    yield chunk
            else:
                half = len(chunk) // 2
                todo += [chunk[half:], chunk[:half]]

    # ---- persisting ----

    def save(self, groups: dict[int, str]) -> None:
        """Append the new rows with their groups as one new part (only they are written)."""
        self._finish_adding()
        if self.new_rows:
            self.store.append(self._part_tables(groups))

    def _part_tables(self, groups: dict[int, str]) -> Iterator[pa.Table]:
        start = 0
        pf = parquet_file(self.new_path, pre_buffer=False)
        for g in range(pf.num_row_groups):
            table = pf.read_row_group(g, use_threads=False)
            ids = table.column("article_id").to_pylist()
            dup = pa.array([groups.get(start + i, aid) for i, aid in enumerate(ids)], pa.string())
            start += len(ids)
            yield table.add_column(1, "dup_group", dup)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.abort()
            self._sink = None
        self._tmp.cleanup()
        if self.shared is not None:
            fs, path = filesystem(self.shared)
            try:
                fs.delete_dir(path)
            except (FileNotFoundError, OSError):
                pass  # nothing was staged

    def __enter__(self) -> NearDuplicateIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _band_records(
    item: pa.Table, bands: int, files: list[tuple], wanted: np.ndarray | None = None
) -> pa.Table:
    """Ray map stage: one row group of band hashes -> one (key, row, part) record per band of
    each row; with `wanted` (sorted hashes), only the records whose bucket is among them."""
    f, g = item.column("file")[0].as_py(), item.column("group")[0].as_py()
    first = item.column("first")[0].as_py()
    fs, path = files[f]
    pf = pq.ParquetFile(fs.open_input_file(path), pre_buffer=False)
    table = pf.read_row_group(g, columns=band_names(bands), use_threads=False)
    h = np.stack([table.column(k).to_numpy() for k in range(bands)], axis=1).reshape(-1)
    rows = np.repeat(np.arange(first, first + table.num_rows, dtype=np.int64), bands)
    if wanted is not None and len(wanted):
        keep = wanted[np.searchsorted(wanted, h).clip(max=len(wanted) - 1)] == h
        h, rows = h[keep], rows[keep]
    return pa.table(
        {
            "key": pa.array(h, pa.uint64()),
            "row": pa.array(rows),
            "part": pa.array(h % np.uint64(RAY_PARTS), pa.uint64()),
        }
    )


def _bucket_row_pairs(group: pa.Table, n_old: int) -> pa.Table:
    """Ray `map_groups` over whole buckets: the window pairs (earlier row, later row) with a new
    row, exactly as the local path forms them."""
    keys, refs = group.column("key").to_numpy(), group.column("row").to_numpy()
    a_out, b_out = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for a, b in window_pairs(keys, refs):
        new = b >= n_old  # b is the later row
        a_out.append(a[new])
        b_out.append(b[new])
    return pa.table({"a": np.concatenate(a_out), "b": np.concatenate(b_out)})
