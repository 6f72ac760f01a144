"""`--engine ray` through the real command line, joining a separate Ray cluster started with
`ray start --head` (as a team with a cluster does), against the local pool in a twin workspace.

The cluster is started once for this module, in its own session, temp dir, ports and auth token
(never the in-process `ray_local` one), and stopped by its process group: `ray stop` would stop
every Ray on the machine, other test sessions' included.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import corpus.cli
from corpus.bundled import sample_articles
from corpus.workspace import Workspace
from tests.pullkit import export_from
from tests.trainkit import make_examples, write_annotations

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TIMINGS: dict[str, dict[str, float]] = {"local": {}, "ray": {}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_pids(pgid: int, temp_dir: str) -> list[int]:
    """Live processes of the cluster: its process group, or its temp dir on their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and (int(fields[2]) == pgid or temp_dir in cmd):
            found.append(int(entry.name))
    return found


class Cluster:
    def __init__(self, address: str, env: dict[str, str], temp_dir: str):
        self.address, self.env, self.temp_dir = address, env, temp_dir


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head on this machine (2 CPUs, token auth, as Ray >= 2.59 sets up by default)."""
    pytest.importorskip("ray")
    # Short: Ray's socket paths under it must stay within the 107-byte limit of Unix sockets.
    temp_dir = tempfile.mkdtemp(prefix="corpus-ray-", dir="/tmp")
    token = Path(temp_dir) / "token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.pop("PYTHONPATH", None)  # the workers get `corpus` from the driver, not from here
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    port = free_port()
    cmd = [str(BIN / "ray"), "start", "--head", "--num-cpus", "2", "--port", str(port),
           "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir,
           "--dashboard-port", str(free_port()),
           "--dashboard-agent-listen-port", str(free_port())]  # fmt: skip
    # Its own session: every daemon it leaves running is in this process group.
    start = subprocess.Popen(
        cmd, env=env, cwd=temp_dir, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    pgid = start.pid
    try:
        out, _ = start.communicate(timeout=90)
        assert start.returncode == 0, out
        yield Cluster(f"127.0.0.1:{port}", env, temp_dir)
    finally:
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + wait
            while cluster_pids(pgid, temp_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
        left = cluster_pids(pgid, temp_dir)
        for pid in left:  # started outside the group: still this cluster's (its temp dir)
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"processes of the test cluster were left running: {left}"


def corpus_cli(*args, env: dict[str, str], cwd: Path, timeout: float = 240):
    """The installed `corpus` script in its own process, from `cwd` (as a user runs it)."""
    env = {**env, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    t = time.perf_counter()
    r = subprocess.run(
        [str(BIN / "corpus"), *map(str, args)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    r.seconds = time.perf_counter() - t
    return r


def data_files(ws: Path) -> dict[str, Path]:
    return {str(p.relative_to(ws)): p for p in sorted((ws / "data").rglob("*.parquet"))}


def same_data(a: Path, b: Path) -> None:
    """Every data file of workspace `a` equals `b`'s, row by row and byte for byte."""
    fa, fb = data_files(a), data_files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        ta, tb = pq.read_table(fa[name]), pq.read_table(fb[name])
        assert ta.schema == tb.schema, name
        assert ta.num_rows == tb.num_rows, name
        for i, (ra, rb) in enumerate(zip(ta.to_pylist(), tb.to_pylist(), strict=True)):
            assert ra == rb, f"{name}: row {i} differs"
        assert fa[name].read_bytes() == fb[name].read_bytes(), name


