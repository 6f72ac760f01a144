"""Every stage function on the runner: pickled, in-process, through the pool with 1 and 2 workers,
and through Ray, compared row by row; rejected rows survive each trip."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.synth import generate_articles
from corpus.errors import CorpusError
from corpus.ingest.minhash import signature_batch
from corpus.ingest.run import RAW_BATCH, CleanAndSign, IngestOptions
from corpus.ontology import default_ontology_path, load_ontology
from corpus.prelabel import PrelabelStage, prelabel_batch
from corpus.publish.tokens import TokenTagger
from corpus.runner import Engine, Stage, map_parquet, map_tables
from corpus.segment import segment_batch
from corpus.segment.run import segment_file
from corpus.types import Span

ONTOLOGY_PATH = str(default_ontology_path())


@pytest.fixture(scope="module")
def articles() -> pa.Table:
    arts = list(generate_articles(24, seed=3))
    return pa.table({"article_id": [a["id"] for a in arts], "text": [a["text"] for a in arts]})


def raw_rows() -> pa.Table:
    """Raw ingest rows: good ones and every kind of reject."""
    arts = list(generate_articles(6, seed=5))
    rows = [
        {"source": "s", "location": f"line {i + 1}", "source_id": a["id"], "title": a["title"],
         "text": a["text"], "url": None, "published_at": "2024-03-01", "raw": "{}",
         "license": None, "reject_reason": None}
        for i, a in enumerate(arts)
    ]  # fmt: skip
    rows[1]["text"] = "قصير"  # too short
    rows[2]["text"] = "An English article that is long enough to be checked for its script."
    rows[3]["text"] = None  # the text field held a number: mapped with its reason
    rows[3]["reject_reason"] = "the text field holds a non-string value"
    return pa.Table.from_pylist(rows, schema=RAW_BATCH)


class Broken:
    """A pre-labeler that proposes one span outside the sentence (rejected, with a reason)."""

    name, version = "broken", "0"

    def predict_batch(self, texts):
        return [[Span(0, 1, "GPE", "entity"), Span(0, 10_000, "PER", "entity")] for _ in texts]


def broken_prelabel(table: pa.Table) -> pa.Table:
    return prelabel_batch(table, Broken(), load_ontology(ONTOLOGY_PATH))


def tagging_input(sentences: pa.Table) -> pa.Table:
    """Sentences with entity and trigger spans for the tagger (some misaligned)."""
    texts = sentences.column("text").to_pylist()
    ents = [[{"start": 0, "end": min(5, len(t)), "label": "PER"}] if t else [] for t in texts]
    trig = [[{"start": 1, "end": min(4, len(t)), "event_type": "Conflict.Attack"}] for t in texts]
    return pa.table(
        {
            "id": sentences.column("sentence_id"),
            "text": sentences.column("text"),
            "entities": pa.array(ents, pa.list_(pa.struct([("start", pa.int32()), (
                "end", pa.int32()), ("label", pa.string())]))),
            "triggers": pa.array(trig, pa.list_(pa.struct([("start", pa.int32()), (
                "end", pa.int32()), ("event_type", pa.string())]))),
        }
    )  # fmt: skip


def stages(articles: pa.Table) -> dict[str, tuple[Stage, pa.Table]]:
    """Every stage with an input table (names -> (stage, input))."""
    sentences = segment_batch(articles).slice(0, 300)
    onto = load_ontology(ONTOLOGY_PATH)
    tagger = TokenTagger(list(onto.entity_types), list(onto.event_types))
    return {
        "ingest-clean": (Stage(CleanAndSign, {"opts": IngestOptions()}), raw_rows()),
        "signatures": (Stage(signature_batch), articles),
        "segment": (Stage(segment_batch, {"max_chars": 120}), articles),
        "prelabel-lexicon": (
            Stage(PrelabelStage, {"spec": "lexicon", "ontology_path": ONTOLOGY_PATH}),
            sentences.select(["sentence_id", "article_id", "text"]),
        ),
        "prelabel-rejects": (
            Stage(broken_prelabel),
            sentences.slice(0, 40).select(["sentence_id", "article_id", "text"]),
        ),
        "tokens": (Stage(tagger), tagging_input(sentences)),
    }


def batches(table: pa.Table, rows: int) -> list[pa.Table]:
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)]


def same_rows(got: pa.Table, want: pa.Table) -> None:
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    for i, (g, w) in enumerate(zip(got.to_pylist(), want.to_pylist(), strict=True)):
        assert g == w, f"row {i} differs"


def rejects(name: str, table: pa.Table) -> int:
    if "reject_reason" in table.column_names:
        n = table.num_rows - table.column("reject_reason").null_count
        if "rejected" in table.column_names:
            n += sum(len(r) for r in table.column("rejected").to_pylist())
        return n
    return 0


@pytest.mark.parametrize("workers", [1, 2])
def test_every_stage_pickles_and_gives_the_same_rows_through_the_pool(articles, workers):
    for name, (stage, table) in stages(articles).items():
        want = stage.make()(table)
        same_rows(pickle.loads(pickle.dumps(stage)).make()(table), want)
        got = pa.concat_tables(map_tables(stage, batches(table, 7), engine=Engine(workers=workers)))
        same_rows(got, want)
        if name in ("ingest-clean", "prelabel-rejects"):
            assert rejects(name, got) >= 3, name  # rejected rows came back, with reasons


def test_rejected_ingest_rows_keep_their_reasons(articles):
    stage, table = stages(articles)["ingest-clean"]
    got = pa.concat_tables(map_tables(stage, batches(table, 2), engine=Engine(workers=2)))
    reasons = got.column("reject_reason").to_pylist()
    assert reasons[0] is None and "only 4 characters" in reasons[1]
    assert "not Arabic" in reasons[2] and reasons[3] == "the text field holds a non-string value"
    assert got.column("text").to_pylist()[3] == ""  # no sentinel hiding in the text column


def test_segment_files_are_byte_identical_whatever_the_workers(articles, tmp_path):
    src = tmp_path / "articles.parquet"
    pq.write_table(articles, src)
    outs = []
    for workers in (1, 2):
        dest = tmp_path / f"sentences-{workers}.parquet"
        report = segment_file(src, dest, engine=Engine(workers=workers))
        assert report.articles == articles.num_rows and report.empty == 0
        outs.append(dest.read_bytes())
    assert outs[0] == outs[1]
    same_rows(pq.read_table(tmp_path / "sentences-2.parquet"), segment_batch(articles))


def test_stage_files_on_an_fsspec_filesystem(articles):
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/corpus-test/data/articles.parquet", "wb") as f:
        pq.write_table(articles, f)
    report = segment_file(
        "memory://corpus-test/data/articles.parquet",
        "memory://corpus-test/data/sentences.parquet",
        engine=Engine(workers=2),
    )
    with fs.open("/corpus-test/data/sentences.parquet", "rb") as f:
        got = pq.read_table(f)
    same_rows(got, segment_batch(articles))
    assert report.sentences == got.num_rows
    assert not [p for p in fs.ls("/corpus-test/data") if ".tmp" in str(p)]
    fs.rm("/corpus-test", recursive=True)


def test_engine_options_are_checked():
    with pytest.raises(CorpusError, match="Unknown engine 'spark'"):
        Engine("spark")
    with pytest.raises(CorpusError, match="at least 1"):
        Engine(workers=0)


# --- Ray (one local Ray for this module: see conftest's `ray_local`) ---------------------------


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_every_stage_gives_the_same_rows_on_ray(ray_local, articles, tmp_path):
    # The test module's own helpers (Broken, broken_prelabel) travel by value to Ray workers.
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    for name, (stage, table) in stages(articles).items():
        src = tmp_path / f"{name}.parquet"
        pq.write_table(table, src, row_group_size=50)  # several blocks
        want = stage.make()(table)
        got = pa.concat_tables(
            map_parquet(stage, f"file://{src}", batch_rows=16, engine=Engine("ray", workers=1))
        )
        same_rows(got, want)
        if name in ("ingest-clean", "prelabel-rejects"):
            assert rejects(name, got) >= 3, name


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_driver_made_tables_run_on_ray_through_staging(ray_local, articles, tmp_path):
    stage, table = stages(articles)["ingest-clean"]
    got = pa.concat_tables(
        map_tables(
            stage,
            batches(table, 2),
            engine=Engine("ray"),
            staging=str(tmp_path / "st"),
            schema=RAW_BATCH,
        )  # fmt: skip
    )
    same_rows(got, stage.make()(table))
    assert not Path(tmp_path / "st").exists()  # staging is cleaned up


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_the_segment_command_on_ray_writes_what_the_local_engine_writes(ray_local, tmp_path):
    from typer.testing import CliRunner

    import corpus.cli
    from corpus.bundled import sample_articles
    from corpus.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    cli = CliRunner()
    r = cli.invoke(
        corpus.cli.app, ["ingest", str(sample_articles()), "-w", str(ws.root), "-j", "2"]
    )
    assert r.exit_code == 0, r.output
    r = cli.invoke(corpus.cli.app, ["segment", "-w", str(ws.root), "-j", "2"])
    assert r.exit_code == 0, r.output
    local = pq.read_table(ws.sentences_path)
    r = cli.invoke(corpus.cli.app, ["segment", "-w", str(ws.root), "--engine", "ray"])
    assert r.exit_code == 0, r.output
    same_rows(pq.read_table(ws.sentences_path), local)
    r = cli.invoke(corpus.cli.app, ["segment", "-w", str(ws.root), "--ray-address", "auto"])
    assert isinstance(r.exception, CorpusError)
    assert "--ray-address only applies with --engine ray" in r.exception.message


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_the_local_pool_beside_a_ray_driver_never_forks_it(ray_local, articles):
    # A forked copy of a Ray driver shares its sockets: the pool starts its workers clean instead,
    # gives the same rows, and the driver still answers afterwards.
    stage, table = stages(articles)["segment"]
    got = pa.concat_tables(map_tables(stage, batches(table, 7), engine=Engine("local", workers=2)))
    same_rows(got, stage.make()(table))
    assert ray_local.get(ray_local.put(41)) + 1 == 42
