"""Package data: the ontology, its labeling config, the lexicon and the samples ship in the wheel
and are found through importlib.resources; a workspace made by an installed wheel has its
ontology."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from corpus.bundled import annotation_configs_dir, lexicon_dir, ontology_file, sample_articles
from corpus.workspace import REPO_ROOT

TOP_LEVEL = REPO_ROOT / "annotation_configs"
SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".hypothesis", "data", "releases",
)  # fmt: skip


def test_packaged_annotation_configs_equal_the_top_level_source_of_truth():
    top = sorted(p.name for p in TOP_LEVEL.iterdir() if p.suffix in (".yaml", ".xml"))
    packaged = sorted(p.name for p in annotation_configs_dir().iterdir())
    assert packaged == top
    for name in top:
        assert (annotation_configs_dir() / name).read_bytes() == (TOP_LEVEL / name).read_bytes(), (
            f"corpus/resources/annotation_configs/{name} differs from annotation_configs/{name}: "
            "copy it over (cp annotation_configs/*.yaml annotation_configs/*.xml "
            "corpus/resources/annotation_configs/)"
        )


def test_resources_resolve_inside_the_package():
    pkg = Path(__import__("corpus").__file__).parent
    for path in (ontology_file(), lexicon_dir(), sample_articles()):
        assert path.exists() and pkg in path.parents


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout (the checkout itself stays clean)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, ignore=SKIP)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(src), "-w", str(out)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (whl,) = out.glob("corpus-*.whl")
    return whl


def test_the_wheel_contains_the_ontology_configs_lexicon_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "corpus/resources/annotation_configs/conflict_events.yaml",
        "corpus/resources/annotation_configs/conflict_events.xml",
        "corpus/resources/prelabel/triggers.tsv",
        "corpus/resources/prelabel/gpe.txt",
        "corpus/samples/articles.jsonl",
    ):
        assert name in names, name
    assert not any(n.startswith("benchmarks/") for n in names)  # not installed


def test_a_workspace_made_by_the_installed_wheel_has_its_ontology(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip does for a pure-Python wheel
    ws = tmp_path / "ws"
    code = (
        "import corpus, sys; from pathlib import Path; from corpus.workspace import Workspace\n"
        f"assert Path(corpus.__file__).is_relative_to({str(site)!r}), corpus.__file__\n"
        f"w = Workspace.init(Path({str(ws)!r}))\n"
        "from corpus.prelabel.lexicon import LexiconPrelabeler\n"
        "print(w.ontology_path, len(LexiconPrelabeler().predict('قتل خمسة في حلب')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)  # the installed copy, not the checkout
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    copied = ws / "annotation_configs" / "conflict_events.yaml"
    assert copied.read_bytes() == (TOP_LEVEL / "conflict_events.yaml").read_bytes()
    assert int(r.stdout.split()[-1]) > 0  # the lexicon found its resources


def test_a_package_without_its_ontology_fails_loudly(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    shutil.rmtree(site / "corpus" / "resources" / "annotation_configs")
    code = (
        "from pathlib import Path; from corpus.errors import CorpusError\n"
        "from corpus.workspace import Workspace\n"
        "try:\n"
        f"    Workspace.init(Path({str(tmp_path / 'ws')!r}))\n"
        "except CorpusError as e:\n"
        "    print('refused:', e.message)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert "refused: The installed corpus package has no annotation_configs" in r.stdout, r.stderr
