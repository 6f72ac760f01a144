"""Publish on the runner: the stage that builds tokens, events and documents rows pickles and is
row-local, and a release is the same byte for byte in-process, through the pool with 1 and 2
workers, and on Ray."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_publish import build_workspace, load  # noqa: E402  (tests/ on sys.path)
from typer.testing import CliRunner

import corpus.cli
import corpus.publish.build as build
from corpus.ontology import load_ontology
from corpus.publish.build import publish
from corpus.publish.rows import COUNT_COLUMNS, ReleaseRows, article_rows
from corpus.runner import Engine


def small_chunks(mp) -> None:
    """Chunks of ~5 sentences written, sent in batches of one article: a tiny workspace still
    gives several chunks per split and several batches per chunk, to be put back in order."""
    mp.setattr(build, "CHUNK_ROWS", 5)
    mp.setattr(build, "BATCH_ROWS", 1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A small workspace and its release built in this process (the reference)."""
    mp = pytest.MonkeyPatch()
    small_chunks(mp)
    built = build_workspace(tmp_path_factory.mktemp("pubrun") / "ws", n_articles=8)
    report = publish(built.ws, "1.0.0")
    yield built, report
    mp.undo()


def _data_files(release: Path) -> dict[str, bytes]:
    return {str(p.relative_to(release)): p.read_bytes() for p in sorted(release.rglob("*.parquet"))}


def _assert_same_release(a, b) -> None:
    files = _data_files(a.path)
    assert {f.split("/")[0] for f in files} == {"sentences", "tokens", "events", "documents"}
    assert files == _data_files(b.path)
    assert (a.rows, a.alignment) == (b.rows, b.alignment)
    assert a.manifest["label_counts"] == b.manifest["label_counts"]


def _stage_input(release: Path) -> pa.Table:
    sentences = pq.read_table(release / "sentences" / "train.parquet")
    articles = pq.read_table(release / "documents" / "train.parquet").rename_columns(
        {"id": "article_id", "group": "dup_group"}
    )
    return article_rows(sentences, articles)


def test_the_publish_stage_pickles_and_builds_each_article_alone(reference):
    built, report = reference
    onto = load_ontology(built.ws.ontology_path)
    stage = ReleaseRows(list(onto.entity_types), list(onto.event_types))
    batch = _stage_input(report.path)
    assert batch.num_rows >= 4
    whole = stage(batch)
    again = pickle.loads(pickle.dumps(stage))(batch)
    assert again.equals(whole)
    # Row-local: Ray may cut the articles into batches anywhere.
    cut = batch.num_rows // 2
    parts = pa.concat_tables([stage(batch.slice(0, cut)), stage(batch.slice(cut))])
    assert parts.equals(whole)
    assert whole.num_rows == batch.num_rows
    assert set(COUNT_COLUMNS) <= set(whole.column_names)
    tokens = pq.read_table(report.path / "tokens" / "train.parquet")
    assert sum(whole["tokens"].combine_chunks().value_lengths().to_pylist()) == tokens.num_rows
    assert whole.column("entities_spans").to_pylist() == [
        sum(len(s["entities"]) for s in sents) for sents in batch["sentences"].to_pylist()
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_release_is_byte_identical_whatever_the_workers(
    reference, workers, monkeypatch, tmp_path
):
    built, ref = reference
    small_chunks(monkeypatch)
    got = publish(built.ws, f"1.1.{workers}", engine=Engine(workers=workers))
    _assert_same_release(ref, got)
    if workers == 2:
        ds = load(got.path, "tokens", tmp_path)
        assert sum(ds.num_rows.values()) == sum(ref.rows["tokens"].values())


def test_the_publish_command_takes_the_engine_options(reference, monkeypatch):
    built, ref = reference
    small_chunks(monkeypatch)
    cli = CliRunner()
    r = cli.invoke(corpus.cli.app, ["publish", "1.3.0", "-w", str(built.ws.root), "-j", "2"])
    assert r.exit_code == 0, r.output
    assert "Published" in r.output
    got = built.ws.releases_dir / "1.3.0"
    assert _data_files(got) == _data_files(ref.path)
    r = cli.invoke(corpus.cli.app, ["publish", "1.3.1", "-w", str(built.ws.root), "--engine", "x"])
    assert r.exit_code != 0 and "Unknown engine 'x'" in r.exception.message
    assert not (built.ws.releases_dir / "1.3.1").exists()


def test_results_are_cut_back_into_the_chunks_sent():
    # Ray may hand results back in batches that cut across the chunks sent.
    t = pa.table({"x": list(range(8))})
    got = list(build._per_chunk([t.slice(0, 3), t.slice(3, 1), t.slice(4)], [2, 2, 4]))
    assert [g["x"].to_pylist() for g in got] == [[0, 1], [2, 3], [4, 5, 6, 7]]
    with pytest.raises(RuntimeError, match="fewer rows"):
        list(build._per_chunk([t.slice(0, 3)], [2, 2]))
    with pytest.raises(RuntimeError, match="more rows"):
        list(build._per_chunk([t], [2, 2]))


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_a_release_on_ray_is_byte_identical_and_loads(reference, ray_local, monkeypatch, tmp_path):
    built, ref = reference
    small_chunks(monkeypatch)
    got = publish(built.ws, "1.2.0", engine=Engine("ray"))
    _assert_same_release(ref, got)
    assert not list(built.ws.state_dir.glob("publish-staging-*"))  # removed after use
    ds = load(got.path, "documents", tmp_path)
    assert sum(ds.num_rows.values()) == sum(ref.rows["documents"].values())
