"""Workspace discovery, init and the CLI's error reporting."""

import tomllib

import pytest
from typer.testing import CliRunner

from corpus.cli import app, main
from corpus.errors import WorkspaceNotFound
from corpus.workspace import Workspace

runner = CliRunner()


def test_init_creates_layout_and_config(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "ws"), "--name", "demo"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "ws"
    cfg = tomllib.loads((root / "corpus.toml").read_text())
    assert cfg["workspace"]["name"] == "demo"
    assert cfg["workspace"]["language"] == "ar"
    assert abs(sum(cfg["splits"][k] for k in ("train", "validation", "test")) - 1) < 1e-9
    assert "seed" in cfg["splits"] and "label_studio" in cfg and "ontology" in cfg
    for d in ("data", "releases", "data/quarantine"):
        assert (root / d).is_dir()
    assert (root / cfg["ontology"]["path"]).is_file()


def test_init_keeps_an_existing_config(tmp_path):
    Workspace.init(tmp_path, name="first")
    Workspace.init(tmp_path, name="second")
    assert Workspace.load(tmp_path).config["workspace"]["name"] == "first"


def test_find_searches_upward(tmp_path):
    Workspace.init(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert Workspace.find(deep).root == tmp_path.resolve()


def test_find_fails_clearly_outside_a_workspace(tmp_path):
    with pytest.raises(WorkspaceNotFound):
        Workspace.find(tmp_path)


def test_cli_reports_missing_workspace_with_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CORPUS_WORKSPACE", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["status"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "No corpus workspace" in err and "corpus init" in err


def test_workspace_option_and_broken_config(tmp_path, capsys):
    Workspace.init(tmp_path)
    result = runner.invoke(app, ["status", "--workspace", str(tmp_path), "--json"])
    assert result.exit_code == 0 and '"stages": {}' in result.output
    (tmp_path / "corpus.toml").write_text("this is [not toml")
    with pytest.raises(SystemExit) as e:
        main(["status", "--workspace", str(tmp_path)])
    assert e.value.code == 1
    assert "not valid TOML" in capsys.readouterr().err


def test_every_command_has_help():
    import click
    import typer.main

    group = typer.main.get_command(app)
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd.help, f"command {name} has no help text"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name


def test_config_edits_do_not_leak_into_defaults(tmp_path):
    from corpus.workspace import DEFAULT_CONFIG

    ws = Workspace.init(tmp_path)
    ws.config["segment"]["max_sentence_chars"] = 123
    assert DEFAULT_CONFIG["segment"]["max_sentence_chars"] == 0
    assert Workspace.init(tmp_path / "other").config["segment"]["max_sentence_chars"] == 0
