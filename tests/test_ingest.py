"""Ingest: every format, every bad-row kind, idempotence, near-duplicates, nothing lost."""

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from corpus.cli import app, main
from corpus.errors import SourceError
from corpus.ingest.run import IngestOptions, ingest
from corpus.schemas import ARTICLES, QUARANTINE
from corpus.workspace import Workspace

runner = CliRunner()

ARTICLE_A = (
    "مقتل 12 مدنياً في قصف على ريف إدلب\n"
    "إدلب (وكالات) - قُتل 12 مدنياً بينهم أطفال وأصيب آخرون بجروح، الأحد، في قصف جوي استهدف "
    "سوقاً شعبية في بلدة سرمدا بريف إدلب الشمالي، وفق ما أفاد الدفاع المدني., وقال مسؤول محلي "
    '"الطائرات استهدفت السوق في وقت الذروة".'
)
ARTICLE_B = (
    "اعتقال عشرات المحتجين في الخرطوم\n"
    "الخرطوم (رويترز) - اعتقلت قوات الأمن السودانية عشرات المحتجين خلال تظاهرات خرجت في وسط "
    "العاصمة للمطالبة بتحسين الأوضاع المعيشية، بحسب ما ذكرت لجنة الأطباء المركزية في بيان."
)
ARTICLE_C = (
    "محادثات في جنيف بين وفدي الحكومة والمعارضة\n"
    "جنيف (أ ف ب) - التقى المبعوث الأممي وفدي الحكومة والمعارضة اليمنيين في جنيف، الثلاثاء، في "
    "جولة جديدة من المحادثات حول تبادل الأسرى وفتح الطرق إلى مدينة تعز المحاصرة منذ سنوات."
)


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def articles(ws):
    return pq.read_table(ws.articles_path).to_pylist() if ws.articles_path.exists() else []


def quarantined(ws):
    path = ws.quarantine_dir / "ingest.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def records():
    return [
        {"id": "a1", "title": "إدلب", "text": ARTICLE_A, "url": "https://x.example/1", "date": "2024-03-01"},
        {"id": "b2", "title": "الخرطوم", "text": ARTICLE_B, "url": "https://x.example/2", "date": "2024-03-02T10:00:00Z"},
        {"id": "c3", "title": "جنيف", "text": ARTICLE_C, "url": "https://x.example/3", "date": "02/03/2024"},
    ]  # fmt: skip


def write_jsonl(path: Path, rows, gz=False):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_csv(path: Path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def run(ws, *paths, **opts):
    return ingest(ws, list(paths), IngestOptions.from_workspace(ws, **opts))


def check_accepted(ws, n=3):
    rows = articles(ws)
    assert len(rows) == n
    by_title = {r["title"]: r for r in rows}
    assert by_title["إدلب"]["text"] == ARTICLE_A
    assert by_title["إدلب"]["source_id"] == "a1"
    assert by_title["إدلب"]["url"] == "https://x.example/1"
    assert by_title["الخرطوم"]["published_at"] == "2024-03-02T10:00:00+00:00"
    assert by_title["جنيف"]["published_at"] == "2024-03-02T00:00:00"
    return rows


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "json", "json.gz", "csv", "tsv", "parquet"])
def test_each_file_format(ws, tmp_path, kind):
    path = tmp_path / f"src.{kind}"
    rows = records()
    if kind.startswith("jsonl"):
        write_jsonl(path, rows, gz=kind.endswith(".gz"))
    elif kind.startswith("json"):
        data = json.dumps(rows, ensure_ascii=False).encode()
        path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    elif kind == "csv":
        write_csv(path, rows)
    elif kind == "tsv":
        write_csv(path, rows, delimiter="\t")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    (report,) = run(ws, path)
    assert report.format == kind.split(".")[0]
    assert (report.counts.read, report.counts.accepted, report.counts.quarantined) == (3, 3, 0)
    check_accepted(ws)
    assert pq.read_schema(ws.articles_path).equals(ARTICLES)


def test_folder_of_txt_files_and_gzip(ws, tmp_path):
    folder = tmp_path / "txt"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text(ARTICLE_A, encoding="utf-8")
    (folder / "sub" / "two.txt.gz").write_bytes(gzip.compress(ARTICLE_B.encode()))
    (folder / "notes.md").write_text("ignored")
    (report,) = run(ws, folder)
    assert report.format == "txt" and report.counts.accepted == 2
    rows = {r["source_id"]: r for r in articles(ws)}
    assert set(rows) == {"one.txt", "sub/two.txt.gz"}
    assert rows["one.txt"]["title"] == "مقتل 12 مدنياً في قصف على ريف إدلب"  # headline line


