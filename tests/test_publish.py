"""`corpus.publish`: releases that `datasets.load_dataset` loads with the exact labels annotators
made, leakage-free and stable splits, atomic and byte-reproducible builds, verify and diff.

The workspace stage files are built here directly with the shared schemas, so these tests do
not depend on the ingest/segment/pull stages.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from corpus.errors import ReleaseError
from corpus.ids import content_id
from corpus.io import write_table
from corpus.ontology import load_ontology
from corpus.publish.annotations import adjudicated, read_annotations
from corpus.publish.build import publish
from corpus.publish.configs import CONFIGS, release_features
from corpus.publish.manifest import list_versions, version_key
from corpus.publish.release import diff, verify
from corpus.publish.splits import SPLITS
from corpus.publish.tokens import bio_names
from corpus.schemas import ANNOTATIONS, ARTICLES, PREDICTIONS, SENTENCES
from corpus.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
SECRET = "SECRET-API-KEY-do-not-publish"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# --- a hand-built workspace ---------------------------------------------------------------------


@dataclass
class Label:
    """One annotation of a sentence; spans are given as (substring, label[, occurrence])."""

    entities: list[tuple] = field(default_factory=list)
    triggers: list[tuple] = field(default_factory=list)
    arguments: list[tuple[str, str, str]] = field(default_factory=list)  # trigger, entity, role
    choice: str | None = "has-event"
    annotator: str = "ann-5f1c2a9b0d3e"
    cancelled: bool = False
    minutes: int = 0  # updated_at = T0 + minutes


def _find(text: str, sub: str, occurrence: int = 0) -> tuple[int, int]:
    i = -1
    for _ in range(occurrence + 1):
        i = text.index(sub, i + 1)
    return i, i + len(sub)


CITIES = [
    "حلب",
    "حمص",
    "درعا",
    "إدلب",
    "الرقة",
    "دمشق",
    "بغداد",
    "الموصل",
    "صنعاء",
    "تعز",
    "غزة",
    "بيروت",
]

SPECIAL = [
    # Diacritics and tatweel inside the trigger; Arabic-Indic digits; a hashtag; emoji.
    (
        "قُـــتل ٣ مدنيين في قصف على #دير_الزور 😢 أمس.",
        [
            Label(
                entities=[("٣", "NUM"), ("#دير_الزور", "GPE")],
                triggers=[("قُـــتل", "Life.Die"), ("قصف", "Conflict.Attack")],
                arguments=[("قُـــتل", "٣", "Victim"), ("قصف", "#دير_الزور", "Place")],
            )
        ],
    ),
    # A clitic-attached entity (edge inside the token) and nested spans (one cannot be BIO).
    (
        "وقال والجيش إن مطار بغداد تعرض لهجوم بطائرة مسيرة.,وأغلق المطار.",
        [
            Label(
                entities=[
                    ("الجيش", "ORG"),
                    ("مطار بغداد", "FAC"),
                    ("بغداد", "GPE"),
                    ("طائرة مسيرة", "VEH"),
                ],
                triggers=[("لهجوم", "Conflict.Attack")],
                arguments=[
                    ("لهجوم", "مطار بغداد", "Target"),
                    ("لهجوم", "طائرة مسيرة", "Instrument"),
                ],
            )
        ],
    ),
    # Two annotators disagree: with policy "latest" the newer annotation wins.
    (
        "اعتقلت الشرطة \u200fخمسة محتجين في عمان.",
        [
            Label(
                entities=[("الشرطة", "ORG")],
                triggers=[("اعتقلت", "Justice.Arrest-Jail")],
                annotator="ann-aaaaaaaaaaaa",
                minutes=1,
            ),
            Label(
                entities=[("الشرطة", "ORG"), ("خمسة", "NUM"), ("عمان", "GPE")],
                triggers=[("اعتقلت", "Justice.Arrest-Jail")],
                arguments=[("اعتقلت", "الشرطة", "Agent"), ("اعتقلت", "خمسة", "Person")],
                annotator="ann-bbbbbbbbbbbb",
                minutes=5,
            ),
        ],
    ),
    # Noise: left out of the release.
    ("اشترك الآن!!! عروض 50% على كل المنتجات", [Label(choice="noise")]),
    # Only skipped: left out.
    ("نص لم يكتمل تخطاه المعلق", [Label(choice=None, cancelled=True)]),
    # Annotated, no event.
    ("الطقس معتدل في معظم المناطق.", [Label(choice="no-event")]),
]


def _article_sentences(i: int) -> list[tuple[str, list[Label]]]:
    city = CITIES[i % len(CITIES)]
    other = CITIES[(i + 5) % len(CITIES)]
    return [
        (
            f"قصفت القوات الحكومية مدينة {city} صباح اليوم.",
            [
                Label(
                    entities=[("القوات الحكومية", "ORG"), (city, "GPE"), ("صباح اليوم", "TIME")],
                    triggers=[("قصفت", "Conflict.Attack")],
                    arguments=[("قصفت", "القوات الحكومية", "Attacker"), ("قصفت", city, "Target")],
                )
            ],
        ),
        (
            f"وتظاهر المئات في {other} احتجاجا على القصف.",
            [
                Label(
                    entities=[(other, "GPE")],
                    triggers=[("وتظاهر", "Conflict.Demonstrate")],
                    arguments=[("وتظاهر", other, "Place")],
                    minutes=i,
                )
            ],
        ),
        (f"وهذه جملة رقم {i} لم يعلق عليها أحد.", []),  # segmented, never annotated
    ]


@dataclass
class Built:
    ws: Workspace
    sentences: dict[str, str]  # sentence text -> sentence_id
    article_of: dict[str, str]


def _annotation_rows(sid: str, aid: str, text: str, labels: list[Label], counter) -> list[dict]:
    rows = []
    for lab in labels:
        n = next(counter)
        ents, by_text = [], {}
        for e in lab.entities:
            s, t = _find(text, e[0], e[2] if len(e) > 2 else 0)
            rid = f"e{n}-{len(ents)}"
            ents.append({"id": rid, "start": s, "end": t, "label": e[1], "text": text[s:t]})
            by_text[e[0]] = rid
        trigs, trig_by = [], {}
        for tr in lab.triggers:
            s, t = _find(text, tr[0])
            rid = f"t{n}-{len(trigs)}"
            trigs.append({"id": rid, "start": s, "end": t, "event_type": tr[1], "text": text[s:t]})
            trig_by[tr[0]] = rid
        args = [
            {"trigger_id": trig_by[tw], "entity_id": by_text[ew], "role": role}
            for tw, ew, role in lab.arguments
        ]
        when = T0 + timedelta(minutes=lab.minutes)
        rows.append(
            {
                "annotation_id": n,
                "task_id": 1000 + n,
                "project_id": 7,
                "sentence_id": sid,
                "article_id": aid,
                "annotator": lab.annotator,
                "created_at": when,
                "updated_at": when,
                "lead_time": 12.5,
                "cancelled": lab.cancelled,
                "prediction_id": None,
                "prediction_model_version": "lexicon-1",
                "sentence_text": text,
                "entities": ents,
                "triggers": trigs,
                "arguments": args,
                "choice": lab.choice,
                "raw_result": "[]",
            }
        )
    return rows


def build_workspace(
    root: Path, n_articles: int = 24, extra: dict | None = None, baseline: bool = False
) -> Built:
    """A workspace with articles (pairs share a near-duplicate group), sentences, predictions,
    annotations and Label Studio state, as the upstream stages would leave it. Publishing it
    trains no baseline model unless `baseline` (it takes seconds; its own tests turn it on)."""
    ws = Workspace.init(root)
    ws.config.setdefault("publish", {})["baseline"] = baseline
    ws.save_config()
    articles, sentences, annotations, predictions = [], [], [], []
    ids: dict[str, str] = {}
    article_of: dict[str, str] = {}
    counter = itertools.count(1)
    docs = [(f"art-{i:03d}", _article_sentences(i)) for i in range(n_articles)]
    docs.append(("art-special", SPECIAL))
    for extra_id, extra_sents in (extra or {}).items():
        docs.append((extra_id, extra_sents))
    for k, (aid, sents) in enumerate(docs):
        text = " ".join(s for s, _ in sents)
        # Articles 2k and 2k+1 are near-duplicates: one group, keyed by the first one.
        group = docs[k - k % 2][0] if aid.startswith("art-0") else aid
        articles.append(
            {
                "article_id": aid,
                "source": "test.jsonl",
                "source_id": aid,
                "title": f"عنوان {aid}",
                "text": text,
                "url": f"https://example.org/{aid}",
                "published_at": "2025-03-01",
                "dup_group": group,
                "content_hash": content_id(text),
                "arabic_ratio": 0.9,
            }
        )
        pos = 0
        for idx, (s, labels) in enumerate(sents):
            start = text.index(s, pos)
            end = start + len(s)
            pos = end
            sid = content_id(aid, start, end, prefix="s")
            ids[s] = sid
            article_of[s] = aid
            sentences.append(
                {
                    "sentence_id": sid,
                    "article_id": aid,
                    "index": idx,
                    "start": start,
                    "end": end,
                    "text": s,
                }
            )
            predictions.append(
                {
                    "sentence_id": sid,
                    "article_id": aid,
                    "spans": [],
                    "source": "lexicon",
                    "model_version": "lexicon-1",
                }
            )
            annotations += _annotation_rows(sid, aid, s, labels, counter)
    write_table(ws.articles_path, pa.Table.from_pylist(articles, schema=ARTICLES), ARTICLES)
    write_table(ws.sentences_path, pa.Table.from_pylist(sentences, schema=SENTENCES), SENTENCES)
    write_table(
        ws.predictions_path, pa.Table.from_pylist(predictions, schema=PREDICTIONS), PREDICTIONS
    )
    write_table(
        ws.annotations_path, pa.Table.from_pylist(annotations, schema=ANNOTATIONS), ANNOTATIONS
    )
    ws.write_state(
        "project", {"project_id": 7, "url": "http://127.0.0.1:8080", "ontology_hash": "x"}
    )
    ws.write_state("pull", {"projects": {"7": {"snapshot_id": 42, "review": False, "tasks": 10}}})
    ws.write_state("server", {"url": "http://127.0.0.1:8080", "api_key": SECRET}, private=True)
    return Built(ws, ids, article_of)


def add_annotations(ws: Workspace, rows: list[dict]) -> None:
    old = pq.read_table(ws.annotations_path)
    new = pa.Table.from_pylist(rows, schema=ANNOTATIONS)
    write_table(ws.annotations_path, pa.concat_tables([old, new]), ANNOTATIONS)


def load(release: Path, config: str, tmp_path: Path):
    from datasets import load_dataset

    return load_dataset(str(release), config, cache_dir=str(tmp_path / "hf-cache"))


def by_id(ds) -> dict[str, dict]:
    return {r["id"]: r for split in ds for r in ds[split]}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One workspace published as 1.0.0, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("pub")
    built = build_workspace(root / "ws")
    report = publish(built.ws, "1.0.0", "First release")
    return built, report


# --- loading with datasets ----------------------------------------------------------------------


def test_every_config_loads_with_datasets_and_keeps_the_annotators_labels(published, tmp_path):
    built, report = published
    rel = report.path
    onto = load_ontology(built.ws.ontology_path)
    feats = release_features(onto.entity_types, list(onto.event_types))

    sentences = load(rel, "sentences", tmp_path)
    assert set(sentences) == set(SPLITS)
    assert list(sentences["train"].features) == list(feats["sentences"])
    rows = by_id(sentences)

    row = rows[built.sentences[SPECIAL[0][0]]]
    text = row["text"]
    assert text == SPECIAL[0][0]
    assert [(e["label"], e["text"], text[e["start"] : e["end"]]) for e in row["entities"]] == [
        ("NUM", "٣", "٣"),
        ("GPE", "#دير_الزور", "#دير_الزور"),
    ]
    events = {e["event_type"]: e for e in row["events"]}
    assert events["Life.Die"]["trigger"]["text"] == "قُـــتل"
    assert [(a["role"], a["label"], a["text"]) for a in events["Life.Die"]["arguments"]] == [
        ("Victim", "NUM", "٣")
    ]
    assert [(a["role"], a["text"]) for a in events["Conflict.Attack"]["arguments"]] == [
        ("Place", "#دير_الزور")
    ]
    assert row["provenance"]["annotator"] == "ann-5f1c2a9b0d3e"
    assert row["choice"] == "has-event"

    # Adjudicated by "latest": the newer of two annotators wins, both are counted.
    multi = rows[built.sentences[SPECIAL[2][0]]]
    assert multi["provenance"]["annotator"] == "ann-bbbbbbbbbbbb"
    assert multi["provenance"]["annotators"] == 2
    assert sorted(e["text"] for e in multi["entities"]) == ["الشرطة", "خمسة", "عمان"]
    (ev,) = multi["events"]
    assert {(a["role"], a["text"]) for a in ev["arguments"]} == {
        ("Agent", "الشرطة"),
        ("Person", "خمسة"),
    }

    # Left out: noise, only-skipped and never-annotated sentences.
    for s in (SPECIAL[3][0], SPECIAL[4][0], "وهذه جملة رقم 0 لم يعلق عليها أحد."):
        assert built.sentences[s] not in rows
    assert len(rows) == 24 * 2 + 4

    tokens = load(rel, "tokens", tmp_path)
    tfeat = tokens["train"].features
    assert list(tfeat) == list(feats["tokens"])
    ner_names = tfeat["ner_tags"].feature.names
    assert ner_names == bio_names(onto.entity_types)
    trig_names = tfeat["trigger_tags"].feature.names
    assert trig_names == bio_names(list(onto.event_types))
    trows = by_id(tokens)
    t = trows[built.sentences[SPECIAL[0][0]]]
    assert t["tokens"] == [
        "قُـــتل",
        "٣",
        "مدنيين",
        "في",
        "قصف",
        "على",
        "#دير_الزور",
        "😢",
        "أمس",
        ".",
    ]
    assert [text[a:b] for a, b in zip(t["token_starts"], t["token_ends"], strict=True)] == t[
        "tokens"
    ]
    assert [ner_names[i] for i in t["ner_tags"]] == [
        "O",
        "B-NUM",
        "O",
        "O",
        "O",
        "O",
        "B-GPE",
        "O",
        "O",
        "O",
    ]
    assert [trig_names[i] for i in t["trigger_tags"]] == [
        "B-Life.Die", "O", "O", "O", "B-Conflict.Attack", "O", "O", "O", "O", "O"
    ]  # fmt: skip

    t2 = trows[built.sentences[SPECIAL[1][0]]]
    tags = dict(zip(t2["tokens"], (ner_names[i] for i in t2["ner_tags"]), strict=False))
    assert tags["والجيش"] == "B-ORG"  # span edge inside the token: tagged, counted misaligned
    assert (tags["مطار"], tags["بغداد"]) == ("B-FAC", "I-FAC")  # nested GPE dropped
    assert (tags["بطائرة"], tags["مسيرة"]) == ("B-VEH", "I-VEH")
    assert t2["tokens"][-6:] == ["مسيرة", ".", ",", "وأغلق", "المطار", "."]
    # 2 misaligned: الجيش in والجيش, طائرة in بطائرة; 1 overlapping: بغداد inside مطار بغداد.
    assert report.alignment["entities"]["misaligned"] == 2
    assert report.alignment["entities"]["overlapping"] == 1

    documents = load(rel, "documents", tmp_path)
    assert list(documents["train"].features) == list(feats["documents"])
    drows = by_id(documents)
    assert built.article_of[SPECIAL[0][0]] in drows
    for doc in drows.values():
        for e in doc["entities"]:
            assert doc["text"][e["start"] : e["end"]] == e["text"]
        for ev in doc["events"]:
            assert (
                doc["text"][ev["trigger"]["start"] : ev["trigger"]["end"]] == ev["trigger"]["text"]
            )
            for a in ev["arguments"]:
                assert doc["text"][a["start"] : a["end"]] == a["text"]
        for s in doc["sentences"]:
            assert doc["text"][s["start"] : s["end"]] == rows[s["id"]]["text"]
    special = drows["art-special"]
    assert [s["index"] for s in special["sentences"]] == [0, 1, 2, 5]
    assert sum(len(d["sentences"]) for d in drows.values()) == len(rows)


def test_card_and_manifest_document_the_release(published):
    built, report = published
    rel = report.path
    card = (rel / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["language"] == ["ar"]
    assert header["license"] == "other"
    assert header["task_categories"] == ["token-classification"]
    assert header["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in header["configs"]] == list(CONFIGS)
    assert {d["split"]: d["path"] for d in header["configs"][1]["data_files"]} == {
        s: f"tokens/{s}.parquet" for s in SPLITS
    }
    info = {d["config_name"]: d for d in header["dataset_info"]}
    assert sum(s["num_examples"] for s in info["sentences"]["splits"]) == 52
    prose = card.split("---\n", 2)[2]
    for needle in (
        "First release",  # the message, and the changes section of a first version
        "conflict_events",
        "Conflict.Attack",
        "| entities | `ORG` |",
        "Annotators: 3",
        "Agreement over 1 sentences annotated by two or more annotators: span F1 exact 0.667",
        "`lexicon` lexicon-1",
        "near-duplicates",
        "load_dataset(",
        "Label Studio project: 7; export snapshots: project 7 snapshot 42",
    ):
        assert needle in prose, needle

    manifest = json.loads((rel / "manifest.json").read_text(encoding="utf-8"))
    onto = load_ontology(built.ws.ontology_path)
    assert manifest["version"] == "1.0.0"
    assert manifest["tool"]["version"]
    assert manifest["ontology"]["hash"] == onto.hash
    assert manifest["label_studio"] == {
        "project_id": 7,
        "snapshots": [{"project_id": 7, "snapshot_id": 42, "review": False}],
    }
    assert manifest["excluded"] == {"noise": 1, "cancelled_only": 1}
    assert sum(manifest["rows"]["sentences"].values()) == 52
    files = {str(p.relative_to(rel)) for p in rel.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    data = {f for f in files if not f.startswith("report/")}
    assert len(data) == 1 + 4 * 3  # the card and 4 configs x 3 splits (+ the report)
    # Secrets and real identities never reach a release; annotators appear pseudonymised.
    for p in rel.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes()
    annotators = pq.read_table(rel / "sentences" / "train.parquet")["provenance"].combine_chunks()
    assert all(a.startswith("ann-") for a in pc.struct_field(annotators, "annotator").to_pylist())


def test_splits_keep_groups_together_and_verify_passes(published):
    built, report = published
    rel = report.path
    assert verify(rel).ok
    seen: dict[str, str] = {}
    for split in SPLITS:
        t = pq.read_table(rel / "sentences" / f"{split}.parquet", columns=["group", "article_id"])
        for g in set(t["group"].to_pylist()):
            assert seen.setdefault(g, split) == split
    # 13 groups of two articles + the special one: with 80/10/10 all three splits are used.
    assert all(report.rows["sentences"][s] > 0 for s in SPLITS)
    # Row order is fixed: article, then position.
    t = pq.read_table(rel / "sentences" / "train.parquet", columns=["article_id", "index"])
    keys = list(zip(t["article_id"].to_pylist(), t["index"].to_pylist(), strict=True))
    assert keys == sorted(keys)


# --- versions, atomicity, reproducibility -------------------------------------------------------


def test_versions_are_semantic_and_never_reused(published):
    built, _ = published
    with pytest.raises(ReleaseError, match="already exists"):
        publish(built.ws, "1.0.0")
    for bad in ("v1.0.0", "1.0", "1.0.0.0", "01.0.0", "latest", "../x"):
        with pytest.raises(ReleaseError, match="semantic version"):
            publish(built.ws, bad)
    assert version_key("1.0.0-rc.1") < version_key("1.0.0") < version_key("1.0.1")
    assert version_key("1.0.0-alpha") < version_key("1.0.0-alpha.1") < version_key("1.0.0-beta")
    assert version_key("1.0.0-2") < version_key("1.0.0-10")


def test_same_inputs_give_byte_identical_data_files(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=6)
    a = publish(built.ws, "1.0.0")
    b = publish(built.ws, "1.0.1", "same data again")
    data = sorted(f for f in a.manifest["files"] if f.endswith(".parquet"))
    assert len(data) >= 6 and data == sorted(
        f for f in b.manifest["files"] if f.endswith(".parquet")
    )
    for rel in data:
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel
    assert b.previous == "1.0.0"
    assert b.changes["added"] == b.changes["removed"] == b.changes["relabelled"] == 0
    card = (b.path / "README.md").read_text(encoding="utf-8")
    assert "Compared with 1.0.0: 0 sentences added, 0 removed, 0 relabelled" in card


def test_a_failure_while_writing_leaves_no_version(tmp_path, monkeypatch):
    import corpus.publish.rows as mod  # the stage building each chunk's rows (in-process here)

    built = build_workspace(tmp_path / "ws", n_articles=4)
    real = mod.build_documents
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # sentences and tokens of train are written by now
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, "build_documents", boom)
    with pytest.raises(OSError, match="disk full"):
        publish(built.ws, "1.0.0")
    assert list(built.ws.releases_dir.iterdir()) == []
    monkeypatch.setattr(mod, "build_documents", real)
    assert publish(built.ws, "1.0.0").path.is_dir()


def test_a_killed_publish_leaves_no_version_and_is_cleaned_up(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=4)
    marker = tmp_path / "writing"
    script = textwrap.dedent(
        f"""
        import os, pathlib, threading, time
        import corpus.publish.build as mod
        from corpus.workspace import Workspace
        real = mod._write_part
        def slow(writer, part, *args):
            real(writer, part, *args)
            # One writing thread per config: each names its file atomically, so the test
            # never reads a marker another thread has just truncated.
            tmp = pathlib.Path({str(marker)!r} + f".{{threading.get_ident()}}")
            tmp.write_text(str(writer.where))
            os.replace(tmp, {str(marker)!r})
            time.sleep(600)
        mod._write_part = slow
        mod.publish(Workspace.load(pathlib.Path({str(built.ws.root)!r})), "2.0.0")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 300  # a wait bound for a loaded machine, not a timing check
        while not marker.exists():
            assert proc.poll() is None, "publish ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert Path(marker.read_text()).is_file()  # a data file was half-way written
    assert not (built.ws.releases_dir / "2.0.0").exists()
    assert list_versions(built.ws.releases_dir) == []
    leftovers = [p.name for p in built.ws.releases_dir.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-2.0.0-")
    # The next publish removes what the killed one left and succeeds.
    publish(built.ws, "2.0.0")
    assert [p.name for p in built.ws.releases_dir.iterdir()] == ["2.0.0"]


# --- verify and diff ----------------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    """A writable copy of a (read-only) release, to tamper with."""
    import shutil

    from corpus.publish.manifest import make_writable

    shutil.copytree(src, dst)
    make_writable(dst)
    return dst


def test_verify_catches_tampered_missing_and_extra_files(published, tmp_path):
    _, report = published
    rel = _copy(report.path, tmp_path / "copy")
    assert verify(rel).ok
    f = rel / "tokens" / "train.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    problems = verify(rel).problems
    assert problems == ["tokens/train.parquet: sha256 differs from the manifest (file changed)"]

    rel2 = _copy(report.path, tmp_path / "copy2")
    (rel2 / "documents" / "test.parquet").unlink()
    (rel2 / "notes.txt").write_text("hi")
    problems = verify(rel2).problems
    assert "documents/test.parquet: listed in the manifest but missing" in problems
    assert "notes.txt: not listed in the manifest" in problems

    # A rewritten file with a matching checksum but a leaked sentence is still caught.
    rel3 = _copy(report.path, tmp_path / "copy3")
    train = pq.read_table(rel3 / "sentences" / "train.parquet")
    test = pq.read_table(rel3 / "sentences" / "test.parquet")
    pq.write_table(pa.concat_tables([test, train.slice(0, 1)]), rel3 / "sentences" / "test.parquet")
    m = json.loads((rel3 / "manifest.json").read_text())
    from corpus.publish.manifest import sha256_file

    m["files"]["sentences/test.parquet"]["sha256"] = sha256_file(
        rel3 / "sentences" / "test.parquet"
    )
    (rel3 / "manifest.json").write_text(json.dumps(m))
    problems = " | ".join(verify(rel3).problems)
    assert "sentence(s) in both train and test" in problems
    assert "article group(s) in both train and test" in problems
    assert "rows, manifest says" in problems


def test_diff_between_versions(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=6)
    v1 = publish(built.ws, "1.0.0")
    ws = built.ws
    ids = built.sentences
    relabel = "قصفت القوات الحكومية مدينة حلب صباح اليوم."
    newly = "وهذه جملة رقم 2 لم يعلق عليها أحد."
    to_noise = "الطقس معتدل في معظم المناطق."
    counter = itertools.count(10_000)
    rows = []
    rows += _annotation_rows(
        ids[relabel], "art-000", relabel,
        [Label(entities=[("القوات الحكومية", "ORG"), ("حلب", "LOC")], triggers=[("قصفت", "Conflict.Attack")], minutes=60)],
        counter,
    )  # fmt: skip
    rows += _annotation_rows(
        ids[newly], "art-002", newly, [Label(entities=[("2", "NUM")], choice="no-event")], counter
    )
    rows += _annotation_rows(
        ids[to_noise], "art-special", to_noise, [Label(choice="noise", minutes=60)], counter
    )
    # Only an argument role changes / only the sentence choice changes: relabelled too.
    role, (demo,) = _article_sentences(3)[1]  # the protest sentence: Place -> Time
    rows += _annotation_rows(
        ids[role], "art-003", role,
        [Label(demo.entities, demo.triggers, [(t, e, "Time") for t, e, _ in demo.arguments], minutes=60)],
        counter,
    )  # fmt: skip
    choice, (first,) = _article_sentences(4)[0]  # same spans, now no-event
    rows += _annotation_rows(
        ids[choice],
        "art-004",
        choice,
        [Label(first.entities, first.triggers, first.arguments, choice="no-event", minutes=60)],
        counter,
    )
    add_annotations(ws, rows)
    v2 = publish(ws, "1.1.0", "relabelled Aleppo")

    d = diff(v1.path, v2.path)
    assert d.added == [ids[newly]]
    assert d.removed == [ids[to_noise]]
    assert d.relabelled == sorted([ids[relabel], ids[role], ids[choice]])
    assert d.moved_split == []  # splits are stable across versions
    lc = d.label_counts
    assert lc["entities"]["LOC"] == {"before": 0, "after": 1, "delta": 1}
    assert lc["entities"]["GPE"]["delta"] == -1
    assert lc["entities"]["TIME"]["delta"] == -1  # the new annotation has no TIME span
    assert lc["entities"]["NUM"]["delta"] == 1
    assert lc["choices"]["no-event"]["delta"] == 1  # +1 added, -1 now noise, +1 relabelled
    assert lc["roles"]["Time"] == {"before": 0, "after": 1, "delta": 1}
    assert v2.changes["relabelled"] == 3
    card = (v2.path / "README.md").read_text(encoding="utf-8")
    assert (
        "Compared with 1.0.0: 1 sentences added, 1 removed, 3 relabelled, 0 changed split" in card
    )
    assert "| entities | `LOC` | 0 | 1 | +1 |" in card

    # Splits of every sentence kept from 1.0.0 are unchanged in 1.1.0.
    def splits(rel: Path) -> dict[str, str]:
        return {
            i: s
            for s in SPLITS
            if (rel / "sentences" / f"{s}.parquet").exists()
            for i in pq.read_table(rel / "sentences" / f"{s}.parquet", columns=["id"])[
                "id"
            ].to_pylist()
        }

    s1, s2 = splits(v1.path), splits(v2.path)
    assert all(s2[i] == s for i, s in s1.items() if i in s2)


def test_split_of_an_article_is_stable_when_more_data_arrives(tmp_path):
    small = build_workspace(tmp_path / "a", n_articles=10)
    big = build_workspace(tmp_path / "b", n_articles=40)
    r1 = publish(small.ws, "1.0.0")
    # The same workspace later, with more articles: 1.0.0 is its previous version.
    _copy(r1.path, big.ws.releases_dir / "1.0.0")
    r2 = publish(big.ws, "1.1.0")

    def splits(rel: Path) -> dict[str, str]:
        out = {}
        for s in SPLITS:
            if not (rel / "documents" / f"{s}.parquet").exists():
                continue
            for a in pq.read_table(rel / "documents" / f"{s}.parquet", columns=["id"])[
                "id"
            ].to_pylist():
                out[a] = s
        return out

    s1, s2 = splits(r1.path), splits(r2.path)
    assert set(s1) < set(s2)
    assert all(s2[a] == s for a, s in s1.items())
    assert r2.manifest["splits"]["groups_kept_from_previous"] == len(
        {g for g in pq.read_table(r1.path / "documents" / "train.parquet")["group"].to_pylist()}
        | {
            g
            for s in ("validation", "test")
            if (r1.path / "documents" / f"{s}.parquet").exists()
            for g in pq.read_table(r1.path / "documents" / f"{s}.parquet")["group"].to_pylist()
        }
    )


def test_a_five_article_corpus_gets_train_validation_and_test(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=4)  # 4 + the special article
    t = pq.read_table(built.ws.articles_path)
    t = t.set_column(t.schema.get_field_index("dup_group"), "dup_group", t["article_id"])
    write_table(built.ws.articles_path, t, ARTICLES)  # five groups, one article each
    report = publish(built.ws, "0.1.0")
    assert all(report.rows["sentences"][s] > 0 for s in SPLITS), report.rows
    assert report.manifest["splits"]["min_groups"] == 1
    assert verify(report.path).ok
    for config in CONFIGS:
        assert list(load(report.path, config, tmp_path)) == list(SPLITS)
    card = (report.path / "README.md").read_text(encoding="utf-8")
    assert "Small corpora: validation and test" in card
    assert "each get at least 1 article group(s)" in card


# --- input problems -----------------------------------------------------------------------------


def test_a_label_outside_the_ontology_is_a_clear_error(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    s = "الطقس معتدل في معظم المناطق."
    rows = _annotation_rows(
        built.sentences[s],
        "art-special",
        s,
        [Label(entities=[("الطقس", "WEATHER")], minutes=90)],
        itertools.count(500),
    )
    add_annotations(built.ws, rows)
    with pytest.raises(ReleaseError, match=r"entity label 'WEATHER' is not in the ontology"):
        publish(built.ws, "1.0.0")
    assert list(built.ws.releases_dir.iterdir()) == []


def test_missing_annotations_say_which_command_to_run(tmp_path):
    from corpus.errors import StageInputMissing

    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(StageInputMissing, match="annotations.parquet") as e:
        publish(ws, "1.0.0")
    assert "corpus pull" in e.value.hint


def test_fast_adjudication_path_matches_adjudicate(published):
    from corpus.pull.adjudication import adjudicate

    built, _ = published
    table = read_annotations(built.ws.annotations_path)
    key = [("sentence_id", "ascending")]
    for policy, reviewer in (
        ("latest", None),
        ("majority", None),
        ("reviewer", "ann-aaaaaaaaaaaa"),
    ):
        slow = adjudicate(table, policy=policy, reviewer=reviewer).sort_by(key).to_pylist()
        for source in (table, built.ws.annotations_path):
            fast = adjudicated(source, policy, reviewer)
            assert fast.chosen.sort_by(key).to_pylist() == slow
    fast = adjudicated(built.ws.annotations_path, "latest", None)
    assert fast.multi.num_rows == 2 and fast.annotators == 3 and fast.cancelled_only == 1


def test_an_empty_split_is_left_out_and_the_release_still_loads(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=0)  # one article: one split used
    report = publish(built.ws, "0.1.0")
    used = [s for s in SPLITS if report.rows["sentences"][s]]
    assert len(used) == 1 and report.rows["sentences"][used[0]] == 4
    assert verify(report.path).ok
    for config in CONFIGS:
        ds = load(report.path, config, tmp_path)
        assert list(ds) == used
    assert sorted(p.name for p in (report.path / "tokens").iterdir()) == [f"{used[0]}.parquet"]


def test_nothing_to_publish_is_an_error(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=0)
    t = pq.read_table(built.ws.annotations_path)
    t = t.set_column(
        t.schema.get_field_index("cancelled"), "cancelled", pa.array([True] * t.num_rows)
    )
    write_table(built.ws.annotations_path, t, ANNOTATIONS)
    with pytest.raises(ReleaseError, match="Nothing to publish"):
        publish(built.ws, "0.1.0")
    assert list(built.ws.releases_dir.iterdir()) == []


def test_reviewer_policy_from_the_workspace_config(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    ws = built.ws
    ws.config["adjudication"] = {"policy": "reviewer", "reviewer": "ann-aaaaaaaaaaaa"}
    ws.save_config()
    ws = Workspace.load(ws.root)
    rep = publish(ws, "1.0.0")
    sid = built.sentences[SPECIAL[2][0]]
    rows = {
        r["id"]: r
        for f in rep.manifest["files"]
        if f.startswith("sentences/")
        for r in pq.read_table(rep.path / f).to_pylist()
    }
    assert rows[sid]["provenance"]["annotator"] == "ann-aaaaaaaaaaaa"  # older, but the reviewer's
    assert [e["text"] for e in rows[sid]["entities"]] == ["الشرطة"]
    assert rep.manifest["adjudication"] == {"policy": "reviewer", "reviewer": "ann-aaaaaaaaaaaa"}


def _rewrite_annotations(ws: Workspace, fn) -> None:
    rows = pq.read_table(ws.annotations_path).to_pylist()
    write_table(
        ws.annotations_path,
        pa.Table.from_pylist([fn(r) for r in rows], schema=ANNOTATIONS),
        ANNOTATIONS,
    )


def test_an_argument_to_a_missing_region_is_a_clear_error(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    target = built.sentences[SPECIAL[0][0]]

    def break_it(r):
        if r["sentence_id"] == target:
            r["arguments"] = [dict(r["arguments"][0], entity_id="gone")]
        return r

    _rewrite_annotations(built.ws, break_it)
    with pytest.raises(ReleaseError, match=f"Sentence {target}: an argument points to a region"):
        publish(built.ws, "1.0.0")


def test_annotations_on_changed_or_missing_sentences_are_clear_errors(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    target = built.sentences[SPECIAL[5][0]]
    t = pq.read_table(built.ws.sentences_path)
    texts = [
        x + "!" if i == target else x
        for i, x in zip(t["sentence_id"].to_pylist(), t["text"].to_pylist(), strict=True)
    ]
    changed = t.set_column(t.schema.get_field_index("text"), "text", pa.array(texts))
    write_table(built.ws.sentences_path, changed, SENTENCES)
    with pytest.raises(
        ReleaseError, match=rf"1 annotations were made on a different sentence text .*{target}"
    ):
        publish(built.ws, "1.0.0")
    write_table(
        built.ws.sentences_path, t.filter(pc.not_equal(t["sentence_id"], target)), SENTENCES
    )
    with pytest.raises(ReleaseError, match=rf"1 annotated sentences are not in .*{target}"):
        publish(built.ws, "1.0.0")
    assert list(built.ws.releases_dir.iterdir()) == []
