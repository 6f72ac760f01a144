"""Argument pre-labels (corpus.prelabel.arguments): roles always allowed by the ontology, the
rules' cues, the learned model, the predictions file and the Label Studio relations built from
it (checked against the project's own pull validation)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.errors import CorpusError
from corpus.ids import content_id
from corpus.io import write_table
from corpus.labelstudio.tasks import build_prediction, relation_problem
from corpus.ontology import default_ontology_path, load_ontology
from corpus.prelabel import prelabel_batch
from corpus.prelabel.arguments import (
    MIN_LEARNED_ARGUMENTS,
    ArgumentExample,
    ArgumentModel,
    ArgumentRules,
    allowed_roles,
    arguments_batch,
    get_argumenter,
)
from corpus.prelabel.lexicon import LexiconPrelabeler
from corpus.pull.parse import Vocabulary, parse_result
from corpus.schemas import ANNOTATIONS, PREDICTIONS, SENTENCES
from corpus.types import Span
from corpus.workspace import Workspace

EVAL = Path(__file__).parent / "data" / "argument_eval.jsonl"


@pytest.fixture(scope="module")
def onto():
    return load_ontology(default_ontology_path())


def gold_rows() -> list[dict]:
    return [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line]


def find(text: str, fragment: str, label: str, kind: str) -> Span:
    start = text.index(fragment)
    return Span(start, start + len(fragment), label, kind, 0.9, "test")


def named(text, spans, args) -> set[tuple[str, str, str]]:
    return {
        (text[spans[a.trigger].start : spans[a.trigger].end], a.role,
         text[spans[a.entity].start : spans[a.entity].end])
        for a in args
    }  # fmt: skip


# --- roles are never outside the ontology ------------------------------------------------------


def test_rules_never_give_a_role_the_ontology_forbids(onto):
    """Every event type x every entity type on a sentence with place, agent and target cues:
    each predicted role belongs to the event type and accepts the entity type."""
    text = "قال مسؤول إن القوات هاجمت على يد مسلحين في مدينة قرب الحدود إلى الشمال من البلدة أمس."
    words = [(m, m + len(w)) for w, m in _words(text)]
    rules = ArgumentRules(onto)
    checked = 0
    for event in onto.event_types:
        for (ti, tw), (ei, ew) in itertools.permutations(enumerate(words), 2):
            if abs(ti - ei) > 4:
                continue
            for etype in onto.entity_types:
                spans = [Span(*tw, event, "trigger"), Span(*ew, etype, "entity")]
                for a in rules.predict(text, spans):
                    assert a.role in allowed_roles(onto, event, etype), (event, etype, a.role)
                    assert relation_problem(spans[0], spans[1], a.role, onto) is None
                    checked += 1
    assert checked > 500


def _words(text):
    pos = 0
    for w in text.split():
        pos = text.index(w, pos)
        yield w, pos
        pos += len(w)


def test_no_relation_when_no_role_fits(onto):
    text = "اجتمع الوزير مع صاروخ في المدينة."
    spans = [find(text, "اجتمع", "Contact.Meet", "trigger"), find(text, "صاروخ", "WEA", "entity")]
    assert ArgumentRules(onto).predict(text, spans) == []  # Contact.Meet has no WEA role


def test_rules_read_arabic_cues(onto):
    rules = ArgumentRules(onto)
    text = "وصل الرئيس أحمد سالم إلى بيروت قادما من باريس يوم الخميس."
    spans = [
        find(text, "وصل", "Movement.Transport", "trigger"),
        find(text, "أحمد سالم", "PER", "entity"),
        find(text, "بيروت", "GPE", "entity"),
        find(text, "باريس", "GPE", "entity"),
        find(text, "يوم الخميس", "TIME", "entity"),
    ]
    assert named(text, spans, rules.predict(text, spans)) == {
        ("وصل", "Artifact", "أحمد سالم"),
        ("وصل", "Destination", "بيروت"),
        ("وصل", "Origin", "باريس"),
        ("وصل", "Time", "يوم الخميس"),
    }
    text = "قتل شاب على يد مسلحين من حركة الشباب في مقديشو."
    spans = [
        find(text, "قتل", "Life.Die", "trigger"),
        find(text, "حركة الشباب", "ORG", "entity"),
        find(text, "مقديشو", "GPE", "entity"),
    ]
    assert named(text, spans, rules.predict(text, spans)) == {
        ("قتل", "Agent", "حركة الشباب"),
        ("قتل", "Place", "مقديشو"),
    }


def test_place_and_time_go_to_every_event_of_their_clause_only(onto):
    rules = ArgumentRules(onto)
    text = "قتل ثلاثة وأصيب خمسة في حلب. واعتقل عشرة في حمص."
    spans = [
        find(text, "قتل", "Life.Die", "trigger"),
        find(text, "ثلاثة", "NUM", "entity"),
        find(text, "وأصيب", "Life.Injure", "trigger"),
        find(text, "خمسة", "NUM", "entity"),
        find(text, "حلب", "GPE", "entity"),
        find(text, "واعتقل", "Justice.Arrest-Jail", "trigger"),
        find(text, "عشرة", "NUM", "entity"),
        find(text, "حمص", "GPE", "entity"),
    ]
    assert named(text, spans, rules.predict(text, spans)) == {
        ("قتل", "Victim", "ثلاثة"),
        ("وأصيب", "Victim", "خمسة"),
        ("قتل", "Place", "حلب"),
        ("وأصيب", "Place", "حلب"),
        ("واعتقل", "Person", "عشرة"),
        ("واعتقل", "Place", "حمص"),
    }


# --- the learned model ---------------------------------------------------------------------------


def examples_from_gold(rows) -> list[ArgumentExample]:
    out = []
    for r in rows:
        spans = [{**t, "kind": "trigger"} for t in r["triggers"]]
        spans += [{**e, "kind": "entity"} for e in r["entities"]]
        k = len(r["triggers"])  # arguments index triggers and entities separately
        args = [(t, k + e, role) for t, e, role in r["arguments"]]
        out.append(ArgumentExample(r["text"], spans, args))
    return out


def test_learned_model_respects_the_ontology_and_learns_what_rules_miss(onto):
    # An annotation convention the rules do not know: a GPE after "من" in an attack is the
    # attacker ("هجوم صاروخي من لبنان"), not a place.
    train = []
    for place in ("لبنان", "غزة", "سوريا", "اليمن", "العراق", "إيران"):
        text = f"أعلن الجيش عن هجوم صاروخي من {place} صباح اليوم."
        spans = [
            {**vars_(find(text, "هجوم", "Conflict.Attack", "trigger"))},
            {**vars_(find(text, place, "GPE", "entity"))},
            {**vars_(find(text, "صباح اليوم", "TIME", "entity"))},
        ]
        train.append(ArgumentExample(text, spans, [(0, 1, "Attacker"), (0, 2, "Time")]))
    model = ArgumentModel(onto).fit(train * 6)
    text = "رصد الجيش هجوم صاروخي من الأردن صباح اليوم."
    spans = [
        vars_(find(text, "هجوم", "Conflict.Attack", "trigger")),
        vars_(find(text, "الأردن", "GPE", "entity")),
        vars_(find(text, "صباح اليوم", "TIME", "entity")),
    ]
    roles = {(a.entity, a.role) for a in model.predict(text, spans)}
    assert roles == {(1, "Attacker"), (2, "Time")}
    assert (1, "Attacker") not in {
        (a.entity, a.role) for a in ArgumentRules(onto).predict(text, spans)
    }
    # whatever it learned, it never leaves the ontology
    for r in examples_from_gold(gold_rows()):
        for a in model.predict(r.text, r.spans):
            t, e = r.spans[a.trigger], r.spans[a.entity]
            assert a.role in allowed_roles(onto, t["label"], e["label"])
    # and it round-trips through JSON
    again = ArgumentModel.from_dict(json.loads(json.dumps(model.to_dict())), onto)
    roles_again = {(a.trigger, a.entity, a.role) for a in again.predict(text, spans)}
    assert roles_again == {(a.trigger, a.entity, a.role) for a in model.predict(text, spans)}


def vars_(s: Span) -> dict:
    return {"start": s.start, "end": s.end, "label": s.label, "kind": s.kind}


def test_model_from_another_ontology_is_refused(onto, tmp_path):
    model = ArgumentModel(onto).fit(examples_from_gold(gold_rows()[:5]))
    data = model.to_dict()
    data["ontology_hash"] = "other"
    with pytest.raises(CorpusError, match="another ontology"):
        ArgumentModel.from_dict(data, onto)


# --- choosing a predictor -------------------------------------------------------------------------


def annotations_table(rows, cancelled=False) -> pa.Table:
    out = []
    for n, r in enumerate(rows):
        trig = [{"id": f"t{i}", "start": t["start"], "end": t["end"], "event_type": t["label"],
                 "text": t["text"]} for i, t in enumerate(r["triggers"])]  # fmt: skip
        ents = [{"id": f"e{i}", "start": e["start"], "end": e["end"], "label": e["label"],
                 "text": e["text"]} for i, e in enumerate(r["entities"])]  # fmt: skip
        args = [{"trigger_id": f"t{t}", "entity_id": f"e{e}", "role": role}
                for t, e, role in r["arguments"]]  # fmt: skip
        out.append(
            {"annotation_id": n + 1, "task_id": n + 1, "project_id": 1,
             "sentence_id": r["id"], "annotator": "a1", "cancelled": cancelled,
             "sentence_text": r["text"], "entities": ents, "triggers": trig, "arguments": args,
             "raw_result": "[]"}
        )  # fmt: skip
    return pa.Table.from_pylist(out, schema=ANNOTATIONS)


def test_get_argumenter_auto_learns_once_annotations_hold_enough_arguments(onto, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    assert get_argumenter(None, ws, onto).name == "rules"
    assert get_argumenter("none", ws, onto) is None
    with pytest.raises(CorpusError, match="learned argument pre-labeler needs"):
        get_argumenter("learned", ws, onto)
    rows = gold_rows()
    assert sum(len(r["arguments"]) for r in rows[:3]) < MIN_LEARNED_ARGUMENTS
    write_table(ws.annotations_path, annotations_table(rows[:3]), ANNOTATIONS)
    assert get_argumenter("auto", ws, onto).name == "rules"
    write_table(ws.annotations_path, annotations_table(rows), ANNOTATIONS)
    learned = get_argumenter("auto", ws, onto)
    assert learned.name == "learned" and learned.trained_on == len(rows)
    assert learned.version.startswith("args-learned-")
    # cancelled annotations teach nothing
    write_table(ws.annotations_path, annotations_table(rows, cancelled=True), ANNOTATIONS)
    assert get_argumenter("auto", ws, onto).name == "rules"
    with pytest.raises(CorpusError, match="Unknown argument"):
        get_argumenter("crf", ws, onto)


# --- the predictions file and the Label Studio prediction ----------------------------------------


def sentences_table(texts) -> pa.Table:
    rows = []
    for i, text in enumerate(texts):
        rows.append({"sentence_id": content_id("a", i, prefix="s"), "article_id": "a",
                     "index": i, "start": 0, "end": len(text), "text": text})  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SENTENCES)


TEXTS = [
    "قُتل خمسة مدنيين وأصيب عشرة آخرون في قصف جوي على مدينة إدلب صباح الأحد.",
    "وصل الرئيس الفرنسي إيمانويل ماكرون إلى بيروت قادما من باريس يوم الخميس.",
    "ارتفعت أسعار النفط اليوم.",
]


def test_prelabel_batch_writes_relations_that_pull_validation_accepts(onto):
    sentences = sentences_table(TEXTS)
    table = prelabel_batch(sentences, LexiconPrelabeler(), onto, arguments=ArgumentRules(onto))
    assert table.select(PREDICTIONS.names).schema == PREDICTIONS
    rows = table.to_pylist()
    assert rows[0]["relations"] and rows[1]["relations"] and rows[2]["relations"] == []
    vocab = Vocabulary.from_ontology(onto)
    for row, text in zip(rows, TEXTS, strict=True):
        pred, rejected = build_prediction(
            row["sentence_id"], text, row["spans"], row["model_version"], onto, row["relations"]
        )
        assert rejected == []
        if pred is None:
            continue
        rels = [r for r in pred["result"] if r["type"] == "relation"]
        assert len(rels) == len(row["relations"])
        parsed = parse_result(pred["result"], text, vocab)
        assert parsed.problems == []
        got = {(a["trigger_id"], a["entity_id"], a["role"]) for a in parsed.arguments}
        assert got == {(r["from_id"], r["to_id"], r["labels"][0]) for r in rels}
    # the roles, by text
    r0 = rows[1]
    by_text = {
        (TEXTS[1][r0["spans"][r["entity"]]["start"] : r0["spans"][r["entity"]]["end"]], r["role"])
        for r in r0["relations"]
    }
    assert {("بيروت", "Destination"), ("باريس", "Origin")} <= by_text


def test_invalid_predicted_relations_are_rejected_not_sent(onto):
    text = TEXTS[0]
    spans = [vars_(find(text, "قُتل", "Life.Die", "trigger")) | {"score": 0.9, "source": "x"},
             vars_(find(text, "خمسة", "NUM", "entity")) | {"score": 0.9, "source": "x"},
             vars_(find(text, "إدلب", "GPE", "entity")) | {"score": 0.9, "source": "x"}]  # fmt: skip
    relations = [
        {"trigger": 0, "entity": 1, "role": "Victim"},
        {"trigger": 0, "entity": 2, "role": "Destination"},  # not a role of Life.Die
        {"trigger": 0, "entity": 2, "role": "Victim"},  # GPE cannot be a victim
        {"trigger": 1, "entity": 2, "role": "Place"},  # entity -> entity
        {"trigger": 0, "entity": 7, "role": "Place"},  # no such span
        {"trigger": 0, "entity": 1, "role": "Victim"},  # twice
    ]
    pred, rejected = build_prediction("s1", text, spans, "v", onto, relations)
    rels = [r for r in pred["result"] if r["type"] == "relation"]
    assert [r["labels"] for r in rels] == [["Victim"]]
    reasons = [r.reason for r in rejected]
    assert len(reasons) == 5
    assert "not a role of Life.Die" in reasons[0] and "cannot be filled by GPE" in reasons[1]


def test_predictions_without_the_relations_column_still_push(onto, stage_tables):
    from corpus.labelstudio.tasks import iter_task_batches, plan_push

    tables = stage_tables()
    old = tables["predictions"].drop_columns(["relations"])  # a file from before arguments
    plan = plan_push(tables["sentences"], old, set())
    batches = list(iter_task_batches(tables["sentences"], old, tables["articles"], plan, onto))
    assert sum(b.with_predictions for b in batches) > 0


def test_arguments_batch_on_spans_from_any_prelabeler(onto):
    # spans as another pre-labeler (a trained model) would give them
    text = "اعتقلت الشرطة التركية 12 شخصا في إسطنبول أمس."
    spans = [
        {"start": 0, "end": 6, "label": "Justice.Arrest-Jail", "kind": "trigger", "score": 0.8,
         "source": "model:x"},
        {"start": 7, "end": 21, "label": "ORG", "kind": "entity", "score": 0.8, "source": "m"},
        {"start": 22, "end": 24, "label": "NUM", "kind": "entity", "score": 0.8, "source": "m"},
        {"start": 33, "end": 40, "label": "GPE", "kind": "entity", "score": 0.8, "source": "m"},
        {"start": 41, "end": 44, "label": "TIME", "kind": "entity", "score": 0.8, "source": "m"},
    ]  # fmt: skip
    table = pa.Table.from_pylist(
        [{"sentence_id": "s", "article_id": "a", "spans": spans, "source": "model:x",
          "model_version": "m1"}], schema=PREDICTIONS)  # fmt: skip
    out = arguments_batch(table, [text], ArgumentRules(onto))
    assert out.schema == PREDICTIONS
    got = {(r["entity"], r["role"]) for r in out.column("relations").to_pylist()[0]}
    assert got == {(1, "Agent"), (2, "Person"), (3, "Place"), (4, "Time")}


def test_prelabel_command_writes_arguments(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    write_table(ws.sentences_path, sentences_table(TEXTS), SENTENCES)
    runner = CliRunner()
    result = runner.invoke(corpus.cli.app, ["prelabel", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "arguments (rules" in result.output
    rels = pq.read_table(ws.predictions_path).column("relations").to_pylist()
    assert rels[0] and rels[1]
    args = ["prelabel", "--arguments", "none", "-w", str(ws.root)]
    result = runner.invoke(corpus.cli.app, args)
    assert result.exit_code == 0 and "up to date" not in result.output
    assert pq.read_table(ws.predictions_path).column("relations").to_pylist()[0] is None
