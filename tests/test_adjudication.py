"""Adjudication policies and conflict detection on hand-built ANNOTATIONS rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.pull.adjudication import (
    MAJORITY_ANNOTATOR,
    REVIEW_MARK,
    AdjudicationError,
    adjudicate,
    content_of,
    find_conflicts,
)
from corpus.schemas import ANNOTATIONS

TEXT = "قصفت القوات مدينة حلب يوم الأحد"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def ent(rid, start, end, label):
    return {"id": rid, "start": start, "end": end, "label": label, "text": TEXT[start:end]}


def trig(rid, start, end, etype):
    return {"id": rid, "start": start, "end": end, "event_type": etype, "text": TEXT[start:end]}


def row(
    aid,
    annotator,
    minutes,
    sid="s1",
    cancelled=False,
    entities=(),
    triggers=(),
    args=(),
    choice="has-event",
    model_version=None,
):
    return {
        "annotation_id": aid,
        "task_id": 100 + hash(sid) % 7,
        "project_id": 1,
        "sentence_id": sid,
        "article_id": "a1",
        "annotator": annotator,
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=minutes),
        "lead_time": 12.5,
        "cancelled": cancelled,
        "prediction_id": None,
        "prediction_model_version": model_version,
        "sentence_text": TEXT,
        "entities": list(entities),
        "triggers": list(triggers),
        "arguments": [{"trigger_id": t, "entity_id": e, "role": r} for t, e, r in args],
        "choice": choice,
        "raw_result": "[]",
    }


def table(rows):
    return pa.Table.from_pylist(rows, schema=ANNOTATIONS)


# "قصفت" 0-4 trigger, "القوات" 5-11 entity, "حلب" 18-21 place
ATTACK = trig("t", 0, 4, "Conflict.Attack")
FORCES = ent("e1", 5, 11, "ORG")
ALEPPO = ent("e2", 18, 21, "GPE")


def test_text_slices_are_what_the_rows_claim():
    assert TEXT[0:4] == "قصفت" and TEXT[5:11] == "القوات" and TEXT[18:21] == "حلب"


def test_latest_picks_newest_updated_and_skips_cancelled():
    rows = [
        row(1, "ann-a", 5, entities=[FORCES]),
        row(2, "ann-b", 9, entities=[ALEPPO]),
        row(3, "ann-c", 20, cancelled=True),  # newest but skipped: never wins
        row(4, "ann-a", 1, sid="s2"),
        row(5, "ann-a", 3, sid="s3", cancelled=True),  # only cancelled: sentence left out
    ]
    out = adjudicate(table(rows))
    assert out.schema == ANNOTATIONS
    assert out.column("sentence_id").to_pylist() == ["s1", "s2"]
    assert out.column("annotation_id").to_pylist() == [2, 4]


def test_latest_ties_on_updated_fall_back_to_id():
    rows = [row(7, "ann-a", 5), row(9, "ann-b", 5), row(8, "ann-c", 5)]
    assert adjudicate(table(rows)).column("annotation_id").to_pylist() == [9]


def test_reviewer_wins_when_present_else_latest():
    rows = [
        row(1, "rev", 1, entities=[FORCES]),
        row(2, "ann-b", 9, entities=[ALEPPO]),
        row(3, "ann-b", 2, sid="s2"),
        row(4, "ann-c", 4, sid="s2"),
    ]
    out = adjudicate(table(rows), policy="reviewer", reviewer="rev")
    assert out.column("annotation_id").to_pylist() == [1, 4]


def test_majority_keeps_spans_chosen_by_more_than_half():
    rows = [
        row(
            1, "a", 1, entities=[FORCES, ALEPPO], triggers=[ATTACK], args=[("t", "e1", "Attacker")]
        ),
        row(
            2,
            "b",
            2,
            entities=[dict(FORCES, id="x1")],
            triggers=[dict(ATTACK, id="xt")],
            args=[("xt", "x1", "Attacker")],
            choice="no-event",
        ),
        row(
            3,
            "c",
            3,
            entities=[dict(ALEPPO, id="y2"), ent("y3", 5, 11, "PER")],
            triggers=[dict(ATTACK, id="yt")],
            args=[("yt", "y2", "Place")],
            choice="has-event",
        ),
    ]
    out = adjudicate(table(rows), policy="majority").to_pylist()
    assert len(out) == 1
    r = out[0]
    assert r["annotator"] == MAJORITY_ANNOTATOR
    # FORCES ORG: a, b (2 of 3); ALEPPO GPE: a, c (2 of 3); PER on 5-11: only c.
    assert {(e["start"], e["end"], e["label"]) for e in r["entities"]} == {
        (5, 11, "ORG"),
        (18, 21, "GPE"),
    }
    assert [(t["start"], t["end"], t["event_type"]) for t in r["triggers"]] == [
        (0, 4, "Conflict.Attack")
    ]
    c = content_of(r)
    # Attacker: a, b; Place: only c.
    assert c.arguments == {((0, 4, "Conflict.Attack"), (5, 11, "ORG"), "Attacker")}
    assert r["choice"] == "has-event"  # a and c
    # Ids come from the newest annotation holding the span, so relations resolve.
    assert {e["id"] for e in r["entities"]} == {"x1", "y2"}
    raw = json.loads(r["raw_result"])
    assert raw["policy"] == "majority" and raw["from_annotations"] == [1, 2, 3]
    assert sum(1 for item in raw["result"] if item["type"] == "relation") == 1


def test_majority_of_two_needs_both_and_uses_each_annotators_newest():
    rows = [
        row(1, "a", 1, entities=[FORCES]),
        row(2, "a", 5, entities=[FORCES, ALEPPO]),  # a's newest
        row(3, "b", 3, entities=[dict(ALEPPO, id="z")]),
    ]
    r = adjudicate(table(rows), policy="majority").to_pylist()[0]
    assert [(e["start"], e["label"]) for e in r["entities"]] == [(18, "GPE")]


def test_majority_single_annotator_row_kept_unchanged():
    rows = [row(1, "a", 1, entities=[FORCES]), row(2, "a", 3, entities=[ALEPPO])]
    r = adjudicate(table(rows), policy="majority").to_pylist()[0]
    assert r["annotation_id"] == 2 and r["annotator"] == "a"


def test_majority_choice_tie_goes_to_newest():
    rows = [row(1, "a", 1, choice="no-event"), row(2, "b", 2, choice="noise")]
    assert adjudicate(table(rows), policy="majority").column("choice").to_pylist() == ["noise"]


@pytest.mark.parametrize("policy", ["latest", "reviewer", "majority"])
def test_review_decision_wins_under_every_policy(policy):
    rows = [
        row(1, "rev", 30, entities=[FORCES]),
        row(2, "b", 40, entities=[FORCES]),
        row(3, "c", 40, entities=[FORCES]),
        row(9, "boss", 10, entities=[ALEPPO], model_version=REVIEW_MARK + "b"),
    ]
    out = adjudicate(table(rows), policy=policy, reviewer="rev")
    assert out.column("annotation_id").to_pylist() == [9]


def test_unknown_policy_and_missing_reviewer_are_typed_errors():
    with pytest.raises(AdjudicationError, match="unknown policy 'vote'"):
        adjudicate(table([row(1, "a", 1)]), policy="vote")
    with pytest.raises(AdjudicationError, match="reviewer"):
        adjudicate(table([row(1, "a", 1)]), policy="reviewer")


def test_empty_table():
    out = adjudicate(table([]), policy="majority")
    assert out.num_rows == 0 and out.schema == ANNOTATIONS


def test_conflicts_found_and_agreeing_sentences_ignored():
    rows = [
        # s1: same content with different region ids: no conflict
        row(1, "a", 1, entities=[FORCES], triggers=[ATTACK], args=[("t", "e1", "Attacker")]),
        row(
            2,
            "b",
            2,
            entities=[dict(FORCES, id="q")],
            triggers=[dict(ATTACK, id="w")],
            args=[("w", "q", "Attacker")],
        ),
        # s2: role differs and choice differs
        row(
            3,
            "a",
            1,
            sid="s2",
            entities=[FORCES],
            triggers=[ATTACK],
            args=[("t", "e1", "Attacker")],
        ),
        row(
            4,
            "b",
            2,
            sid="s2",
            entities=[FORCES],
            triggers=[ATTACK],
            args=[("t", "e1", "Target")],
            choice="no-event",
        ),
        # s3: one annotator twice: not a conflict
        row(5, "a", 1, sid="s3", entities=[FORCES]),
        row(6, "a", 2, sid="s3", entities=[ALEPPO]),
        # s4: the other annotator cancelled: not a conflict
        row(7, "a", 1, sid="s4", entities=[FORCES]),
        row(8, "b", 2, sid="s4", cancelled=True),
    ]
    conflicts = find_conflicts(table(rows))
    assert [c.sentence_id for c in conflicts] == ["s2"]
    assert conflicts[0].differs == ["arguments", "choice"]
    assert [r["annotation_id"] for r in conflicts[0].rows] == [4, 3]


def test_conflict_settled_by_newer_review_decision_but_reopened_by_newer_edit():
    base = [row(1, "a", 1, entities=[FORCES]), row(2, "b", 2, entities=[ALEPPO])]
    decision = row(3, "boss", 5, entities=[FORCES], model_version=REVIEW_MARK + "a")
    assert find_conflicts(table(base + [decision])) == []
    edited = row(2, "b", 9, entities=[ALEPPO, dict(FORCES, id="n")])
    assert [c.sentence_id for c in find_conflicts(table([base[0], edited, decision]))] == ["s1"]


spans = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["ORG", "GPE"])), max_size=3, unique=True
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["s1", "s2", "s3"]),
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 50),
            st.booleans(),
            spans,
        ),
        max_size=12,
    ),
    st.sampled_from(["latest", "reviewer", "majority"]),
)
def test_property_one_live_row_per_sentence(specs, policy):
    rows = [
        row(
            i,
            who,
            minute,
            sid=sid,
            cancelled=cancelled,
            entities=[ent(f"r{k}", 5 * k, 5 * k + 4, label) for k, label in sp],
        )
        for i, (sid, who, minute, cancelled, sp) in enumerate(specs)
    ]
    out = adjudicate(table(rows), policy=policy, reviewer="b")
    live = {r["sentence_id"] for r in rows if not r["cancelled"]}
    assert sorted(out.column("sentence_id").to_pylist()) == sorted(live)
    assert not any(out.column("cancelled").to_pylist())
    by_id = {r["annotation_id"]: r for r in rows}
    for r in out.to_pylist():
        if r["annotator"] != MAJORITY_ANNOTATOR:
            assert by_id[r["annotation_id"]] == r  # chosen rows are passed through untouched
        else:  # every kept span was chosen by more than half of the sentence's annotators
            newest = {}
            for x in sorted(rows, key=lambda x: (x["updated_at"], x["annotation_id"])):
                if x["sentence_id"] == r["sentence_id"] and not x["cancelled"]:
                    newest[x["annotator"]] = content_of(x).entities
            assert len(newest) >= 2
            for span in content_of(r).entities:
                assert sum(span in s for s in newest.values()) * 2 > len(newest)
            for span in set().union(*newest.values()) - content_of(r).entities:
                assert sum(span in s for s in newest.values()) * 2 <= len(newest)


def test_review_task_shows_each_version_as_a_prediction():
    from pullkit import VOCAB

    from corpus.pull.adjudication import review_key, review_task
    from corpus.pull.parse import parse_result

    rows = [
        row(1, "ann-a", 1, entities=[FORCES], triggers=[ATTACK], args=[("t", "e1", "Attacker")]),
        row(2, "ann-b", 2, entities=[dict(FORCES, id="q")], triggers=[dict(ATTACK, id="w")],
            args=[("w", "q", "Target")]),
    ]  # fmt: skip
    (conflict,) = find_conflicts(table(rows))
    task = review_task(conflict, "عنوان", "قبل", None)
    assert task["data"]["text"] == TEXT and task["data"]["sentence_id"] == "s1"
    assert task["data"]["title"] == "عنوان" and task["data"]["context_after"] == ""
    assert task["data"]["review_key"] == review_key(conflict)
    assert [p["model_version"] for p in task["predictions"]] == ["ann-b #2", "ann-a #1"]
    # Each prediction is a valid Label Studio result that parses back to the same version.
    for pred, original in zip(task["predictions"], [rows[1], rows[0]], strict=True):
        parsed = parse_result(pred["result"], TEXT, VOCAB)
        assert parsed.problems == []
        assert content_of({**original}) == content_of(
            {"entities": parsed.entities, "triggers": parsed.triggers,
             "arguments": parsed.arguments, "choice": parsed.choice}
        )  # fmt: skip
    # A new edit makes a new key; the same versions keep theirs.
    edited = [rows[0], {**rows[1], "updated_at": rows[1]["updated_at"] + timedelta(minutes=1)}]
    assert review_key(find_conflicts(table(edited))[0]) != review_key(conflict)
    assert review_key(find_conflicts(table(rows))[0]) == review_key(conflict)
