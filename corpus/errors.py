"""Typed errors that carry data; the CLI turns them into friendly messages in one place."""

from __future__ import annotations


class CorpusError(Exception):
    """Base class: `message` says what is wrong, `hint` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class WorkspaceNotFound(CorpusError):
    def __init__(self, start: str):
        super().__init__(
            f"No corpus workspace (corpus.toml) found in {start} or any parent folder.",
            "Run `corpus init DIR` to create one, or pass `--workspace DIR`.",
        )
        self.start = start


class WorkspaceConfigError(CorpusError):
    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}", "Fix the file (see README: corpus.toml).")
        self.path = path


class StageInputMissing(CorpusError):
    """A stage was run before the stage it reads from."""

    def __init__(self, path: str, command: str):
        super().__init__(f"{path} does not exist yet.", f"Run `{command}` first.")
        self.path = path
        self.command = command


class SourceError(CorpusError):
    """An input source cannot be read at all (as opposed to a bad row inside it)."""

    def __init__(self, source: str, problem: str, hint: str | None = None):
        super().__init__(f"Cannot read source {source}: {problem}", hint)
        self.source = source


class OntologyError(CorpusError):
    def __init__(self, path: str, problem: str):
        super().__init__(f"Ontology {path}: {problem}", "Fix the ontology YAML file.")
        self.path = path


class LabelStudioError(CorpusError):
    """Any failure talking to Label Studio; `url` names the server."""

    def __init__(self, message: str, url: str | None = None, hint: str | None = None):
        super().__init__(message if not url else f"{message} (Label Studio at {url})", hint)
        self.url = url


class ReleaseError(CorpusError):
    pass
