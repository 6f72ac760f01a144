"""`corpus prelabel` and `corpus ontology check|render` end to end on a workspace."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.ids import content_id
from corpus.io import write_table
from corpus.ontology import label_config_xml, load_ontology, validate_spans
from corpus.schemas import PREDICTIONS, QUARANTINE, SENTENCES
from corpus.types import Span
from corpus.workspace import Workspace

SENTENCE_TEXTS = [
    "قُتل خمسة مدنيين وأصيب عشرة آخرون في قصف على #إدلب صباح الأحد.",
    "أطلقت السلطات سراح 15 ناشطاً في القاهرة.",
    "ارتفعت أسعار النفط اليوم.",
    "\u200fانفجرت عبوة ناسفة بحافلة في كويتا 🔴",
    "The text is not Arabic.",
]

runner = CliRunner()


def make_workspace(tmp_path, texts=SENTENCE_TEXTS) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    rows, pos = [], 0
    for i, text in enumerate(texts):
        start, end = pos, pos + len(text)
        pos = end + 1
        rows.append(
            {
                "sentence_id": content_id("art-1", start, end, prefix="s"),
                "article_id": "art-1",
                "index": i,
                "start": start,
                "end": end,
                "text": text,
            }
        )
    write_table(ws.sentences_path, pa.Table.from_pylist(rows, schema=SENTENCES), SENTENCES)
    return ws


def run(ws: Workspace, *args: str):
    return runner.invoke(corpus.cli.app, [*args, "--workspace", str(ws.root)])


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """Through corpus.cli.main, which turns typed errors into messages and exit codes."""
    with pytest.raises(SystemExit) as exit_info:
        corpus.cli.main(args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out + out.err


def test_prelabel_writes_validated_predictions(tmp_path):
    ws = make_workspace(tmp_path)
    result = run(ws, "prelabel")
    assert result.exit_code == 0, result.output
    assert "Pre-labeled 5 sentences with lexicon" in result.output
    table = pq.read_table(ws.predictions_path)
    assert table.schema == PREDICTIONS
    sentences = pq.read_table(ws.sentences_path).to_pylist()
    rows = table.to_pylist()
    assert [r["sentence_id"] for r in rows] == [s["sentence_id"] for s in sentences]
    ontology = load_ontology(ws.ontology_path)
    by_label = {}
    for s, r in zip(sentences, rows, strict=True):
        assert r["source"] == "lexicon" and r["model_version"].startswith("lexicon-1+")
        spans = [Span(**sp) for sp in r["spans"]]
        assert validate_spans(spans, s["text"], ontology)[1] == []
        for sp in spans:
            by_label.setdefault(sp.label, []).append(s["text"][sp.start : sp.end])
    assert by_label["Life.Die"] == ["قُتل"]
    assert by_label["Justice.Release-Parole"] == ["أطلقت"]
    assert by_label["GPE"] == ["إدلب", "القاهرة", "كويتا"]
    assert by_label["WEA"] == ["عبوة ناسفة"] and by_label["VEH"] == ["بحافلة"]
    assert rows[4]["spans"] == []
    assert not (ws.quarantine_dir / "prelabel.parquet").exists()


def test_prelabel_is_idempotent(tmp_path):
    ws = make_workspace(tmp_path)
    assert run(ws, "prelabel").exit_code == 0
    first = ws.predictions_path.read_bytes()
    mtime = ws.predictions_path.stat().st_mtime_ns
    again = run(ws, "prelabel")
    assert again.exit_code == 0 and "up to date" in again.output
    assert ws.predictions_path.stat().st_mtime_ns == mtime
    forced = run(ws, "prelabel", "--force")
    assert forced.exit_code == 0 and "Pre-labeled 5 sentences" in forced.output
    assert pq.read_table(ws.predictions_path).equals(pq.read_table(pa.BufferReader(first)))


def test_prelabel_redoes_when_the_sentences_change(tmp_path):
    ws = make_workspace(tmp_path)
    assert run(ws, "prelabel").exit_code == 0
    make_workspace(tmp_path, SENTENCE_TEXTS[:2])
    result = run(ws, "prelabel")
    assert "Pre-labeled 2 sentences" in result.output
    assert pq.read_table(ws.predictions_path).num_rows == 2


def test_spans_the_ontology_does_not_know_are_quarantined(tmp_path):
    ws = make_workspace(tmp_path)
    text = ws.ontology_path.read_text(encoding="utf-8")
    start = text.index("  WEA:\n")
    end = text.index("  VEH:\n")
    text = (text[:start] + text[end:]).replace(", WEA", "").replace("[WEA, ", "[")
    ws.ontology_path.write_text(text, encoding="utf-8")  # an ontology without WEA
    result = run(ws, "prelabel")
    assert result.exit_code == 0, result.output
    assert "1 invalid spans quarantined" in result.output
    q = pq.read_table(ws.quarantine_dir / "prelabel.parquet")
    assert q.schema == QUARANTINE
    (row,) = q.to_pylist()
    assert row["stage"] == "prelabel" and row["source"] == "prelabel:lexicon"
    assert "WEA (entity): label 'WEA' is not in ontology" in row["reason"]
    assert row["location"].startswith("sentence s")
    labels = [
        s["label"] for r in pq.read_table(ws.predictions_path).to_pylist() for s in r["spans"]
    ]
    assert "WEA" not in labels and "VEH" in labels
    # A second run does not duplicate the quarantined row.
    run(ws, "prelabel", "--force")
    assert pq.read_table(ws.quarantine_dir / "prelabel.parquet").num_rows == 1


def test_prelabel_before_segment_says_what_to_run(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "empty")
    code, out = run_main(["prelabel", "--workspace", str(ws.root)], capsys)
    assert code == 1
    assert "sentences.parquet does not exist yet" in out and "corpus segment" in out


def test_unknown_prelabeler_is_an_error(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    code, out = run_main(["prelabel", "-p", "spacy", "--workspace", str(ws.root)], capsys)
    assert code == 1 and "Unknown pre-labeler 'spacy'" in out
    assert not ws.predictions_path.exists()


def test_missing_model_folder_is_an_error_unless_a_fallback_is_asked_for(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    code, out = run_main(["prelabel", "-p", "hf:models/none", "--workspace", str(ws.root)], capsys)
    assert code == 1 and "no model folder at" in out and "--fallback lexicon" in out
    assert not ws.predictions_path.exists()
    result = run(ws, "prelabel", "--prelabeler", "hf:models/none", "--fallback", "lexicon")
    assert result.exit_code == 0, result.output
    assert "no model folder at" in result.output and "using 'lexicon'" in result.output
    assert set(pq.read_table(ws.predictions_path).column("source").to_pylist()) == {"lexicon"}


def test_configured_prelabeler_is_used(tmp_path):
    ws = make_workspace(tmp_path)
    ws.config["prelabel"]["prelabeler"] = "nonsense"
    ws.save_config()
    result = run(ws, "prelabel")
    assert result.exit_code != 0 and "nonsense" in str(result.exception)


def test_broken_ontology_stops_prelabel_with_the_file_and_line(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    text = ws.ontology_path.read_text(encoding="utf-8")
    ws.ontology_path.write_text(
        text.replace("roles: [Entity, Place, Time]", "roles: [Entty]", 1), encoding="utf-8"
    )
    code, out = run_main(["prelabel", "--workspace", str(ws.root)], capsys)
    assert code == 1
    assert str(ws.ontology_path) in out.replace("\n", "")
    assert "role 'Entty' is not defined in roles" in out
    assert not ws.predictions_path.exists()


# --- corpus ontology ----------------------------------------------------------------------------


def test_ontology_render_and_check(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    xml_path = ws.ontology_path.with_suffix(".xml")
    result = run(ws, "ontology", "check")
    assert (
        result.exit_code == 0 and "is valid" in result.output and "ontology render" in result.output
    )
    result = run(ws, "ontology", "render")
    assert result.exit_code == 0, result.output
    assert xml_path.read_text(encoding="utf-8") == label_config_xml(load_ontology(ws.ontology_path))
    result = run(ws, "ontology", "check")
    assert result.exit_code == 0 and "up to date" in result.output


def test_ontology_check_fails_on_a_stale_config(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    run(ws, "ontology", "render")
    text = ws.ontology_path.read_text(encoding="utf-8")
    ws.ontology_path.write_text(
        text.replace("Person, by name", "A person, by name"), encoding="utf-8"
    )
    code, out = run_main(["ontology", "check", "--workspace", str(ws.root)], capsys)
    assert code == 1 and "out of date" in out and "corpus ontology render" in out


def test_ontology_check_reports_a_broken_file(tmp_path, capsys):
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "name: mine\nentity_types: {PER: {}}\nevent_types: {}\nroles: {}\n", encoding="utf-8"
    )
    code, out = run_main(["ontology", "check", str(bad)], capsys)
    assert code == 1
    assert "mine.yaml" in out and "at least one event type is needed" in out


def test_ontology_render_to_stdout_and_to_a_file(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    result = runner.invoke(corpus.cli.app, ["ontology", "render", str(ws.ontology_path), "-o", "-"])
    assert result.exit_code == 0 and result.output.startswith('<View className="corpus-page">')
    out = tmp_path / "out" / "config.xml"
    result = runner.invoke(
        corpus.cli.app, ["ontology", "render", str(ws.ontology_path), "-o", str(out)]
    )
    assert result.exit_code == 0 and out.read_text(encoding="utf-8").startswith(
        '<View className="corpus-page">'
    )
