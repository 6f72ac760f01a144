"""`corpus report` and the report in every release: a self-contained HTML page (parsed here with
html.parser) holding every plot as an embedded PNG, the PNGs in the release, the card showing
them. The workspace has real lexicon pre-labels, two annotators over several days, articles
over several months and a real CRF model trained with a learning curve."""

from __future__ import annotations

import base64
import itertools
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_publish import (  # noqa: E402  (tests/ is on sys.path)
    SPECIAL,
    Label,
    _annotation_rows,
    _article_sentences,
    add_annotations,
    build_workspace,
)
from test_release_cli import run  # noqa: E402

from corpus.io import write_table
from corpus.ontology import load_ontology
from corpus.publish.build import publish
from corpus.publish.release import verify
from corpus.schemas import ANNOTATIONS, ARTICLES, PREDICTIONS

PLOTS = {
    "labels_per_split",
    "per_source",
    "over_time",
    "agreement_per_label",
    "prelabel_acceptance",
    "throughput",
    "learning_curve",
}


class Page(HTMLParser):
    """Figures (by id) with their embedded images and notes; every external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, list[bytes]] = {}
        self.external: list[str] = []
        self._figure: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("data:"):
                self.external.append(a[key])
        if tag == "figure":
            self._figure = a["id"]
            self.figures[self._figure] = []
        if tag == "img" and self._figure:
            prefix = "data:image/png;base64,"
            assert a["src"].startswith(prefix)
            self.figures[self._figure].append(base64.b64decode(a["src"][len(prefix) :]))

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _rich_workspace(root):
    """build_workspace plus: lexicon pre-labels (two versions), a second annotator on later
    days, articles over three months, and a trained model with a learning curve."""
    built = build_workspace(root, n_articles=24)
    ws = built.ws
    from corpus.prelabel import default_prelabeler

    pre = default_prelabeler()
    sents = pq.read_table(ws.sentences_path).to_pylist()
    preds, version_of = [], {}
    for i, s in enumerate(sents):
        version = "lexicon-old" if i % 2 else "lexicon-new"
        version_of[s["sentence_id"]] = version
        spans = [
            {
                "start": sp.start,
                "end": sp.end,
                "label": sp.label,
                "kind": sp.kind,
                "score": sp.score,
                "source": "lexicon",
            }
            for sp in pre.predict(s["text"])
        ]
        preds.append(
            {
                "sentence_id": s["sentence_id"],
                "article_id": s["article_id"],
                "spans": spans,
                "source": "lexicon",
                "model_version": version,
            }
        )
    pq.write_table(pa.Table.from_pylist(preds, schema=PREDICTIONS), ws.predictions_path)
    # A second annotator, on the next days, agreeing on most spans of ten articles.
    counter = itertools.count(900)
    rows = []
    for i in range(10):
        for text, labels in _article_sentences(i)[:2]:
            lab = labels[0]
            rows += _annotation_rows(
                built.sentences[text],
                f"art-{i:03d}",
                text,
                [
                    Label(
                        entities=lab.entities[: 2 if i % 3 else 1],
                        triggers=lab.triggers,
                        arguments=[a for a in lab.arguments if i % 3 or a[1] == lab.entities[0][0]],
                        annotator="ann-cccccccccccc",
                        minutes=60 * 24 * (1 + i % 3) + 30,
                    )
                ],
                counter,
            )
    add_annotations(ws, rows)
    # Every annotation started from the pre-labels of its sentence (and records their version).
    t = pq.read_table(ws.annotations_path)
    ids = t["sentence_id"].to_pylist()
    t = t.set_column(
        t.schema.get_field_index("prediction_id"), "prediction_id", pa.array(range(len(ids)))
    )
    t = t.set_column(
        t.schema.get_field_index("prediction_model_version"),
        "prediction_model_version",
        pa.array([version_of[i] for i in ids]),
    )
    write_table(ws.annotations_path, t.cast(ANNOTATIONS), ANNOTATIONS)
    arts = pq.read_table(ws.articles_path)
    months = [f"2025-{1 + i % 3:02d}-15" for i in range(arts.num_rows)]
    arts = arts.set_column(
        arts.schema.get_field_index("published_at"), "published_at", pa.array(months)
    )
    write_table(ws.articles_path, arts, ARTICLES)
    from corpus.train.run import gather, learning_curve, train_and_store

    onto = load_ontology(ws.ontology_path)
    data = gather(ws, onto)
    points = learning_curve(onto, data, shares=(0.5, 1.0))
    train_and_store(ws, onto, data, "crf", curve=points)
    return built


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    built = _rich_workspace(tmp_path_factory.mktemp("report") / "ws")
    return built, publish(built.ws, "1.0.0")


def test_the_release_carries_a_self_contained_report_with_every_plot(rich):
    _, report = rich
    folder = report.path / "report"
    page = parse(folder / "index.html")
    assert set(page.figures) == PLOTS
    for name, images in page.figures.items():
        assert len(images) == 1, f"{name} has no plot"
        assert images[0].startswith(b"\x89PNG\r\n\x1a\n") and len(images[0]) > 2000
    assert page.external == []  # nothing to fetch when the page is opened
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == sorted(
        f"{n}.png"
        for n in ("labels_per_split", "per_source", "agreement_per_label", "prelabel_acceptance")
    )
    card = (report.path / "README.md").read_text(encoding="utf-8")
    for png in pngs:
        assert f"(report/{png})" in card
    assert "[`report/index.html`](report/index.html)" in card
    assert verify(report.path).ok  # the report is listed with its sha256
    assert {"report/index.html", *(f"report/{p}" for p in pngs)} <= set(report.manifest["files"])


def test_corpus_report_writes_the_page_for_a_release(rich, tmp_path):
    built, _ = rich
    out = tmp_path / "out"
    r = run("report", "--release", "1.0.0", "--out", out, "--workspace", built.ws.root)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "Report:" in text and "(7 plots)" in text
    page = parse(out / "index.html")
    assert set(page.figures) == PLOTS and all(len(v) == 1 for v in page.figures.values())
    assert len(list(out.glob("*.png"))) == 7


def test_report_notes_what_it_cannot_draw(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    out = tmp_path / "out"
    r = run("report", "--out", out, "--workspace", built.ws.root)  # no release, no model
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "No release: publish one" in text and "corpus train --curve" in text
    page = parse(out / "index.html")
    assert set(page.figures) == PLOTS
    assert page.figures["learning_curve"] == [] and page.figures["throughput"] != []


def test_acceptance_is_split_by_prelabeler_version(rich):
    from corpus.publish.report import prelabel_acceptance

    built, _ = rich
    per_label, per_version = prelabel_acceptance(built.ws)
    assert set(per_version) == {"lexicon-new", "lexicon-old"}
    assert per_label and all(0.0 <= v <= 1.0 for v in per_label.values())
    t = pq.read_table(built.ws.annotations_path)
    assert pc.count_distinct(t["annotator"]).as_py() == 4
    assert SPECIAL  # the special sentences are part of the data the figures count
