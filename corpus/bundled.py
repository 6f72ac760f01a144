"""Files shipped inside the package (ontology, labeling config, lexicon, sample articles), found
through `importlib.resources`, so an installed wheel finds them as an editable checkout does.

`annotation_configs/` at the repository's top level is the editable source of truth for the
ontology; `corpus/resources/annotation_configs/` is its packaged copy (tests/test_packaging.py
keeps the two identical).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from corpus.errors import CorpusError

ONTOLOGY_NAME = "conflict_events.yaml"


def resource(*parts: str) -> Path:
    """A file or folder of the package's data, as a filesystem path; a clear error if missing."""
    path = Path(str(files("corpus").joinpath("resources", *parts)))
    if not path.exists():
        raise CorpusError(
            f"The installed corpus package has no {'/'.join(parts)} (looked in {path}).",
            "Reinstall it (pip install --force-reinstall corpus); a build must include "
            "corpus/resources as package data.",
        )
    return path


def ontology_file() -> Path:
    """The bundled ontology YAML (copied into each new workspace)."""
    return resource("annotation_configs", ONTOLOGY_NAME)


def annotation_configs_dir() -> Path:
    return resource("annotation_configs")


def lexicon_dir() -> Path:
    """The lexicon pre-labeler's resource files."""
    return resource("prelabel")


def sample_articles() -> Path:
    """The bundled fictional sample articles (JSONL)."""
    path = Path(str(files("corpus").joinpath("samples", "articles.jsonl")))
    if not path.exists():
        raise CorpusError(f"The installed corpus package has no sample articles ({path}).")
    return path