def test_datasets_save_to_disk_folder(ws, tmp_path):
    from datasets import Dataset, DatasetDict

    rows = records()
    dd = DatasetDict({"train": Dataset.from_list(rows[:2]), "test": Dataset.from_list(rows[2:])})
    dd.save_to_disk(str(tmp_path / "hf"))
    (report,) = run(ws, tmp_path / "hf")
    assert report.format == "hf" and report.counts.accepted == 3
    check_accepted(ws)


def test_field_mapping_options_and_nested_fields(ws, tmp_path):
    rows = [
        {"guid": f"g{i}", "doc": {"body": t, "head": f"h{i}"}}
        for i, t in enumerate([ARTICLE_A, ARTICLE_B])
    ]
    path = write_jsonl(tmp_path / "n.jsonl", rows)
    (report,) = run(ws, path, text_field="doc.body", title_field="doc.head")
    assert report.counts.accepted == 2
    assert report.fields["id"] == "guid"  # detected
    got = {r["source_id"]: r["title"] for r in articles(ws)}
    assert got == {"g0": "h0", "g1": "h1"}


def test_cli_field_options(ws, tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"key": "k1", "content_ar": ARTICLE_C}])
    result = runner.invoke(
        app,
        [
            "ingest",
            str(path),
            "-w",
            str(ws.root),
            "--text-field",
            "content_ar",
            "--id-field",
            "key",
        ],
    )
    assert result.exit_code == 0, result.output
    assert articles(ws)[0]["source_id"] == "k1"


def test_bad_rows_are_quarantined_with_reasons(ws, tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"id": "ok", "text": ARTICLE_A}, ensure_ascii=False).encode(),
        '{"id": "broken", "text": "مرحبا'.encode(),  # invalid JSON
        b'{"id": "latin1", "text": "caf\xe9 \xe9t\xe9"}',  # undecodable bytes
        json.dumps({"id": "notext", "title": "x"}).encode(),
        json.dumps({"id": "empty", "text": "   \u200b "}).encode(),
        json.dumps(
            {
                "id": "english",
                "text": "The coalition said on Thursday it struck pro-government forces.",
            }
        ).encode(),
        json.dumps({"id": "short", "text": "قصف"}, ensure_ascii=False).encode(),
        json.dumps({"id": "huge", "text": "قصف " * 60_000}, ensure_ascii=False).encode(),
        json.dumps({"id": "number", "text": 12345}).encode(),
        b"[1, 2, 3]",
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    (report,) = run(ws, path)
    c = report.counts
    assert (c.read, c.accepted, c.duplicate, c.quarantined) == (10, 1, 0, 9)
    reasons = {q["location"]: q["reason"] for q in quarantined(ws)}
    assert reasons["line 2"].startswith("invalid JSON")
    assert reasons["line 3"].startswith("undecodable bytes")
    assert reasons["line 4"].startswith("missing text")
    assert reasons["line 5"] == "empty text"
    assert reasons["line 6"].startswith("not Arabic")
    assert "only 3 characters" in reasons["line 7"]
    assert "over the limit" in reasons["line 8"]
    assert "non-string" in reasons["line 9"]
    assert "expected a JSON object" in reasons["line 10"]
    # The raw row is kept so it can be fixed and ingested again.
    assert all(q["source"] == "bad.jsonl" for q in quarantined(ws))
    assert "caf" in next(q["raw"] for q in quarantined(ws) if q["location"] == "line 3")


def test_bad_csv_rows(ws, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"id,text\n"
        + ('1,"' + ARTICLE_A.replace('"', '""') + '"\n').encode()  # quotes doubled: valid CSV
        + b'2,"caf\xe9 undecodable"\n'
        + f'3,"{ARTICLE_B}",extra\n'.encode()
    )
    (report,) = run(ws, path)
    assert (report.counts.accepted, report.counts.quarantined) == (1, 2)
    reasons = sorted(q["reason"] for q in quarantined(ws))
    assert reasons[0].startswith("has 3 fields") and reasons[1].startswith("undecodable")
    # The record as written, quotes and all, so it can be fixed and fed again.
    raws = {q["reason"][:3]: q["raw"] for q in quarantined(ws)}
    assert raws["has"] == f'3,"{ARTICLE_B}",extra'


