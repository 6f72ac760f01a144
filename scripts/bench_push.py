"""Benchmark `corpus project push`: 10,000 sentences with predictions, end to end, then again.

    .venv/bin/python scripts/bench_push.py [--sentences 10000] [--batch-size 2000] [--keep DIR]

Starts an embedded Label Studio for a temporary workspace (its first start migrates the
database; not timed), or uses the server named by LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY.
Prints, for the same tasks:

- client side only: the same push against an instant in-memory server (our own overhead);
- baseline: the server alone importing prebuilt task JSON (one POST per batch, no client work);
- first push: `push_workspace` end to end (read Parquet, plan, build and validate predictions,
  import, record the ledger, set the model version); target >= 800 tasks/s;
- repeated push of the same sentences (nothing to send); target < 1/10 of the first push;
- peak RSS of this process (the client) and of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.ids import content_id  # noqa: E402
from corpus.io import write_table  # noqa: E402
from corpus.labelstudio import server as srv  # noqa: E402
from corpus.labelstudio.client import LabelStudio  # noqa: E402
from corpus.labelstudio.push import ensure_project, guidance_html, push_workspace  # noqa: E402
from corpus.labelstudio.tasks import iter_task_batches, plan_push  # noqa: E402
from corpus.ontology import label_config_xml, load_ontology  # noqa: E402
from corpus.schemas import ARTICLES, PREDICTIONS, SENTENCES  # noqa: E402
from corpus.workspace import Workspace  # noqa: E402

PLACES = ["حلب", "إدلب", "دير الزور", "الرقة", "درعا", "الموصل", "بغداد", "غزة", "صنعاء", "طرابلس"]
ACTORS = ["القوات الحكومية", "الجيش", "فصائل المعارضة", "مسلحون مجهولون", "قوات التحالف"]
TRIGGERS = [
    ("قصفت", "Conflict.Attack"),
    ("هاجمت", "Conflict.Attack"),
    ("اعتقلت", "Justice.Arrest-Jail"),
]
CALM = [
    "وقال مصدر محلي إن الأوضاع في {p} شهدت هدوءاً حذراً خلال الساعات الماضية.",
    "وأضاف المصدر أن الأسواق في {p} فتحت أبوابها كالمعتاد صباح اليوم.",
    "وتشهد مدينة {p} أزمة في المحروقات منذ أسابيع بحسب السكان.",
]


def generate(n: int, seed: int = 1) -> dict[str, pa.Table]:
    """n sentences in articles of 10, a third with a predicted event (trigger, actor, place)."""
    rng = random.Random(seed)
    articles, sentences, predictions = [], [], []
    for a in range(0, n, 10):
        aid = f"a{a // 10:06d}"
        parts, spans = [], []
        for i in range(min(10, n - a)):
            place = rng.choice(PLACES)
            if (a + i) % 3 == 0:
                trig, etype = rng.choice(TRIGGERS)
                actor = rng.choice(ACTORS)
                text = f"{trig} {actor} مواقع في ريف {place} صباح اليوم، بحسب ناشطين ({a + i})."
                s_sp = [
                    (0, len(trig), etype, "trigger", 0.9),
                    (len(trig) + 1, len(trig) + 1 + len(actor), "ORG", "entity", 0.7),
                ]
                p0 = text.index(place)
                s_sp.append((p0, p0 + len(place), "GPE", "entity", 0.8))
            else:
                text = rng.choice(CALM).format(p=place) + f" ({a + i})"
                p0 = text.index(place)
                s_sp = [(p0, p0 + len(place), "GPE", "entity", 0.6)]
            parts.append(text)
            spans.append(s_sp)
        body = " ".join(parts)
        articles.append({"article_id": aid, "source": "bench", "source_id": None,
                         "title": f"تطورات ميدانية {a // 10}", "text": body, "url": None,
                         "published_at": None, "dup_group": aid,
                         "content_hash": content_id(body), "arabic_ratio": 0.95})  # fmt: skip
        pos = 0
        for i, (text, s_sp) in enumerate(zip(parts, spans, strict=True)):
            start = body.index(text, pos)
            end = pos = start + len(text)
            sid = content_id(aid, start, end, prefix="s")
            sentences.append({"sentence_id": sid, "article_id": aid, "index": i, "start": start,
                              "end": end, "text": text})  # fmt: skip
            predictions.append({
                "sentence_id": sid, "article_id": aid, "source": "lexicon",
                "model_version": "lexicon-bench-1",
                "spans": [{"start": s, "end": e, "label": lab, "kind": k, "score": sc,
                           "source": "lexicon"} for s, e, lab, k, sc in s_sp],
            })  # fmt: skip
    return {
        "articles": pa.Table.from_pylist(articles, schema=ARTICLES),
        "sentences": pa.Table.from_pylist(sentences, schema=SENTENCES),
        "predictions": pa.Table.from_pylist(predictions, schema=PREDICTIONS),
    }


def baseline(client: LabelStudio, tables: dict, ontology, batch_size: int) -> float:
    """Seconds for the server alone to import the same tasks (prebuilt JSON, one POST a batch)."""
    pid = client.create_project("bench baseline", label_config_xml(ontology))
    plan = plan_push(tables["sentences"], tables["predictions"], set())
    bodies = [
        json.dumps(b.tasks, ensure_ascii=False).encode()
        for b in iter_task_batches(tables["sentences"], tables["predictions"],
                                   tables["articles"], plan, ontology, batch_size)
    ]  # fmt: skip
    headers = {"Authorization": f"Token {client._api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=client.url, timeout=600, trust_env=False) as http:
        t0 = time.perf_counter()
        for body in bodies:
            http.post(
                f"/api/projects/{pid}/import", content=body, headers=headers
            ).raise_for_status()
        return time.perf_counter() - t0


def client_only(ws: Workspace, batch_size: int) -> float:
    """Seconds for `push_workspace` against an instant in-memory server: our own overhead."""
    tasks: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/import"):
            batch = json.loads(request.content)
            first = len(tasks) + 1
            tasks.extend(t["data"]["sentence_id"] for t in batch)
            return httpx.Response(201, json={"task_ids": list(range(first, len(tasks) + 1))})
        if path.startswith("/api/projects/"):
            return httpx.Response(200, json={"id": 1, "task_number": len(tasks)})
        if path == "/api/tasks":
            return httpx.Response(200, json={"tasks": []})
        return httpx.Response(200, json={})

    mock_ws = Workspace.init(ws.root.parent / "mock-ws")
    for name in ("articles_path", "sentences_path", "predictions_path"):
        target = getattr(mock_ws, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(getattr(ws, name), target)
    mock_ws.write_state("project", {"project_id": 1, "server": "http://mock",
                                    "ontology_hash": load_ontology(ws.ontology_path).hash})  # fmt: skip
    client = LabelStudio("http://mock", "k" * 40, workspace=mock_ws,
                         transport=httpx.MockTransport(handler))  # fmt: skip
    report = push_workspace(client, mock_ws, batch_size=batch_size)
    assert report.sent == len(tasks)
    return report.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--no-baseline", action="store_true", help="skip the server-only import")
    ap.add_argument("--keep", type=Path, help="workspace folder to keep (default: temporary)")
    args = ap.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-push-"))
    ws = Workspace.init(root / "ws")
    tables = generate(args.sentences)
    write_table(ws.articles_path, tables["articles"], ARTICLES)
    write_table(ws.sentences_path, tables["sentences"], SENTENCES)
    write_table(ws.predictions_path, tables["predictions"], PREDICTIONS)
    ontology = load_ontology(ws.ontology_path)
    n = tables["sentences"].num_rows
    own = client_only(ws, args.batch_size)
    print(f"client side only (instant mock server):  {own:6.2f} s  {n / own:7,.0f} tasks/s")
    external = bool(os.environ.get("LABEL_STUDIO_URL"))
    started = False
    try:
        if not external:
            print(f"starting the embedded Label Studio in {ws.root} (first start migrates)...")
            t0 = time.perf_counter()
            srv.start(ws)
            started = True
            print(f"  ready in {time.perf_counter() - t0:.0f} s")
        client = LabelStudio.connect(ws)
        server_pid = srv.read_info(ws).pid if started else None
        ensure_project(client, title="bench push", label_config=label_config_xml(ontology),
                              instructions=guidance_html(ontology.guidance),
                              ontology_hash=ontology.hash)  # fmt: skip
        print(f"{n:,} sentences, {tables['predictions'].num_rows:,} predictions, "
              f"batch size {args.batch_size}, Label Studio {client.version()} at {client.url}")  # fmt: skip
        base = None
        if not args.no_baseline:
            base = baseline(client, tables, ontology, args.batch_size)
            print(
                f"baseline (server alone, prebuilt JSON): {base:6.2f} s  {n / base:7,.0f} tasks/s"
            )
        first = push_workspace(client, ws, batch_size=args.batch_size)
        assert first.sent == n, first
        rate = n / first.seconds
        vs = f"  ({rate / (n / base):.0%} of baseline)" if base else ""
        ok1 = "OK" if rate >= 800 else "BELOW TARGET"
        print(f"first push (end to end):                {first.seconds:6.2f} s  {rate:7,.0f} "
              f"tasks/s{vs}  target >= 800 tasks/s: {ok1}")  # fmt: skip
        again = push_workspace(client, ws, batch_size=args.batch_size)
        assert again.sent == 0 and again.already == n, again
        ratio = again.seconds / first.seconds
        ok2 = "OK" if ratio < 0.1 else "ABOVE TARGET"
        print(f"repeated push (nothing to send):        {again.seconds:6.2f} s  "
              f"= {ratio:.3f} of the first  target < 0.1: {ok2}")  # fmt: skip
        # The same from a shell: includes starting Python and importing the command line.
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "corpus", "project", "push", "-w", str(ws.root)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        shell = time.perf_counter() - t0
        assert out.returncode == 0 and " 0 sent" in " ".join(out.stdout.split()), out
        print(f"repeated `corpus project push` command:  {shell:6.2f} s  "
              f"= {shell / first.seconds:.3f} of the first push")  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        line = f"peak RSS: client {peak:,.0f} MB"
        if server_pid:
            line += f", server now {psutil.Process(server_pid).memory_info().rss / 2**20:,.0f} MB"
        print(line)
    finally:
        if started:
            srv.stop(ws)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
