"""`corpus train`, the model pre-labeler and the training API, on small data built here."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import corpus.cli
from corpus.ontology import default_ontology_path, load_ontology
from corpus.prelabel import get_prelabeler
from corpus.prelabel.lexicon import LexiconPrelabeler
from corpus.train import evaluate, train_model
from corpus.train.crf import bio_decode, bio_encode
from corpus.train.examples import parse_label_map, read_conll
from corpus.train.prelabeler import ModelPrelabelerError
from corpus.types import Span
from corpus.workspace import Workspace
from tests.trainkit import make_examples, write_annotations, write_sentences

ONTOLOGY = load_ontology(default_ontology_path())


def cli(capsys, *args) -> tuple[int, str]:
    """Through corpus.cli.main: typed errors become a message and an exit code."""
    code = 0
    try:
        corpus.cli.main([str(a) for a in args])
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with pulled annotations and a model trained from them by the CLI."""
    ws = Workspace.init(tmp_path_factory.mktemp("train") / "ws")
    write_annotations(ws, make_examples(160, seed=1))
    code = 0
    try:
        corpus.cli.main(["train", "--name", "ner", "--workspace", str(ws.root)])
    except SystemExit as e:
        code = e.code
    assert code == 0
    return ws


def test_train_then_predict_round_trip(trained, capsys):
    ws = trained
    folder = ws.root / "models" / "ner"
    assert (folder / "current").read_text().strip() == "v1"
    card = json.loads((folder / "v1" / "card.json").read_text())
    assert card["backend"] == "crf" and card["ontology"]["hash"] == ONTOLOGY.hash
    assert set(card["labels"]["entity"]) == {"PER", "GPE", "ORG"}
    assert "Life.Die" in card["labels"]["trigger"]
    assert card["training"]["seconds"] > 0 and card["split"]["validation_sentences"] > 0
    assert card["validation"]["micro"]["f1"] > 0.8
    assert "adjudicated annotations: 160 sentences" in card["data"][0]
    assert (folder / "v1" / "CARD.md").read_text().startswith("# Model ner v1")

    # Unseen invented names: only a learned model can find them.
    new = make_examples(8, seed=99)
    p = get_prelabeler("model:ner", ws)
    assert p.name == "model:ner" and p.version.startswith("model:ner@v1+lexicon-")
    for ex in new:
        spans = p.predict(ex.text)
        for s in spans:
            assert 0 < s.score <= 1 and s.kind == ONTOLOGY.kind_of(s.label)
            assert ex.text[s.start : s.end].strip() == ex.text[s.start : s.end]
    found = {(s.start, s.end, s.label) for ex in new for s in p.predict(ex.text)}
    gold = {(s.start, s.end, s.label) for ex in new for s in ex.spans}
    assert len(found & gold) >= 0.7 * len(gold)

    # corpus prelabel with the model: model_version carries name and version.
    write_sentences(ws, new)
    code, out = cli(capsys, "prelabel", "--prelabeler", "model:ner", "--workspace", ws.root)
    assert code == 0, out
    preds = pq.read_table(ws.predictions_path).to_pylist()
    assert {r["model_version"] for r in preds} == {p.version}
    assert any(s["source"] == "model:ner" for r in preds for s in r["spans"])

    # Training again makes v2 current; v1 stays loadable.
    code, out = cli(capsys, "train", "--name", "ner", "--workspace", ws.root)
    assert code == 0 and "ner v2" in out
    assert (folder / "current").read_text().strip() == "v2"
    assert get_prelabeler("model:ner@v1", ws).version.startswith("model:ner@v1+")


