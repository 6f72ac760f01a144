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
from corpus.ingest import dedup
from corpus.ingest.dedup import (
    NUM_PERM,
    SIGNATURE,
    NearDuplicateIndex,
    _window_hash,
    band_hashes,
    bucket_pairs,
    lsh_params,
    signature,
    signature_batch,
)


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


def sig_table(ids, sigs: np.ndarray) -> pa.Table:
    column = pa.FixedSizeBinaryArray.from_buffers(
        SIGNATURE, len(ids), [None, pa.py_buffer(sigs.astype("<u4").tobytes())]
    )
    return pa.table({"article_id": pa.array(ids, pa.string()), "signature": column})


@pytest.fixture(scope="module")
def corpus():
    return list(generate_articles(1500, seed=5, dup_rate=0.05, with_meta=True))


def test_reprints_grouped_and_distinct_articles_kept_apart(tmp_path, corpus):
    group = run_texts(tmp_path / "m.parquet", corpus)
    reprints = [a for a in corpus if a.get("reprint_of")]
    assert len(reprints) > 30
    found = sum(group[a["id"]] == group[a["reprint_of"]] for a in reprints)
    assert found / len(reprints) >= 0.95
    originals = [a["id"] for a in corpus if not a.get("reprint_of")]
    assert len({group[i] for i in originals}) == len(originals)  # no false merges


def test_same_groups_as_the_in_memory_index_across_two_ingests(tmp_path, corpus):
    old = InMemoryIndex()
    expected = {a["id"]: old.assign(a["id"], a["text"]) for a in corpus}
    got = run_texts(tmp_path / "m.parquet", corpus[:900], batch_rows=100)
    got |= run_texts(tmp_path / "m.parquet", corpus[900:], batch_rows=100)
    assert got == expected
    assert sum(g != a for a, g in got.items()) > 30


def test_a_later_ingest_joins_the_earlier_group_under_its_key(tmp_path):
    arts = list(generate_articles(200, seed=9, dup_rate=0.0))
    path = tmp_path / "sig.parquet"
    run_texts(path, arts[:100])
    reprint = arts[3]["text"].replace("\n", " \n", 1) + " وأضاف المصدر أن التحقيقات مستمرة."
    later = run_texts(path, [{"id": "new", "text": reprint}, *arts[100:]])
    assert later["new"] == arts[3]["id"]
    assert all(later[a["id"]] == a["id"] for a in arts[100:])
    saved = pa.parquet.read_table(path)
    assert saved.num_rows == 201
    assert saved.column("dup_group").to_pylist()[100] == arts[3]["id"]


def test_signature_batch_is_the_per_article_signature():
    arts = list(generate_articles(20, seed=2))
    table = pa.table({"article_id": [a["id"] for a in arts], "text": [a["text"] for a in arts]})
    out = signature_batch(table)
    assert out.column("article_id").to_pylist() == table.column("article_id").to_pylist()
    sigs = dedup.signature_matrix(out.column("signature"))
    assert (sigs == np.stack([signature(a["text"]) for a in arts])).all()


def test_window_hash_matches_the_plain_definition():
    codes = np.arange(1, 60, dtype=np.uint32) * np.uint32(2654435761)
    for k in (1, 2, 3, 5, 7, 12, 16):
        n = len(codes) - k + 1
        expected = np.zeros(n, dtype=np.uint32)
        for j in range(k):
            expected = expected * np.uint32(0x01000193) + codes[j : j + n]
        assert (_window_hash(codes, k) == expected).all()


def test_bucket_pairs_are_every_pair_with_equal_keys():
    keys = np.array([5, 1, 5, 2, 5, 1, 9], np.uint64)
    a, b = bucket_pairs(keys, np.arange(7, dtype=np.int64) * 10)
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [
        (0, 20), (0, 40), (10, 50), (20, 40),
    ]  # fmt: skip


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


def reference(runs: list[tuple[list[str], np.ndarray]], threshold: float) -> dict[str, str]:
    """Brute force over every pair: LSH candidates (a whole band equal), confirmed by the
    signature estimate, components over earlier groups and new articles, keyed by the
    smallest earlier group key, else the first new article."""
    bands, rows = lsh_params(threshold)
    needed = int(np.ceil(threshold * NUM_PERM))
    group: dict[str, str] = {}
    old_ids: list[str] = []
    old_sigs: list[np.ndarray] = []
    for ids, sigs in runs:
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
    path = tmp_path_factory.mktemp("ref") / "m.parquet"
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


