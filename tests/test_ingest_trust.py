"""Issue 11 (ingest) and issue 15 item 4: every input row ends accepted, duplicate or
quarantined, whatever its encoding, quoting or escaping; sources are told apart by path; a licence
is recorded per source. Real files in tmp_path, the real CLI."""

import codecs
import csv
import io
import json
import tomllib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from corpus.cli import app, main
from corpus.errors import SourceError
from corpus.ids import content_id
from corpus.ingest.run import IngestOptions, ingest
from corpus.schemas import ARTICLES, QUARANTINE
from corpus.text import canonicalize
from corpus.workspace import Workspace

runner = CliRunner()

TEXTS = [
    "مقتل 12 مدنياً في قصف على ريف إدلب\n"
    "إدلب (وكالات) - قُتل 12 مدنياً بينهم أطفال وأصيب آخرون بجروح، الأحد، في قصف جوي استهدف "
    'سوقاً شعبية، وفق ما أفاد الدفاع المدني., وقال مسؤول محلي "الطائرات استهدفت السوق".',
    "اعتقال عشرات المحتجين في الخرطوم\n"
    "الخرطوم (رويترز) - اعتقلت قوات الأمن السودانية عشرات المحتجين خلال تظاهرات خرجت في وسط "
    "العاصمة للمطالبة بتحسين الأوضاع المعيشية، بحسب ما ذكرت لجنة الأطباء المركزية في بيان.",
    "محادثات في جنيف بين وفدي الحكومة والمعارضة\n"
    "جنيف (أ ف ب) - التقى المبعوث الأممي وفدي الحكومة والمعارضة اليمنيين في جنيف، الثلاثاء، في "
    "جولة جديدة من المحادثات حول تبادل الأسرى وفتح الطرق إلى مدينة تعز المحاصرة منذ سنوات.",
]


def story(i: int) -> str:
    """A distinct multi-line Arabic article (with a comma, a newline and quotes) per i."""
    return f"الخبر رقم {i}: " + TEXTS[i % 3] + f" وأضاف المصدر أن الحصيلة بلغت {i * 7 + 3} قتيلاً."


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def articles(ws):
    return pq.read_table(ws.articles_path).to_pylist() if ws.articles_path.exists() else []


