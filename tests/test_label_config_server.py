"""The generated labeling config against a real Label Studio: accepted by the server's own
validation, instructions stored as sent, and an existing project (created with the config before
the bilingual page) updated by `corpus project create` without orphaning its annotations."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_project_push import annotate, cli, region, server_tasks

from corpus.labelstudio.client import LabelStudio
from corpus.labelstudio.push import config_labels, ensure_project
from corpus.ontology import guidance_html, label_config_xml, load_ontology

pytestmark = pytest.mark.server

# The labeling config `corpus project create` generated before issue 14 (main at 7c11ca6).
OLD_CONFIG = Path(__file__).parent / "fixtures" / "labelstudio" / "conflict_events_v1.xml"


def test_generated_config_and_instructions_are_accepted_as_sent(ls_workspace):
    ws = ls_workspace
    ontology = load_ontology(ws.ontology_path)
    cli("project", "create", "-w", ws.root)
    client = LabelStudio.connect(ws)
    pid = ws.read_state("project")["project_id"]
    client.validate_config(label_config_xml(ontology), project_id=pid)  # raises if rejected
    project = client.get_project(pid)
    assert project["label_config"].strip() == label_config_xml(ontology).strip()
    # The sanitiser keeps our HTML as it is: the next `project create` finds nothing to change.
    assert project["expert_instruction"] == guidance_html(ontology)
    assert '<div dir="rtl" lang="ar"><p>' in project["expert_instruction"]
    assert "Reusing project" in cli("project", "create", "-w", ws.root)


def test_existing_project_is_updated_without_orphaning_labels(ls_workspace, stage_files):
    ws = ls_workspace
    stage_files(ws)
    ontology = load_ontology(ws.ontology_path)
    client = LabelStudio.connect(ws)
    old = OLD_CONFIG.read_text(encoding="utf-8")
    # A project as the previous version created it (recorded with today's ontology hash, so
    # push accepts it), with tasks and one annotation using entities, a trigger, a role and the
    # sentence choice.
    result = ensure_project(
        client, title="Arabic events", label_config=old, ontology_hash=ontology.hash
    )
    pid = result.project_id
    cli("project", "push", "-w", ws.root)
    server = ws.read_state("server")
    task = next(t for t in server_tasks(server["url"], server["api_key"], pid)
                if t["data"]["text"].startswith("قصفت"))  # fmt: skip
    text = task["data"]["text"]
    annotate(server["url"], server["api_key"], task["id"], [
        region("t", text, "قصفت", "Conflict.Attack", "triggers"),
        region("e", text, "القوات الحكومية", "ORG"),
        {"from_id": "t", "to_id": "e", "type": "relation", "direction": "right",
         "labels": ["Attacker"]},
        {"id": "c", "from_name": "sentence", "to_name": "text", "type": "choices",
         "value": {"choices": ["has-event"]}},
    ])  # fmt: skip

    out = cli("project", "create", "-w", ws.root)
    assert f"Updated the labeling config of project {pid}" in out
    stored = client.get_project(pid)["label_config"]
    assert stored.strip() == label_config_xml(ontology).strip()
    # Every label the annotations use is still a label of the new config.
    new_labels = config_labels(stored)
    assert config_labels(old) == new_labels  # same values: the change is display only
    for control, labels in client.labels_in_use(pid, roles=True).items():
        assert set(labels) <= new_labels[control], control
    # And pull reads the annotation back whole.
    cli("pull", "-w", ws.root)
    (row,) = pq.read_table(ws.annotations_path).to_pylist()
    assert [(e["label"], e["text"]) for e in row["entities"]] == [("ORG", "القوات الحكومية")]
    assert [t["event_type"] for t in row["triggers"]] == ["Conflict.Attack"]
    assert [a["role"] for a in row["arguments"]] == ["Attacker"]
    assert row["choice"] == "has-event"
