#!/usr/bin/env python
"""Benchmark `corpus pull`: parse and validate a Label Studio full-JSON export of N annotated tasks.

For each size (default 10,000 and 40,000 tasks) it generates a workspace with N sentences and an
export file in Label Studio's full-JSON shape (every task annotated, a third of them twice; each
annotation with entities, triggers, relations and a sentence choice), then pulls it in a child
process pinned to one core: a first (full) pull, and a second pull of the same snapshot
(incremental: nothing changed). Prints seconds, tasks/s and the child's peak RSS beside the
target (10,000 tasks in < 30 s; memory flat as the export grows).

With --server it also measures a real export: imports N tasks with annotations into the embedded
Label Studio of a fresh workspace, asks it for a full-JSON snapshot, downloads and pulls it.

Usage: .venv/bin/python scripts/bench_pull.py [--sizes 10000,40000] [--server] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 30.0  # for 10,000 tasks
PROJECT = 1

WORDS = (
    "قال المتحدث باسم الحكومة إن الوضع في المنطقة مستقر نسبيا بعد أيام من التوتر وأضاف أن "
    "اللجنة ستعقد اجتماعا لبحث التطورات الأخيرة في ظل دعوات دولية للتهدئة وضبط النفس"
).split()
ENTS = [
    ("القوات الحكومية", "ORG"), ("الجيـــش السوري", "ORG"), ("حلب", "GPE"), ("بغداد", "GPE"),
    ("#دير_الزور", "GPE"), ("نهر الفرات", "LOC"), ("مطار دمشق", "FAC"), ("عبوة ناسفة", "WEA"),
    ("أحمد العلي", "PER"), ("٣ مدنيين", "NUM"),
]  # fmt: skip
TRIGS = [("قصفت", "Conflict.Attack", "Attacker"), ("مقتلَ", "Life.Die", "Victim"),
         ("اعتقلت", "Justice.Arrest-Jail", "Agent"), ("تظاهر", "Conflict.Demonstrate", "Entity")]  # fmt: skip


def make_sentence(rng: random.Random, n: int) -> tuple[str, list[tuple[int, int, str, str]]]:
    """A sentence of ~20 words with 3 entities and 1-2 triggers at known code-point offsets."""
    parts: list[str] = []
    spans = []
    pos = 0

    def put(s: str, kind: str | None = None, label: str = "") -> None:
        nonlocal pos
        if parts:
            parts.append(" ")
            pos += 1
        if kind:
            spans.append((pos, pos + len(s), kind, label))
        parts.append(s)
        pos += len(s)

    for i in range(20):
        if i in (2, 9):
            trig = TRIGS[(n + i) % len(TRIGS)]
            put(trig[0], "trigger", trig[1])
        elif i in (4, 12, 16):
            ent = ENTS[rng.randrange(len(ENTS))]
            put(ent[0], "entity", ent[1])
        elif i == 18 and n % 5 == 0:
            put("🔥")
        else:
            put(WORDS[rng.randrange(len(WORDS))])
    return "".join(parts) + ".", spans


def annotation(aid: int, tid: int, user: int, text: str, spans, rng: random.Random) -> dict:
    result = []
    ids = []
    for k, (s, e, kind, label) in enumerate(spans):
        rid = f"r{aid}-{k}"
        ids.append((rid, kind, label))
        result.append(
            {
                "id": rid,
                "from_name": "entities" if kind == "entity" else "triggers",
                "to_name": "text",
                "type": "labels",
                "origin": "prediction" if rng.random() < 0.7 else "manual",
                "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]},
            }
        )
    trig = [r for r in ids if r[1] == "trigger"]
    ents = [r for r in ids if r[1] == "entity" and r[2] in ("PER", "ORG", "GPE")]
    for t in trig[:1]:
        role = next(x[2] for x in TRIGS if x[1] == t[2])
        for e in ents[:1]:
            result.append({"from_id": t[0], "to_id": e[0], "type": "relation",
                           "direction": "right", "labels": [role]})  # fmt: skip
    result.append({"id": f"c{aid}", "from_name": "sentence", "to_name": "text",
                   "type": "choices", "value": {"choices": ["has-event"]}})  # fmt: skip
    stamp = f"2024-05-{1 + aid % 28:02d}T{aid % 24:02d}:{aid % 60:02d}:00.{aid % 999999:06d}Z"
    return {
        "id": aid, "completed_by": user, "result": result, "was_cancelled": False,
        "ground_truth": False, "created_at": stamp, "updated_at": stamp, "draft_created_at": None,
        "lead_time": round(rng.uniform(5, 120), 3), "prediction": {}, "result_count": len(result),
        "unique_id": f"00000000-0000-4000-8000-{aid:012d}", "import_id": None, "last_action": None,
        "bulk_created": False, "task": tid, "project": PROJECT, "updated_by": user,
        "parent_prediction": tid, "parent_annotation": None, "last_created_by": None,
    }  # fmt: skip


def generate(ws_dir: Path, n: int) -> Path:
    """A workspace with n sentences and an export of n annotated tasks; returns the export."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.ids import content_id
    from corpus.schemas import SENTENCES
    from corpus.workspace import Workspace

    ws = Workspace.init(ws_dir)
    rng = random.Random(13)
    export = ws_dir / "export.json"
    writer = pq.ParquetWriter(ws.sentences_path, SENTENCES)
    aid = 0
    with export.open("w", encoding="utf-8") as f:
        f.write("[")
        rows = []
        for i in range(n):
            text, spans = make_sentence(rng, i)
            article = f"a{i // 20}"
            sid = content_id(article, i, text, prefix="s")
            rows.append({"sentence_id": sid, "article_id": article, "index": i % 20, "start": 0,
                         "end": len(text), "text": text})  # fmt: skip
            anns = []
            for user in (1, 2) if i % 3 == 0 else (1 + i % 2,):
                aid += 1
                anns.append(annotation(aid, i + 1, user, text, spans, rng))
            task = {
                "id": i + 1, "annotations": anns, "file_upload": None, "drafts": [],
                "predictions": [i + 1],
                "data": {"text": text, "sentence_id": sid, "article_id": article,
                         "title": "عنوان الخبر", "context_before": "", "context_after": ""},
                "meta": {}, "created_at": "2024-05-01T09:00:00.000000Z",
                "updated_at": "2024-05-01T09:00:00.000000Z", "inner_id": i + 1,
                "total_annotations": len(anns), "cancelled_annotations": 0,
                "total_predictions": 1, "comment_count": 0, "unresolved_comment_count": 0,
                "last_comment_updated_at": None, "project": PROJECT, "updated_by": None,
                "comment_authors": [],
            }  # fmt: skip
            f.write(("\n" if i == 0 else ",\n") + json.dumps(task, ensure_ascii=False))
            if len(rows) == 5000:
                writer.write_table(pa.Table.from_pylist(rows, schema=SENTENCES))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=SENTENCES))
        f.write("\n]\n")
    writer.close()
    return export


