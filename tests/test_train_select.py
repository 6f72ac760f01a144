"""`corpus project push --select` against a real Label Studio, and the ranking behind it."""

from __future__ import annotations

import httpx
import numpy as np
import pyarrow as pa
import pytest

import corpus.cli
from corpus.ids import content_id
from corpus.io import write_table
from corpus.ontology import load_ontology
from corpus.schemas import ARTICLES
from corpus.train import save_model, train_model
from corpus.train.select import rank
from corpus.workspace import Workspace
from tests.trainkit import make_examples, sentence_id, write_sentences


def cli(capsys, *args) -> tuple[int, str]:
    code = 0
    try:
        corpus.cli.main([str(a) for a in args])
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out + out.err


def server_tasks(ws: Workspace) -> list[dict]:
    server = ws.read_state("server")
    pid = ws.read_state("project")["project_id"]
    with httpx.Client(
        base_url=server["url"],
        headers={"Authorization": f"Token {server['api_key']}"},
        timeout=60,
        trust_env=False,
    ) as http:
        r = http.get("/api/tasks", params={"project": pid, "page_size": 1000, "fields": "all"})
        r.raise_for_status()
        return sorted(r.json()["tasks"], key=lambda t: t["id"])


def _odd_sentences() -> list[str]:
    # Sentences unlike the training templates: the model should be least sure of these.
    return [
        "وفي سياق آخر رحب زعيم حزب بيرالو بقرار المحكمة العليا في كاسيندرا .",
        "نقلت وكالة موريتو عن مسؤول في لاغوفا أن المفاوضات ستستأنف .",
        "دعا السيد فيرناو إلى الهدوء بعد أحداث تيلاسو الأخيرة .",
    ]


@pytest.mark.server
def test_select_uncertain_sends_the_least_certain_first(ls_workspace, capsys):
    ws = ls_workspace
    ontology = load_ontology(ws.ontology_path)
    model = train_model(make_examples(80, seed=11), ontology)
    save_model(ws, "default", model)
    pool = make_examples(24, seed=12)
    for k, text in enumerate(_odd_sentences()):
        pool[k * 5].text = text
        pool[k * 5].spans = []
    write_sentences(ws, pool)
    arts = sorted({ex.group for ex in pool})
    write_table(
        ws.articles_path,
        pa.Table.from_pylist(
            [
                {
                    "article_id": a,
                    "source": "t",
                    "source_id": None,
                    "title": a,
                    "text": "x",
                    "url": None,
                    "published_at": None,
                    "dup_group": a,
                    "content_hash": content_id(a),
                    "arabic_ratio": 1.0,
                }
                for a in arts
            ],  # fmt: skip
            schema=ARTICLES,
        ),
        ARTICLES,
    )
    code, out = cli(capsys, "prelabel", "-p", "model:default", "-w", ws.root)
    assert code == 0, out
    code, out = cli(capsys, "project", "create", "-w", ws.root)
    assert code == 0, out
    code, out = cli(
        capsys, "project", "push", "--select", "uncertain", "--limit", "8", "-w", ws.root
    )
    assert code == 0, out
    assert "8 sent" in " ".join(out.split())

    unsure = {sentence_id(ex): model.analyse(ex.text)[1] for ex in pool}
    tasks = server_tasks(ws)
    sent = [t["data"]["sentence_id"] for t in tasks]
    assert len(sent) == 8
    scores = [unsure[s] for s in sent]
    # In task-id order (what Label Studio shows first) the scores never go up ...
    assert scores == sorted(scores, reverse=True)
    # ... and nothing left behind was less certain than what was sent.
    rest = [v for s, v in unsure.items() if s not in sent]
    assert min(scores) >= max(rest)
    odd = {sentence_id(pool[k * 5]) for k in range(3)}
    assert odd <= set(sent)
    # The model's version reaches Label Studio with its predictions.
    versions = {p["model_version"] for t in tasks for p in t["predictions"]}
    assert versions and all(v.startswith("model:default@v1+") for v in versions)

    # The next push sends the next most uncertain, never a sentence twice.
    code, out = cli(
        capsys, "project", "push", "--select", "uncertain", "--limit", "8", "-w", ws.root
    )
    assert code == 0, out
    tasks = server_tasks(ws)
    second = [t["data"]["sentence_id"] for t in tasks][8:]
    assert len(second) == 8 and not set(second) & set(sent)
    assert max(unsure[s] for s in second) <= min(scores)

    # A missing model is an error before anything is sent.
    code, out = cli(
        capsys, "project", "push", "--select", "diverse", "--model", "nope", "-w", ws.root
    )
    assert code == 1 and "No trained model 'nope'" in out
    assert len(server_tasks(ws)) == 16


def test_rank_strategies():
    ids = [f"s{i}" for i in range(8)]
    texts = [f"جملة {i}" for i in range(8)]
    texts[5] = texts[4]  # the same sentence twice
    groups = ["a", "a", "a", "b", "b", "c", "c", "d"]
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95, 0.5, 0.1, 0.2])
    order, _ = rank("uncertain", ids, texts, groups, scores=scores)
    assert list(order) == [4, 0, 1, 2, 3, 5, 7, 6]
    order, _ = rank("diverse", ids, texts, groups, scores=scores)
    # Round one: the most uncertain of each group (5 waits: same text as 4, and so does 6, its
    # group's next); then the second of each group, then the third.
    assert list(order) == [4, 0, 7, 1, 3, 5, 6, 2]
    r1, _ = rank("random", ids, texts, seed=3)
    r2, _ = rank("random", ids, texts, seed=3)
    r3, _ = rank("random", ids, texts, seed=4)
    assert list(r1) == list(r2) and list(r1) != list(r3) and sorted(r1) == list(range(8))
