"""Usage errors and typed errors are one clear line with an honest exit code (issue 11, 12-15).

Representative cases go through the real entry point (`python -m corpus` in a subprocess);
the rest through `corpus.cli.main`, the one place that maps errors to exit codes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import corpus.cli
from corpus.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def real(*args, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m corpus ARGS` in its own process."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "corpus", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def main_exit(args, capsys) -> tuple[int, str, str]:
    """Run `corpus.cli.main(args)`: (exit code, stdout, stderr)."""
    try:
        corpus.cli.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert all(x.startswith(("error: ", "hint: ")) for x in lines), err
    return lines[0]


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


@pytest.mark.parametrize(
    "args, says",
    [
        (["bogus"], "No such command 'bogus'"),
        (["ingest"], "Missing argument"),
        (["status", "--bogus"], "No such option: --bogus"),
        (["segment", "--max-chars", "abc"], "--max-chars"),
    ],
)
def test_usage_errors_through_the_real_entry_point(args, says, ws):
    r = real(*args, env={"CORPUS_WORKSPACE": str(ws.root)})
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert says in line
    assert "--help" in r.stderr  # says where to look


def test_typed_error_through_the_real_entry_point_exits_1(tmp_path):
    r = real("status", cwd=tmp_path)
    assert r.returncode == 1
    assert "No corpus workspace" in one_error_line(r.stderr)


def test_flags_show_plainly_in_help():
    r = real("pull", "--help")
    assert r.returncode == 0
    assert "--full" in r.stdout and "<bool>" not in r.stdout
    assert "Usage: corpus pull" in r.stdout


def test_server_status_exits_1_when_never_started(ws, capsys):
    code, out, _ = main_exit(["server", "status", "-w", ws.root], capsys)
    assert code == 1 and "never been started" in out
    r = real("server", "status", "-w", ws.root)
    assert r.returncode == 1


def test_markup_in_messages_is_not_interpreted(tmp_path, capsys):
    odd = tmp_path / "[bold]x"
    odd.mkdir()
    code, _, err = main_exit(["status", "-w", odd], capsys)
    assert code == 1 and "[bold]x" in err


def test_quarantine_of_an_unknown_stage_is_an_error(ws, capsys):
    code, _, err = main_exit(["quarantine", "bogus", "-w", ws.root], capsys)
    assert code == 1 and "No stage 'bogus'" in one_error_line(err) and "ingest" in err
    code, out, _ = main_exit(["quarantine", "pull", "-w", ws.root], capsys)
    assert code == 0 and "No quarantined rows for pull" in out


def test_quarantine_rows_are_shown_as_data_not_markup(ws, capsys):
    from corpus.quarantine import Quarantine
    from corpus.types import QuarantinedRow

    q = Quarantine(ws.quarantine_dir, "ingest")
    q.add(QuarantinedRow(source="[red]feed[/red].jsonl", location="line 3", reason="bad [b]x[/b]"))
    q.flush()
    code, out, _ = main_exit(["quarantine", "ingest", "-w", ws.root], capsys)
    assert code == 0 and "[red]feed[/red].jsonl" in out and "[b]x[/b]" in out


def test_markup_in_a_workspace_path_is_printed_as_is(tmp_path, capsys):
    """A folder named "a[" inside which is "x]": the path holds "[/x]", a closing markup tag."""
    import json

    root = tmp_path / "a[" / "x]" / "[bold]ws"
    src = tmp_path / "s.jsonl"
    text = "قُتل خمسة مدنيين وأصيب عشرة آخرون في قصف على مدينة إدلب صباح الأحد. وقال مسؤول إن القصف استهدف السوق."
    src.write_text(json.dumps({"id": "1", "text": text}, ensure_ascii=False) + "\n", "utf-8")
    for args in (["init", root], ["ingest", src, "-w", root], ["segment", "-w", root],
                 ["prelabel", "-w", root], ["status", "-w", root]):  # fmt: skip
        code, out, err = main_exit(args, capsys)
        assert code == 0, (args, err)
        assert "Traceback" not in err
    assert str(root / "data") in "".join(out.split("\n")) or "[bold]ws" in out