def test_model_beats_the_lexicon_where_the_lexicon_is_blind():
    model = train_model(make_examples(200, seed=2), ONTOLOGY)
    dev = make_examples(40, seed=3)
    labels = {"PER", "GPE", "ORG"}
    learned = evaluate(model, dev, labels)
    lexicon = evaluate(LexiconPrelabeler(), dev, labels)
    assert learned["entity"]["f1"] > 0.85
    assert lexicon["entity"]["f1"] < 0.3
    assert set(learned["per_label"]) == labels and learned["sentences"] == 40
    assert learned["trigger"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}
    both = evaluate(model, dev)  # default: the model's own labels, triggers included
    assert both["trigger"]["f1"] > 0.9 and "Conflict.Attack" in both["per_label"]


def test_missing_model_is_an_error_unless_a_fallback_is_asked_for(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(ModelPrelabelerError, match="No trained model 'nope'"):
        get_prelabeler("model:nope", ws)
    with pytest.warns(UserWarning, match="No trained model"):
        p = get_prelabeler("model:nope", ws, model_fallback="lexicon")
    assert p.name == "lexicon"
    write_sentences(ws, make_examples(3))
    code, out = cli(capsys, "prelabel", "-p", "model:nope", "--workspace", ws.root)
    assert code == 1 and "No trained model 'nope'" in out and "corpus train --name nope" in out
    assert "Traceback" not in out
    code, out = cli(
        capsys, "prelabel", "-p", "model:nope", "--fallback", "lexicon", "--workspace", ws.root
    )
    assert code == 0 and "warning" in out and "with lexicon" in out


def test_a_model_of_another_ontology_is_refused(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    write_annotations(ws, make_examples(40, seed=4))
    code, out = cli(capsys, "train", "--name", "m", "--workspace", ws.root)
    assert code == 0, out
    assert get_prelabeler("model:m", ws).name == "model:m"
    onto = ws.ontology_path.read_text(encoding="utf-8")
    ws.ontology_path.write_text(onto.replace("Life.Die:", "Life.Dies:"), encoding="utf-8")
    with pytest.raises(ModelPrelabelerError, match="was trained on ontology"):
        get_prelabeler("model:m", ws)
    ws.config["prelabel"]["prelabeler"] = "model:m"
    ws.save_config()
    write_sentences(ws, make_examples(3))
    code, out = cli(capsys, "prelabel", "--workspace", ws.root)
    assert code == 1 and "was trained on ontology" in out and "corpus train --name m" in out


def test_extra_jsonl_and_conll_with_bad_lines_and_a_label_map(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    exs = make_examples(60, seed=5)
    jsonl = tmp_path / "extra.jsonl"
    lines = []
    for ex in exs[:40]:
        ents = [
            {"start": s.start, "end": s.end, "label": "PERS" if s.label == "PER" else s.label}
            for s in ex.spans
            if s.kind == "entity"
        ]
        lines.append(json.dumps({"id": ex.id, "text": ex.text, "entities": ents}))
    lines.insert(3, "{not json")
    lines.insert(7, json.dumps({"text": "نص", "entities": [{"start": 0, "end": 9, "label": "X"}]}))
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with jsonl.open("ab") as f:
        f.write(b'{"text": "\xff\xfe"}\n')  # not UTF-8: skipped, not a traceback
    conll = tmp_path / "extra.conll"
    blocks = []
    for ex in exs[40:]:
        rows = []
        for tok in ex.text.split(" "):
            pos = ex.text.index(tok, sum(len(r.split(" ")[0]) + 1 for r in rows))
            tag = "O"
            for s in ex.spans:
                if s.kind == "entity" and s.start <= pos < s.end:
                    tag = ("B-" if pos == s.start else "I-") + s.label
            rows.append(f"{tok} {tag}")
        blocks.append("\n".join(rows))
    blocks.insert(2, "كلمة B-PER\nبلا_وسم")
    conll.write_text("-DOCSTART- O\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")

    rep = read_conll(conll, {})
    assert len(rep.examples) == 20 and len(rep.skipped) == 1
    assert rep.skipped[0].startswith(f"{conll}:") and "TOKEN TAG" in rep.skipped[0]
    gold = {(s.start, s.end, s.label) for s in exs[45].spans if s.kind == "entity"}
    assert {(s.start, s.end, s.label) for s in rep.examples[5].spans} == gold

    # Without the map the PERS label is refused with the way out.
    code, out = cli(capsys, "train", "--extra", jsonl, "--workspace", ws.root)
    assert code == 1 and "labels not in the ontology: PERS" in out and "--label-map" in out
    assert "Traceback" not in out
    code, out = cli(
        capsys,
        *("train", "--name", "ext", "--extra", jsonl, "--extra", conll),
        *("--label-map", "PERS=PER,X=", "--workspace", ws.root),
    )
    assert code == 0, out
    assert f"{jsonl}: 40 sentences, 3 bad lines skipped" in out
    assert f"{jsonl}:4: not valid JSON" in out and f"{jsonl}:8: span" in out
    assert f"{jsonl}:43: not UTF-8 text" in out
    assert f"{conll}: 20 sentences, 1 bad lines skipped" in out
    card = json.loads((ws.root / "models" / "ext" / "v1" / "card.json").read_text())
    assert set(card["labels"]["entity"]) == {"PER", "GPE", "ORG"}
    assert card["training"]["sentences"] + card["split"]["validation_sentences"] == 60


def test_label_map_parsing_and_unreadable_extra(tmp_path, capsys):
    assert parse_label_map("PERS=PER, MISC=,LOC=GPE") == {
        "PERS": "PER",
        "MISC": None,
        "LOC": "GPE",
    }
    ws = Workspace.init(tmp_path / "ws")
    code, out = cli(capsys, "train", "--label-map", "PERS", "--workspace", ws.root)
    assert code == 1 and "has no '='" in out
    code, out = cli(capsys, "train", "--extra", tmp_path / "nope.jsonl", "--workspace", ws.root)
    assert code == 1 and "does not exist" in out
    code, out = cli(capsys, "train", "--workspace", ws.root)
    assert code == 1 and "corpus pull" in out


def test_learning_curve(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    write_annotations(ws, make_examples(120, seed=6))
    code, out = cli(capsys, "train", "--name", "c", "--curve", "--workspace", ws.root)
    assert code == 0, out
    assert "learning curve" in out
    for share in ("25%", "50%", "75%", "100%"):
        assert share in out
    assert "PER" in out and "micro" in out
    card = json.loads((ws.root / "models" / "c" / "v1" / "card.json").read_text())
    points = card["curve"]
    assert [p["share"] for p in points] == [0.25, 0.5, 0.75, 1.0]
    assert points[0]["sentences"] < points[-1]["sentences"] == card["split"]["train_sentences"]
    assert {"entity", "trigger", "micro", "per_label"} <= set(points[0])
    assert 0 < points[-1]["micro"] <= 1 and "PER" in points[-1]["per_label"]


def test_bio_round_trip_keeps_offsets():
    text = "قال زيد بن علي في دمشق"
    toks = [(0, 3), (4, 7), (8, 10), (11, 14), (15, 17), (18, 22)]
    spans = [Span(4, 14, "PER"), Span(18, 22, "GPE")]
    tags = bio_encode(toks, spans)
    assert tags == ["O", "B-PER", "I-PER", "I-PER", "O", "B-GPE"]
    assert [(toks[a][0], toks[b - 1][1], lb) for a, b, lb in bio_decode(tags)] == [
        (4, 14, "PER"),
        (18, 22, "GPE"),
    ]
    assert bio_decode(["I-PER", "I-GPE", "O", "I-PER"]) == [
        (0, 1, "PER"),
        (1, 2, "GPE"),
        (3, 4, "PER"),
    ]
    assert text[4:14] == "زيد بن علي"


def test_transformer_backend_fine_tunes_a_tiny_local_model(tmp_path, capsys):
    pytest.importorskip("torch")
    from tests.test_prelabel_optional import make_bert

    base = make_bert(tmp_path / "tiny-base", ["O", "B-X"], "O")
    examples = make_examples(32, seed=8)
    model = train_model(
        examples,
        ONTOLOGY,
        backend="transformer",
        base=str(base),
        params={"epochs": 12, "lr": 5e-3, "batch_size": 8},
    )
    info = model.card
    assert info["backend"] == "transformer" and info["base_model"] == str(base)
    assert info["device"] in ("cpu", "cuda") or info["device"].startswith("cuda")
    losses = info["epoch_losses"]
    assert len(losses) == 12 and losses[-1] < 0.5 * losses[0]  # it learned
    assert set(info["labels"]["entity"]) == {"PER", "GPE", "ORG"}
    scores = evaluate(model, examples[:16])
    assert scores["micro"]["f1"] > 0.3

    # Stored, reloaded and used through model:NAME like any model.
    ws = Workspace.init(tmp_path / "ws")
    from corpus.train import save_model

    assert save_model(ws, "bert", model) == "v1"
    assert (ws.root / "models" / "bert" / "v1" / "hf" / "config.json").is_file()
    p = get_prelabeler("model:bert", ws)
    text = examples[0].text
    spans, unsure = p.analyse(text, uncertainty=True)
    assert 0.0 <= unsure <= 1.0
    for s in spans:
        assert 0 < s.score <= 1 and text[s.start : s.end].strip() == text[s.start : s.end]
    assert p.predict(text) == spans
    assert {(s.start, s.end, s.label) for s in spans if s.source == "model:bert"} == {
        (s.start, s.end, s.label) for s in model.predict(text)
    }

    # Through the CLI: --base names the folder; a folder that is not a model is a clear error.
    write_annotations(ws, examples)
    code, out = cli(
        capsys, "train", "-n", "bert", "--backend", "transformer", "--base", base, "-w", ws.root
    )  # default parameters: 3 epochs
    assert code == 0, out
    assert "bert v2" in out
    code, out = cli(capsys, "train", "--backend", "transformer", "--base", tmp_path, "-w", ws.root)
    assert code == 1 and "not a Hugging Face model folder" in out
    code, out = cli(capsys, "train", "--backend", "transformer", "-w", ws.root)
    assert code == 1 and "needs --base PATH" in out


def test_a_model_with_features_of_another_version_is_refused(tmp_path):
    from corpus.train import save_model

    ws = Workspace.init(tmp_path / "ws")
    save_model(ws, "old", train_model(make_examples(24, seed=9), ONTOLOGY))
    card_path = ws.root / "models" / "old" / "v1" / "card.json"
    card = json.loads(card_path.read_text())
    card["feature_version"] = 1
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelPrelabelerError, match="features of another version"):
        get_prelabeler("model:old", ws)


def test_train_on_a_published_release(tmp_path, capsys, monkeypatch):
    from tests.test_publish import build_workspace

    built = build_workspace(tmp_path / "ws", n_articles=12)
    ws = built.ws
    code, out = cli(capsys, "publish", "1.0.0", "-w", ws.root)
    assert code == 0, out
    folder = ws.releases_dir / "1.0.0" / "sentences"
    rows = {f.stem: pq.read_metadata(f).num_rows for f in folder.glob("*.parquet")}
    code, out = cli(capsys, "train", "--name", "rel", "--release", "1.0.0", "-w", ws.root)
    assert code == 0, out
    card = json.loads((ws.root / "models" / "rel" / "v1" / "card.json").read_text())
    assert card["data"][0].startswith("release 1.0.0: ")
    n = int(card["data"][0].split(": ")[1].split()[0])
    assert n == rows.get("train", 0) + rows.get("validation", 0)  # never the test split
    assert rows.get("test", 0) > 0
    code, out = cli(capsys, "train", "--release", "9.9.9", "-w", ws.root)
    assert code == 1 and "9.9.9" in out