def test_undecodable_txt_file_and_broken_json_array(ws, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "good.txt").write_text(ARTICLE_A)
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([{"text": ARTICLE_B}], ensure_ascii=False)[:-1] + ', {"text": ')
    # Named: detection would read bytes that are not UTF-8 as a legacy code page (or, as here,
    # a UTF-16 byte-order mark).
    reports = run(ws, folder, arr, encoding="utf-8")
    assert [r.counts.accepted for r in reports] == [1, 1]
    assert [r.counts.quarantined for r in reports] == [1, 1]
    reasons = {q["location"]: q["reason"] for q in quarantined(ws)}
    assert reasons["file bad.txt"].startswith("undecodable bytes")
    assert "rest of the file was not read" in reasons["item 2 onwards"]


def test_unreadable_source_is_a_clear_error_and_writes_nothing(ws, tmp_path, capsys):
    good = write_jsonl(tmp_path / "good.jsonl", records())
    with pytest.raises(SourceError, match="no such file"):
        run(ws, good, tmp_path / "missing.jsonl")
    assert not ws.articles_path.exists()
    odd = tmp_path / "mystery.bin"
    odd.write_bytes(b"\x00\x01 binary")
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(odd), "-w", str(ws.root)])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "mystery.bin" in err and "--format" in err


