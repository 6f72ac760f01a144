"""Pre-label quality on the fixture export, counted by hand, and `compare` on edge cases."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from pullkit import FIXTURES, V1, VOCAB, fixture_workspace

from corpus.pull.parse import pull_snapshot
from corpus.pull.quality import compare, quality_report
from corpus.schemas import PREDICTIONS

SENTENCES = {
    r["sentence_id"]: r["text"]
    for r in json.loads((FIXTURES / "sentences.json").read_text("utf-8"))
}


def span(sid, fragment, label, kind="entity"):
    text = SENTENCES[sid]
    start = text.index(fragment)
    return {
        "start": start,
        "end": start + len(fragment),
        "label": label,
        "kind": kind,
        "score": 0.9,
        "source": "lexicon",
    }


def write_predictions(path):
    rows = [
        ("s-aleppo", [
            span("s-aleppo", "القوات الحكومية", "ORG"),   # both annotators keep it
            span("s-aleppo", "مدينة حلب", "GPE"),         # both shrink it to حلب (one as LOC)
            span("s-aleppo", "يوم الأحد", "PER"),         # both delete it
            span("s-aleppo", "قصفت", "Conflict.Attack", "trigger"),
        ]),
        ("s-baghdad", [
            span("s-baghdad", "انفجار", "Conflict.Attack", "trigger"),
            span("s-baghdad", "سيارة", "WEA"),            # extended to سيارة مفخخة
            span("s-baghdad", "بغداد", "GPE"),
        ]),
        ("s-deir", [span("s-deir", "مسلحاً", "PER")]),    # its annotations have no parent prediction
    ]  # fmt: skip
    table = pa.Table.from_pylist(
        [
            {
                "sentence_id": s,
                "article_id": "a",
                "spans": sp,
                "source": "lexicon",
                "model_version": "lexicon-1",
            }
            for s, sp in rows
        ],
        schema=PREDICTIONS,
    )
    pq.write_table(table, path)


def test_quality_report_counts(tmp_path):
    ws = fixture_workspace(tmp_path / "ws")
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    write_predictions(ws.predictions_path)
    report = quality_report(pq.read_table(ws.annotations_path), ws.predictions_path)
    assert report["basis"] == "annotations started from a prediction"
    assert report["annotations_compared"] == 3  # 1001, 1002 (prediction 501), 1006 (503)
    by = {(x["kind"], x["label"]): x for x in report["labels"]}
    counts = {
        k: (v["predicted"], v["accepted"], v["changed"], v["deleted"], v["added"])
        for k, v in by.items()
    }
    assert counts == {
        ("entity", "ORG"): (2, 2, 0, 0, 0),
        ("entity", "GPE"): (3, 1, 2, 0, 0),
        ("entity", "PER"): (2, 0, 0, 2, 1),  # يوم الأحد deleted twice; مدنيين added
        ("entity", "WEA"): (1, 0, 1, 0, 0),
        ("trigger", "Conflict.Attack"): (3, 3, 0, 0, 0),
        ("trigger", "Life.Die"): (0, 0, 0, 0, 1),
    }
    assert report["overall"] == {
        "predicted": 11,
        "accepted": 6,
        "changed": 3,
        "deleted": 2,
        "added": 2,
        "accept_rate": round(6 / 11, 4),
    }
    assert by["trigger", "Life.Die"]["accept_rate"] is None


def test_compare_is_one_to_one_and_kind_aware():
    pred = [(0, 10, "entity", "PER"), (0, 4, "trigger", "Conflict.Attack")]
    ann = [(0, 5, "entity", "PER"), (6, 10, "entity", "PER"), (0, 4, "trigger", "Life.Die")]
    out = compare(pred, ann)
    assert out.changed == {("entity", "PER"): 1, ("trigger", "Conflict.Attack"): 1}
    assert out.added == {("entity", "PER"): 1} and not out.deleted and not out.accepted
    assert compare(pred, []).deleted == {("entity", "PER"): 1, ("trigger", "Conflict.Attack"): 1}


def test_no_recorded_parent_prediction_falls_back_to_all(tmp_path):
    ws = fixture_workspace(tmp_path / "ws")
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    write_predictions(ws.predictions_path)
    t = pq.read_table(ws.annotations_path)
    t = t.set_column(
        t.schema.get_field_index("prediction_id"), "prediction_id", pa.nulls(t.num_rows, pa.int64())
    )
    report = quality_report(t, ws.predictions_path)
    assert report["basis"].startswith("all submitted annotations")
    assert report["annotations_compared"] == 5  # + 1003, 1004 on s-deir