def quarantined(ws):
    path = ws.quarantine_dir / "ingest.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def cli(ws, *args):
    result = runner.invoke(app, ["ingest", *map(str, args), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    return result.output


def run(ws, *paths, **opts):
    return ingest(ws, list(paths), IngestOptions.from_workspace(ws, **opts))


def jsonl_bytes(rows, encoding="utf-8") -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(encoding)


def esc(text: str) -> str:
    """`text` as the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def csv_text(rows) -> str:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# 3. An escaped lone surrogate quarantines its row, and the file's valid rows are kept.
def test_escaped_lone_surrogate_quarantines_only_its_row(ws, tmp_path):
    good = [
        {"id": f"g{i}", "title": "عنوان", "url": f"https://x.example/{i}", "text": story(i)}
        for i in range(3)
    ]
    path = tmp_path / "s.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    lines.insert(1, '{"id": "t", "text": "' + esc(story(10)) + '\\ud800"}')
    lines.insert(2, '{"id": "h", "title": "\\udfff", "text": "' + esc(story(11)) + '"}')
    lines.insert(
        3, '{"id": "u", "url": "https://x.example/\\ud83d", "text": "' + esc(story(12)) + '"}'
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = cli(ws, path)
    assert "Traceback" not in out
    assert sorted(a["source_id"] for a in articles(ws)) == ["g0", "g1", "g2"]
    q = {r["location"]: r for r in quarantined(ws)}
    assert set(q) == {"line 2", "line 3", "line 4"}
    assert "surrogate" in q["line 2"]["reason"] and "text" in q["line 2"]["reason"]
    assert "title" in q["line 3"]["reason"] and "url" in q["line 4"]["reason"]
    assert "\\ud800" in q["line 2"]["raw"]  # the row as written, fixable
    # A JSON array holding one: the same.
    arr = tmp_path / "a.json"
    arr.write_text(
        "[" + json.dumps({"text": story(20)}, ensure_ascii=False) + ', {"text": "\\ud800x"}]',
        encoding="utf-8",
    )
    (report,) = run(ws, arr)
    assert (report.counts.read, report.counts.accepted, report.counts.quarantined) == (2, 1, 1)


# 4. One unterminated quote in a CSV swallows no row and makes no junk article.
def test_csv_unterminated_quote_is_one_quarantined_row(ws, tmp_path):
    rows = [{"id": f"r{i}", "text": story(i)} for i in range(100)]
    text = csv_text(rows)
    bad_field = '"' + story(41).replace('"', '""') + '"'
    assert text.count(bad_field) == 1
    text = text.replace(bad_field, bad_field[:-1])  # the closing quote is lost
    path = tmp_path / "feed.csv"
    path.write_text(text, encoding="utf-8")
    (report,) = run(ws, path)
    c = report.counts
    assert (c.read, c.accepted, c.duplicate, c.quarantined) == (100, 99, 0, 1)
    got = {a["source_id"]: a["text"] for a in articles(ws)}
    assert set(got) == {f"r{i}" for i in range(100)} - {"r41"}  # no junk ids
    assert all(got[f"r{i}"] == canonicalize(story(i)) for i in range(100) if i != 41)
    (q,) = quarantined(ws)
    assert "quote" in q["reason"] and "line" in q["location"]
    assert q["raw"].startswith("r41,")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 12),
    broken=st.sets(st.integers(0, 10), max_size=4),
    delimiter=st.sampled_from([",", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_property_lost_closing_quotes_cost_exactly_their_rows(
    tmp_path_factory, n, broken, delimiter, newline
):
    broken = {b for b in broken if b < n - 1}  # the last row's: see the next test
    ws = Workspace.init(tmp_path_factory.mktemp("csvprop"))
    lines = ["id" + delimiter + "text"]
    for i in range(n):
        field = '"' + story(i).replace('"', '""') + ("" if i in broken else '"')
        lines.append(f"r{i}{delimiter}{field}")
    path = ws.root / ("in.tsv" if delimiter == "\t" else "in.csv")
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    (report,) = run(ws, path)
    c = report.counts
    assert (c.read, c.accepted, c.quarantined) == (n, n - len(broken), len(broken))
    got = {a["source_id"]: a["text"] for a in articles(ws)}
    assert got == {f"r{i}": canonicalize(story(i)) for i in range(n) if i not in broken}


def test_csv_quote_error_inside_a_line_and_a_runaway_to_the_end(ws, tmp_path):
    def field(text):
        return '"' + text.replace('"', '""') + '"'

    path = tmp_path / "q.csv"
    path.write_text(
        "id,text\n"
        f"1,{field(story(1))}\n"
        f'2,"{story(2)} "bad" quote"\n'  # a stray quote in a multi-line field
        f"3,{field(story(3))}\n"
        f'4,"{story(4).splitlines()[0]}\n'  # never closed: runs to the end of the file
        f"5,{story(5).splitlines()[0]}\n",
        encoding="utf-8",
    )
    (report,) = run(ws, path)
    c = report.counts
    assert (c.read, c.accepted, c.quarantined) == (5, 3, 2)
    assert {a["source_id"] for a in articles(ws)} == {"1", "3", "5"}
    reasons = {q["location"]: q["reason"] for q in quarantined(ws)}
    assert set(reasons) == {"row 2 (lines 4-5)", "row 4 (line 8)"}
    assert all("quote" in r for r in reasons.values())


# 5. A UTF-8 byte-order mark quarantines nothing.
def test_utf8_bom_jsonl_and_json_array(ws, tmp_path):
    rows = [{"id": f"b{i}", "text": story(i)} for i in range(3)]
    jl = tmp_path / "bom.jsonl"
    jl.write_bytes(codecs.BOM_UTF8 + jsonl_bytes(rows))
    arr = tmp_path / "bom.json"
    arr.write_bytes(codecs.BOM_UTF8 + json.dumps(rows, ensure_ascii=False).encode())
    csvp = tmp_path / "bom.csv"
    csvp.write_bytes(codecs.BOM_UTF8 + csv_text(rows).encode())
    reports = run(ws, jl, arr, csvp)
    assert [(r.counts.read, r.counts.quarantined) for r in reports] == [(3, 0)] * 3
    assert [r.counts.accepted for r in reports] == [3, 0, 0]  # the same rows: duplicates after
    assert quarantined(ws) == []
    assert reports[0].encoding == "utf-8-sig"


# 6. windows-1256 is detected; a forced wrong encoding keeps the raw bytes and says what to do.
def test_windows_1256_is_detected_and_reported(ws, tmp_path):
    rows = [{"id": f"w{i}", "title": "عنوان", "text": story(i)} for i in range(5)]
    jl = tmp_path / "legacy.jsonl"
    jl.write_bytes(jsonl_bytes(rows, "cp1256"))
    cs = tmp_path / "legacy.csv"
    cs.write_bytes(
        csv_text([{"id": f"c{i}", "text": story(i + 10)} for i in range(4)]).encode("cp1256")
    )
    out = cli(ws, jl, cs)
    assert "windows-1256" in out
    got = {a["source_id"]: a for a in articles(ws)}
    assert got["w2"]["text"] == canonicalize(story(2)) and got["w2"]["title"] == "عنوان"
    assert got["c3"]["text"] == canonicalize(story(13))
    assert quarantined(ws) == []
    assert "no text field" not in out


def test_undecodable_rows_keep_their_raw_bytes_and_hint_at_encoding(ws, tmp_path):
    rows = [{"id": f"w{i}", "text": story(i)} for i in range(3)]
    data = jsonl_bytes(rows, "cp1256")
    path = tmp_path / "legacy.jsonl"
    path.write_bytes(data)
    result = runner.invoke(app, ["ingest", str(path), "-w", str(ws.root), "--encoding", "utf-8"])
    assert result.exit_code == 0, result.output
    assert "no text field" not in result.output
    assert "--encoding" in result.output
    q = quarantined(ws)
    assert len(q) == 3
    for row, line in zip(q, data.splitlines(keepends=True), strict=True):
        assert "--encoding" in row["reason"] and "utf-8" in row["reason"]
        assert row["raw_bytes"] == line.rstrip(b"\n")
        assert "\ufffd" not in row["raw"]
    assert pq.read_schema(ws.quarantine_dir / "ingest.parquet").equals(QUARANTINE)
    # Fixed by naming the encoding: the same rows are accepted.
    (report,) = run(ws, path, encoding="windows-1256")
    assert report.counts.accepted == 3


def test_encoding_config_default_and_bad_encoding_is_a_clear_error(ws, tmp_path, capsys):
    path = tmp_path / "x.jsonl"
    path.write_bytes(jsonl_bytes([{"id": "1", "text": story(1)}], "cp1256"))
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(path), "-w", str(ws.root), "--encoding", "klingon-8"])
    assert e.value.code in (1, 2)
    err = capsys.readouterr().err
    assert "klingon-8" in err and "Traceback" not in err
    cfg = tomllib.loads((ws.root / "corpus.toml").read_text(encoding="utf-8"))
    assert cfg["ingest"]["encoding"] == "auto"  # written by init, so users see the setting
    cfg["ingest"]["encoding"] = "windows-1256"
    (ws.root / "corpus.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    ws2 = Workspace.load(ws.root)
    assert IngestOptions.from_workspace(ws2).encoding == "windows-1256"
    (report,) = run(ws2, path)
    assert report.counts.accepted == 1 and report.encoding == "windows-1256"


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json", "txt"])
def test_utf16_gives_correct_counts(ws, tmp_path, enc, bom, fmt):
    rows = [{"id": f"u{i}", "text": story(i)} for i in range(4)]
    if fmt == "jsonl":
        text = jsonl_bytes(rows).decode()
    elif fmt == "csv":
        text = csv_text(rows)
    elif fmt == "json":
        text = json.dumps(rows, ensure_ascii=False)
    else:
        text = story(1)
    mark = (codecs.BOM_UTF16_LE if enc.endswith("le") else codecs.BOM_UTF16_BE) if bom else b""
    path = tmp_path / f"u.{fmt}"
    if fmt == "txt":
        path = tmp_path / "folder"
        path.mkdir()
        (path / "a.txt").write_bytes(mark + text.encode(enc))
    else:
        path.write_bytes(mark + text.encode(enc))
    (report,) = run(ws, path)
    n = 1 if fmt == "txt" else 4
    assert (report.counts.read, report.counts.accepted, report.counts.quarantined) == (n, n, 0)
    assert report.encoding.startswith("utf-16")
    if fmt != "txt":
        assert {a["source_id"]: a["text"] for a in articles(ws)}["u3"] == canonicalize(story(3))


# 7. Same-named sources are told apart by path.
def test_same_named_sources_are_told_apart(ws, tmp_path):
    a, b = tmp_path / "agencyA", tmp_path / "agencyB"
    a.mkdir()
    b.mkdir()
    (a / "feed.jsonl").write_bytes(
        jsonl_bytes([{"id": "1", "text": story(1)}]) + b'{"id": "2", "text": ""}\n'
    )
    (b / "feed.jsonl").write_bytes(
        jsonl_bytes([{"id": "1", "text": story(2)}]) + b'{"id": "2", "text": ""}\n'
    )
    cli(ws, a / "feed.jsonl")
    out = cli(ws, b / "feed.jsonl")  # a later run: the quarantine row must not be dropped
    assert "--source-name" in out
    arts = articles(ws)
    assert len(arts) == 2 and len({x["source"] for x in arts}) == 2
    # A single source keeps the id rule it always had: source (file) name + source id.
    first = next(x for x in arts if x["text"] == canonicalize(story(1)))
    assert first["source"] == "feed.jsonl"
    assert first["article_id"] == content_id("feed.jsonl", "1", prefix="a")
    assert next(x for x in arts if x is not first)["source"] == "agencyB/feed.jsonl"
    q = quarantined(ws)
    assert len(q) == 2 and {r["source"] for r in q} == {"feed.jsonl", "agencyB/feed.jsonl"}
    # Both in one run, and the same path again: the names are stable.
    (ra, rb) = run(ws, a / "feed.jsonl", b / "feed.jsonl")
    assert (ra.source, rb.source) == ("feed.jsonl", "agencyB/feed.jsonl")
    assert (ra.counts.duplicate, rb.counts.duplicate) == (1, 1)
    assert len(quarantined(ws)) == 2


def test_same_named_sources_in_one_fresh_run(ws, tmp_path):
    for d, i in (("x", 1), ("y", 2)):
        (tmp_path / d).mkdir()
        (tmp_path / d / "feed.jsonl").write_bytes(jsonl_bytes([{"id": "1", "text": story(i)}]))
    reports = run(ws, tmp_path / "x" / "feed.jsonl", tmp_path / "y" / "feed.jsonl")
    assert [r.counts.accepted for r in reports] == [1, 1]
    assert reports[0].source != reports[1].source


# 16 (ingest parts). Script/style blocks are not article text; skipped files are reported.
def test_script_and_style_blocks_are_removed():
    raw = (
        "<style>p {color: red}</style>قصف على ريف إدلب\n"
        '<SCRIPT type="text/javascript">var x = "<b>";\nalert(1);</script >وقال مسؤول محلي'
    )
    assert canonicalize(raw) == "قصف على ريف إدلب\nوقال مسؤول محلي"
    assert canonicalize(canonicalize(raw)) == canonicalize(raw)
    assert canonicalize("&lt;script&gt;x()&lt;/script&gt;نص") == "نص"


def test_script_blocks_removed_on_ingest(ws, tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(jsonl_bytes([{"id": "1", "text": story(1) + "<script>track()</script>"}]))
    run(ws, path)
    assert articles(ws)[0]["text"] == canonicalize(story(1))


def test_non_txt_files_in_a_folder_are_reported(ws, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(story(1), encoding="utf-8")
    for name in ("b.md", "c.html", "d.docx"):
        (folder / name).write_text("x", encoding="utf-8")
    out = cli(ws, folder)
    assert "3 file(s)" in out and "b.md" in out and "warning" in out


# Issue 15 item 4: a licence per source, as a nullable `license` column.
def test_license_per_source_from_the_cli_and_corpus_toml(ws, tmp_path):
    p1 = tmp_path / "one.jsonl"
    p1.write_bytes(jsonl_bytes([{"id": "1", "text": story(1)}]))
    p2 = tmp_path / "two.jsonl"
    p2.write_bytes(jsonl_bytes([{"id": "1", "text": story(2)}]))
    p3 = tmp_path / "three.jsonl"
    p3.write_bytes(jsonl_bytes([{"id": "1", "text": story(3)}]))
    cli(ws, p1, "--license", "CC-BY-4.0", "--source-name", "agency")
    with open(ws.root / "corpus.toml", "a", encoding="utf-8") as f:
        f.write('\n[sources."two.jsonl"]\nlicense = "CC0-1.0"\n')
    cli(ws, p2, p3)
    got = {a["source"]: a["license"] for a in articles(ws)}
    assert got == {"agency": "CC-BY-4.0", "two.jsonl": "CC0-1.0", "three.jsonl": None}
    assert pq.read_schema(ws.articles_path).equals(ARTICLES)
    assert ARTICLES.field("license").nullable and ARTICLES.field("license").type == pa.string()


@pytest.mark.parametrize("bad", ["CC-BY-4.0\n", "not a licence!", "", "MIT;rm"])
def test_license_shape_is_validated(ws, tmp_path, capsys, bad):
    path = tmp_path / "one.jsonl"
    path.write_bytes(jsonl_bytes([{"id": "1", "text": story(1)}]))
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(path), "-w", str(ws.root), "--license", bad])
    assert e.value.code in (1, 2)
    err = capsys.readouterr().err
    assert "licen" in err.lower() and "Traceback" not in err
    assert not ws.articles_path.exists()


def test_articles_without_license_column_still_read(ws, tmp_path):
    old_schema = pa.schema([f for f in ARTICLES if f.name != "license"])
    old = {
        "article_id": "a1", "source": "old.jsonl", "source_id": "1", "title": None,
        "text": canonicalize(story(1)), "url": None, "published_at": None, "dup_group": "a1",
        "content_hash": "h", "arabic_ratio": 0.9,
    }  # fmt: skip
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([old], schema=old_schema), ws.articles_path)
    path = tmp_path / "new.jsonl"
    path.write_bytes(jsonl_bytes([{"id": "2", "text": story(2)}]))
    cli(ws, path, "--license", "MIT")
    got = {a["source"]: a["license"] for a in articles(ws)}
    assert got == {"old.jsonl": None, "new.jsonl": "MIT"}


# Every row ends accepted, duplicate or quarantined, whatever the bytes.
_row = st.one_of(
    st.builds(lambda i: {"id": str(i), "text": story(i)}, st.integers(0, 6)),
    st.builds(lambda i: {"text": story(i)}, st.integers(0, 6)),
    st.just({"title": "no text"}),
    st.just({"text": ""}),
    st.just('{"text": "\\ud800 surrogate"}'),
    st.just('{"id": "s", "title": "\\udc80", "text": "' + esc(TEXTS[0]) + '"}'),
    st.just("not json"),
    st.just("[1]"),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(_row, min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1256"]),
    fmt=st.sampled_from(["jsonl", "csv"]),
)
def test_property_every_row_is_accounted_for(tmp_path_factory, rows, encoding, fmt):
    ws = Workspace.init(tmp_path_factory.mktemp("prop"))
    path = ws.root / f"in.{fmt}"
    if fmt == "jsonl":
        text = "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
        )
        n = len(rows)
    else:
        dicts = [r for r in rows if isinstance(r, dict)] or [{"text": ""}]
        text = csv_text([{"id": d.get("id", ""), "text": d.get("text", "")} for d in dicts])
        n = sum(1 for d in dicts if d.get("id") or d.get("text"))  # blank rows are skipped
    path.write_bytes(text.encode(encoding, "surrogatepass"))
    (report,) = run(ws, path)
    c = report.counts
    assert c.read == n
    assert c.accepted + c.duplicate + c.quarantined == c.read
    assert len(articles(ws)) == c.accepted
    assert len(quarantined(ws)) == c.quarantined


def test_quarantine_rows_of_different_content_at_one_location_are_all_kept(ws, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"text": "short one"}\n')
    run(ws, path)
    path.write_bytes(b'{"text": "short two"}\n')
    run(ws, path)
    assert len(quarantined(ws)) == 2
    assert [q["raw_bytes"] for q in quarantined(ws)] == [None, None]  # they decoded


_piece = st.sampled_from(
    [
        '"', '""', ",", "\t", "\n", "\r\n", "{", "}", "[", "]", ":", '"text"', '"id"', "id,text\n",
        TEXTS[1], TEXTS[2][:40], "\\ud800", "\\u0627", "\ufeff", "\x00", "abc", " ",
    ]
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(_piece, max_size=40),
    junk=st.binary(max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp1256"]),
    fmt=st.sampled_from(["jsonl", "csv", "tsv", "json"]),
)
# The pure-Python JSON backend (chosen for lone surrogates) reports a raw tab as json's own error.
@example(pieces=['"', "\t", "\\ud800", '"'], junk=b"", encoding="utf-8", fmt="json")
def test_property_any_bytes_never_crash_and_every_row_is_counted(
    tmp_path_factory, pieces, junk, encoding, fmt
):
    ws = Workspace.init(tmp_path_factory.mktemp("fuzz"))
    path = ws.root / f"in.{fmt}"
    text = "".join(pieces)
    path.write_bytes(text.encode(encoding, "replace") + junk)
    try:
        (report,) = run(ws, path)
    except SourceError as e:  # a clear error, before anything is written, for a file that is
        # a truncated gzip (its first bytes are the gzip mark) or a CSV without a usable header
        if text or junk[:2] != b"\x1f\x8b":
            assert fmt in ("csv", "tsv") and '"' in text and "header line" in e.message
        assert not ws.articles_path.exists()
        return
    c = report.counts
    assert c.accepted + c.duplicate + c.quarantined == c.read
    assert len(articles(ws)) == c.accepted
    assert len(quarantined(ws)) == c.quarantined
