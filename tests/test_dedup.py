"""Near-duplicate grouping: reprints grouped, distinct stories apart, same groups as the old
in-memory index and as a brute-force reference, incremental, bounded memory, Ray = local."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.dedup_baseline import InMemoryIndex
from benchmarks.synth import generate_articles
from corpus.ingest import dedup, minhash, signature_store
from corpus.ingest.dedup import NearDuplicateIndex, window_pairs
from corpus.ingest.minhash import (
    NUM_PERM,
    SIGNATURE,
    _window_hash,
    band_hashes,
    lsh_params,
    signature,
    signature_batch,
)
from corpus.ingest.signature_store import SignatureStore
from corpus.io import filesystem


def run_texts(path, arts, **kw) -> dict[str, str]:
    """One ingest's grouping of (id, text) pairs against everything saved at `path`."""
    with NearDuplicateIndex(path, **kw) as index:
        for a in arts:
            index.add(a["id"], a["text"])
        groups = index.group()
        index.save(groups)
    return {a["id"]: groups.get(i, a["id"]) for i, a in enumerate(arts)}


def run_sigs(path, ids, sigs, engine="local", **kw) -> tuple[dict[str, str], dedup.Stats]:
    with NearDuplicateIndex(path, **kw) as index:
        index.add_signatures(sig_table(ids, sigs))
        groups = index.group(engine)
        index.save(groups)
    return {a: groups.get(i, a) for i, a in enumerate(ids)}, index.stats


def saved(path, threshold: float = 0.7) -> pa.Table:
    """Every stored row (article_id, dup_group, signature), in row order."""
    store = SignatureStore(path, *lsh_params(threshold))
    columns = ["article_id", "dup_group", "signature"]
    return pa.Table.from_batches(list(store.iter_batches(columns)))


def sig_table(ids, sigs: np.ndarray) -> pa.Table:
    column = pa.FixedSizeBinaryArray.from_buffers(
        SIGNATURE, len(ids), [None, pa.py_buffer(sigs.astype("<u4").tobytes())]
    )
    return pa.table({"article_id": pa.array(ids, pa.string()), "signature": column})


@pytest.fixture(scope="module")
def corpus():
    return list(generate_articles(1500, seed=5, dup_rate=0.05, with_meta=True))


def test_reprints_grouped_and_distinct_articles_kept_apart(tmp_path, corpus):
    group = run_texts(tmp_path / "minhash", corpus)
    reprints = [a for a in corpus if a.get("reprint_of")]
    assert len(reprints) > 30
    found = sum(group[a["id"]] == group[a["reprint_of"]] for a in reprints)
    assert found / len(reprints) >= 0.95
    originals = [a["id"] for a in corpus if not a.get("reprint_of")]
    assert len({group[i] for i in originals}) == len(originals)  # no false merges


def test_same_groups_as_the_in_memory_index_across_two_ingests(tmp_path, corpus):
    old = InMemoryIndex()
    expected = {a["id"]: old.assign(a["id"], a["text"]) for a in corpus}
    got = run_texts(tmp_path / "minhash", corpus[:900], batch_rows=100)
    got |= run_texts(tmp_path / "minhash", corpus[900:], batch_rows=100)
    assert got == expected
    assert sum(g != a for a, g in got.items()) > 30


def test_a_later_ingest_joins_the_earlier_group_under_its_key(tmp_path):
    arts = list(generate_articles(200, seed=9, dup_rate=0.0))
    path = tmp_path / "minhash"
    run_texts(path, arts[:100])
    reprint = arts[3]["text"].replace("\n", " \n", 1) + " وأضاف المصدر أن التحقيقات مستمرة."
    later = run_texts(path, [{"id": "new", "text": reprint}, *arts[100:]])
    assert later["new"] == arts[3]["id"]
    assert all(later[a["id"]] == a["id"] for a in arts[100:])
    table = saved(path)
    assert table.num_rows == 201
    assert table.column("dup_group").to_pylist()[100] == arts[3]["id"]
    assert sorted(p.name for p in path.iterdir()) == ["part-000001.parquet", "part-000002.parquet"]


def test_signature_batch_is_the_per_article_signature():
    arts = list(generate_articles(20, seed=2))
    table = pa.table({"article_id": [a["id"] for a in arts], "text": [a["text"] for a in arts]})
    out = signature_batch(table)
    assert out.column("article_id").to_pylist() == table.column("article_id").to_pylist()
    sigs = minhash.signature_matrix(out.column("signature"))
    assert (sigs == np.stack([signature(a["text"]) for a in arts])).all()


