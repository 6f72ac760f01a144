"""`corpus pull` after a local ontology edit never removes valid annotations (issue 11, item 2)."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq
import pytest
import yaml
from pullkit import V1, V2, fixture_workspace
from typer.testing import CliRunner

import corpus.cli
from corpus.ontology import load_ontology

runner = CliRunner()


def main_exit(args, capsys):
    with pytest.raises(SystemExit) as e:
        corpus.cli.main([str(a) for a in args])
    return e.value.code, " ".join(capsys.readouterr().err.split())  # undo rich's wrapping


@pytest.fixture
def ws(tmp_path):
    ws = fixture_workspace(tmp_path / "ws")
    result = runner.invoke(corpus.cli.app, ["pull", "--from-export", V1, "--project", "7",
                                            "-w", str(ws.root)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return ws


def drop_entity_type(ws) -> tuple[str, int]:
    """Remove from the workspace ontology the entity type most used by pulled annotations."""
    rows = pq.read_table(ws.annotations_path).to_pylist()
    used = Counter(
        e["label"] for r in rows for e in {x["label"]: x for x in r["entities"]}.values()
    )
    label, n = used.most_common(1)[0]
    doc = yaml.safe_load(ws.ontology_path.read_text("utf-8"))
    del doc["entity_types"][label]
    for role in doc["roles"].values():  # roles that list it as a filler
        if label in role["entity_types"]:
            role["entity_types"].remove(label)
    ws.ontology_path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    load_ontology(ws.ontology_path)  # still a valid ontology
    return label, n


@pytest.mark.parametrize("export", [V1, V2])
def test_pull_refuses_to_drop_annotations_of_a_removed_label(ws, capsys, export):
    before = pq.read_table(ws.annotations_path)
    label, n = drop_entity_type(ws)
    for args in (["--full"], []):
        code, err = main_exit(["pull", "--from-export", export, "--project", 7, *args,
                               "-w", ws.root], capsys)  # fmt: skip
        assert code == 1, err
        assert "no longer has labels that pulled annotations use" in err
        assert f"entities: {label} ({n} annotations)" in err
        assert "Put the labels back" in err and "Traceback" not in err
    assert pq.read_table(ws.annotations_path).equals(before)  # nothing removed


def test_pull_refuses_when_ontology_changed_since_project_setup(ws, capsys):
    before = pq.read_table(ws.annotations_path)
    ws.write_state("project", {"project_id": 7, "ontology_hash": "an-older-ontology"})
    code, err = main_exit(["pull", "--from-export", V2, "--project", 7, "-w", ws.root], capsys)
    assert code == 1 and "changed since project 7 was set up" in err
    assert "corpus project create" in err
    assert pq.read_table(ws.annotations_path).equals(before)
    # Once the project is updated from the ontology (same hash), pull goes through.
    ws.write_state("project", {"project_id": 7,
                               "ontology_hash": load_ontology(ws.ontology_path).hash})  # fmt: skip
    result = runner.invoke(corpus.cli.app, ["pull", "--from-export", V2, "--project", "7",
                                            "-w", str(ws.root)])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_pull_over_a_damaged_annotations_file_names_it(ws, capsys):
    ws.annotations_path.write_bytes(b"not parquet at all")
    code, err = main_exit(["pull", "--from-export", V2, "--project", 7, "-w", ws.root], capsys)
    assert code == 1 and "annotations.parquet is not a readable annotations file" in err
    assert "corpus pull --full" in err and "Traceback" not in err
    assert ws.annotations_path.read_bytes() == b"not parquet at all"  # left for the user to inspect