def test_reingest_adds_nothing_and_ids_are_stable(ws, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", records())
    run(ws, path)
    first = articles(ws)
    (again,) = run(ws, path)
    assert (again.counts.accepted, again.counts.duplicate) == (0, 3)
    assert articles(ws) == first
    # Same content from another file without ids is an exact duplicate too.
    path2 = write_jsonl(tmp_path / "copy.jsonl", [{"text": r["text"]} for r in records()])
    (copy,) = run(ws, path2)
    assert copy.counts.duplicate == 3 and len(articles(ws)) == 3
    # Ids do not depend on the run or the workspace.
    other = Workspace.init(tmp_path / "other")
    run(other, path)
    assert sorted(a["article_id"] for a in articles(other)) == sorted(
        a["article_id"] for a in first
    )


def test_changed_text_under_an_existing_id_is_quarantined_not_lost(ws, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", records())
    run(ws, path)
    changed = records()
    changed[0]["text"] = ARTICLE_A + " وأضاف المصدر أن الحصيلة مرشحة للارتفاع."
    write_jsonl(path, changed)
    (report,) = run(ws, path)
    assert (report.counts.duplicate, report.counts.quarantined) == (2, 1)
    assert "already ingested with different text" in quarantined(ws)[0]["reason"]


def test_near_duplicate_reprints_share_a_group(ws, tmp_path):
    reprint = ARTICLE_A.replace("مقتل 12 مدنياً", "12 قتيلاً مدنياً").replace("الأحد", "يوم الأحد")
    reprint += " وأضاف أن فرق الإنقاذ ما زالت تبحث عن ناجين."
    rows = records() + [{"id": "r1", "text": reprint}]
    run(ws, write_jsonl(tmp_path / "s.jsonl", rows))
    got = {r["source_id"]: r for r in articles(ws)}
    assert got["r1"]["dup_group"] == got["a1"]["dup_group"] == got["a1"]["article_id"]
    assert len({got[k]["dup_group"] for k in ("a1", "b2", "c3")}) == 3
    # A later ingest still finds the group (the index persists).
    again = ARTICLE_A.replace("الشمالي", "الشمالي الغربي")
    (report,) = run(ws, write_jsonl(tmp_path / "later.jsonl", [{"id": "r2", "text": again}]))
    assert report.near_duplicates == 1
    assert {r["source_id"]: r["dup_group"] for r in articles(ws)}["r2"] == got["a1"]["article_id"]


def test_a_workspace_with_the_old_single_index_file_is_migrated(ws, tmp_path):
    """Workspaces from before the parts folder kept every signature in data/minhash.parquet:
    the next ingest groups against it, then moves it into data/minhash/ (groups unchanged)."""
    from corpus.ingest.signature_store import LEGACY_SCHEMA

    run(ws, write_jsonl(tmp_path / "s.jsonl", records()))
    folder = ws.data_dir / "minhash"
    (part,) = folder.iterdir()
    old = pq.read_table(part, columns=LEGACY_SCHEMA.names).cast(LEGACY_SCHEMA)
    pq.write_table(old, ws.data_dir / "minhash.parquet")
    part.unlink()
    folder.rmdir()
    again = ARTICLE_A.replace("الشمالي", "الشمالي الغربي")
    (report,) = run(ws, write_jsonl(tmp_path / "later.jsonl", [{"id": "r2", "text": again}]))
    assert report.near_duplicates == 1
    groups = {r["source_id"]: r["dup_group"] for r in articles(ws)}
    assert groups["r2"] == groups["a1"]
    assert not (ws.data_dir / "minhash.parquet").exists()
    assert sorted(p.name for p in folder.iterdir()) == [
        "part-000000.parquet",
        "part-000001.parquet",
    ]
    migrated = pq.read_table(folder / "part-000000.parquet")
    assert migrated.select(LEGACY_SCHEMA.names).cast(LEGACY_SCHEMA).equals(old)


def test_bundled_samples_ingest_with_reprints_grouped(ws):
    from corpus.bundled import sample_articles

    samples = sample_articles()
    (report,) = run(ws, samples)
    assert report.counts.read >= 20 and report.counts.quarantined == 0
    rows = articles(ws)
    groups = {}
    for r in rows:
        groups.setdefault(r["dup_group"], []).append(r["source_id"])
    multi = [g for g in groups.values() if len(g) > 1]
    assert multi, "the samples' near-duplicate reprints should share a dup_group"
    assert len(groups) >= 18  # distinct stories stay apart


def test_quarantine_file_round_trips(ws, tmp_path):
    run(ws, write_jsonl(tmp_path / "q.jsonl", [{"text": ""}]))
    table = pq.read_table(ws.quarantine_dir / "ingest.parquet")
    assert table.schema.equals(QUARANTINE)
    run(ws, write_jsonl(tmp_path / "q.jsonl", [{"text": ""}]))  # same bad row again: kept once
    assert pq.read_table(ws.quarantine_dir / "ingest.parquet").num_rows == 1


def test_articles_file_round_trips_and_text_is_canonical(ws, tmp_path):
    raw = "\ufeff" + ARTICLE_B.replace("\n", "\r\n") + "\u200b"
    run(ws, write_jsonl(tmp_path / "c.jsonl", [{"id": 1, "text": raw}]))
    table = pq.read_table(ws.articles_path)
    assert table.schema.equals(ARTICLES)
    assert table.column("text")[0].as_py() == ARTICLE_B


def test_cli_prints_counts(ws, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", records() + [{"text": ""}])
    result = runner.invoke(app, ["ingest", str(path), "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "quarantined" in result.output
    assert "1 row(s) quarantined" in result.output
    status = runner.invoke(app, ["status", "-w", str(ws.root), "--json"])
    assert json.loads(status.output)["stages"]["articles"] == 3


row_strategy = st.one_of(
    st.builds(
        lambda t: {"text": t},
        st.sampled_from(
            [ARTICLE_A, ARTICLE_B, ARTICLE_C, "", "short", "English only text here ok"]
        ),
    ),
    st.builds(
        lambda i, t: {"id": i, "text": t},
        st.integers(0, 5),
        st.sampled_from([ARTICLE_A, ARTICLE_B, ARTICLE_C + " إضافة"]),
    ),
    st.just({"title": "no text"}),
    st.just("not json"),
    st.just("[1]"),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(row_strategy, max_size=8), min_size=1, max_size=3))
def test_property_nothing_is_lost(tmp_path_factory, batches):
    ws = Workspace.init(tmp_path_factory.mktemp("prop"))
    total_accepted = 0
    for i, rows in enumerate(batches):
        path = ws.root / f"b{i}.jsonl"
        path.write_text(
            "".join(
                (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                for r in rows
            ),
            encoding="utf-8",
        )
        (report,) = run(ws, path)
        c = report.counts
        assert c.read == len(rows)
        assert c.accepted + c.duplicate + c.quarantined == c.read
        total_accepted += c.accepted
    assert len(articles(ws)) == total_accepted


def test_clean_batch_is_the_per_article_core_over_a_table():
    import pyarrow as pa

    from corpus.ingest.run import CLEAN_BATCH, RAW_BATCH, clean_article, clean_batch

    opts = IngestOptions()
    rows = [
        {"source": "s", "location": f"line {i}", "source_id": sid, "title": None, "text": t,
         "url": None, "published_at": "2024-01-02", "raw": ""}
        for i, (sid, t) in enumerate([("1", ARTICLE_A), (None, ARTICLE_B), ("3", ""), ("4", "English text only, no Arabic at all")])
    ]  # fmt: skip
    out = clean_batch(pa.Table.from_pylist(rows, schema=RAW_BATCH), opts)
    assert out.schema.equals(CLEAN_BATCH)
    assert out.to_pylist() == [clean_article(r, opts) | {} for r in rows]
    reasons = out.column("reject_reason").to_pylist()
    assert (
        reasons[:2] == [None, None]
        and reasons[2] == "empty text"
        and reasons[3].startswith("not Arabic")
    )