def test_the_index_never_holds_every_signature(tmp_path):
    rng = np.random.default_rng(1)
    n = 6000
    sigs = rng.integers(0, 2**32, (n, NUM_PERM), dtype=np.uint64).astype(np.uint32)
    sigs[1::500] = sigs[0::500]  # a dozen exact reprint pairs (12 new pairs in the 2nd run)
    ids = [f"x{i:05d}" for i in range(n)]
    path = tmp_path / "m.parquet"
    first, stats1 = run_sigs(path, ids[:4000], sigs[:4000], batch_rows=500)
    later, stats2 = run_sigs(path, ids[4000:], sigs[4000:], batch_rows=500)
    assert sum(g != a for a, g in (first | later).items()) == n // 500
    for stats in (stats1, stats2):
        # One batch read plus the fetched candidates, never all rows.
        assert stats.peak_signature_rows <= 500 + stats.signatures_fetched
        assert stats.signatures_fetched <= 2 * stats.candidates
    assert stats2.rows == n and stats2.signatures_fetched < 50


def test_many_candidates_are_confirmed_within_the_row_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(dedup, "ROW_BUDGET", 40)
    ids, sigs = families(5, 80, 4)
    expected = reference([(ids, sigs)], 0.7)
    got, stats = run_sigs(tmp_path / "m.parquet", ids, sigs, batch_rows=16)
    assert got == expected
    assert stats.signatures_fetched > 40  # several passes, none holding more than the budget
    assert stats.peak_signature_rows <= 40 + 16


# --- Ray gives the same groups as the local path -----------------------------------------------


@pytest.mark.ray
def test_ray_path_equals_local_path(tmp_path, ray_local):
    """A later ingest grouped on Ray (earlier and new signatures both read by Ray Data) gives
    the local path's groups and the same saved index. One Ray run: each takes seconds."""
    ids, sigs = families(11, 60, 4)
    k = len(ids) // 2
    run_sigs(tmp_path / "l.parquet", ids[:k], sigs[:k])
    run_sigs(tmp_path / "r.parquet", ids[:k], sigs[:k])
    local = run_sigs(tmp_path / "l.parquet", ids[k:], sigs[k:])[0]
    on_ray = run_sigs(tmp_path / "r.parquet", ids[k:], sigs[k:], engine="ray")[0]
    assert on_ray == local
    assert sum(g != a for a, g in local.items()) > 10
    assert any(g in ids[:k] for g in local.values())  # some join an earlier group
    assert (tmp_path / "l.parquet").read_bytes() == (tmp_path / "r.parquet").read_bytes()


def test_lsh_params_and_mixing_are_datasketchs():
    """The band split and hash mixing are computed here (no scipy import); they must stay those
    of datasketch, which earlier signatures and the old index used."""
    from datasketch.lsh import _optimal_param
    from datasketch.minhash import _fmix

    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        assert lsh_params(t) == _optimal_param(max(0.3, t - 0.15), NUM_PERM, 0.5, 0.5)
    x = np.random.default_rng(0).integers(0, 2**32, 1000, dtype=np.uint64).astype(np.uint32)
    assert (dedup._fmix32(x) == _fmix(x, 32)).all()


def test_ingest_cleaning_stage_carries_each_articles_signature():
    from corpus.ingest.run import RAW_BATCH, IngestOptions, clean_and_sign_batch

    arts = list(generate_articles(5, seed=4))
    raw = pa.Table.from_pylist(
        [{"source": "s", "location": f"line {i}", "source_id": a["id"], "text": a["text"]}
         for i, a in enumerate(arts)],
        schema=RAW_BATCH,
    )  # fmt: skip
    out = clean_and_sign_batch(raw, IngestOptions())
    sigs = dedup.signature_matrix(out.column("signature"))
    for text, sig in zip(out.column("text").to_pylist(), sigs, strict=True):
        assert (sig == signature(text)).all()
