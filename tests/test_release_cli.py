"""`corpus publish`, `corpus verify`, `corpus diff` through the command line; `--to` with local
and in-memory fsspec targets; `--hub` against a stand-in for huggingface_hub (the Hub itself is
not reachable from here)."""

from __future__ import annotations

import json
import sys
import types

import pytest
from test_publish import build_workspace  # noqa: E402  (tests/ is on sys.path)
from typer.testing import CliRunner

import corpus.cli
from corpus.publish.release import verify

runner = CliRunner()


@pytest.fixture
def ws(tmp_path):
    return build_workspace(tmp_path / "ws", n_articles=24).ws  # 24: every split gets groups


def run(*args):
    result = runner.invoke(corpus.cli.app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def run_main(capsys, *args) -> tuple[int, str, str]:
    """Through `main`, which turns typed errors into a message and an exit code."""
    with pytest.raises(SystemExit) as e:
        corpus.cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    # rich wraps long lines at the terminal width: compare with whitespace normalised
    return e.value.code, " ".join(out.split()), " ".join(err.split())


def test_publish_verify_and_diff(ws, capsys):
    r = run("publish", "1.0.0", "--message", "first cut", "--workspace", ws.root)
    assert r.exit_code == 0, r.output
    assert "release 1.0.0" in r.output and "sentences" in r.output and "Published" in r.output
    # 24 articles x 4 entities + 9 in the special article; 1 nested span cannot be tagged
    assert "entities: 105 spans, 2 with an edge inside a token, 1 dropped" in r.output
    assert "left out 1 sentences marked noise" in r.output
    assert (ws.releases_dir / "1.0.0" / "manifest.json").is_file()

    r = run("verify", "1.0.0", "--workspace", ws.root)
    n_files = len(json.loads((ws.releases_dir / "1.0.0" / "manifest.json").read_text())["files"])
    assert r.exit_code == 0
    assert f"✓ release 1.0.0: {n_files} files verified" in r.output.replace("\n", " ")

    code, _, err = run_main(capsys, "publish", "1.0.0", "--workspace", ws.root)
    assert code == 1 and "Release 1.0.0 already exists" in err and "immutable" in err

    r = run("publish", "1.1.0", "-m", "same data", "--workspace", ws.root)
    assert r.exit_code == 0 and "since 1.0.0: +0 added, -0 removed, 0 relabelled" in r.output

    r = run("diff", "1.0.0", "1.1.0", "--workspace", ws.root)
    assert r.exit_code == 0, r.output
    assert "1.0.0 -> 1.1.0: 0 added, 0 removed, 0 relabelled, 0 changed split" in r.output
    assert "Conflict.Attack" in r.output

    r = run("diff", ws.releases_dir / "1.0.0", ws.releases_dir / "1.1.0", "--json")
    data = json.loads(r.output)
    assert data["added"] == 0 and data["label_counts"]["entities"]["ORG"]["delta"] == 0


def test_verify_reports_a_tampered_release(ws, capsys):
    assert run("publish", "1.0.0", "--workspace", ws.root).exit_code == 0
    f = ws.releases_dir / "1.0.0" / "sentences" / "train.parquet"
    f.chmod(0o644)  # read-only after publish (root could write anyway)
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    code, _, err = run_main(capsys, "verify", "1.0.0", "--workspace", ws.root)
    assert code == 1
    assert "sentences/train.parquet: sha256 differs from the manifest" in err
    assert "failed verification" in err and "publish a new version" in err


def test_bad_versions_and_missing_releases(ws, capsys):
    code, _, err = run_main(capsys, "publish", "v1", "--workspace", ws.root)
    assert code == 1 and "'v1' is not a semantic version" in err and "MAJOR.MINOR.PATCH" in err
    code, _, err = run_main(capsys, "verify", "9.9.9", "--workspace", ws.root)
    assert code == 1 and "No release 9.9.9" in err and "corpus publish 9.9.9" in err
    assert list(ws.releases_dir.iterdir()) == []


def test_publish_to_a_local_target_copies_a_verified_release(ws, tmp_path, capsys):
    target = tmp_path / "bucket" / "corpus"
    r = run("publish", "1.0.0", "--to", target, "--workspace", ws.root)
    assert r.exit_code == 0, r.output
    assert "Copied to" in r.output and "checksums verified" in r.output
    copy = target / "1.0.0"
    assert verify(copy).ok
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        p.name for p in (ws.releases_dir / "1.0.0").iterdir()
    )
    # The copy is loadable as it is.
    from datasets import load_dataset

    ds = load_dataset(str(copy), "tokens", cache_dir=str(tmp_path / "cache"))
    assert sum(len(ds[s]) for s in ds) == 24 * 2 + 4
    # A copy is never overwritten.
    code, _, err = run_main(capsys, "verify", "1.0.0", "--to", target, "--workspace", ws.root)
    assert code == 1 and "already exists" in err


