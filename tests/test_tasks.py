"""Building Label Studio tasks and predictions from stage files (pure: no server)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.labelstudio.tasks import (
    TASK_DATA_KEYS,
    Selection,
    build_prediction,
    build_task,
    check_spans,
    event_flags,
    iter_task_batches,
    neighbours,
    plan_push,
)
from corpus.ontology import default_ontology_path, load_ontology

ONTOLOGY = load_ontology(default_ontology_path())


def rows(table: pa.Table) -> dict[str, dict]:
    return {r["sentence_id"]: r for r in table.to_pylist()}


@pytest.fixture
def tables(stage_tables):
    return stage_tables()


def all_tasks(tables, plan, batch_size=1000):
    out, rejected = [], []
    for batch in iter_task_batches(
        tables["sentences"], tables["predictions"], tables["articles"], plan, ONTOLOGY, batch_size
    ):
        out.extend(batch.tasks)
        rejected.extend(batch.rejected)
    return out, rejected


def test_fixture_sentences_are_slices_of_their_articles(tables):
    texts = {a["article_id"]: a["text"] for a in tables["articles"].to_pylist()}
    for s in tables["sentences"].to_pylist():
        assert texts[s["article_id"]][s["start"] : s["end"]] == s["text"]


def test_prediction_results_use_code_point_offsets_after_an_emoji(tables):
    sentence = next(r for r in tables["sentences"].to_pylist() if r["text"].startswith("🔥"))
    pred = rows(tables["predictions"])[sentence["sentence_id"]]
    prediction, rejected = build_prediction(
        sentence["sentence_id"], sentence["text"], pred["spans"], "lexicon-1", ONTOLOGY
    )
    by_label = {r["value"]["labels"][0]: r for r in prediction["result"]}
    die = by_label["Life.Die"]
    text = sentence["text"]
    # The emoji is one code point in Python and two UTF-16 units in a browser: offsets are the
    # Python ones, and the text still matches.
    assert die["value"]["start"] == text.index("قُتِلوا") == 28
    assert die["value"]["text"] == "قُتِلوا" == text[die["value"]["start"] : die["value"]["end"]]
    assert (die["from_name"], die["to_name"], die["type"]) == ("triggers", "text", "labels")
    num = by_label["NUM"]
    assert (num["from_name"], num["value"]["text"]) == ("entities", "٣٠")
    assert prediction["model_version"] == "lexicon-1"
    assert prediction["score"] == 0.6  # the least certain region
    # The third span ends between قـ and its damma: cut through a character, so left out.
    assert len(rejected) == 1 and "cuts through a character" in rejected[0].reason
    assert rejected[0].span["start"] == 28 and rejected[0].span["end"] == 29


def test_invalid_spans_are_reported_with_reasons_and_valid_ones_kept(tables):
    sentence = next(r for r in tables["sentences"].to_pylist() if "بغداد" in r["text"])
    pred = rows(tables["predictions"])[sentence["sentence_id"]]
    good, bad = check_spans(pred["spans"], sentence["text"], ONTOLOGY)
    assert [(s.label, s.kind) for s in good] == [("Contact.Meet", "trigger"), ("GPE", "entity")]
    reasons = sorted(reason for _, reason in bad)
    assert len(reasons) == 3
    assert any("outside the sentence" in r for r in reasons)  # [10, 999)
    assert any("whitespace" in r for r in reasons)  # " مع"
    assert any("is an event type, not a entity" in r for r in reasons)  # wrong kind


def test_unknown_label_and_hashtag_rtl_mark_sentence(tables):
    sentence = next(r for r in tables["sentences"].to_pylist() if "#دير_الزور" in r["text"])
    assert sentence["text"].startswith("\u200f")  # the RTL mark stays: offsets count it
    pred = rows(tables["predictions"])[sentence["sentence_id"]]
    prediction, rejected = build_prediction(
        sentence["sentence_id"], sentence["text"], pred["spans"], "v", ONTOLOGY
    )
    texts = [r["value"]["text"] for r in prediction["result"]]
    assert texts == ["تظاهر", "#دير_الزور"]
    assert [r.reason for r in rejected] == ["label 'XYZ' is not in ontology 'conflict_events'"]


def test_tatweel_span_is_kept_whole(tables):
    sentence = next(r for r in tables["sentences"].to_pylist() if "ـ" in r["text"])
    pred = rows(tables["predictions"])[sentence["sentence_id"]]
    prediction, rejected = build_prediction(
        sentence["sentence_id"], sentence["text"], pred["spans"], "v", ONTOLOGY
    )
    assert not rejected
    assert prediction["result"][0]["value"]["text"] == "المـــــدينة"


def test_region_ids_are_stable_and_duplicates_collapse():
    text = "قصفت الطائرات القرية"
    span = {"start": 0, "end": 4, "label": "Conflict.Attack", "kind": "trigger", "score": 0.5}
    p1, _ = build_prediction("s1", text, [span], "v", ONTOLOGY)
    p2, rejected = build_prediction("s1", text, [span, dict(span)], "v", ONTOLOGY)
    assert [r["id"] for r in p1["result"]] == [r["id"] for r in p2["result"]]
    assert len(p2["result"]) == 1 and rejected[0].reason == "duplicate span"
    p3, _ = build_prediction("s2", text, [span], "v", ONTOLOGY)
    assert p3["result"][0]["id"] != p1["result"][0]["id"]


def test_no_prediction_when_nothing_survives():
    bad = {"start": 0, "end": 99, "label": "PER", "kind": "entity", "score": 0.5}
    prediction, rejected = build_prediction("s", "نص قصير", [bad], "v", ONTOLOGY)
    assert prediction is None and len(rejected) == 1


def test_build_task_has_exactly_the_contract_keys():
    task = build_task("s1", "a1", "نص", None, None, "بعده", {"model_version": "v", "result": []})
    assert tuple(task["data"]) == TASK_DATA_KEYS
    assert task["data"]["title"] == "" and task["data"]["context_after"] == "بعده"
    assert task["predictions"][0]["model_version"] == "v"
    assert "predictions" not in build_task("s1", "a1", "نص", "t", "", "")


def test_tasks_carry_title_neighbours_and_predictions(tables):
    plan = plan_push(tables["sentences"], tables["predictions"], set())
    tasks, rejected = all_tasks(tables, plan)
    by_sid = {t["data"]["sentence_id"]: t for t in tasks}
    assert len(by_sid) == tables["sentences"].num_rows == len(tasks)
    sents = tables["sentences"].to_pylist()
    first, second, third = sents[0], sents[1], sents[2]
    t2 = by_sid[second["sentence_id"]]["data"]
    assert t2["title"] == "هجوم على حلب"
    assert (t2["context_before"], t2["context_after"]) == (first["text"], third["text"])
    t1 = by_sid[first["sentence_id"]]["data"]
    assert t1["context_before"] == ""  # first sentence of its article
    last_aleppo = by_sid[third["sentence_id"]]["data"]
    assert last_aleppo["context_after"] == ""  # never the next article's sentence
    english = next(t for t in tasks if t["data"]["text"].startswith("Breaking"))
    assert english["data"]["title"] == "" and "predictions" not in english
    assert sum("predictions" in t for t in tasks) == 5
    assert len(rejected) == 5  # cut character, XYZ, out of range, whitespace, wrong kind
    json.dumps(tasks)  # plain JSON: nothing Arrow-typed leaks through


def test_neighbours_do_not_depend_on_row_order(tables):
    shuffled = tables["sentences"].take(pa.array([6, 3, 0, 2, 5, 1, 4]))
    before, after = neighbours(shuffled)
    ids = shuffled.column("sentence_id").to_pylist()
    art = shuffled.column("article_id").to_pylist()
    idx = shuffled.column("index").to_pylist()
    for i in range(shuffled.num_rows):
        if idx[i] == 0:
            assert before[i] == -1
        else:
            assert (art[before[i]], idx[before[i]]) == (art[i], idx[i] - 1)
        if after[i] != -1:
            assert (art[after[i]], idx[after[i]]) == (art[i], idx[i] + 1), ids[i]


def test_events_go_first_then_file_order(tables):
    plan = plan_push(tables["sentences"], tables["predictions"], set())
    flags = event_flags(tables["sentences"], tables["predictions"])
    order = list(plan.positions)
    ev = [p for p in order if flags[p]]
    assert order[: len(ev)] == ev == sorted(ev)
    assert order[len(ev) :] == sorted(p for p in order if not flags[p])
    assert plan.with_events == len(ev) == 4


def test_only_with_events_limit_and_existing(tables):
    s, p = tables["sentences"], tables["predictions"]
    plan = plan_push(s, p, set(), Selection(only_with_events=True))
    assert plan.selected == plan.to_send == 4
    plan = plan_push(s, p, set(), Selection(limit=2))
    assert plan.to_send == 2 and plan.with_events == 2
    sent = set(s.column("sentence_id").take(pa.array(plan.positions)).to_pylist())
    again = plan_push(s, p, sent, Selection(limit=2))
    assert (again.to_send, again.already, again.selected) == (0, 2, 2)
    more = plan_push(s, p, sent, Selection(limit=5))
    assert (more.to_send, more.already) == (3, 2)


def test_sample_is_seeded_and_stable(stage_tables):
    t = stage_tables(200)
    s, p = t["sentences"], t["predictions"]
    a = plan_push(s, p, set(), Selection(sample=20, seed=7))
    b = plan_push(s, p, set(), Selection(sample=20, seed=7))
    c = plan_push(s, p, set(), Selection(sample=20, seed=8))
    assert a.to_send == 20 and list(a.positions) == list(b.positions)
    assert set(a.positions) != set(c.positions)
    # Existing sentences are left out after sampling: the same sample, minus what was sent.
    sent = set(s.column("sentence_id").take(pa.array(a.positions[:5])).to_pylist())
    d = plan_push(s, p, sent, Selection(sample=20, seed=7))
    assert set(d.positions) == set(a.positions[5:]) and d.already == 5


def test_sample_with_only_events_and_limit(stage_tables):
    t = stage_tables(300)
    flags = event_flags(t["sentences"], t["predictions"])
    plan = plan_push(t["sentences"], t["predictions"], set(), Selection(sample=30, seed=1,
                     only_with_events=True, limit=10))  # fmt: skip
    assert plan.to_send == 10 and flags[plan.positions].all()


def test_duplicate_sentence_rows_become_one_task(tables):
    s = tables["sentences"]
    doubled = pa.concat_tables([s, s.slice(0, 2)])
    plan = plan_push(doubled, tables["predictions"], set())
    ids = doubled.column("sentence_id").take(pa.array(plan.positions)).to_pylist()
    assert len(ids) == len(set(ids)) == s.num_rows


def test_without_predictions_every_sentence_still_goes(tables):
    plan = plan_push(tables["sentences"], None, set())
    tasks, _ = all_tasks({**tables, "predictions": None}, plan)
    assert len(tasks) == tables["sentences"].num_rows and plan.with_events == 0
    assert not any("predictions" in t for t in tasks)


def test_batches_split_the_plan(stage_tables):
    t = stage_tables(95)
    plan = plan_push(t["sentences"], t["predictions"], set())
    sizes = [
        len(b.tasks)
        for b in iter_task_batches(t["sentences"], t["predictions"], t["articles"], plan,
                                   ONTOLOGY, batch_size=40)
    ]  # fmt: skip
    assert sizes == [40, 40, 22] and sum(sizes) == t["sentences"].num_rows


# --- property: whatever the spans, what is sent matches the text; nothing is lost -------------

ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئةى"
MARKS = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652"  # tanwin, harakat, shadda, sukun
ALPHABET = ARABIC + MARKS + "ـ ٠١٢٣٤٥٦٧٨٩#_.,،؟!\u200f\u200e🔥👍🏽" + "abc "


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=ALPHABET, min_size=1, max_size=60),
    raw=st.lists(
        st.tuples(
            st.integers(-3, 70),
            st.integers(-3, 70),
            st.sampled_from(["PER", "GPE", "Conflict.Attack", "Life.Die", "NOPE"]),
            st.sampled_from(["entity", "trigger", "other"]),
            st.one_of(st.floats(0, 1), st.just(float("nan"))),
        ),
        max_size=8,
    ),
)
def test_every_sent_region_matches_the_text_and_every_span_is_accounted_for(text, raw):
    spans = [
        {"start": a, "end": b, "label": lab, "kind": k, "score": sc, "source": "x"}
        for a, b, lab, k, sc in raw
    ]
    prediction, rejected = build_prediction("s", text, spans, "v", ONTOLOGY)
    results = prediction["result"] if prediction else []
    import regex

    bounds = {0} | {m.end() for m in regex.finditer(r"\X", text)}
    for r in results:
        v = r["value"]
        assert 0 <= v["start"] < v["end"] <= len(text)
        assert text[v["start"] : v["end"]] == v["text"] and v["text"].strip()
        assert v["start"] in bounds and v["end"] in bounds
        label = v["labels"][0]
        assert r["from_name"] == ("entities" if label in ONTOLOGY.entity_types else "triggers")
    # Every span is either sent or rejected with a reason (a repeat counts as rejected).
    assert len(results) + len(rejected) == len(spans)
    assert all(r.reason for r in rejected)
    if prediction:
        assert np.isfinite(prediction["score"]) and 0 <= prediction["score"] <= 1


TRICKY = (
    ARABIC[:8] + MARKS + "ـ ab1.\r\n\t\u0600\u06dd\u200c\u200d\u200f"  # Prepend, ZWNJ/ZWJ, CR LF
    "\U0001f1f8\U0001f1fe"  # regional indicators (a flag is a pair)
    "👩\u200d👩👍🏽\ufe0f©"  # ZWJ sequence, skin tone, variation selector, pictographic
    "\u1100\u1161\uac00\u0915\u094d\u0937\u0e33"  # Hangul jamo/syllable, Devanagari conjunct, Thai
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=TRICKY, min_size=0, max_size=40))
def test_local_boundary_check_agrees_with_walking_the_clusters(text):
    from corpus.labelstudio.tasks import _Boundaries, grapheme_boundaries

    local, walked = _Boundaries(text), grapheme_boundaries(text)
    assert [p in local for p in range(len(text) + 1)] == [p in walked for p in range(len(text) + 1)]