def test_window_hash_matches_the_plain_definition():
    codes = np.arange(1, 60, dtype=np.uint32) * np.uint32(2654435761)
    for k in (1, 2, 3, 5, 7, 12, 16):
        n = len(codes) - k + 1
        expected = np.zeros(n, dtype=np.uint32)
        for j in range(k):
            expected = expected * np.uint32(0x01000193) + codes[j : j + n]
        assert (_window_hash(codes, k) == expected).all()


def pairs_of(keys, refs=None, width=dedup.NEIGHBOURS) -> list[tuple[int, int]]:
    found = [
        list(zip(a.tolist(), b.tolist(), strict=True)) for a, b in window_pairs(keys, refs, width)
    ]
    return sorted(p for part in found for p in part)


def test_window_pairs_are_every_pair_of_a_small_bucket():
    keys = np.array([5, 1, 5, 2, 5, 1, 9], np.uint64)
    assert pairs_of(keys, np.arange(7, dtype=np.int64) * 10) == [
        (0, 20), (0, 40), (10, 50), (20, 40),
    ]  # fmt: skip


def test_window_pairs_in_a_big_bucket_are_the_nearest_in_row_order_and_linear():
    keys = np.array([7] * 10 + [3, 3], np.uint64)
    refs = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 20, 21], np.int64)  # any order in, by ref out
    got = pairs_of(keys, refs, width=2)
    assert got == sorted(
        [(i, i + 1) for i in range(9)] + [(i, i + 2) for i in range(8)] + [(20, 21)]
    )
    keys = np.zeros(100_000, np.uint64)  # one bucket of 100,000: 5 billion pairs if all were made
    assert sum(len(a) for a, _ in window_pairs(keys, width=4)) == 4 * 100_000 - 10


