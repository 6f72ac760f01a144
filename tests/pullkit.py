"""Shared helpers for the pull tests: fixture exports, their workspace sentences, a vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

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
