"""Shared fixtures: a real Label Studio for tests marked `server`.

One template data folder is migrated per test session by a real `corpus server start` (the
first-start path, ~22 s idle); every test then gets a copy of it and its own server on a free
port (~2.5 s). Servers are always stopped: by the fixture's finalizer, by an atexit hook, and,
should pytest itself be killed, by the kernel (they are started with a parent-death signal).

Without .venv-labelstudio the server tests are skipped locally and fail in CI (env CI set).
"""

from __future__ import annotations

import atexit
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpus.labelstudio import server as srv
from corpus.workspace import Workspace

_STARTED: list[subprocess.Popen] = []
# Set around in-process `corpus server start` calls: the server then dies with pytest.
TIED = "CORPUS_SERVER_DIE_WITH_PARENT"


# Hugging Face libraries never reach the network in a test (`load_dataset` on a release, tiny
# local models), module fixtures and subprocesses included: a download fails instead of passing.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


def _stop_all() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            srv.terminate(proc.pid)
    _STARTED.clear()


atexit.register(_stop_all)


def _require_server_venv() -> None:
    exe = srv.label_studio_exe()
    if exe.exists():
        return
    reason = f"Label Studio is not installed ({exe}): run scripts/setup-labelstudio"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI must install it)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LSTemplate:
    """The session's migrated data folder, the login it was created with, and the output of
    the `corpus server start` that created it."""

    workspace: Workspace
    data_dir: Path
    info: srv.ServerInfo
    start_output: str
    start_exit_code: int


@dataclass
class LSServer:
    """A running Label Studio on 127.0.0.1 whose data folder is a fresh copy of the template."""

    url: str
    port: int
    api_key: str
    username: str
    password: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            srv.terminate(self.proc.pid)


@pytest.fixture(scope="session")
def ls_template(tmp_path_factory) -> LSTemplate:
    _require_server_venv()
    import corpus.cli

    ws = Workspace.init(tmp_path_factory.mktemp("ls-template") / "ws")
    runner = CliRunner()
    os.environ[TIED] = "1"
    try:
        result = runner.invoke(corpus.cli.app, ["server", "start", "-w", str(ws.root)])
    finally:
        del os.environ[TIED]
        # Stopped whatever happened: the copies must come from a cleanly closed database.
        srv.stop(ws)
    if result.exit_code != 0:
        pytest.fail(
            f"`corpus server start` failed ({result.exit_code}): {result.output}\n"
            f"{result.exception!r}\n{srv.log_tail(srv.log_path(ws), 40)}",
            pytrace=False,
        )
    info = srv.read_info(ws)
    return LSTemplate(ws, srv.data_dir(ws), info, result.output, result.exit_code)


def start_copy(template: LSTemplate, where: Path) -> LSServer:
    """A server on a fresh copy of the template's data folder (tests may call it directly)."""
    data = where / "ls-data"
    srv.copy_data_dir(template.data_dir, data)
    log = where / "ls.log"
    info = template.info
    for _ in range(3):
        port = srv.free_port()
        proc = srv.launch(
            data, port, info.username, info.password, info.api_key, log, die_with_parent=True
        )
        _STARTED.append(proc)
        url = f"http://127.0.0.1:{port}"
        try:
            srv.wait_ready(url, info.api_key, proc, log, timeout=180, username=info.username)
        except srv.PortTaken:
            srv.terminate(proc.pid)
            continue
        except BaseException:
            srv.terminate(proc.pid)
            raise
        return LSServer(url, port, info.api_key, info.username, info.password, data, log, proc)
    pytest.fail("no free port for Label Studio after 3 attempts", pytrace=False)