def test_a_big_boilerplate_bucket_keeps_its_reprints_and_stays_linear(tmp_path):
    """3,000 unrelated articles share one band (boilerplate); 30 reprints, each a few articles
    after its original, share only that band with it (one slot changed in every other band)
    but enough slots to be confirmed. All are found from 16 neighbours a row, not 4.5 million
    pairs; no unrelated article is linked."""
    rng = np.random.default_rng(3)
    n = 3000
    sigs = rng.integers(0, 2**32, (n, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    sigs[:, :5] = sigs[0, :5]  # band 0 (slots 0-4 at threshold 0.7): one bucket of everything
    originals = rng.choice(np.arange(0, n - 20, 97), 30, replace=False)
    for o in originals:
        r = o + int(rng.integers(1, 12))
        sigs[r] = sigs[o]
        sigs[r, 5::5] += 1  # first slot of every other band differs: 52 of 64 slots equal
    ids = [f"a{i:04d}" for i in range(n)]
    got, stats = run_sigs(tmp_path / "minhash", ids, sigs)
    assert stats.candidates <= n * dedup.NEIGHBOURS
    assert {a: g for a, g in got.items() if g != a} == {
        ids[r]: ids[o]
        for o in originals
        for r in range(o + 1, o + 12)
        if (sigs[r] == sigs[o]).sum() >= 45
    }
    assert len([a for a, g in got.items() if g != a]) == 30


# --- the exact rule, against a brute-force reference -------------------------------------------


def families(seed: int, n_families: int, max_size: int) -> tuple[list[str], np.ndarray]:
    """Random signatures in families: copies of a base with some slots replaced, so pairs fall
    on both sides of the threshold and of the LSH bands; shuffled."""
    rng = np.random.default_rng(seed)
    sigs = []
    for _ in range(n_families):
        base = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype(np.uint32)
        for _ in range(int(rng.integers(1, max_size + 1))):
            s = base.copy()
            changed = rng.random(NUM_PERM) < rng.choice([0.0, 0.1, 0.25, 0.35, 0.5, 0.9])
            s[changed] = rng.integers(0, 2**32, int(changed.sum()), dtype=np.uint64)
            sigs.append(s)
    order = rng.permutation(len(sigs))
    return [f"d{i:03d}" for i in range(len(sigs))], np.stack(sigs)[order]


def reference(runs: list[tuple[list[str], np.ndarray]], threshold) -> dict[str, str]:
    """Brute force over every pair: LSH candidates (a whole band equal), confirmed by the
    signature estimate, components over earlier groups and new articles, keyed by the
    smallest earlier group key, else the first new article. `threshold`: one, or one a run."""
    group: dict[str, str] = {}
    old_ids: list[str] = []
    old_sigs: list[np.ndarray] = []
    thresholds = threshold if isinstance(threshold, list) else [threshold] * len(runs)
    for (ids, sigs), t in zip(runs, thresholds, strict=True):
        bands, rows = lsh_params(t)
        needed = int(np.ceil(t * NUM_PERM))
        parent: dict = {}
        n_old = len(old_ids)

        def find(x, parent=parent):
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        def node(i, n_old=n_old, old_ids=old_ids):
            return (0, group[old_ids[i]]) if i < n_old else (1, i - n_old)

        every = old_sigs + list(sigs)
        for j in range(len(old_ids), len(every)):
            for i in range(j):
                x, y = every[i], every[j]
                candidate = any(
                    (x[k * rows : (k + 1) * rows] == y[k * rows : (k + 1) * rows]).all()
                    for k in range(bands)
                )
                if candidate and np.count_nonzero(x == y) >= needed:
                    ra, rb = find(node(i)), find(node(j))
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        for p, aid in enumerate(ids):
            kind, key = find((1, p))
            group[aid] = key if kind == 0 else ids[key]
        old_ids += ids
        old_sigs += list(sigs)
    return group


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_families=st.integers(1, 12),
    max_size=st.integers(1, 5),
    cut=st.floats(0, 1),
    threshold=st.sampled_from([0.5, 0.7, 0.85]),
    small_chunks=st.booleans(),
)
def test_groups_equal_brute_force_reference(
    tmp_path_factory, monkeypatch, seed, n_families, max_size, cut, threshold, small_chunks
):
    ids, sigs = families(seed, n_families, max_size)
    k = int(cut * len(ids))
    runs = [(ids[:k], sigs[:k]), (ids[k:], sigs[k:])]
    # Small chunks exercise confirmation chunk by chunk and signature fetches across batches.
    if small_chunks:
        monkeypatch.setattr(dedup, "ROW_BUDGET", 4)
        monkeypatch.setattr(dedup, "PART_ROWS", 5)
        monkeypatch.setattr(dedup, "PAIR_BUDGET", 7)
        monkeypatch.setattr(dedup, "COMPARE_PAIRS", 3)
        monkeypatch.setattr(signature_store, "ROW_GROUP", 3)
    path = tmp_path_factory.mktemp("ref") / "minhash"
    got: dict[str, str] = {}
    for r_ids, r_sigs in runs:
        if r_ids:
            got |= run_sigs(path, r_ids, r_sigs, threshold=threshold, batch_rows=4)[0]
    assert got == reference([r for r in runs if r[0]], threshold)


def test_band_hashes_equal_iff_the_band_is_equal():
    bands, rows = lsh_params(0.7)
    ids, sigs = families(3, 30, 4)
    h = band_hashes(sigs, bands, rows)
    for i in range(len(sigs)):
        for j in range(i):
            for b in range(bands):
                same = (
                    sigs[i, b * rows : (b + 1) * rows] == sigs[j, b * rows : (b + 1) * rows]
                ).all()
                assert (h[i, b] == h[j, b]) == same


# --- bounded memory (structural: rows held, not timing) -----------------------------------------


def test_the_index_never_holds_every_signature(tmp_path, monkeypatch):
    monkeypatch.setattr(signature_store, "ROW_GROUP", 100)  # stored parts: 100-row groups
    rng = np.random.default_rng(1)
    n = 6000
    sigs = rng.integers(0, 2**32, (n, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    sigs[1:4000:500] = sigs[0:4000:500]  # 8 exact reprint pairs within the first ingest
    sigs[4000::200] = sigs[50:4000:400]  # 10 later reprints of rows spread over the first
    ids = [f"x{i:05d}" for i in range(n)]
    path = tmp_path / "minhash"
    first, stats1 = run_sigs(path, ids[:4000], sigs[:4000], batch_rows=500)
    later, stats2 = run_sigs(path, ids[4000:], sigs[4000:], batch_rows=100)
    assert sum(g != a for a, g in first.items()) == 8
    assert sum(g != a for a, g in later.items()) == 10
    meta = pa.parquet.ParquetFile(path / "part-000001.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [100] * 40
    for stats in (stats1, stats2):
        # The candidates' rows plus one row group, never all rows.
        assert stats.peak_signature_rows <= min(2 * stats.candidates, dedup.PART_ROWS) + 500
    # The later ingest reads earlier signatures only in the 10 row groups holding its
    # candidates: 3 passes (sketch, compare, exact check) read at most 4 x 10 row groups of
    # 100, where one read of the stored signatures alone would be 4,000 rows.
    assert stats2.rows == n and stats2.candidates == 10
    assert stats2.signatures_fetched <= 4 * 10 * 100


def test_many_candidates_are_confirmed_within_the_row_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup, "ROW_BUDGET", 40)  # the exact check's signatures
    monkeypatch.setattr(dedup, "PART_ROWS", 40)  # the sketch passes' ranges
    ids, sigs = families(5, 80, 4)
    expected = reference([(ids, sigs)], 0.7)
    got, stats = run_sigs(tmp_path / "minhash", ids, sigs, batch_rows=16)
    assert got == expected
    assert stats.signatures_fetched > 3 * 40  # several ranges, none holding more than the budget
    assert stats.peak_signature_rows <= 40 + 16


# --- Ray gives the same groups as the local path -----------------------------------------------


@pytest.mark.ray
def test_ray_path_equals_local_path(tmp_path, ray_local, monkeypatch):
    """Later ingests grouped on Ray (earlier parts, an old single file and new rows all read by
    Ray Data) give the local path's groups and the same saved parts; the driver holds a bounded
    number of signatures. One Ray run per ingest: each takes seconds."""
    monkeypatch.setattr(dedup, "PART_ROWS", 50)  # several ranges: the driver's bound is one range
    # Both later ingests shuffle only the new rows' buckets (the filter a small later ingest
    # uses: here the new rows are a third of the corpus and more).
    monkeypatch.setattr(dedup, "RAY_FILTER_RATIO", 1)
    ids, sigs = families(11, 60, 4)
    k1, k2 = len(ids) // 3, 2 * len(ids) // 3
    for name in ("local", "ray"):
        write_legacy(tmp_path / name, ids[:k1], sigs[:k1])
    local = run_sigs(tmp_path / "local", ids[k1:k2], sigs[k1:k2])[0]
    local |= run_sigs(tmp_path / "local", ids[k2:], sigs[k2:])[0]
    on_ray, stats = run_sigs(tmp_path / "ray", ids[k1:k2], sigs[k1:k2], engine="ray")
    assert stats.peak_signature_rows <= 50 + dedup.BATCH_ROWS
    on_ray |= run_sigs(tmp_path / "ray", ids[k2:], sigs[k2:], engine="ray")[0]
    assert on_ray == local
    assert sum(g != a for a, g in local.items()) > 10
    assert any(g in ids[:k1] for g in local.values())  # some join an earlier group
    for part in ("part-000000.parquet", "part-000001.parquet", "part-000002.parquet"):
        assert (tmp_path / "local" / part).read_bytes() == (tmp_path / "ray" / part).read_bytes()


def test_ray_band_records_keep_only_buckets_of_the_new_rows(tmp_path):
    ids, sigs = families(5, 30, 3)
    run_sigs(tmp_path / "idx", ids, sigs)
    bands, _ = lsh_params(0.7)
    item = pa.table({"file": [0], "group": [0], "first": [0]})
    files = [filesystem(next((tmp_path / "idx").glob("part-*.parquet")))]
    every = dedup._band_records(item, bands, files)
    assert every.num_rows == len(ids) * bands
    keys = every["key"].to_numpy()
    wanted = np.unique(keys[::7])
    kept = dedup._band_records(item, bands, files, wanted)
    assert set(kept["key"].to_numpy()) == set(wanted.tolist())
    assert kept.num_rows == int(np.isin(keys, wanted).sum()) < every.num_rows
    assert (
        kept["row"].to_pylist() == every["row"].filter(pa.array(np.isin(keys, wanted))).to_pylist()
    )


# --- incremental ingests: parts, the old single file -------------------------------------------


def write_legacy(root, ids, sigs) -> dict[str, str]:
    """An index as ingest wrote it before the parts: one data/minhash.parquet beside `root`."""
    groups = reference([(ids, sigs)], 0.7)
    table = sig_table(ids, sigs)
    table = table.add_column(1, "dup_group", pa.array([groups[a] for a in ids]))
    pa.parquet.write_table(table.cast(signature_store.LEGACY_SCHEMA), f"{root}.parquet")
    return groups


def test_incremental_ingests_give_the_groups_of_one_ingest(tmp_path, corpus):
    once = run_texts(tmp_path / "once", corpus)
    parts: dict[str, str] = {}
    for lo, hi in ((0, 500), (500, 510), (510, 1500)):
        parts |= run_texts(tmp_path / "parts", corpus[lo:hi], batch_rows=64)
    assert parts == once
    assert saved(tmp_path / "parts").equals(saved(tmp_path / "once"))
    assert len(list((tmp_path / "parts").iterdir())) == 3  # appending wrote only new parts


def test_an_old_single_file_is_read_then_migrated(tmp_path):
    ids, sigs = families(8, 40, 4)
    k = len(ids) // 2
    expected = reference([(ids[:k], sigs[:k]), (ids[k:], sigs[k:])], 0.7)
    root = tmp_path / "minhash"
    old = write_legacy(root, ids[:k], sigs[:k])
    got = old | run_sigs(root, ids[k:], sigs[k:])[0]
    assert got == expected
    assert not (tmp_path / "minhash.parquet").exists()
    assert sorted(p.name for p in root.iterdir()) == ["part-000000.parquet", "part-000001.parquet"]
    table = saved(root)
    assert table.column("article_id").to_pylist() == ids
    assert dict(zip(ids, table.column("dup_group").to_pylist(), strict=True)) == expected
    # A migration stopped before removing the old file: the old file is not read twice.
    write_legacy(root, ids[:k], sigs[:k])
    assert saved(root).num_rows == len(ids)
    run_sigs(root, ["late"], sigs[:1])
    assert not (tmp_path / "minhash.parquet").exists()
    assert saved(root).column("dup_group").to_pylist()[-1] == expected[ids[0]]


def test_the_index_on_a_remote_filesystem(tmp_path):
    """Parts on an fsspec filesystem (in-memory here; S3 alike): same groups, only new parts
    written, nothing staged left behind."""
    from corpus.io import data_path

    ids, sigs = families(6, 30, 4)
    k = len(ids) // 2
    root = data_path(f"memory://dedup-{tmp_path.name}/data/minhash")
    got = run_sigs(root, ids[:k], sigs[:k], batch_rows=8)[0]
    got |= run_sigs(root, ids[k:], sigs[k:], batch_rows=8)[0]
    assert got == reference([(ids[:k], sigs[:k]), (ids[k:], sigs[k:])], 0.7)
    assert sorted(p.name for p in root.parent.iterdir()) == ["minhash"]
    assert sorted(p.name for p in root.iterdir()) == ["part-000001.parquet", "part-000002.parquet"]
    assert saved(root).column("article_id").to_pylist() == ids
    # Ray workers read a working file from a copy beside the remote data, removed at close.
    with NearDuplicateIndex(root) as index:
        index.add_signatures(sig_table(ids[:3], sigs[:3]))
        index.group()
        fs, where = index._for_ray(index.new_path)
        assert fs.open_input_file(where).read() == index.new_path.read_bytes()
        assert index._for_ray(root / "part-000001.parquet")[1].endswith("part-000001.parquet")
    assert sorted(p.name for p in root.parent.iterdir()) == ["minhash"]


def test_a_changed_threshold_rehashes_the_stored_bands(tmp_path):
    ids, sigs = families(4, 30, 4)
    k = len(ids) // 2
    first = run_sigs(tmp_path / "minhash", ids[:k], sigs[:k], threshold=0.7)[0]
    later = run_sigs(tmp_path / "minhash", ids[k:], sigs[k:], threshold=0.5)[0]
    assert first | later == reference([(ids[:k], sigs[:k]), (ids[k:], sigs[k:])], [0.7, 0.5])


def test_lsh_params_and_mixing_are_datasketchs():
    """The band split and hash mixing are computed here (no scipy import); they must stay those
    of datasketch, which earlier signatures and the old index used."""
    from datasketch.lsh import _optimal_param
    from datasketch.minhash import _fmix

    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        assert lsh_params(t) == _optimal_param(max(0.3, t - 0.15), NUM_PERM, 0.5, 0.5)
    x = np.random.default_rng(0).integers(0, 2**32, 1000, dtype=np.uint64).astype(np.uint32)
    assert (minhash._fmix32(x) == _fmix(x, 32)).all()


def test_ingest_cleaning_stage_carries_each_articles_signature():
    from corpus.ingest.run import RAW_BATCH, IngestOptions, clean_and_sign_batch

    arts = list(generate_articles(5, seed=4))
    raw = pa.Table.from_pylist(
        [{"source": "s", "location": f"line {i}", "source_id": a["id"], "text": a["text"]}
         for i, a in enumerate(arts)],
        schema=RAW_BATCH,
    )  # fmt: skip
    out = clean_and_sign_batch(raw, IngestOptions())
    sigs = minhash.signature_matrix(out.column("signature"))
    for text, sig in zip(out.column("text").to_pylist(), sigs, strict=True):
        assert (sig == signature(text)).all()
