"""Predicted arguments survive the whole loop on a real Label Studio: `corpus prelabel` writes
them, `corpus project push` sends them as relations in the predictions, an annotator accepts the
prediction through the API, and `corpus pull` validates and stores the relations with their
roles."""

from __future__ import annotations

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.ids import content_id
from corpus.io import write_table
from corpus.labelstudio.client import LabelStudio
from corpus.schemas import SENTENCES

pytestmark = pytest.mark.server

runner = CliRunner()

TEXTS = [
    "قُتل خمسة مدنيين وأصيب عشرة آخرون في قصف جوي على مدينة إدلب صباح الأحد.",
    "وصل الرئيس الفرنسي إيمانويل ماكرون إلى بيروت قادما من باريس يوم الخميس.",
    "اعتقلت الشرطة التركية 12 شخصا في إسطنبول أمس.",
    "ارتفعت أسعار النفط في الأسواق.",
]


def cli(*args) -> str:
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def test_predicted_relations_survive_push_accept_and_pull(ls_workspace):
    ws = ls_workspace
    rows, pos = [], 0
    for i, text in enumerate(TEXTS):
        rows.append({"sentence_id": content_id("art", pos, prefix="s"), "article_id": "art",
                     "index": i, "start": pos, "end": pos + len(text), "text": text})  # fmt: skip
        pos += len(text) + 1
    write_table(ws.sentences_path, pa.Table.from_pylist(rows, schema=SENTENCES), SENTENCES)

    out = cli("prelabel", "--arguments", "rules", "-w", ws.root)
    assert "arguments (rules" in out
    predictions = {r["sentence_id"]: r for r in pq.read_table(ws.predictions_path).to_pylist()}
    expected = {}  # sentence_id -> {(trigger text, role, entity text)}
    for r in rows:
        p = predictions[r["sentence_id"]]
        spans = p["spans"]
        expected[r["sentence_id"]] = {
            (r["text"][spans[x["trigger"]]["start"] : spans[x["trigger"]]["end"]], x["role"],
             r["text"][spans[x["entity"]]["start"] : spans[x["entity"]]["end"]])
            for x in p["relations"] or []
        }  # fmt: skip
    assert ("وصل", "Destination", "بيروت") in expected[rows[1]["sentence_id"]]
    assert sum(map(len, expected.values())) >= 10

    cli("project", "create", "-w", ws.root)
    cli("project", "push", "-w", ws.root)

    client = LabelStudio.connect(ws)
    key = ws.read_state("server")["api_key"]
    http = httpx.Client(
        base_url=client.url, headers={"Authorization": f"Token {key}"}, trust_env=False, timeout=30
    )
    accepted = 0
    for task_id, sid in client.iter_tasks(client.project_id):
        task = http.get(f"/api/tasks/{task_id}").json()
        if not task["predictions"]:
            continue
        pred = task["predictions"][0]
        relations = [x for x in pred["result"] if x["type"] == "relation"]
        assert len(relations) == len(expected[sid])
        # Accept the prediction as it is, as "Submit" on a pre-labelled task does.
        result = [*pred["result"]]
        result.append(
            {"id": "ch", "from_name": "sentence", "to_name": "text", "type": "choices",
             "value": {"choices": ["has-event"]}}
        )  # fmt: skip
        r = http.post(
            f"/api/tasks/{task_id}/annotations/",
            json={"result": result, "parent_prediction": pred["id"], "lead_time": 3.0},
        )
        assert r.status_code == 201, r.text
        accepted += 1
    assert accepted == 3

    out = cli("pull", "-w", ws.root)
    table = pq.read_table(ws.annotations_path).to_pylist()
    assert len(table) == 3
    texts = {r["sentence_id"]: r["text"] for r in rows}
    for ann in table:
        assert not ann["cancelled"]
        spans = {x["id"]: x["text"] for x in ann["entities"] + ann["triggers"]}
        got = {(spans[a["trigger_id"]], a["role"], spans[a["entity_id"]]) for a in ann["arguments"]}
        assert got == expected[ann["sentence_id"]], texts[ann["sentence_id"]]
    assert not (ws.quarantine_dir / "pull.parquet").exists()

    # 16 accepted arguments are too few to learn from: "auto" keeps the rules, and the
    # pre-labels are not redone (same sentences, pre-labeler and argument rules)
    out = cli("prelabel", "-w", ws.root)
    assert "up to date" in out
