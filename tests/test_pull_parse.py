"""Pull from hand-written Label Studio full-JSON exports (tests/fixtures/exports/).

export_v1.json: 8 tasks, 11 annotations by two users (one exported with completed_by as an id,
one expanded with an email): relations in both directions, a cancelled annotation, a region whose
text does not match the sentence, an unknown label plus an entity-to-entity relation, a task whose
text differs from the workspace sentence and a task whose sentence is gone.
export_v2.json: annotation 1001 edited, 1002 deleted, 1007 fixed, 1012 added on task 107.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pullkit import V1, V2, VOCAB, write_sentences  # noqa: E402  (tests/ is on sys.path)

import corpus.pull.parse as pull
from corpus.pull.guard import OntologyDropsLabels
from corpus.pull.parse import (
    Pseudonymizer,
    PullError,
    Vocabulary,
    parse_result,
    pull_snapshot,
)
from corpus.schemas import ANNOTATIONS, QUARANTINE
from corpus.workspace import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace.init(tmp_path / "ws")
    write_sentences(w)
    return w


def rows_by_id(ws: Workspace) -> dict[int, dict]:
    t = pq.read_table(ws.annotations_path)
    assert t.schema == ANNOTATIONS  # the writer round-trips the explicit schema
    return {r["annotation_id"]: r for r in t.to_pylist()}


def fixture_annotations(path: Path) -> dict[int, dict]:
    return {a["id"]: a for t in json.loads(path.read_text("utf-8")) for a in t["annotations"]}


def test_first_pull_counts(ws):
    report = pull_snapshot(ws, V1, 7, snapshot_id=1, vocab=VOCAB)
    assert (report.tasks, report.annotations) == (8, 11)
    assert (report.added, report.updated, report.unchanged, report.deleted) == (7, 0, 0, 0)
    assert report.quarantined == 4 and report.cancelled == 1 and report.full
    assert sorted(rows_by_id(ws)) == [1001, 1002, 1003, 1004, 1005, 1006, 1011]


def test_row_content(ws):
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    r = rows_by_id(ws)[1001]
    assert (r["task_id"], r["project_id"], r["sentence_id"], r["article_id"]) == (
        101,
        7,
        "s-aleppo",
        "a-1",
    )
    assert r["lead_time"] == 42.5 and r["cancelled"] is False
    assert r["created_at"].isoformat() == "2024-05-01T10:00:00+00:00"
    assert r["updated_at"].isoformat() == "2024-05-01T10:00:42.500000+00:00"
    assert r["prediction_id"] == 501 and r["choice"] == "has-event"
    assert [(e["label"], e["text"]) for e in r["entities"]] == [
        ("ORG", "القوات الحكومية"),
        ("GPE", "حلب"),
        ("PER", "مدنيين"),
    ]
    assert [(t["event_type"], t["text"]) for t in r["triggers"]] == [
        ("Conflict.Attack", "قصفت"),
        ("Life.Die", "مقتل"),
    ]
    # e2 -> t1 was drawn from the entity to the trigger: still a (trigger, entity) argument.
    assert [(a["trigger_id"], a["entity_id"], a["role"]) for a in r["arguments"]] == [
        ("t1", "e1", "Attacker"),
        ("t1", "e2", "Place"),
        ("t2", "e3", "Victim"),
    ]
    original = fixture_annotations(V1)[1001]["result"]
    assert json.loads(r["raw_result"]) == original  # kept losslessly
    cancelled = rows_by_id(ws)[1005]
    assert cancelled["cancelled"] is True and cancelled["entities"] == []


def test_offsets_are_code_points_into_the_sentence(ws):
    """Diacritics, tatweel, emoji (2 UTF-16 units), Arabic-Indic digits, hashtag, RLM."""
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    rows = rows_by_id(ws)
    for r in rows.values():
        for span in r["entities"] + r["triggers"]:
            assert r["sentence_text"][span["start"] : span["end"]] == span["text"]
    deir = rows[1003]
    assert "🔥" in deir["sentence_text"]
    tag = next(e for e in deir["entities"] if e["label"] == "GPE")
    assert (tag["text"], tag["end"]) == ("#دير_الزور", len(deir["sentence_text"]))
    assert next(e["text"] for e in deir["entities"] if e["label"] == "ORG") == "الجيـــش السوري"
    baghdad = rows[1006]
    assert baghdad["sentence_text"][0] == "\u200f"


def test_pseudonymous_annotators(ws, tmp_path):
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    rows = rows_by_id(ws)
    user1, user2 = rows[1001]["annotator"], rows[1002]["annotator"]
    assert user1 == rows[1003]["annotator"] == rows[1006]["annotator"]
    assert user2 == rows[1004]["annotator"] and user1 != user2
    assert user1.startswith("ann-") and len(user1) == 16
    # Neither the email nor the Label Studio id appears anywhere in the file.
    blob = ws.annotations_path.read_bytes()
    assert b"second.annotator" not in blob and b"example.org" not in blob
    # Stable per workspace (salt kept private in state), different in another workspace.
    salt_file = ws.state_dir / "pseudonyms.json"
    assert stat.S_IMODE(os.stat(salt_file).st_mode) == 0o600
    assert Pseudonymizer.for_workspace(ws)(1) == user1
    assert Pseudonymizer.for_workspace(ws)({"id": 2, "email": "x@y"}) == user2
    other = Workspace.init(tmp_path / "other")
    assert Pseudonymizer.for_workspace(other)(1) != user1


def test_quarantine_reasons(ws):
    report = pull_snapshot(ws, V1, 7, vocab=VOCAB)
    q = pq.read_table(ws.quarantine_dir / "pull.parquet")
    assert q.schema == QUARANTINE
    by_loc = {r["location"]: r for r in q.to_pylist()}
    assert sorted(by_loc) == [
        "task 104 annotation 1007",
        "task 105 annotation 1008",
        "task 106 annotation 1009",
        "task 108 annotation 1010",
    ]
    assert by_loc["task 104 annotation 1007"]["reason"] == (
        "region m1: text[5:11] is 'مسلحون' but the region says 'مسلحين'; "
        "relation m2->m1: end m1 is not a valid region"
    )
    r1008 = by_loc["task 105 annotation 1008"]["reason"]
    assert "region c3: 'VIP' is not an entity type of the ontology" in r1008
    assert "relation c1->c2: joins entity to entity, not a trigger to an entity" in r1008
    assert "differs from sentence s-beirut" in by_loc["task 106 annotation 1009"]["reason"]
    assert "s-gone is not in data/sentences.parquet" in by_loc["task 108 annotation 1010"]["reason"]
    assert all(r["source"] == "label-studio project 7" for r in by_loc.values())
    # The raw annotation is kept so it can be fixed: nothing is lost.
    raw = json.loads(by_loc["task 104 annotation 1007"]["raw"])
    assert raw["annotation"] == fixture_annotations(V1)[1007]
    assert len(report.quarantine_reasons) == 4


def test_second_pull_reflects_edits_and_deletions_and_parses_only_changes(ws, monkeypatch):
    pull_snapshot(ws, V1, 7, snapshot_id=1, vocab=VOCAB)
    parsed = []
    real = pull.parse_annotation

    def spy(task, ann, sentence, ctx):
        parsed.append(ann["id"])
        return real(task, ann, sentence, ctx)

    monkeypatch.setattr(pull, "parse_annotation", spy)
    report = pull_snapshot(ws, V2, 7, snapshot_id=2, vocab=VOCAB)
    assert not report.full
    assert (report.added, report.updated, report.unchanged, report.deleted) == (2, 1, 5, 1)
    assert report.deleted_ids == [1002] and report.quarantined == 3
    # Unchanged annotations were copied, not parsed again (1009/1010 fail before parsing).
    assert sorted(parsed) == [1001, 1007, 1008, 1012]
    rows = rows_by_id(ws)
    assert sorted(rows) == [1001, 1003, 1004, 1005, 1006, 1007, 1011, 1012]
    assert [t["event_type"] for t in rows[1001]["triggers"]] == ["Conflict.Attack"]
    assert rows[1001]["lead_time"] == 60.0
    assert ws.read_state("pull")["projects"]["7"]["snapshot_id"] == 2
    # The same snapshot again: nothing changed.
    parsed.clear()
    again = pull_snapshot(ws, V2, 7, vocab=VOCAB)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, 0, 8, 0)
    assert sorted(parsed) == [1008]  # still quarantined, so still reported
    # The quarantine lists what the latest snapshot could not use: 1007 was fixed and left it.
    q = pq.read_table(ws.quarantine_dir / "pull.parquet").column("location").to_pylist()
    assert sorted(q) == [
        "task 105 annotation 1008",
        "task 106 annotation 1009",
        "task 108 annotation 1010",
    ]


def test_changed_ontology_or_sentences_revalidates_everything(ws):
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    wider = Vocabulary(VOCAB.entity_types | {"NEW"}, VOCAB.event_roles, VOCAB.choices, hash="v2")
    report = pull_snapshot(ws, V1, 7, vocab=wider)
    assert report.full and report.updated == 7 and report.unchanged == 0 and report.quarantined == 4
    # 1002 labels حلب as LOC: an ontology without LOC would remove it, so the pull is refused
    # and the file is left as it was (issue 11, item 2).
    before = ws.annotations_path.read_bytes()
    stricter = Vocabulary(VOCAB.entity_types - {"LOC"}, VOCAB.event_roles, VOCAB.choices, hash="v3")
    with pytest.raises(OntologyDropsLabels, match=r"entities: LOC \(1 annotations\)"):
        pull_snapshot(ws, V1, 7, vocab=stricter)
    assert ws.annotations_path.read_bytes() == before and 1002 in rows_by_id(ws)


def test_broken_export_leaves_previous_pull_untouched(ws, tmp_path):
    pull_snapshot(ws, V1, 7, snapshot_id=1, vocab=VOCAB)
    before = ws.annotations_path.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_bytes(V2.read_bytes()[:9000])
    with pytest.raises(PullError, match=r"not valid JSON after \d+ tasks"):
        pull_snapshot(ws, broken, 7, snapshot_id=2, vocab=VOCAB)
    assert ws.annotations_path.read_bytes() == before
    assert ws.read_state("pull")["projects"]["7"]["snapshot_id"] == 1
    with pytest.raises(PullError, match="file not found"):
        pull_snapshot(ws, tmp_path / "nope.json", 7, vocab=VOCAB)


def test_other_projects_rows_survive_and_review_rows_are_marked(ws, tmp_path):
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    review_export = tmp_path / "review.json"
    tasks = json.loads(V1.read_text("utf-8"))[:1]
    tasks[0]["annotations"] = tasks[0]["annotations"][:1]
    tasks[0]["annotations"][0]["id"] = 5001
    review_export.write_text(json.dumps(tasks, ensure_ascii=False), "utf-8")
    report = pull_snapshot(ws, review_export, 9, review=True, vocab=VOCAB)
    assert report.added == 1
    rows = rows_by_id(ws)
    assert len(rows) == 8 and rows[5001]["project_id"] == 9
    assert rows[5001]["prediction_model_version"] == "review:manual"
    # Another project's pull leaves project 7's quarantined annotations listed.
    assert pq.ParquetFile(ws.quarantine_dir / "pull.parquet").metadata.num_rows == 4
    # Pulling the main project again does not delete the review decision.
    pull_snapshot(ws, V2, 7, vocab=VOCAB)
    assert 5001 in rows_by_id(ws)


def test_missing_sentences_file_is_a_typed_error(tmp_path):
    from corpus.errors import StageInputMissing

    w = Workspace.init(tmp_path / "empty")
    with pytest.raises(StageInputMissing, match="corpus segment"):
        pull_snapshot(w, V1, 7, vocab=VOCAB)


# --- parse_result, region by region --------------------------------------------------------

TEXT = "هاجم مسلحون نقطة تفتيش"


def labels(rid, start, end, label, control="entities", text=None):
    return {
        "id": rid,
        "from_name": control,
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text or TEXT[start:end], "labels": [label]},
    }


def test_relation_checks():
    base = [labels("t", 0, 4, "Conflict.Attack", "triggers"), labels("e", 5, 11, "PER")]
    ok = parse_result(
        base + [{"type": "relation", "from_id": "e", "to_id": "t", "labels": ["Attacker"]}],
        TEXT,
        VOCAB,
    )
    assert ok.problems == [] and ok.arguments == [
        {"trigger_id": "t", "entity_id": "e", "role": "Attacker"}
    ]
    cases = {
        "argument has no role": {"from_id": "t", "to_id": "e", "labels": []},
        "role 'Victim' is a role of another event type": {
            "from_id": "t",
            "to_id": "e",
            "labels": ["Victim"],
        },
        "role 'Boss' is not a role": {"from_id": "t", "to_id": "e", "labels": ["Boss"]},
        "end zz is not a valid region": {"from_id": "t", "to_id": "zz", "labels": ["Attacker"]},
    }
    for reason, relation in cases.items():
        got = parse_result(base + [dict(relation, type="relation")], TEXT, VOCAB)
        assert any(reason in p for p in got.problems), (reason, got.problems)


@pytest.mark.parametrize(
    "item, reason",
    [
        (labels("a", 5, 11, "PER", text="مسلحين"), "but the region says 'مسلحين'"),
        (labels("a", 5, 99, "PER"), "outside the sentence (length 22)"),
        (labels("a", True, 4, "PER"), "not integers"),
        (labels("a", 0, 4, "Attack", "triggers"), "'Attack' is not an event type"),
        (dict(labels("a", 0, 4, "PER"), to_name="title"), "not the sentence text"),
        (
            {"id": "x", "from_name": "comment", "type": "textarea", "value": {}},
            "unknown control 'comment'",
        ),
        (
            {
                "id": "c",
                "from_name": "sentence",
                "type": "choices",
                "value": {"choices": ["has-event", "noise"]},
            },
            "must be one value",
        ),
        (
            {
                "id": "c",
                "from_name": "sentence",
                "type": "choices",
                "value": {"choices": ["maybe"]},
            },
            "'maybe' is not a sentence choice",
        ),
    ],
)
def test_region_checks(item, reason):
    problems = parse_result([item], TEXT, VOCAB).problems
    assert len(problems) == 1 and reason in problems[0], problems


def test_duplicate_region_ids_and_second_choice():
    choice = {
        "id": "c",
        "from_name": "sentence",
        "type": "choices",
        "value": {"choices": ["no-event"]},
    }
    got = parse_result(
        [labels("a", 0, 4, "PER"), labels("a", 5, 11, "PER"), choice, dict(choice, id="d")],
        TEXT,
        VOCAB,
    )
    assert got.problems == ["region a: region id used twice", "region d: a second sentence choice"]


ARABIC = st.sampled_from(
    list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي") + ["\u064e", "\u0651", "\u0640", " ", "🔥", "٣", "#", "_"]
)


@settings(max_examples=80, deadline=None)
@given(st.text(ARABIC, min_size=2, max_size=40), st.data())
def test_property_region_valid_iff_text_matches(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    good = {
        "id": "r",
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": ["PER"]},
    }
    assert parse_result([good], text, VOCAB).problems == []
    # Any other claimed text (e.g. counted in UTF-16 units, or shifted by one) is refused.
    other = data.draw(
        st.text(ARABIC, min_size=1, max_size=5).filter(lambda s: s != text[start:end])
    )
    bad = dict(good, value=dict(good["value"], text=other))
    assert parse_result([bad], text, VOCAB).problems != []


def test_model_version_only_from_the_parent_prediction():
    """The server copies the project's current prediction into every annotation's `prediction`
    field, even one that did not start from it: only `parent_prediction` counts."""
    from corpus.pull.parse import TaskContext, parse_annotation

    ctx = TaskContext(7, VOCAB, lambda who: "ann-x", "test", prediction_versions={9: "review:v"})
    task = {"id": 1, "data": {"sentence_id": "s", "text": TEXT}, "predictions": [5, 9]}
    copy = {"id": 5, "model_version": "lexicon-1"}
    base = {"id": 1, "result": [], "prediction": copy}
    cases = [(None, None), (5, "lexicon-1"), (9, "review:v"), (77, None)]
    for parent, expected in cases:
        row, problems = parse_annotation(
            task, dict(base, parent_prediction=parent), (TEXT, "a"), ctx
        )
        assert problems == [] and row["prediction_model_version"] == expected, parent
        assert row["prediction_id"] == parent