def bench_vocab():
    """The bundled ontology's vocabulary (read with corpus.ontology when it is there)."""
    from corpus.pull.parse import Vocabulary

    path = ROOT / "annotation_configs" / "conflict_events.yaml"
    try:
        from corpus.ontology import load_ontology

        return Vocabulary.from_ontology(load_ontology(path))
    except ImportError:
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Vocabulary(
            frozenset(raw["entity_types"]),
            {k: frozenset(v["roles"]) for k, v in raw["event_types"].items()},
            frozenset(raw["choices"]),
            hash="bench",
        )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(ws_dir: Path, export: Path) -> None:
    """Pull `export` into the workspace and print a JSON line with time and memory."""
    from corpus.pull.parse import pull_snapshot
    from corpus.workspace import Workspace

    ws = Workspace.load(ws_dir)
    vocab = bench_vocab()
    base = rss_mb()
    t0 = time.perf_counter()
    report = pull_snapshot(ws, export, PROJECT, vocab=vocab)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "base_mb": base, "peak_mb": peak,
                      "report": report.as_dict()}))  # fmt: skip


def run_child(ws_dir: Path, export: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--child", str(ws_dir), str(export)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"pull failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def server_bench(tmp: Path, n: int) -> None:
    """Import n annotated tasks into a real Label Studio, export a snapshot, pull it."""
    from corpus.labelstudio import server as srv
    from corpus.labelstudio.client import LabelStudio
    from corpus.ontology import label_config_xml, load_ontology

    ws_dir = tmp / f"server-{n}"
    export = generate(ws_dir, n)
    from corpus.workspace import Workspace

    ws = Workspace.load(ws_dir)
    print(f"starting the embedded Label Studio in {ws_dir} (first start runs migrations)...")
    t0 = time.perf_counter()
    srv.start(ws)
    print(f"  ready in {time.perf_counter() - t0:.0f} s")
    try:
        client = LabelStudio.connect(ws)
        config = label_config_xml(load_ontology(ws.ontology_path))
        project_id = client.create_project("bench pull", config)
        tasks = []
        for task in json.loads(export.read_text(encoding="utf-8")):
            tasks.append({"data": task["data"], "annotations": [
                {"result": a["result"], "lead_time": a["lead_time"]} for a in task["annotations"]
            ]})  # fmt: skip
        t0 = time.perf_counter()
        for lo in range(0, len(tasks), 1000):
            client.import_tasks(project_id, tasks[lo : lo + 1000])
        print(f"  imported {n:,} annotated tasks in {time.perf_counter() - t0:.1f} s")
        real = ws_dir / "real-export.json"
        t0 = time.perf_counter()
        info = client.export_json(project_id, real)
        t_export = time.perf_counter() - t0
        size = real.stat().st_size / 2**20
        print(f"  server export snapshot + download: {t_export:.1f} s ({size:.0f} MB)")
        ws.write_state("pull", {})
        os.environ["BENCH_PULL_PROJECT"] = str(project_id)  # the child pulls this project
        r = run_child(ws_dir, real)
        rep = r["report"]
        print(
            f"  pull of the real export: {r['seconds']:.1f} s, {rep['kept']:,} annotations, "
            f"{rep['quarantined']} quarantined, peak RSS {r['peak_mb']:.0f} MB; "
            f"export + pull {t_export + r['seconds']:.1f} s (tasks in snapshot: "
            f"{info.get('task_count')})"
        )
    finally:
        srv.stop(ws)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,40000", help="comma-separated task counts")
    ap.add_argument("--server", action="store_true", help="also measure a real server export")
    ap.add_argument("--server-tasks", type=int, default=10_000)
    ap.add_argument("--keep", type=Path, help="folder to keep the generated workspaces in")
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        global PROJECT
        PROJECT = int(os.environ.get("BENCH_PULL_PROJECT", PROJECT))
        child(*args.child)
        return

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-pull-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"{'tasks':>8} {'annotations':>11} {'export MB':>9} {'1st pull s':>10} {'tasks/s':>8} "
          f"{'2nd pull s':>10} {'peak RSS MB':>11} {'base RSS MB':>11}")  # fmt: skip
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        ws_dir = tmp / f"ws-{n}"
        export = generate(ws_dir, n)
        first = run_child(ws_dir, export)
        second = run_child(ws_dir, export)
        rep = first["report"]
        assert rep["quarantined"] == 0 and rep["kept"] == rep["annotations"], rep
        assert second["report"]["unchanged"] == rep["kept"], second["report"]
        size = export.stat().st_size / 2**20
        peak = max(first["peak_mb"], second["peak_mb"])
        results.append((n, first["seconds"], peak))
        print(f"{n:>8,} {rep['annotations']:>11,} {size:>9.0f} {first['seconds']:>10.1f} "
              f"{n / first['seconds']:>8,.0f} {second['seconds']:>10.1f} {peak:>11.0f} "
              f"{first['base_mb']:>11.0f}")  # fmt: skip
    ten = [r for r in results if r[0] == 10_000]
    if ten:
        verdict = "OK" if ten[0][1] < TARGET_SECONDS else "TOO SLOW"
        print(f"target: 10,000 tasks in < {TARGET_SECONDS:.0f} s -> {ten[0][1]:.1f} s {verdict}")
    if len(results) >= 2:
        (n1, _, m1), (n2, _, m2) = results[0], results[-1]
        print(f"memory: {n1:,} -> {n2:,} tasks ({n2 / n1:.0f}x): peak RSS {m1:.0f} -> {m2:.0f} MB")
    if args.server:
        server_bench(tmp, args.server_tasks)


if __name__ == "__main__":
    main()
