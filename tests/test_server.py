"""The embedded Label Studio: start/stop/status/env, credentials, process ownership."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict

import psutil
import pytest
from typer.testing import CliRunner

import corpus.cli
from corpus.errors import LabelStudioError
from corpus.labelstudio import server as srv
from corpus.workspace import Workspace

runner = CliRunner()


def cli(*args):
    return runner.invoke(corpus.cli.app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


# --- without a server ----------------------------------------------------------------------------


def test_server_env_strips_stray_settings_and_sets_ours(tmp_path):
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/x",
        "USERNAME": "someone",
        "PASSWORD": "hunter2",
        "HOST": "example.org",
        "PORT": "80",
        "DEBUG": "1",
        "PYTHONPATH": "/work/main/.venv/lib",
        "LABEL_STUDIO_API_KEY": "secret-of-another-server",
        "LABEL_STUDIO_URL": "http://other",
        "HEARTEX_PORT": "1",
        "DJANGO_DB": "default",
        "POSTGRE_HOST": "db",
    }
    env = srv.server_env(tmp_path, "admin@x", "pw", "tok123456", base=base)
    for gone in ("USERNAME", "PASSWORD", "HOST", "PORT", "DEBUG", "PYTHONPATH", "LABEL_STUDIO_URL",
                 "HEARTEX_PORT", "DJANGO_DB", "POSTGRE_HOST"):  # fmt: skip
        assert gone not in env
    assert env["LABEL_STUDIO_USER_TOKEN"] == "tok123456"
    assert "secret-of-another-server" not in env.values()
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/x"
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path)
    assert env["LABEL_STUDIO_USERNAME"] == "admin@x" and env["LABEL_STUDIO_PASSWORD"] == "pw"
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LATEST_VERSION_CHECK"] == "false" and env["COLLECT_ANALYTICS"] == "false"
    assert env["SENTRY_DSN"] == "" and env["FRONTEND_SENTRY_DSN"] == ""


def fake_label_studio(tmp_path, body: str):
    exe = tmp_path / "bin" / "label-studio"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body), encoding="utf-8")
    exe.chmod(0o755)
    return exe


def test_a_server_that_exits_during_start_is_reported_with_its_log(tmp_path):
    exe = fake_label_studio(
        tmp_path,
        "print('django.db.utils.OperationalError: database is locked')\nraise SystemExit(3)\n",
    )
    log = tmp_path / "ls.log"
    port = srv.free_port()
    proc = srv.launch(tmp_path / "data", port, "u@x", "pw", "tok123456", log, exe=exe)
    with pytest.raises(LabelStudioError) as e:
        srv.wait_ready(f"http://127.0.0.1:{port}", "tok123456", proc, log, timeout=30)
    msg = str(e.value)
    assert "exited during start (exit code 3)" in msg and "database is locked" in msg
    assert f"127.0.0.1:{port}" in msg and "corpus server start" in msg


def test_a_server_that_never_answers_times_out_with_the_log_tail(tmp_path):
    exe = fake_label_studio(tmp_path, "import time\nprint('Initializing database..', flush=True)\n"
                                      "time.sleep(60)\n")  # fmt: skip
    log = tmp_path / "ls.log"
    port = srv.free_port()
    proc = srv.launch(tmp_path / "data", port, "u@x", "pw", "tok123456", log, exe=exe)
    try:
        with pytest.raises(LabelStudioError) as e:
            srv.wait_ready(f"http://127.0.0.1:{port}", "tok123456", proc, log, timeout=1.5)
        assert "did not answer within 2 s" in str(e.value)
        assert "Initializing database.." in str(e.value)
    finally:
        srv.terminate(proc.pid)
    assert proc.poll() is not None


def test_a_taken_port_is_detected_instead_of_silently_moving(tmp_path):
    port = srv.free_port()
    exe = fake_label_studio(
        tmp_path, f"import time\nprint('* Port {port} is in use.', flush=True)\ntime.sleep(60)\n"
    )
    log = tmp_path / "ls.log"
    proc = srv.launch(tmp_path / "data", port, "u@x", "pw", "tok123456", log, exe=exe)
    try:
        with pytest.raises(srv.PortTaken):
            srv.wait_ready(f"http://127.0.0.1:{port}", "tok123456", proc, log, timeout=20)
    finally:
        srv.terminate(proc.pid)


def test_not_installed_outside_a_checkout_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(srv, "REPO_ROOT", tmp_path)  # as if installed from a wheel
    monkeypatch.setenv("CORPUS_LABEL_STUDIO_VENV", str(tmp_path / "no-venv"))
    with pytest.raises(LabelStudioError) as e:
        srv.ensure_installed(echo=lambda _: None)
    assert "not a repository checkout" in e.value.message
    assert "label-studio==1.23.2" in e.value.hint and "CORPUS_LABEL_STUDIO_VENV" in e.value.hint


def test_stop_never_ends_a_process_that_is_not_our_server(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info = srv.ServerInfo("http://127.0.0.1:1", 1, other.pid, "u", "p", "k" * 40,
                              str(srv.data_dir(ws)), str(srv.log_path(ws)))  # fmt: skip
        ws.write_state(srv.STATE, asdict(info), private=True)
        assert srv.stop(ws) is False
        time.sleep(0.2)
        assert other.poll() is None  # still running
        assert srv.read_info(ws).pid is None
        result = cli("server", "status", "-w", ws.root)
        assert result.exit_code == 1 and "stopped" in result.output
    finally:
        other.kill()
        other.wait()


def test_status_and_env_before_any_start(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    result = cli("server", "status", "-w", ws.root)
    assert result.exit_code == 1 and "never been started" in flat(result.output)
    with pytest.raises(SystemExit) as e:
        corpus.cli.main(["server", "env", "-w", str(ws.root)])
    assert e.value.code == 1


# --- with a real server ------------------------------------------------------------------------


@pytest.mark.server
def test_first_start_shows_the_login_once_and_keeps_secrets_private(ls_template):
    info, out = ls_template.info, flat(ls_template.start_output)
    assert ls_template.start_exit_code == 0
    assert f"Log in with {info.username} / {info.password}" in out
    assert "Label Studio 1.23.2 running at http://127.0.0.1:" in out
    assert info.api_key not in out  # the API key is never printed by start
    ws = ls_template.workspace
    state_file = ws.state_dir / "server.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(srv.data_dir(ws).stat().st_mode) == 0o700
    log = srv.log_path(ws)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert info.api_key not in log.read_text(encoding="utf-8", errors="replace")
    assert len(info.api_key) == 40 and len(info.password) >= 12
    assert info.pid is None  # the template server was stopped


@pytest.mark.server
def test_restart_status_env_and_stop(ls_template, tmp_path, monkeypatch):
    from corpus.labelstudio.client import LabelStudio

    # A workspace that ran `corpus server start` before: its data folder and login exist.
    ws = Workspace.init(tmp_path / "ws")
    shutil.copytree(ls_template.data_dir, srv.data_dir(ws))
    ws.write_state(srv.STATE, asdict(ls_template.info), private=True)
    monkeypatch.setenv("CORPUS_SERVER_DIE_WITH_PARENT", "1")  # none outlives a killed pytest
    old = {"project_id": 3, "url": "http://127.0.0.1:1/projects/3/data", "server": "embedded"}
    ws.write_state("project", old)
    # Stray settings in the user's shell must not reach the server.
    for name, value in {"USERNAME": "intruder@x", "PORT": "1", "DEBUG": "1",
                        "LABEL_STUDIO_API_KEY": "leak-leak-leak"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    try:
        result = cli("server", "start", "-w", ws.root)
        assert result.exit_code == 0, result.output
        out = flat(result.output)
        info = srv.read_info(ws)
        assert f"running at {info.url} (pid {info.pid})" in out
        assert "Log in with" not in out and info.password not in out  # shown once only
        assert srv.is_our_server(info.pid, srv.data_dir(ws))
        # The port changes per start: the recorded project URL follows it.
        assert ws.read_state("project")["url"] == f"{info.url}/projects/3/data"
        env = psutil.Process(info.pid).environ()
        assert "USERNAME" not in env and "PORT" not in env and "DEBUG" not in env
        assert "leak-leak-leak" not in env.values()
        assert env["LABEL_STUDIO_USERNAME"] == info.username

        again = cli("server", "start", "-w", ws.root)
        assert again.exit_code == 0 and "was already running" in flat(again.output)
        assert srv.read_info(ws).pid == info.pid

        status = cli("server", "status", "-w", ws.root)
        assert status.exit_code == 0, status.output
        s = flat(status.output)
        assert "running, healthy" in s and "1.23.2" in s and info.url in s
        assert info.password not in s and info.api_key not in s
        assert info.password in flat(cli("server", "status", "--login", "-w", ws.root).output)

        # `export` lines by default: `eval "$(corpus server env)"` reaches child processes.
        exported = cli("server", "env", "-w", ws.root).output.strip().splitlines()
        assert exported == [f"export LABEL_STUDIO_URL={info.url}",
                            f"export LABEL_STUDIO_API_KEY={info.api_key}"]  # fmt: skip
        env_out = cli("server", "env", "--no-export", "-w", ws.root)
        lines = env_out.output.strip().splitlines()
        assert lines == [f"LABEL_STUDIO_URL={info.url}", f"LABEL_STUDIO_API_KEY={info.api_key}"]
        # What `eval` gives a script is enough for the SDK to talk to the server.
        monkeypatch.setenv("LABEL_STUDIO_URL", lines[0].split("=", 1)[1])
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", lines[1].split("=", 1)[1])
        client = LabelStudio.connect(Workspace.init(tmp_path / "other"))
        assert client.origin == "env" and client.whoami()["email"] == info.username
        assert client.version() == "1.23.2"

        stopped = cli("server", "stop", "-w", ws.root)
        assert stopped.exit_code == 0 and "stopped" in stopped.output
        assert not psutil.pid_exists(info.pid) or psutil.Process(info.pid).status() == "zombie"
        assert cli("server", "status", "-w", ws.root).exit_code == 1
        assert "was not running" in cli("server", "stop", "-w", ws.root).output
        # A restart keeps the port (bookmarks and exported URLs stay valid).
        restarted = cli("server", "start", "-w", ws.root)
        assert restarted.exit_code == 0, restarted.output
        assert srv.read_info(ws).url == info.url
    finally:
        srv.stop(ws)
    with pytest.raises(SystemExit) as e:
        corpus.cli.main(["server", "env", "-w", str(ws.root)])
    assert e.value.code == 1


@pytest.mark.server
def test_lost_login_with_existing_database_is_a_clear_error(ls_template, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    shutil.copytree(ls_template.data_dir, srv.data_dir(ws))
    with pytest.raises(LabelStudioError) as e:
        srv.start(ws)
    assert "lost its login details" in e.value.message and "server.json" in e.value.message
    assert os.listdir(srv.data_dir(ws))  # nothing was deleted
