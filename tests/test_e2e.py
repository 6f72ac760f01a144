"""End to end against a real Label Studio: the bundled sample articles are ingested, segmented,
pre-labelled and pushed; an annotator works through the API (accepting, correcting and adding
spans, drawing relations, skipping one task, marking one as noise); then pull, publish, load every
config with `datasets.load_dataset` and compare with exactly what the annotator submitted."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.ontology import load_ontology
from corpus.publish.release import verify
from corpus.publish.tokens import token_spans

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def cli(*args) -> str:
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def region(rid: str, control: str, text: str, start: int, end: int, label: str) -> dict:
    return {
        "id": rid,
        "from_name": control,
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }


def annotation_for(task: dict, n: int, ontology) -> list[dict]:
    """What the annotator submits: the pre-labels (the first entity corrected to a whole other
    word), one new entity, a relation where the ontology allows one, and the sentence choice."""
    text = task["data"]["text"]
    result = []
    predicted = [r for p in task["predictions"][:1] for r in p["result"]]
    ids = {}  # predicted region id -> the submitted region's id
    for i, r in enumerate(r for r in predicted if r["type"] == "labels"):
        v = r["value"]
        ids[r["id"]] = f"r{n}-{i}"
        result.append(
            region(ids[r["id"]], r["from_name"], text, v["start"], v["end"], v["labels"][0])
        )
    # Predicted arguments are accepted as they are: the relation points at the accepted regions.
    for r in predicted:
        if r["type"] == "relation":
            result.append({**r, "from_id": ids[r["from_id"]], "to_id": ids[r["to_id"]]})
    words = [(a, b) for a, b in token_spans(text) if text[a:b].isalpha() and b - a >= 3]
    spans = [r for r in result if r["type"] == "labels"]
    taken = {(r["value"]["start"], r["value"]["end"]) for r in spans}
    free = [w for w in words if not any(a < w[1] and w[0] < b for a, b in taken)]
    if free:
        a, b = free[-1]
        result.append(region(f"new{n}", "entities", text, a, b, "PER"))
    spans = [r for r in result if r["type"] == "labels"]
    ents = [r for r in spans if r["from_name"] == "entities"]
    trigs = [r for r in spans if r["from_name"] == "triggers"]
    for t in [t for t in trigs[:1] if not any(r.get("from_id") == t["id"] for r in result)]:
        roles = ontology.event_types[t["value"]["labels"][0]]
        for e in ents:
            role = next(
                (x for x in roles if e["value"]["labels"][0] in ontology.role_fillers[x]), None
            )
            if role:
                rel = {"from_id": t["id"], "to_id": e["id"], "type": "relation",
                       "direction": "right", "labels": [role]}  # fmt: skip
                result.append(rel)
                break
    choice = "has-event" if trigs else "no-event"
    result.append({"id": f"c{n}", "from_name": "sentence", "to_name": "text", "type": "choices",
                   "value": {"choices": [choice]}})  # fmt: skip
    return result


def expected_labels(result: list[dict]) -> dict:
    spans = {r["id"]: r for r in result if r.get("type") == "labels"}

    def key(r):
        v = r["value"]
        return (v["start"], v["end"], v["labels"][0], v["text"])

    events = []
    for r in spans.values():
        if r["from_name"] != "triggers":
            continue
        args = sorted(
            (rel["labels"][0], *key(spans[rel["to_id"]]))
            for rel in result
            if rel.get("type") == "relation" and rel["from_id"] == r["id"]
        )
        events.append((key(r), args))
    return {
        "entities": sorted(key(r) for r in spans.values() if r["from_name"] == "entities"),
        "events": sorted(events),
        "choice": next(r["value"]["choices"][0] for r in result if r.get("type") == "choices"),
    }


def test_sample_articles_to_a_release_that_datasets_loads_with_the_annotators_labels(
    ls_workspace, tmp_path, monkeypatch
):
    ws = ls_workspace
    cli("ingest", ROOT / "corpus" / "samples" / "articles.jsonl", "-w", ws.root)
    cli("segment", "-w", ws.root)
    cli("prelabel", "-w", ws.root)
    cli("project", "create", "-w", ws.root)
    cli("project", "push", "--limit", "14", "-w", ws.root)

    server = ws.read_state("server")
    pid = ws.read_state("project")["project_id"]
    ontology = load_ontology(ws.ontology_path)
    http = httpx.Client(base_url=server["url"], headers={"Authorization": f"Token {server['api_key']}"},
                        trust_env=False, timeout=60)  # fmt: skip
    with http:
        r = http.get("/api/tasks", params={"project": pid, "page_size": 1000, "fields": "all"})
        tasks = sorted(r.json()["tasks"], key=lambda t: t["id"])
        assert len(tasks) == 14
        expected: dict[str, dict] = {}
        for n, task in enumerate(tasks[:12]):
            result = annotation_for(task, n, ontology)
            body = {"result": result, "lead_time": 10.0 + n}
            if task["predictions"]:
                body["parent_prediction"] = task["predictions"][0]["id"]
            resp = http.post(f"/api/tasks/{task['id']}/annotations/", json=body)
            assert resp.status_code == 201, resp.text
            expected[task["data"]["sentence_id"]] = expected_labels(result)
        skipped, noise = tasks[12], tasks[13]
        assert http.post(f"/api/tasks/{skipped['id']}/annotations/",
                         json={"result": [], "was_cancelled": True}).status_code == 201  # fmt: skip
        noise_choice = [{"id": "c", "from_name": "sentence", "to_name": "text", "type": "choices",
                         "value": {"choices": ["noise"]}}]  # fmt: skip
        assert http.post(f"/api/tasks/{noise['id']}/annotations/",
                         json={"result": noise_choice}).status_code == 201  # fmt: skip
    assert sum(len(e["events"]) for e in expected.values()) >= 5  # the lexicon found events
    assert sum(len(a) for e in expected.values() for _, a in e["events"]) >= 3

    cli("pull", "-w", ws.root)
    out = cli("publish", "1.0.0", "-m", "end to end", "-w", ws.root)
    assert "Published" in out
    release = ws.releases_dir / "1.0.0"
    assert verify(release).ok

    from datasets import load_dataset

    cache = str(tmp_path / "hf-cache")
    sentences = load_dataset(str(release), "sentences", cache_dir=cache)
    rows = {r["id"]: r for split in sentences for r in sentences[split]}
    assert set(rows) == set(expected)  # the skipped and the noise sentence are left out
    for sid, want in expected.items():
        row = rows[sid]
        ents = sorted((e["start"], e["end"], e["label"], e["text"]) for e in row["entities"])
        assert ents == want["entities"], sid
        events = sorted(
            (
                (
                    ev["trigger"]["start"],
                    ev["trigger"]["end"],
                    ev["event_type"],
                    ev["trigger"]["text"],
                ),
                sorted(
                    (a["role"], a["start"], a["end"], a["label"], a["text"])
                    for a in ev["arguments"]
                ),
            )
            for ev in row["events"]
        )
        assert events == want["events"], sid
        assert row["choice"] == want["choice"]
        assert row["provenance"]["annotator"].startswith("ann-")
        assert row["provenance"]["prelabel"].startswith("lexicon-1")

    tokens = load_dataset(str(release), "tokens", cache_dir=cache)
    names = tokens["train"].features["ner_tags"].feature.names
    trows = {r["id"]: r for split in tokens for r in tokens[split]}
    tagged = 0
    for sid, want in expected.items():
        t = trows[sid]
        spans = [(s, e, label) for s, e, label, _ in want["entities"]]
        for s, e, label in spans:
            if any(s2 < e and s < e2 for s2, e2, _ in spans if (s2, e2) != (s, e)):
                continue  # nested or overlapping spans cannot all be BIO tags
            first = next(i for i, end in enumerate(t["token_ends"]) if end > s)
            assert names[t["ner_tags"][first]] == f"B-{label}", (sid, s, e, label)
            tagged += 1
    assert tagged >= 12

    documents = load_dataset(str(release), "documents", cache_dir=cache)
    for split in documents:
        for doc in documents[split]:
            for e in doc["entities"]:
                assert doc["text"][e["start"] : e["end"]] == e["text"]

    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    pulled = ws.read_state("pull")["projects"][str(pid)]
    assert manifest["label_studio"]["project_id"] == pid
    assert manifest["label_studio"]["snapshots"][0]["snapshot_id"] == pulled["snapshot_id"]
    assert manifest["excluded"] == {"noise": 1, "cancelled_only": 1}
    assert server["api_key"] not in (release / "README.md").read_text(encoding="utf-8")