@pytest.fixture(scope="module")
def twins(tmp_path_factory, ray_cluster):
    """Two workspaces with the same sources and model: one for the local pool, one for Ray."""
    root = tmp_path_factory.mktemp("twins")
    extra = root / "extra.jsonl"  # rows the ingest quarantines, so that file is compared too
    rows = [{"id": "short", "text": "قصير"}, {"id": "en", "text": "An English story " * 5}, {}]
    extra.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    spaces = {}
    for kind in ("local", "ray"):
        ws = Workspace.init(root / kind)
        write_annotations(ws, make_examples(120, seed=1))
        spaces[kind] = ws.root
    try:
        corpus.cli.main(["train", "--name", "ner", "--workspace", str(spaces["local"])])
    except SystemExit as e:
        assert not e.code
    shutil.copytree(spaces["local"] / "models", spaces["ray"] / "models")
    return spaces, [sample_articles(), extra]


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_every_stage_on_a_joined_cluster_writes_what_the_local_pool_writes(ray_cluster, twins):
    spaces, sources = twins
    on_ray = ["--engine", "ray", "--ray-address", ray_cluster.address]
    via_env = {**ray_cluster.env, "RAY_ADDRESS": ray_cluster.address}
    steps = [
        ("ingest", ["ingest", *sources], on_ray, ray_cluster.env),
        ("segment", ["segment"], ["--engine", "ray"], via_env),
        # The model stage (a class UDF loading its CRF once per actor) is the harder case; the
        # lexicon is the same stage class with another resource.
        ("prelabel model", ["prelabel", "-p", "model:ner"], on_ray, ray_cluster.env),
    ]
    for name, args, engine, env in steps:
        local = corpus_cli(*args, "-j", "2", env=ray_cluster.env, cwd=spaces["local"])
        assert local.returncode == 0, local.stdout + local.stderr
        ray = corpus_cli(*args, *engine, env=env, cwd=spaces["ray"])
        assert ray.returncode == 0, ray.stdout + ray.stderr
        assert ray.stderr.strip() == "", ray.stderr  # none of Ray's own chatter
        TIMINGS["local"][name], TIMINGS["ray"][name] = local.seconds, ray.seconds
        same_data(spaces["local"], spaces["ray"])
    # Publish builds its tokens, events and documents rows on the cluster: the same release.
    for kind in ("local", "ray"):
        ws = Workspace.load(spaces[kind])
        ws.annotations_path.unlink()  # the model's training rows: the export is the annotation
        export = export_from(ws, spaces[kind].parent / f"export-{kind}.json")
        done = corpus_cli("pull", "--from-export", export, "--project", 1, env=ray_cluster.env,
                          cwd=spaces[kind])  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    # Annotator pseudonyms are keyed per workspace: both releases come from the Ray twin.
    publish = ["publish", "--no-baseline"]
    where = {"env": ray_cluster.env, "cwd": spaces["ray"]}
    local = corpus_cli(*publish, "1.0.0", "-j", "2", **where)
    assert local.returncode == 0, local.stdout + local.stderr
    ray = corpus_cli(*publish, "1.0.1", *on_ray, **where)
    assert ray.returncode == 0, ray.stdout + ray.stderr
    assert "error" not in ray.stderr.lower(), ray.stderr
    TIMINGS["local"]["publish"], TIMINGS["ray"]["publish"] = local.seconds, ray.seconds
    released = {
        version: {
            str(p.relative_to(spaces["ray"] / "releases" / version)): p.read_bytes()
            for p in sorted((spaces["ray"] / "releases" / version).rglob("*.parquet"))
        }
        for version in ("1.0.0", "1.0.1")
    }
    configs = {k.split("/")[0] for k in released["1.0.1"]}
    assert configs == {"sentences", "tokens", "events", "documents"}
    assert released["1.0.0"] == released["1.0.1"]
    assert not list((spaces["ray"] / ".corpus").glob("publish-staging-*"))
    preds = pq.read_table(spaces["ray"] / "data" / "predictions.parquet").to_pylist()
    assert {r["model_version"].split("+")[0] for r in preds} == {"model:ner@v1"}
    assert pq.read_table(spaces["ray"] / "data" / "quarantine" / "ingest.parquet").num_rows == 4
    # The workers ran the driver's `corpus`, shipped to the node (Ray's runtime env).
    shipped = list(
        Path(ray_cluster.temp_dir).glob("session_*/runtime_resources/py_modules_files/*")
    )
    assert shipped, "no py_modules package on the node"
    print(
        "\n".join(
            f"{n}: local pool -j 2 {TIMINGS['local'][n]:.1f} s, ray cluster {TIMINGS['ray'][n]:.1f} s"
            for n in TIMINGS["ray"]
        )
    )


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_a_wrong_address_or_a_missing_token_is_one_clear_line(ray_cluster, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    src = sample_articles()
    # Nothing listens there: at once, not after Ray's minutes of retries.
    r = corpus_cli("ingest", src, "--engine", "ray", "--ray-address", f"127.0.0.1:{free_port()}",
                   env=ray_cluster.env, cwd=ws.root)  # fmt: skip
    assert r.returncode == 1 and r.seconds < 15, (r.seconds, r.stderr)
    assert r.stderr.splitlines()[0].startswith("error: No Ray cluster answers at 127.0.0.1:")
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 2  # error + hint
    # Something that is not a Ray head listens there (it never answers).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        mute = s.getsockname()[1]
        r = corpus_cli("ingest", src, "--engine", "ray", "--ray-address",
                       f"127.0.0.1:{mute}", env=ray_cluster.env, cwd=ws.root)  # fmt: skip
    assert r.returncode == 1 and r.seconds < 20, (r.seconds, r.stderr)
    assert r.stderr.startswith(f"error: No Ray cluster answers at 127.0.0.1:{mute}")
    # The cluster wants its token and the command has none.
    # (Ray's join retries, bounded at 10 s by the command, bounded shorter by the user here.)
    no_token = {k: v for k, v in ray_cluster.env.items() if not k.startswith("RAY_AUTH")}
    no_token["RAY_gcs_server_port_wait_time_s"] = "3"
    r = corpus_cli("ingest", src, "--engine", "ray", "--ray-address", ray_cluster.address,
                   env=no_token, cwd=ws.root)  # fmt: skip
    assert r.returncode == 1 and r.seconds < 20, (r.seconds, r.stderr)
    assert r.stderr.splitlines()[0] == (
        f"error: The Ray cluster at {ray_cluster.address} refused this command: it needs its token."
    )
    assert "RAY_AUTH_MODE=token" in r.stderr and len(r.stderr.splitlines()) == 2
    assert not ws.articles_path.exists()  # nothing half-written


def test_engine_ray_without_ray_installed_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(SystemExit) as e:
        corpus.cli.main(["ingest", str(sample_articles()), "--engine", "ray", "-w", str(ws.root)])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "error: --engine ray needs Ray, which is not installed.",
        "hint: Install the extra: pip install 'corpus[ray]'.",
    ]
    assert not ws.articles_path.exists()


def test_engine_options_decorator_needs_its_marker():
    from corpus.cli.app import engine_options

    def command(workspace: str | None = None) -> None: ...

    with pytest.raises(TypeError, match="engine: Engine = ENGINE_OPTIONS"):
        engine_options(command)
