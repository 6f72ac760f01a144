"""`corpus segment` end to end on a workspace with a hand-built articles.parquet."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.io import write_table
from corpus.schemas import ARTICLES, SENTENCES
from corpus.segment import run as segment_run
from corpus.segment.spans import sentence_spans
from corpus.workspace import Workspace

ARTICLE_TEXTS = {
    "art-1": "قصف جوي على دير الزور\nنفذ التحالف ضربات جوية., وقال مسؤول إن 100 مقاتل قتلوا.",
    "art-2": "وأضاف د. محمد أن النمو بلغ 3.5 في المئة. هل تتحسن الأوضاع؟ لا أحد يعرف!",
    "art-3": "   \n  ",
    "art-4": (
        "وقال المتحدث إن القوات تقدمت على عدة محاور؛ وأضاف أن العمليات مستمرة، "
        "وأن المدنيين غادروا المنطقة، مشيراً إلى أن الوضع الإنساني صعب."
    ),
    "art-5": "خبر عاجل 🔴 انفجار في المرفأ.\u200f وتصاعد الدخان فوق المدينة",
}


def make_workspace(tmp_path, texts=ARTICLE_TEXTS) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    rows = [
        {
            "article_id": aid,
            "source": "test.jsonl",
            "source_id": str(i),
            "title": None,
            "text": text,
            "url": None,
            "published_at": None,
            "dup_group": aid,
            "content_hash": aid,
            "arabic_ratio": 1.0,
        }
        for i, (aid, text) in enumerate(texts.items())
    ]
    write_table(ws.articles_path, pa.Table.from_pylist(rows, schema=ARTICLES), ARTICLES)
    return ws


def set_max_chars_config(ws: Workspace, value) -> None:
    # A fresh dict: the nested config sections may be shared with DEFAULT_CONFIG.
    ws.config = {**ws.config, "segment": {"max_sentence_chars": value}}
    ws.save_config()


def run(ws: Workspace, *args: str):
    result = CliRunner().invoke(corpus.cli.app, ["segment", "--workspace", str(ws.root), *args])
    assert result.exit_code == 0, result.output
    return result


def test_segment_writes_sentences_with_exact_offsets(tmp_path):
    ws = make_workspace(tmp_path)
    result = run(ws)
    table = pq.read_table(ws.sentences_path)
    assert table.schema == SENTENCES
    rows = table.to_pylist()
    expected = sum(len(sentence_spans(t)) for t in ARTICLE_TEXTS.values())
    assert len(rows) == expected
    for r in rows:
        assert r["text"] == ARTICLE_TEXTS[r["article_id"]][r["start"] : r["end"]]
    art1 = [r["text"] for r in rows if r["article_id"] == "art-1"]
    assert art1 == [
        "قصف جوي على دير الزور",
        "نفذ التحالف ضربات جوية.",
        "وقال مسؤول إن 100 مقاتل قتلوا.",
    ]
    assert [r["index"] for r in rows if r["article_id"] == "art-2"] == [0, 1, 2]
    assert f"Segmented 5 articles into {expected} sentences" in result.output
    assert "1 articles had no text" in result.output
    assert "were cut" not in result.output


def test_segment_is_idempotent(tmp_path):
    ws = make_workspace(tmp_path)
    run(ws)
    first = pq.read_table(ws.sentences_path)
    first_bytes = ws.sentences_path.read_bytes()
    run(ws)
    assert pq.read_table(ws.sentences_path).equals(first)
    assert ws.sentences_path.read_bytes() == first_bytes
    assert not ws.sentences_path.with_name("sentences.parquet.tmp").exists()


def test_segment_streams_in_batches(tmp_path, monkeypatch):
    texts = {f"a{i:02d}": f"الخبر رقم {i}. وقال المراسل إن الوضع هادئ." for i in range(7)}
    ws = make_workspace(tmp_path, texts)
    monkeypatch.setattr(segment_run, "BATCH_ARTICLES", 2)
    run(ws)
    rows = pq.read_table(ws.sentences_path).to_pylist()
    assert [r["article_id"] for r in rows] == [aid for aid in texts for _ in range(2)]
    assert len({r["sentence_id"] for r in rows}) == 14


def test_max_chars_option_and_config(tmp_path):
    ws = make_workspace(tmp_path)
    run(ws)
    plain = pq.read_table(ws.sentences_path)
    assert max(len(t) for t in plain["text"].to_pylist()) > 60

    result = run(ws, "--max-chars", "60")
    cut = pq.read_table(ws.sentences_path)
    lengths = [len(t) for t in cut["text"].to_pylist()]
    assert max(lengths) <= 60 and cut.num_rows > plain.num_rows
    assert "sentences over 60 characters were cut" in result.output
    art4 = [r["text"] for r in cut.to_pylist() if r["article_id"] == "art-4"]
    assert art4[0].endswith("محاور؛")

    set_max_chars_config(ws, 60)
    run(ws)
    assert pq.read_table(ws.sentences_path).equals(cut)
    run(ws, "--max-chars", "0")  # the option overrides the config
    assert pq.read_table(ws.sentences_path).equals(plain)


def test_bad_max_chars_config_is_a_clear_error(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    set_max_chars_config(ws, "long")
    with pytest.raises(SystemExit) as exc:
        corpus.cli.main(["segment", "--workspace", str(ws.root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "max_sentence_chars" in err and "corpus.toml" in err
    assert not ws.sentences_path.exists()


def test_negative_max_chars_option_is_rejected(tmp_path):
    ws = make_workspace(tmp_path)
    result = CliRunner().invoke(
        corpus.cli.app, ["segment", "--workspace", str(ws.root), "--max-chars", "-5"]
    )
    assert result.exit_code == 2
    assert not ws.sentences_path.exists()


def test_missing_articles_names_the_file_and_the_command(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(SystemExit) as exc:
        corpus.cli.main(["segment", "--workspace", str(ws.root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "articles.parquet" in err and "does not exist" in err
    assert "corpus ingest SOURCE" in err
    assert not ws.sentences_path.exists()


def test_unreadable_articles_file_is_a_clear_error(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "broken")
    ws.articles_path.write_bytes(b"not parquet at all")
    with pytest.raises(SystemExit) as exc:
        corpus.cli.main(["segment", "--workspace", str(ws.root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "not a readable Parquet file" in err and "corpus ingest" in err


def test_articles_file_without_text_column_is_a_clear_error(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "foreign")
    write_table(
        ws.articles_path,
        pa.table({"article_id": ["a1"], "body": ["نص"]}),
        pa.schema([("article_id", pa.string()), ("body", pa.string())]),
    )
    with pytest.raises(SystemExit) as exc:
        corpus.cli.main(["segment", "--workspace", str(ws.root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "has no text column" in err and "article_id, body" in err
    assert not ws.sentences_path.exists()
