"""Release hygiene: read-only files after publish (and in local copies), a warning when a new
version changes nothing, a warning when `diff` gets its versions in reverse order."""

from __future__ import annotations

import stat

from test_publish import build_workspace  # noqa: E402  (tests/ is on sys.path)
from test_release_cli import run  # noqa: E402

from corpus.publish.build import publish
from corpus.publish.release import diff, verify

WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def _writable(root):
    return [p for p in [root, *root.rglob("*")] if p.stat().st_mode & WRITE]


def test_a_release_and_its_local_copy_are_read_only_and_still_verify(tmp_path):
    ws = build_workspace(tmp_path / "ws", n_articles=4).ws
    target = tmp_path / "bucket"
    r = run("publish", "1.0.0", "--to", target, "--workspace", ws.root)
    assert r.exit_code == 0, r.output
    assert "(read-only)" in r.output
    for rel in (ws.releases_dir / "1.0.0", target / "1.0.0"):
        assert _writable(rel) == []
        assert verify(rel).ok
    assert run("verify", "1.0.0", "--workspace", ws.root).exit_code == 0
    # The releases folder itself stays writable: the next version can be published.
    assert publish(ws, "1.0.1").path.is_dir()


def test_publishing_unchanged_data_warns(tmp_path, capsys):
    ws = build_workspace(tmp_path / "ws", n_articles=4).ws
    first = publish(ws, "1.0.0")
    assert first.warnings == []
    code = run("publish", "1.0.1", "--workspace", ws.root)
    assert code.exit_code == 0
    assert "warning: Nothing changed since 1.0.0" in " ".join(code.output.split())


def test_diff_warns_when_versions_are_reversed(tmp_path, capsys):
    ws = build_workspace(tmp_path / "ws", n_articles=4).ws
    publish(ws, "1.0.0")
    publish(ws, "1.1.0")
    assert diff(ws.releases_dir / "1.0.0", ws.releases_dir / "1.1.0").warnings == []
    rep = diff(ws.releases_dir / "1.1.0", ws.releases_dir / "1.0.0")
    assert rep.warnings and "1.1.0 is newer than 1.0.0" in rep.warnings[0]
    r = run("diff", "1.1.0", "1.0.0", "--workspace", ws.root)
    assert r.exit_code == 0
    out = " ".join(r.output.split())
    assert "warning: 1.1.0 is newer than 1.0.0" in out and "corpus diff 1.0.0 1.1.0" in out
