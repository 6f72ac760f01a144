"""The embedded Label Studio server: its own virtual environment, data kept in the workspace.

Label Studio pins its own SDK and pyarrow, so it runs from `.venv-labelstudio/` (created on first
use by `scripts/setup-labelstudio`), never inside the project's environment. `start` launches it
on 127.0.0.1 on a free port with the admin user and API token created without prompts, waits
until the API answers with that token, and records url/pid/credentials in the workspace state
"server" (owner-only permissions). `stop` ends only the process it started.

The low-level pieces (`launch`, `wait_ready`, `terminate`) are shared with the test fixtures,
which start servers on copies of a migrated template data folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from corpus.errors import LabelStudioError
from corpus.workspace import REPO_ROOT, Workspace

LABEL_STUDIO_VERSION = "1.23.2"
STATE = "server"
ADMIN_USERNAME = "admin@corpus.localhost"
START_TIMEOUT = 300.0  # a first start runs the migrations (~22 s idle, much more on a busy box)

# Bare names Label Studio also reads (get_env tries LABEL_STUDIO_X, HEARTEX_X, then X), and
# prefixes of settings that would point the embedded server somewhere else (another database,
# another user's token). PYTHONPATH/PYTHONHOME would make it import the project's packages.
_STRIP_NAMES = {"USERNAME", "PASSWORD", "HOST", "PORT", "DEBUG", "PYTHONPATH", "PYTHONHOME"}
_STRIP_PREFIXES = ("LABEL_STUDIO_", "HEARTEX_", "DJANGO_", "POSTGRE_")


@dataclass
class ServerInfo:
    """What `corpus server start` records in the workspace state "server" (written 0600)."""

    url: str
    port: int
    pid: int | None
    username: str
    password: str
    api_key: str
    data_dir: str
    log_path: str
    version: str = LABEL_STUDIO_VERSION
    started_at: str = ""
    login_shown: bool = False  # the login is shown once: after the first successful start

    @classmethod
    def from_state(cls, state: dict) -> ServerInfo | None:
        if not state.get("api_key"):
            return None
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in state.items() if k in names})


# --- paths -------------------------------------------------------------------------------------


def server_venv() -> Path:
    """The server's virtual environment (override with CORPUS_LABEL_STUDIO_VENV)."""
    override = os.environ.get("CORPUS_LABEL_STUDIO_VENV")
    return Path(override) if override else REPO_ROOT / ".venv-labelstudio"


def label_studio_exe(venv: Path | None = None) -> Path:
    return (venv or server_venv()) / "bin" / "label-studio"


def data_dir(ws: Workspace) -> Path:
    """Label Studio's data folder (SQLite database with every annotation) inside the workspace."""
    return ws.state_dir / "label-studio"


def log_path(ws: Workspace) -> Path:
    return ws.state_dir / "label-studio.log"


def ensure_installed(echo: Callable[[str], None] = print) -> Path:
    """The `label-studio` executable, installing the server's venv on first use."""
    exe = label_studio_exe()
    if exe.exists():
        return exe
    script = REPO_ROOT / "scripts" / "setup-labelstudio"
    if not script.exists():
        raise LabelStudioError(
            f"The Label Studio server is not installed ({exe} is missing) and this copy of "
            "corpus is not a repository checkout, so it cannot install it.",
            hint=(
                f"Install it yourself: `python3 -m venv DIR && DIR/bin/pip install "
                f"label-studio=={LABEL_STUDIO_VERSION}`, then `export CORPUS_LABEL_STUDIO_VENV=DIR`; "
                "or use your own server with LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY."
            ),
        )
    echo(f"Installing Label Studio {LABEL_STUDIO_VERSION} into {exe.parent.parent} (first use)...")
    env = dict(os.environ, CORPUS_LABEL_STUDIO_VENV=str(server_venv()))
    proc = subprocess.run(["bash", str(script)], env=env, stdout=sys.stderr, stderr=sys.stderr)
    if proc.returncode != 0 or not exe.exists():
        raise LabelStudioError(
            f"Installing the Label Studio server failed (exit code {proc.returncode}).",
            hint=f"Run `{script}` yourself to see the error (it needs access to PyPI).",
        )
    return exe


