"""Shared helpers for the pull tests: fixture exports, their workspace sentences, a vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.io import read_table
from corpus.labelstudio.tasks import build_prediction, build_task
from corpus.ontology import load_ontology
from corpus.pull.parse import Vocabulary
from corpus.schemas import SENTENCES
from corpus.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
V1, V2 = FIXTURES / "export_v1.json", FIXTURES / "export_v2.json"

VOCAB = Vocabulary(
    entity_types=frozenset({"PER", "ORG", "GPE", "LOC", "WEA"}),
    event_roles={
        "Conflict.Attack": frozenset({"Attacker", "Target", "Instrument", "Place"}),
        "Life.Die": frozenset({"Victim", "Agent", "Instrument", "Place"}),
    },
    choices=frozenset({"has-event", "no-event", "noise"}),
    hash="test-ontology",
)


def write_sentences(ws: Workspace) -> None:
    """data/sentences.parquet holding the sentences the fixture exports were made from."""
    rows = json.loads((FIXTURES / "sentences.json").read_text(encoding="utf-8"))
    table = pa.Table.from_pylist(
        [dict(r, index=i, start=0, end=len(r["text"])) for i, r in enumerate(rows)],
        schema=SENTENCES,
    )
    pq.write_table(table, ws.sentences_path)


def fixture_workspace(root: Path) -> Workspace:
    ws = Workspace.init(root)
    write_sentences(ws)
    return ws


def export_from(ws: Workspace, path: Path) -> Path:
    """A Label Studio full-JSON export in which one annotator accepted every pre-label: what
    `pull --from-export` takes, built from the workspace's own (possibly remote) files."""
    ontology = load_ontology(ws.ontology_path)
    sentences = read_table(ws.sentences_path).to_pylist()
    preds = {r["sentence_id"]: r for r in read_table(ws.predictions_path).to_pylist()}
    tasks = []
    for n, s in enumerate(sentences[:40], start=1):
        p = preds.get(s["sentence_id"])
        spans = p["spans"] if p else []
        prediction, _ = build_prediction(s["sentence_id"], s["text"], spans, "v", ontology)
        result = prediction["result"] if prediction else []
        choice = "has-event" if any(r["from_name"] == "triggers" for r in result) else "no-event"
        result = [*result, {"id": f"c{n}", "from_name": "sentence", "to_name": "text",
                            "type": "choices", "value": {"choices": [choice]}}]  # fmt: skip
        task = build_task(s["sentence_id"], s["article_id"], s["text"], None, None, None)
        when = f"2026-01-01T10:{n // 60:02d}:{n % 60:02d}.000000Z"
        task.update(id=n, project=1, annotations=[{
            "id": 1000 + n, "completed_by": 1, "result": result, "was_cancelled": False,
            "ground_truth": False, "created_at": when, "updated_at": when, "lead_time": 3.0,
            "task": n, "project": 1,
        }])  # fmt: skip
        tasks.append(task)
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path