def test_copy_to_an_fsspec_memory_target(ws):
    import fsspec

    from corpus.publish.build import publish
    from corpus.publish.release import copy_release

    rep = publish(ws, "1.0.0")
    url = copy_release(rep.path, "memory://releases/arabic")
    assert url == "memory://releases/arabic/1.0.0"
    fs = fsspec.filesystem("memory")
    names = {p.split("/1.0.0/", 1)[1] for p in fs.find("/releases/arabic/1.0.0")}
    assert names == set(rep.manifest["files"]) | {"manifest.json"}
    with fs.open("/releases/arabic/1.0.0/manifest.json") as f:
        assert json.load(f)["version"] == "1.0.0"
    fs.rm("/releases", recursive=True)


def test_copy_refuses_a_release_that_does_not_verify(ws, tmp_path, capsys):
    assert run("publish", "1.0.0", "--workspace", ws.root).exit_code == 0
    (ws.releases_dir / "1.0.0" / "README.md").chmod(0o644)
    (ws.releases_dir / "1.0.0" / "README.md").write_text("edited", encoding="utf-8")
    code, _, err = run_main(
        capsys, "verify", "1.0.0", "--to", tmp_path / "t", "--workspace", ws.root
    )
    assert code == 1 and "README.md: sha256 differs" in err
    assert not (tmp_path / "t").exists()


class FakeHfApi:
    """Records what push_to_hub asks of huggingface_hub.HfApi."""

    calls: list = []
    tags: list[str] = []

    def __init__(self, token=None):
        self.calls.append(("init", token))

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        self.calls.append(("create_repo", repo_id, repo_type, exist_ok))

    def list_repo_refs(self, repo_id, repo_type):
        return types.SimpleNamespace(tags=[types.SimpleNamespace(name=t) for t in self.tags])

    def upload_folder(self, repo_id, repo_type, folder_path, commit_message):
        self.calls.append(("upload_folder", repo_id, repo_type, folder_path, commit_message))
        return types.SimpleNamespace(oid="abc123")

    def create_tag(self, repo_id, tag, repo_type, revision, tag_message):
        self.calls.append(("create_tag", repo_id, tag, repo_type, revision))
        self.tags.append(tag)


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHfApi.calls, FakeHfApi.tags = [], []
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(HfApi=FakeHfApi))
    return FakeHfApi


def test_hub_push_uploads_the_release_and_tags_the_version(ws, fake_hub, capsys):
    r = run("publish", "1.0.0", "--hub", "org/arabic-events", "--workspace", ws.root)
    assert r.exit_code == 0, r.output
    assert "Pushed to the Hub" in r.output and "tag 1.0.0" in r.output
    release = str(ws.releases_dir / "1.0.0")
    assert fake_hub.calls[1:] == [
        ("create_repo", "org/arabic-events", "dataset", True),
        ("upload_folder", "org/arabic-events", "dataset", release, "Release 1.0.0"),
        ("create_tag", "org/arabic-events", "1.0.0", "dataset", "abc123"),
    ]
    # The same version is never pushed twice.
    code, _, err = run_main(
        capsys, "verify", "1.0.0", "--hub", "org/arabic-events", "--workspace", ws.root
    )
    assert code == 1 and "already has a tag 1.0.0" in err


def test_hub_without_huggingface_hub_is_a_clear_error(ws, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    assert run("publish", "1.0.0", "--workspace", ws.root).exit_code == 0
    code, _, err = run_main(capsys, "verify", "1.0.0", "--hub", "org/x", "--workspace", ws.root)
    assert code == 1 and "--hub needs the huggingface_hub package" in err
    assert "pip install huggingface_hub" in err


def test_hub_errors_say_how_to_retry(ws, fake_hub, monkeypatch, capsys):
    def fail(self, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(FakeHfApi, "upload_folder", fail)
    code, _, err = run_main(capsys, "publish", "1.0.0", "--hub", "org/x", "--workspace", ws.root)
    assert code == 1 and "Name or service not known" in err
    assert "corpus verify 1.0.0 --hub org/x" in err
    assert (ws.releases_dir / "1.0.0").is_dir()  # the local release stays complete


def test_every_command_has_help_with_an_example():
    for cmd in ("publish", "verify", "diff"):
        r = runner.invoke(corpus.cli.app, [cmd, "--help"])
        assert r.exit_code == 0 and "Example: corpus " + cmd in r.output
    r = runner.invoke(corpus.cli.app, ["publish", "--help"])
    for opt in ("--message", "--to", "--hub", "--workspace"):
        assert opt in r.output