@pytest.fixture
def ls_server(ls_template, tmp_path) -> LSServer:
    server = start_copy(ls_template, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def wire_workspace(root: Path, server: LSServer) -> Workspace:
    """A workspace whose state "server" points at `server`, as `corpus server start` writes it."""
    ws = Workspace.init(root)
    info = srv.ServerInfo(
        url=server.url,
        port=server.port,
        pid=server.pid,
        username=server.username,
        password=server.password,
        api_key=server.api_key,
        data_dir=str(server.data_dir),
        log_path=str(server.log_path),
        version=srv.LABEL_STUDIO_VERSION,
        started_at="",
        login_shown=True,
    )
    ws.write_state(srv.STATE, asdict(info), private=True)
    return ws


@pytest.fixture
def ls_workspace(ls_server, tmp_path, monkeypatch) -> Workspace:
    # The workspace must talk to the embedded server, not whatever the shell points at.
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    return wire_workspace(tmp_path / "ws", ls_server)


# --- stage files for the Label Studio tests (built directly with the schemas) ------------------

LS_FIXTURES = Path(__file__).parent / "fixtures" / "labelstudio"


def _jsonl(name: str) -> list[dict]:
    import json

    lines = (LS_FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def build_stage_tables(extra_sentences: int = 0) -> dict:
    """articles/sentences/predictions tables from tests/fixtures/labelstudio/*.jsonl, plus
    `extra_sentences` generated ones (one article per 10 sentences, a trigger in every third)."""
    import pyarrow as pa

    from corpus.ids import content_id
    from corpus.schemas import ARTICLES, PREDICTIONS, SENTENCES

    articles = [
        {**a, "source": "fixture", "source_id": None, "url": None, "published_at": None,
         "dup_group": a["article_id"], "content_hash": content_id(a["text"]),
         "arabic_ratio": 0.9}
        for a in _jsonl("articles.jsonl")
    ]  # fmt: skip
    sentences = _jsonl("sentences.jsonl")
    predictions = _jsonl("predictions.jsonl")
    for art in range(0, extra_sentences, 10):
        aid = f"a-gen-{art // 10:05d}"
        parts, spans_by_index = [], {}
        for i in range(min(10, extra_sentences - art)):
            n = art + i
            if n % 3 == 0:
                text = f"قصفت الطائرات قرية رقم {n} في ريف إدلب."
                spans_by_index[i] = [
                    {"start": 0, "end": 4, "label": "Conflict.Attack", "kind": "trigger",
                     "score": 0.9, "source": "lexicon"},
                    {"start": 5, "end": 13, "label": "VEH", "kind": "entity", "score": 0.7,
                     "source": "lexicon"},
                ]  # fmt: skip
            else:
                text = f"وذكرت المصادر أن الوضع رقم {n} هادئ نسبياً."
            parts.append(text)
        body = " ".join(parts)
        articles.append(
            {"article_id": aid, "source": "generated", "source_id": None, "title": f"خبر {art}",
             "text": body, "url": None, "published_at": None, "dup_group": aid,
             "content_hash": content_id(body), "arabic_ratio": 0.95}
        )  # fmt: skip
        pos = 0
        for i, text in enumerate(parts):
            start = body.index(text, pos)
            end = pos = start + len(text)
            sid = content_id(aid, start, end, prefix="s")
            sentences.append(
                {"sentence_id": sid, "article_id": aid, "index": i, "start": start, "end": end,
                 "text": text}
            )  # fmt: skip
            predictions.append(
                {"sentence_id": sid, "article_id": aid, "spans": spans_by_index.get(i, []),
                 "source": "lexicon", "model_version": "lexicon-1"}
            )  # fmt: skip
    return {
        "articles": pa.Table.from_pylist(articles, schema=ARTICLES),
        "sentences": pa.Table.from_pylist(sentences, schema=SENTENCES),
        "predictions": pa.Table.from_pylist(predictions, schema=PREDICTIONS),
    }


def write_stage_files(ws: Workspace, extra_sentences: int = 0) -> dict:
    """Write the stage tables into `ws` (data/*.parquet) and return them."""
    from corpus.io import write_table
    from corpus.schemas import ARTICLES, PREDICTIONS, SENTENCES

    tables = build_stage_tables(extra_sentences)
    write_table(ws.articles_path, tables["articles"], ARTICLES)
    write_table(ws.sentences_path, tables["sentences"], SENTENCES)
    write_table(ws.predictions_path, tables["predictions"], PREDICTIONS)
    return tables


@pytest.fixture
def stage_files():
    """`stage_files(ws, extra_sentences=0)` writes articles/sentences/predictions into `ws`."""
    return write_stage_files


@pytest.fixture
def stage_tables():
    """`stage_tables(extra_sentences=0)` builds the same tables without writing them."""
    return build_stage_tables


# --- Ray: one local instance per session (it takes seconds to start) ----------------------------


@pytest.fixture(scope="module")
def ray_local():
    """`ray.init(num_cpus=2)` once per test module that uses Ray, shut down after it: later
    modules then never fork a process that holds a Ray driver."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
