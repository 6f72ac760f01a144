"""`corpus pull --from-export`, `agreement`, `quality`, `review` through the CLI (no server)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from pullkit import V1, V2, fixture_workspace
from test_quality import write_predictions
from typer.testing import CliRunner

import corpus.cli
from corpus.pull.adjudication import adjudicate_workspace, workspace_policy

runner = CliRunner()


def run(*args):
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())  # rich wraps at 80 columns under the runner


def main_exit(args, capsys):
    with pytest.raises(SystemExit) as e:
        corpus.cli.main([str(a) for a in args])
    return e.value.code, "".join(capsys.readouterr().err.splitlines())  # undo rich's wrapping


@pytest.fixture
def ws(tmp_path):
    return fixture_workspace(tmp_path / "ws")


def test_pull_from_export_reports_and_is_incremental(ws):
    out = run("pull", "--from-export", V1, "--project", 7, "-w", ws.root)
    assert "full re-validation" in out and "4 annotation(s) quarantined" in out
    assert "region m1: text[5:11] is 'مسلحون' but the region says 'مسلحين'" in out
    assert "7 annotations in" in out and "4 sentences ready for release" in out
    assert "policy 'latest'" in out and "1 conflicting" in out  # s-aleppo
    out = run("pull", "--from-export", V2, "--project", 7, "-w", ws.root)
    assert "incremental" in out and "removed annotations: 1002" in out
    # The bundled ontology (workspace copy) is what validation used: same verdicts as the tests'.
    assert pq.ParquetFile(ws.annotations_path).metadata.num_rows == 8


def test_agreement_and_quality_commands(ws, tmp_path):
    run("pull", "--from-export", V1, "--project", 7, "-w", ws.root)
    report_path = tmp_path / "reports" / "agreement.json"
    out = run("agreement", "-w", ws.root, "--json", report_path)
    assert "span agreement" in out and "Krippendorff" in out and "0.750" in out
    report = json.loads(report_path.read_text("utf-8"))
    assert report["pairs"][0]["trigger_cohen_kappa"] == 0.5
    write_predictions(ws.predictions_path)
    out = run("quality", "-w", ws.root, "--json", tmp_path / "q.json")
    assert "pre-label quality" in out and "54.5" in out  # 6 of 11 accepted
    assert json.loads((tmp_path / "q.json").read_text("utf-8"))["overall"]["deleted"] == 2


def test_missing_inputs_are_typed_errors(ws, capsys, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    code, err = main_exit(["agreement", "-w", ws.root], capsys)
    assert code == 1 and "annotations.parquet does not exist yet" in err and "corpus pull" in err
    code, err = main_exit(["pull", "-w", ws.root], capsys)
    assert code == 1 and "no Label Studio project" in err and "corpus project create" in err
    code, err = main_exit(["review", "pull", "-w", ws.root], capsys)
    assert code == 1 and "corpus review push" in err
    ws.write_state("project", {"project_id": 3, "server": "embedded"})
    code, err = main_exit(["pull", "-w", ws.root], capsys)
    assert code == 1 and "No Label Studio server" in err and "corpus server start" in err
    assert not (ws.data_dir / "annotations.parquet").exists()


def test_policy_from_config(ws, capsys):
    run("pull", "--from-export", V1, "--project", 7, "-w", ws.root)
    ws.config["adjudication"] = {"policy": "reviewer", "reviewer": 2}
    policy, reviewer = workspace_policy(ws)
    rows = pq.read_table(ws.annotations_path).to_pylist()
    user2 = next(r["annotator"] for r in rows if r["annotation_id"] == 1002)
    assert (policy, reviewer) == ("reviewer", user2)  # LS user id 2 -> its pseudonym
    chosen = adjudicate_workspace(ws).to_pylist()
    assert {r["sentence_id"]: r["annotation_id"] for r in chosen}["s-aleppo"] == 1002
    ws.config["adjudication"] = {"policy": "vote", "reviewer": ""}
    ws.save_config()
    code, err = main_exit(["pull", "--from-export", V1, "--project", 7, "-w", ws.root], capsys)
    assert code == 1 and "policy must be one of latest, reviewer, majority" in err
