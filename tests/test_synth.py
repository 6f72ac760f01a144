"""The synthetic article generator (benchmarks.synth) and the bundled sample articles."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import synth

SAMPLES = Path(__file__).resolve().parents[1] / "corpus" / "samples" / "articles.jsonl"
KEYS = {"id", "title", "text", "url", "published_at"}
ARABIC = re.compile(r"[\u0600-\u06FF]")


def shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


@pytest.fixture(scope="module")
def batch() -> list[dict]:
    # One shared batch keeps the module fast; a high dup_rate gives enough reprints to check.
    return list(synth.generate_articles(600, seed=3, dup_rate=0.1, with_meta=True))


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_same_articles_and_prefix_stable():
    a = list(synth.generate_articles(40, seed=5))
    assert a == list(synth.generate_articles(40, seed=5))
    assert a[:15] == list(synth.generate_articles(15, seed=5))  # n only truncates
    assert a != list(synth.generate_articles(40, seed=6))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_every_seed_gives_well_formed_articles(seed):
    arts = list(synth.generate_articles(3, seed=seed, dup_rate=0.5))
    assert arts == list(synth.generate_articles(3, seed=seed, dup_rate=0.5))
    for art in arts:
        assert set(art) == KEYS
        # The headline is the text's first line and the title.
        first, rest = art["text"].split("\n", 1)
        assert first.rstrip() == art["title"] and rest.strip()
        assert "{" not in art["text"] and "}" not in art["text"]  # no unfilled slot


# -- shape of the records ----------------------------------------------------------------------


def test_records_have_the_contract_keys_and_valid_values(batch):
    ids = [a["id"] for a in batch]
    assert len(set(ids)) == len(ids)
    for a in batch:
        assert KEYS <= set(a)
        assert a["url"].startswith("https://") and a["url"].endswith(a["id"])
        assert dt.datetime.fromisoformat(a["published_at"]).tzinfo is not None
        letters = [c for c in a["text"] if c.isalpha()]
        assert sum(bool(ARABIC.match(c)) for c in letters) / len(letters) > 0.95
    plain = list(synth.generate_articles(3, seed=1))
    assert all(set(a) == KEYS for a in plain)  # meta keys only on request


def test_sizes_average_about_3_kb(batch):
    sizes = [len(a["text"].encode("utf-8")) for a in batch]
    assert 2700 <= statistics.mean(sizes) <= 3600
    assert min(sizes) >= 1500 and max(sizes) <= 6000
    small = [len(a["text"].encode()) for a in synth.generate_articles(100, target_bytes=1000)]
    assert statistics.mean(small) < 1600


def test_texts_carry_the_features_of_scraped_news(batch):
    texts = [a["text"] for a in batch if not a["reprint_of"]]
    joined = "\n".join(texts)
    for feature, pattern in {
        "dateline": r"^\S[^\n]{0,30} \((أ ف ب|رويترز|الأناضول|د ب أ)\) - ",
        "glue .,": r"\.,",
        "glue . ,": r"\. ,",
        "double quotes": r'"[^"\n]{10,}"',
        "guillemets": r"«[^»\n]{10,}»",
        "hashtag": r"#\w+_\w+",
        "arabic-indic digits": r"[٠-٩]{2}",
        "latin digits": r"\b\d{2,}\b",
        "time": r"\b\d{1,2}[.:]\d{2} (صباحاً|مساءً|ليلاً|فجراً|عصراً|ظهراً|بعد الظهر)",
        "decimal": r"\d\.\d ",
        "doctor": r"د\. \w",
        "month names": r"(آذار|نيسان|أيار|تشرين)",
        "paragraph break": r"\n\n",
    }.items():
        assert re.search(pattern, joined, re.M), feature
    # Every event type turns up, and datelines vary.
    assert {a["event_type"] for a in batch} == set(synth._EV)


def test_counted_nouns_follow_arabic_number_agreement():
    assert synth._noun("person", 5) == "أشخاص"
    assert synth._noun("person", 11) == "شخصاً"
    assert synth._noun("person", 100) == "شخص"
    assert synth._noun("person", 107) == "أشخاص"
    assert synth._noun("family", 250) == "عائلة"


def test_every_template_slot_has_a_source():
    """A slot with no context value, generator or word list would fail only when drawn."""
    ctx_keys = set(synth._new_context(synth._Writer(random.Random(0)))) | {"vrole", "vname"}
    pools = [v for v in vars(synth).values() if isinstance(v, tuple)]
    pools += list(synth._POOLS.values())
    pools += [p for ev in synth._EV.values() for p in ev.values() if isinstance(p, tuple)]
    pools += [c["_bg"] for c in synth._COUNTRIES]
    templates = [
        t
        for p in pools
        for t in p
        if isinstance(t, tuple) and len(t) == 2 and isinstance(t[1], tuple)
    ]
    assert len(templates) > 300
    for _fmt, names in templates:
        for name in names:
            if name not in ctx_keys:
                synth._resolver(name)  # raises KeyError when nothing can fill it


# -- near-duplicates ---------------------------------------------------------------------------


def test_about_dup_rate_are_reprints():
    arts = list(synth.generate_articles(2000, seed=8, dup_rate=0.05, with_meta=True))
    rate = sum(a["reprint_of"] is not None for a in arts) / len(arts)
    assert 0.03 <= rate <= 0.07
    none = synth.generate_articles(300, seed=8, dup_rate=0.0, with_meta=True)
    assert all(a["reprint_of"] is None for a in none)


def test_reprints_are_near_duplicates_of_an_earlier_article(batch):
    by_id = {a["id"]: (i, a) for i, a in enumerate(batch)}
    reprints = [a for a in batch if a["reprint_of"]]
    assert len(reprints) >= 30
    sims = []
    for i, a in enumerate(batch):
        if not a["reprint_of"]:
            continue
        j, orig = by_id[a["reprint_of"]]
        assert j < i and orig["reprint_of"] is None
        assert a["text"] != orig["text"] and a["url"] != orig["url"]
        sims.append(jaccard(shingles(a["text"]), shingles(orig["text"])))
    assert min(sims) >= 0.6
    assert statistics.mean(sims) >= 0.8


def test_unrelated_articles_share_little_text(batch):
    originals = [a for a in batch if not a["reprint_of"]]
    sh = {a["id"]: shingles(a["text"]) for a in originals}
    rng = random.Random(0)
    pairs = [rng.sample(list(sh), 2) for _ in range(400)]
    assert max(jaccard(sh[x], sh[y]) for x, y in pairs) < 0.3
    # The hardest case: two stories of the same event type.
    same = [a["id"] for a in originals if a["event_type"] == "airstrike"][:60]
    worst = max(jaccard(sh[x], sh[y]) for x, y in itertools.combinations(same, 2))
    assert worst < 0.3


# -- sentences ---------------------------------------------------------------------------------


def test_generate_sentences_count_determinism_and_content():
    sents = list(synth.generate_sentences(500, seed=2))
    assert len(sents) == 500
    assert sents == list(synth.generate_sentences(500, seed=2))
    assert sents[:100] == list(synth.generate_sentences(100, seed=2))
    assert all(s.strip() and "\n" not in s and ARABIC.search(s) for s in sents)
    assert len(set(sents)) > 450  # varied, not a handful repeated
    assert list(synth.generate_sentences(0)) == []


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        list(synth.generate_articles(-1))
    with pytest.raises(ValueError):
        list(synth.generate_articles(5, dup_rate=1.5))
    with pytest.raises(ValueError):
        list(synth.generate_sentences(-3))


# -- the bundled, hand-written samples -----------------------------------------------------------

SAMPLE_REPRINTS = {
    "sample-024": "sample-001",
    "sample-025": "sample-006",
    "sample-026": "sample-011",
}


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    with open(SAMPLES, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_samples_are_well_formed(samples):
    assert len(samples) >= 24
    assert len({s["id"] for s in samples}) == len(samples)
    for s in samples:
        assert set(s) == KEYS | {"source"}
        assert 1200 <= len(s["text"]) <= 3500, s["id"]
        head, body = s["text"].split("\n", 1)
        assert head.strip() and s["title"]
        assert re.match(r"\S[^\n]{0,40} -", body.lstrip("\n")), f"{s['id']}: dateline"
        assert "#" in s["text"] and ('"' in s["text"] or "«" in s["text"]), s["id"]
        assert dt.datetime.fromisoformat(s["published_at"]).tzinfo is not None
        assert ".example/" in s["url"]


def test_samples_reprints_are_near_duplicates_and_the_rest_are_not(samples):
    sh = {s["id"]: shingles(s["text"]) for s in samples}
    for copy, orig in SAMPLE_REPRINTS.items():
        assert jaccard(sh[copy], sh[orig]) >= 0.7, copy
        assert samples[[s["id"] for s in samples].index(copy)]["title"] != next(
            s["title"] for s in samples if s["id"] == orig
        )
    pairs = set(SAMPLE_REPRINTS.items()) | {(b, a) for a, b in SAMPLE_REPRINTS.items()}
    for x, y in itertools.combinations(sh, 2):
        if (x, y) not in pairs:
            assert jaccard(sh[x], sh[y]) < 0.1, (x, y)