# --- launching ---------------------------------------------------------------------------------


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether `port` on 127.0.0.1 can be listened on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server binds: connections of the last run still in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_env(
    data: Path, username: str, password: str, token: str, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The server process environment: ours, with stray settings it would also read removed."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k not in _STRIP_NAMES and not k.startswith(_STRIP_PREFIXES)
    }
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data),
        LABEL_STUDIO_USERNAME=username,
        LABEL_STUDIO_PASSWORD=password,
        LABEL_STUDIO_USER_TOKEN=token,
        # Legacy tokens are the only way to preset a token; honoured when the org is created.
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        PYTHONUNBUFFERED="1",
    )
    return env


def launch(
    data: Path,
    port: int,
    username: str,
    password: str,
    token: str,
    log: Path,
    exe: Path | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen:
    """Start `label-studio` in the background (its own session), logging to `log`.

    `die_with_parent` (tests): the kernel ends the server when the launching process dies, even
    if it is killed before it can clean up (Linux).
    """
    # Owner-only: the database holds the API token and every annotation.
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(exe or label_studio_exe()),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
        offset = out.seek(0, os.SEEK_END)
        out.write(f"\n--- corpus: starting {' '.join(cmd)} at {_now()} ---\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            env=server_env(data, username, password, token),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(data),
            start_new_session=True,  # survives the CLI; Ctrl-C in the shell does not reach it
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    proc.log_offset = offset  # type: ignore[attr-defined]
    return proc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


def log_tail(log: Path, lines: int = 25, since: int = 0) -> str:
    """The last `lines` lines of the log (written after byte `since`); reads at most 64 KB."""
    try:
        with open(log, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(since, size - 65536))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class PortTaken(Exception):
    """Label Studio found its port taken (it would move to the next one): pick another."""


def wait_ready(
    url: str,
    token: str,
    proc: subprocess.Popen | None,
    log: Path,
    timeout: float = START_TIMEOUT,
    username: str | None = None,
) -> str:
    """Poll until the API answers with `token`; returns the server version.

    Fails early if the process exits or Label Studio says the port was taken (it would silently
    move to the next port, where we would never find it).
    """
    deadline = time.monotonic() + timeout
    port = url.rsplit(":", 1)[-1]
    since = getattr(proc, "log_offset", 0)  # only this start's lines
    headers = {"Authorization": f"Token {token}"}
    last = "no answer yet"
    with httpx.Client(base_url=url, headers=headers, timeout=5.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise LabelStudioError(
                    f"Label Studio exited during start (exit code {proc.returncode}).\n"
                    f"Last lines of {log}:\n{log_tail(log, since=since)}",
                    url=url,
                    hint="Fix the problem shown in the log, then run `corpus server start` again.",
                )
            try:
                r = http.get("/api/current-user/whoami")
                if r.status_code == 200 and (username is None or r.json().get("email") == username):
                    v = http.get("/api/version/")
                    return v.json().get("release", "") if v.status_code == 200 else ""
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last = type(e).__name__
            if f"Port {port} is in use" in log_tail(log, 60, since):
                raise PortTaken(port)
            time.sleep(0.25)
    raise LabelStudioError(
        f"Label Studio did not answer within {timeout:.0f} s (last: {last}).\n"
        f"Last lines of {log}:\n{log_tail(log, since=since)}",
        url=url,
        hint="Run `corpus server stop` and `corpus server start` again; see the log for details.",
    )


def is_our_server(pid: int | None, data: Path) -> bool:
    """True when `pid` is a running label-studio whose data folder is `data`."""
    if not pid:
        return False
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        cmd = p.cmdline()
        if not any(Path(c).name == "label-studio" for c in cmd) or "start" not in cmd:
            return False
        try:
            return p.environ().get("LABEL_STUDIO_BASE_DATA_DIR") == str(data)
        except psutil.AccessDenied:
            return p.cwd() == str(data)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def terminate(pid: int, timeout: float = 15.0) -> None:
    """End process `pid` and its own children: SIGTERM, then SIGKILL after `timeout`."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


# --- the workspace's server --------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_info(ws: Workspace) -> ServerInfo | None:
    return ServerInfo.from_state(ws.read_state(STATE))


def _write_info(ws: Workspace, info: ServerInfo) -> None:
    ws.write_state(STATE, asdict(info), private=True)


def start(
    ws: Workspace, timeout: float = START_TIMEOUT, echo: Callable[[str], None] = print
) -> tuple[ServerInfo, str]:
    """Start (or find running) the workspace's server; returns (info, what happened).

    What happened: "created" (the first successful start: the caller shows the login, once),
    "started" (a restart on the existing data) or "running" (already up).
    """
    data = data_dir(ws)
    info = read_info(ws)
    if info and is_our_server(info.pid, Path(info.data_dir)):
        try:
            wait_ready(info.url, info.api_key, None, Path(info.log_path), timeout=30)
            return info, "running"
        except LabelStudioError:
            terminate(info.pid)  # running but not answering: restart it
    if info is None and (data / "label_studio.sqlite3").exists():
        raise LabelStudioError(
            f"{data} holds a Label Studio database but the workspace lost its login details "
            f"({ws.state_dir / (STATE + '.json')}).",
            hint=f"Restore that file, or move {data} aside to start a fresh server.",
        )
    exe = ensure_installed(echo)
    if info is None:
        info = ServerInfo(
            url="",
            port=0,
            pid=None,
            username=ADMIN_USERNAME,
            password=secrets.token_urlsafe(12),
            api_key=secrets.token_hex(20),  # Label Studio's token column holds 40 characters
            data_dir=str(data),
            log_path=str(log_path(ws)),
        )
    # Paths are re-derived on every start: the workspace folder may have moved.
    info.data_dir, info.log_path = str(data), str(log_path(ws))
    configured = int(ws.section("label_studio").get("port") or 0)
    # The port of the last start is kept while it is free: bookmarks and exported URLs stay valid.
    remembered = 0 if configured else int(info.port or 0)
    log = Path(info.log_path)
    for attempt in range(3):
        if configured:
            port = configured
        elif attempt == 0 and remembered and port_is_free(remembered):
            port = remembered
        else:
            port = free_port()
            if attempt == 0 and remembered:
                echo(f"note: port {remembered} (the last start's) is taken; using {port}")
        url = f"http://127.0.0.1:{port}"
        # Tests start servers from inside pytest: tie them to it so none outlives a killed run.
        tied = os.environ.get("CORPUS_SERVER_DIE_WITH_PARENT") == "1"
        proc = launch(data, port, info.username, info.password, info.api_key, log, exe, tied)
        # Record the pid before waiting, so `corpus server stop` can end a start that hangs.
        info.url, info.port, info.pid, info.started_at = url, port, proc.pid, _now()
        _write_info(ws, info)
        try:
            info.version = wait_ready(url, info.api_key, proc, log, timeout, info.username)
            how = "started" if info.login_shown else "created"
            info.login_shown = True
            _write_info(ws, info)
            return info, how
        except PortTaken:
            terminate(proc.pid)
            if configured or attempt == 2:
                raise LabelStudioError(
                    f"Port {port} on 127.0.0.1 is taken by another program.",
                    hint="Set `port = 0` under [label_studio] in corpus.toml to pick a free one.",
                ) from None
        except BaseException:
            terminate(proc.pid)
            info.pid = None
            _write_info(ws, info)
            raise
    raise AssertionError("unreachable")


def stop(ws: Workspace) -> bool:
    """Stop the workspace's server if it is running; True when a process was ended."""
    info = read_info(ws)
    if info is None:
        return False
    ended = False
    if is_our_server(info.pid, Path(info.data_dir)):
        terminate(info.pid)
        ended = True
    info.pid = None
    _write_info(ws, info)
    return ended


def status(ws: Workspace) -> dict:
    """Health and version of the workspace's server (no secrets in the result)."""
    info = read_info(ws)
    if info is None:
        return {"running": False, "installed": label_studio_exe().exists()}
    out = {
        "running": is_our_server(info.pid, Path(info.data_dir)),
        "url": info.url,
        "pid": info.pid,
        "data_dir": info.data_dir,
        "log": info.log_path,
        "username": info.username,
        "healthy": False,
        "version": None,
    }
    if out["running"]:
        try:
            with httpx.Client(base_url=info.url, timeout=5.0, trust_env=False) as http:
                h = http.get("/health/")
                v = http.get("/api/version/", headers={"Authorization": f"Token {info.api_key}"})
            out["healthy"] = h.status_code == 200
            out["version"] = v.json().get("release") if v.status_code == 200 else None
        except httpx.HTTPError as e:
            out["error"] = type(e).__name__
    return out


def copy_data_dir(template: Path, dest: Path) -> None:
    """Copy a migrated data folder (tests: one migration per session, a copy per test)."""
    shutil.copytree(template, dest, dirs_exist_ok=False)
