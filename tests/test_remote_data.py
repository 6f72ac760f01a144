"""Workspace data on S3: every command reads and writes it there, with the same rows as locally.

A real S3 API (moto's server, over HTTP on 127.0.0.1, no network) is started once for the
module; the commands reach it as they would reach AWS, through s3fs with credentials and the
endpoint taken from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pullkit import export_from
from typer.testing import CliRunner

import corpus.cli
import corpus.fs
from corpus.io import read_table
from corpus.pull.parse import PSEUDONYM_STATE
from corpus.workspace import Workspace

SAMPLES = Path(corpus.__file__).parent / "samples" / "articles.jsonl"
BUCKET = "corpus-test"
SECRET = "s3cr3t-never-printed"
STAGE_FILES = ("articles", "sentences", "predictions", "annotations")
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clear_clients() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a client keeps the environment it was made with


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3 server on a free port with one bucket; the environment points at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    nowhere = str(tmp_path_factory.mktemp("aws") / "none")
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
                mp.delenv(name, raising=False)
            env = {
                "AWS_ACCESS_KEY_ID": "test-key",
                "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_EC2_METADATA_DISABLED": "true",  # never ask a cloud for credentials
                "AWS_CONFIG_FILE": nowhere,  # the user's ~/.aws stays out of it
                "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            }
            for k, v in env.items():
                mp.setenv(k, v)
            _clear_clients()
            import s3fs

            s3fs.S3FileSystem().mkdir(BUCKET)
            yield f"http://127.0.0.1:{port}"
            _clear_clients()
    finally:
        server.stop()
        corpus.fs._last_remote = None


def cli(*args) -> str:
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def main_exit(args, capsys) -> tuple[int, str]:
    """`corpus.cli.main(args)` (the one error-mapping place): exit code and stderr."""
    try:
        corpus.cli.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    assert SECRET not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert all(x.startswith(("error: ", "hint: ")) for x in lines), err
    return " ".join(lines)


def stage_tables(ws: Workspace) -> dict[str, pa.Table]:
    """Every data file of the workspace (stage files, signatures, quarantine) that exists."""
    out = {n: getattr(ws, f"{n}_path", ws.data_dir / f"{n}.parquet") for n in STAGE_FILES}
    out.update({f"quarantine/{p.stem}": p for p in ws.quarantine_dir.glob("*.parquet")})
    out.update({f"minhash/{p.stem}": p for p in (ws.data_dir / "minhash").glob("*.parquet")})
    return {k: read_table(p) for k, p in out.items() if p.exists()}


def assert_same_rows(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].schema.equals(b[name].schema), name
        assert a[name].to_pylist() == b[name].to_pylist(), name


def more_articles(tmp_path: Path) -> Path:
    """Two new articles and a reprint of a sample one: a later ingest groups it with it."""
    first = json.loads(SAMPLES.read_text(encoding="utf-8").splitlines()[0])
    rows = [
        {"id": "new-1", "title": "خبر", "text": "أعلنت وزارة الصحة في دمشق عن افتتاح مستشفى جديد "
         "في المدينة بعد أشهر من العمل المتواصل. وقال الوزير إن المستشفى يخدم آلاف المرضى."},
        {"id": "new-2", "title": "خبر آخر", "text": "انفجرت سيارة مفخخة قرب سوق شعبي في مدينة حلب "
         "صباح اليوم، ما أدى إلى مقتل خمسة أشخاص وإصابة آخرين بجروح."},
        {**first, "id": "reprint-1", "text": first["text"] + " (نقلاً عن وكالة الأنباء)"},
        {"id": "bad", "text": "too short"},  # quarantined
    ]  # fmt: skip
    path = tmp_path / "more.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def flow(ws: Workspace, tmp_path: Path) -> dict:
    """The CLI from sources to a release; returns `status --json` along the way."""
    w = ("-w", ws.root)
    few = ws.root.parent / "few.jsonl"  # a few articles: push and pull are what is tested
    few.write_text("".join(SAMPLES.read_text(encoding="utf-8").splitlines(True)[:4]), "utf-8")
    cli("ingest", few, *w)
    cli("segment", *w)
    cli("prelabel", *w)
    export = export_from(ws, tmp_path / f"export-{ws.root.name}.json")
    cli("pull", "--from-export", export, "--project", 1, *w)
    cli("ingest", more_articles(tmp_path), "--source-name", "more.jsonl", *w)  # incremental
    cli("segment", *w)
    cli("prelabel", *w)
    cli("publish", "1.0.0", *w)
    status = json.loads(cli("status", "--json", *w))
    status.pop("workspace")
    assert status.pop("data", None) == (str(ws.data_dir) if ws.data_remote else None)
    return status


def test_cli_flow_on_s3_gives_the_same_rows_as_a_local_workspace(s3, tmp_path):
    local = Workspace.init(tmp_path / "local")
    uri = f"s3://{BUCKET}/flow/data"
    out = cli("init", tmp_path / "remote", "--data", uri)
    assert uri in out
    remote = Workspace.find(tmp_path / "remote")
    assert remote.data_location == uri and remote.data_remote
    assert 'data = "s3://' in (remote.root / "corpus.toml").read_text(encoding="utf-8")

    # One annotator-pseudonym key for both (each workspace makes its own secret otherwise).
    salt = {"salt": "ab" * 32}
    for ws in (local, remote):
        ws.write_state(PSEUDONYM_STATE, salt, private=True)

    local_status = flow(local, tmp_path)
    remote_status = flow(remote, tmp_path)

    assert remote_status == local_status
    assert remote_status["stages"]["annotations"] == 40
    assert_same_rows(stage_tables(local), stage_tables(remote))
    got = stage_tables(remote)
    assert "quarantine/ingest" in got
    assert len([k for k in got if k.startswith("minhash/")]) == 2  # one part per ingest
    # The reprint ingested later joined its original's near-duplicate group.
    groups = {r["source_id"]: r["dup_group"] for r in got["articles"].to_pylist()}
    assert groups["reprint-1"] == groups["sample-001"] != groups["new-1"]
    # Everything went to the bucket: no data folder in the remote workspace, and no stray
    # temporary object left there.
    assert not (remote.root / "data").exists()
    listed = remote.data_dir.fs.find(f"{BUCKET}/flow/data")
    assert {Path(p).name for p in listed} >= {"articles.parquet", "annotations.parquet"}
    assert not [p for p in listed if Path(p).name.startswith(".")], listed
    # The releases (local in both) hold the same sentences.
    for split in ("train", "validation", "test"):
        rel = Path("releases/1.0.0/sentences") / f"{split}.parquet"
        if (local.root / rel).exists():
            assert pq.read_table(remote.root / rel).equals(pq.read_table(local.root / rel))
    cli("verify", "1.0.0", "-w", remote.root)
    assert "ingest" in cli("quarantine", "ingest", "-w", remote.root)
    # The readers of annotations and predictions: the same reports from the bucket.
    for command in (["agreement"], ["quality"]):
        assert cli(*command, "-w", remote.root) == cli(*command, "-w", local.root).replace(
            str(local.root), str(remote.root)
        )
    cli("report", "--release", "1.0.0", "-w", remote.root)
    assert (remote.root / "report" / "index.html").exists()
    assert "adjudicated annotations: 40 sentences" in " ".join(
        cli("train", "--name", "from-s3", "-w", remote.root).split()
    )


@pytest.mark.ray
def test_segment_with_ray_workers_reading_s3_equals_local(s3, ray_local, tmp_path):
    local = Workspace.init(tmp_path / "local")
    remote = Workspace.init(tmp_path / "remote", data=f"s3://{BUCKET}/ray/data")
    cli("ingest", SAMPLES, "-w", local.root)
    cli("ingest", SAMPLES, "--engine", "ray", "-w", remote.root)  # staged in the bucket
    assert read_table(remote.articles_path).equals(pq.read_table(local.articles_path))
    assert not list(remote.data_dir.glob(".*"))  # the staging folder is gone
    cli("segment", "-w", local.root)
    cli("segment", "--engine", "ray", "-w", remote.root)
    assert read_table(remote.sentences_path).equals(pq.read_table(local.sentences_path))


def test_an_absent_filesystem_package_is_one_line_saying_what_to_install(tmp_path, capsys):
    code, err = main_exit(["init", tmp_path / "ws", "--data", "gs://b/corpus"], capsys)
    assert code == 1
    line = one_error_line(err)
    assert "gs://b/corpus" in line and "gcsfs" in line
    assert not (tmp_path / "ws" / "corpus.toml").exists()  # nothing half-made


def test_a_missing_bucket_is_one_line_and_writes_nothing(s3, tmp_path, capsys):
    code, err = main_exit(["init", tmp_path / "ws", "--data", "s3://no-such-bucket/x"], capsys)
    assert code == 1
    assert "Bucket no-such-bucket of s3://no-such-bucket/x does not exist" in one_error_line(err)
    assert not (tmp_path / "ws" / "corpus.toml").exists()


def test_missing_credentials_and_an_unreachable_endpoint_are_one_line(
    s3, tmp_path, capsys, monkeypatch
):
    uri = f"s3://{BUCKET}/errors/data"
    ws = Workspace.init(tmp_path / "ws", data=uri)
    cli("ingest", SAMPLES, "-w", ws.root)

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _clear_clients()
    code, err = main_exit(["status", "-w", ws.root], capsys)
    assert code == 1
    line = one_error_line(err)
    assert f"No credentials to reach {uri}" in line and "AWS_ACCESS_KEY_ID" in line

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nobody there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _clear_clients()
    code, err = main_exit(["segment", "-w", ws.root], capsys)
    assert code == 1
    line = one_error_line(err)
    assert f"Cannot reach {uri}" in line and "AWS_ENDPOINT_URL" in line
    _clear_clients()


def test_init_refuses_to_repoint_an_existing_workspace(s3, tmp_path, capsys):
    Workspace.init(tmp_path / "ws")
    code, err = main_exit(["init", tmp_path / "ws", "--data", f"s3://{BUCKET}/x"], capsys)
    assert code == 1
    assert "already keeps its data in data, not s3://" in one_error_line(err)


def test_a_local_workspace_keeps_data_in_its_folder(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    assert ws.data_dir == ws.root / "data" and ws.data_dir.is_dir()
    assert not ws.data_remote
    elsewhere = Workspace.init(tmp_path / "ws2", data=str(tmp_path / "shared-data"))
    assert elsewhere.articles_path == tmp_path / "shared-data" / "articles.parquet"
    assert (tmp_path / "shared-data" / "quarantine").is_dir()


@pytest.mark.server
def test_push_reads_and_pull_writes_s3_data_through_label_studio(s3, ls_workspace):
    import httpx

    ws = ls_workspace
    ws.config = {**ws.config, "workspace": {**ws.config["workspace"], "data": f"s3://{BUCKET}/ls"}}
    ws.save_config()
    w = ("-w", ws.root)
    cli("ingest", SAMPLES, *w)
    cli("segment", *w)
    cli("prelabel", *w)
    cli("project", "create", *w)
    cli("project", "push", *w)  # reads sentences, predictions and articles from the bucket
    ws = Workspace.find(ws.root)
    pushed = read_table(ws.sentences_path).num_rows
    server = ws.read_state("server")
    http = httpx.Client(base_url=server["url"], trust_env=False, timeout=30,
                        headers={"Authorization": f"Token {server['api_key']}"})  # fmt: skip
    pid = ws.read_state("project")["project_id"]
    page = http.get("/api/tasks/", params={"project": pid, "page_size": 1000}).json()
    tasks = page["tasks"] if isinstance(page, dict) else page
    assert len(tasks) == pushed
    annotated = 0
    for task in tasks:
        if annotated == 3:
            break
        full = http.get(f"/api/tasks/{task['id']}").json()
        if full.get("predictions"):  # accept the pre-labels as they are
            result = full["predictions"][0]["result"]
            r = http.post(f"/api/tasks/{task['id']}/annotations/", json={"result": result})
            assert r.status_code == 201, r.text
            annotated += 1
    assert annotated == 3
    cli("pull", *w)  # writes annotations to the bucket
    assert read_table(ws.annotations_path).num_rows == 3
    assert not list((ws.root / "data").rglob("*.parquet"))  # made local by init, then unused
    cli("project", "push", *w)  # idempotent: the ledger and the bucket's files agree
    page = http.get("/api/tasks/", params={"project": pid, "page_size": 1000}).json()
    assert len(page["tasks"] if isinstance(page, dict) else page) == pushed
