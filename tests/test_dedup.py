"""Near-duplicate index: groups wire reprints, keeps distinct stories apart, persists."""

from benchmarks.synth import generate_articles
from corpus.ingest.dedup import NearDuplicateIndex, _window_hash


def test_reprints_grouped_and_distinct_articles_kept_apart():
    arts = list(generate_articles(1500, seed=5, dup_rate=0.05, with_meta=True))
    index = NearDuplicateIndex()
    group = {a["id"]: index.assign(a["id"], a["text"]) for a in arts}
    reprints = [a for a in arts if a.get("reprint_of")]
    assert len(reprints) > 30
    found = sum(group[a["id"]] == group[a["reprint_of"]] for a in reprints)
    assert found / len(reprints) >= 0.95
    originals = [a["id"] for a in arts if not a.get("reprint_of")]
    assert len({group[i] for i in originals}) == len(originals)  # no false merges


def test_index_persists_between_runs(tmp_path):
    arts = list(generate_articles(200, seed=9, dup_rate=0.0))
    path = tmp_path / "sig.parquet"
    first = NearDuplicateIndex()
    for a in arts[:100]:
        first.assign(a["id"], a["text"])
    first.save(path)
    second = NearDuplicateIndex.load(path)
    assert all(a["id"] in second for a in arts[:100])
    reprint = arts[3]["text"].replace("\n", " \n", 1) + " وأضاف المصدر أن التحقيقات مستمرة."
    assert second.assign("new", reprint) == arts[3]["id"]


def test_window_hash_matches_the_plain_definition():
    import numpy as np

    codes = np.arange(1, 60, dtype=np.uint32) * np.uint32(2654435761)
    for k in (1, 2, 3, 5, 7, 12, 16):
        n = len(codes) - k + 1
        expected = np.zeros(n, dtype=np.uint32)
        for j in range(k):
            expected = expected * np.uint32(0x01000193) + codes[j : j + n]
        assert (_window_hash(codes, k) == expected).all()
