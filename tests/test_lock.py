"""The workspace lock: two real `corpus` processes racing on one workspace (issue 11, item 1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.synth import generate_articles
from corpus.io import ParquetSink
from corpus.lock import WorkspaceBusy, remove_stale_temps, temp_path, workspace_lock
from corpus.schemas import QUARANTINE
from corpus.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def corpus_proc(*args: str) -> subprocess.Popen:
    """The real entry point, `python -m corpus`, in its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "corpus", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def run(*args: str) -> subprocess.CompletedProcess:
    p = corpus_proc(*args)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def write_jsonl(path: Path, n: int, seed: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for rec in generate_articles(n, seed=seed, dup_rate=0.0, target_bytes=1500):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def holder(ws: Workspace) -> dict:
    try:
        return json.loads((ws.state_dir / "lock").read_text() or "{}")
    except (OSError, ValueError):
        return {}


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def test_second_ingest_is_refused_while_the_first_runs(ws, tmp_path):
    big = write_jsonl(tmp_path / "big.jsonl", 2500, seed=1)
    small = write_jsonl(tmp_path / "small.jsonl", 50, seed=2)
    first = corpus_proc("ingest", big, "-w", ws.root)
    deadline = time.monotonic() + 120
    while holder(ws).get("pid") != first.pid:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first ingest never took the lock"
        time.sleep(0.005)
    # Freeze the first one while it holds the lock, so the race is decided the same way on
    # every machine; then race it with a second real process.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        assert holder(ws).get("pid") == first.pid
        second = run("ingest", small, "-w", ws.root)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1, second.stderr
    lines = [x for x in second.stderr.splitlines() if x.strip()]
    assert lines[0].startswith(f"error: workspace busy: ingest (pid {first.pid}) since "), lines
    assert "Traceback" not in second.stderr
    # The first ingest's file is complete and readable; nothing of the refused one is in it.
    assert pq.read_table(ws.articles_path).num_rows == 2500
    assert not holder(ws)  # released
    # Once the first is done, the same command goes through.
    again = run("ingest", small, "-w", ws.root)
    assert again.returncode == 0, again.stderr
    assert pq.read_table(ws.articles_path).num_rows == 2550


def test_simultaneous_ingests_never_lose_or_corrupt(ws, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", 800, seed=3)
    b = write_jsonl(tmp_path / "b.jsonl", 800, seed=4)
    procs = [corpus_proc("ingest", src, "-w", ws.root) for src in (a, b)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    ok = [r for r in results if r[0] == 0]
    refused = [r for r in results if r[0] != 0]
    for code, _, err in refused:
        assert code == 1 and "workspace busy: ingest (pid " in err and "Traceback" not in err
    assert ok, results
    # Whatever the interleaving, the file holds exactly what the successful runs accepted.
    assert pq.read_table(ws.articles_path).num_rows == 800 * len(ok)


def test_held_lock_refuses_segment_and_publish_in_real_processes(ws):
    with workspace_lock(ws.state_dir, "publish"):
        for args in (["segment"], ["publish", "1.0.0"]):
            r = run(*args, "-w", ws.root)
            assert r.returncode == 1, r.stderr
            assert f"workspace busy: publish (pid {os.getpid()}) since" in r.stderr
            assert "Traceback" not in r.stderr
    # Released: the next writer gets past the lock (and fails on the missing input instead).
    r = run("segment", "-w", ws.root)
    assert r.returncode == 1 and "busy" not in r.stderr and "corpus ingest" in r.stderr


def test_lock_of_a_dead_process_is_taken_over(ws, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    (ws.state_dir / "lock").write_text(
        json.dumps({"command": "ingest", "pid": dead.pid, "since": "yesterday"})
    )
    # A temporary file a killed writer left behind is cleared by the next writer.
    stale = ws.data_dir / f".articles.parquet.{dead.pid}-deadbeef.tmp"
    stale.write_bytes(b"half a parquet file")
    src = write_jsonl(tmp_path / "s.jsonl", 20, seed=5)
    r = run("ingest", src, "-w", ws.root)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(ws.articles_path).num_rows == 20
    assert not stale.exists()


def test_lock_in_process_busy_error_names_holder(ws):
    with workspace_lock(ws.state_dir, "pull"):
        pid = os.getpid()
        # A second open file description of the same lock is refused, even in one process.
        with pytest.raises(WorkspaceBusy) as e, workspace_lock(ws.state_dir, "segment"):
            pass
        assert e.value.message.startswith(f"workspace busy: pull (pid {pid}) since ")
    with workspace_lock(ws.state_dir, "segment"):
        pass


def test_writers_use_unique_temporary_files(tmp_path):
    target = tmp_path / "q.parquet"
    assert temp_path(target) != temp_path(target)
    row = {"stage": "x", "source": "s", "location": "1", "reason": "r", "raw": None}
    one, two = ParquetSink(target, QUARANTINE), ParquetSink(target, QUARANTINE)
    assert one.tmp != two.tmp and one.tmp.name.startswith(".")
    one.write_rows([row])
    two.write_rows([row, row])
    one.close()
    assert pq.read_table(target).num_rows == 1
    two.close()
    assert pq.read_table(target).num_rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.parquet"]
    # Only dead processes' leftovers are removed: ours stays.
    mine = temp_path(target)
    mine.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 0 and mine.exists()


def test_a_killed_commands_ray_staging_is_removed_by_the_next_writer(ws, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = [
        ws.state_dir / f"ingest-staging-{dead.pid}",
        ws.data_dir / f".publish-staging-{dead.pid}",
        ws.data_dir / f".minhash-k3x9-staging-{dead.pid}",  # near-duplicate working files
    ]
    live = ws.state_dir / f"publish-staging-{os.getppid()}"  # a running process's: kept
    for folder in [*left, live]:
        folder.mkdir(parents=True)
        (folder / "input.parquet").write_bytes(b"x")
    src = write_jsonl(tmp_path / "a.jsonl", 3, seed=5)
    done = run("ingest", src, "--workspace", ws.root)
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in left)
    assert (live / "input.parquet").exists()
