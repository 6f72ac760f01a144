"""Releases that cannot lie (issue 11, items 8-11): publish validates what it reads, verify checks
the manifest itself, versions and labels are matched whole, an interrupted `--to` copy is
completed by the retry."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_publish import build_workspace  # noqa: E402  (tests/ is on sys.path)

import corpus.cli
from corpus.errors import OntologyError
from corpus.ontology import load_ontology
from corpus.publish.build import publish
from corpus.publish.manifest import MANIFEST, sha256_file
from corpus.publish.release import verify


@pytest.fixture
def ws(tmp_path):
    return build_workspace(tmp_path / "ws", n_articles=12).ws


def main_exit(capsys, *args) -> tuple[int, str]:
    try:
        corpus.cli.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, " ".join(err.split())


def edit_annotations(ws, change) -> None:
    """Rewrite data/annotations.parquet with `change(rows)` applied, as a hand edit would."""
    t = pq.read_table(ws.annotations_path)
    rows = t.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), ws.annotations_path)


def first_with_entity(rows) -> dict:
    return next(r for r in rows if r["entities"] and not r["cancelled"])


# --- 8: publish validates what it reads -------------------------------------------------------


def test_publish_refuses_an_entity_whose_text_is_not_its_offsets(ws, capsys):
    def shift(rows):
        e = first_with_entity(rows)["entities"][0]
        e["text"] = e["text"] + "x"

    edit_annotations(ws, shift)
    code, err = main_exit(capsys, "publish", "1.0.0", "-w", ws.root)
    assert code == 1
    assert "1 annotation(s) that pull would not have written" in err
    assert "but the region says" in err and "corpus pull --full" in err
    assert not (ws.releases_dir / "1.0.0").exists()


def test_publish_refuses_an_annotator_email(ws, capsys):
    def leak(rows):
        first_with_entity(rows)["annotator"] = "someone@example.org"

    edit_annotations(ws, leak)
    code, err = main_exit(capsys, "publish", "1.0.0", "-w", ws.root)
    assert code == 1 and "not a pseudonymous id" in err
    assert "someone@example.org" not in err  # not even in the message
    assert not (ws.releases_dir / "1.0.0").exists()


def test_publish_refuses_a_corrupt_annotations_file(ws, capsys):
    ws.annotations_path.write_bytes(b"PAR1 not really parquet")
    code, err = main_exit(capsys, "publish", "1.0.0", "-w", ws.root)
    assert code == 1 and "annotations.parquet is not a readable annotations file" in err
    code, err = main_exit(capsys, "agreement", "-w", ws.root)
    assert code == 1 and err.startswith("error:") and "annotations.parquet" in err


# --- 9: verify checks manifest.json itself ----------------------------------------------------


def rewrite_manifest(path, change) -> None:
    mf = path / MANIFEST
    m = json.loads(mf.read_text("utf-8"))
    change(m)
    mf.write_text(json.dumps(m, indent=2, ensure_ascii=False), "utf-8")


def test_verify_checks_the_manifest_claims(ws, tmp_path):
    rel = publish(ws, "1.0.0").path
    assert verify(rel).ok
    cases = {
        "version": lambda m: m.update(version="1.0.1"),
        "label counts": lambda m: m["label_counts"]["train"]["entities"].update(
            {k: v + 1 for k, v in m["label_counts"]["train"]["entities"].items()}
        ),
        "annotators": lambda m: m.update(annotators=0),
    }
    for what, change in cases.items():
        copy = tmp_path / what.replace(" ", "-") / "1.0.0"
        shutil.copytree(rel, copy)
        rewrite_manifest(copy, change)
        problems = verify(copy).problems
        assert problems and all(p.startswith("manifest.json") for p in problems), (what, problems)


def test_a_copy_of_one_release_under_another_version_fails(ws, capsys):
    rel = publish(ws, "1.0.0").path
    shutil.copytree(rel, ws.releases_dir / "1.0.9")
    code, err = main_exit(capsys, "verify", "1.0.9", "-w", ws.root)
    assert code == 1 and "version 1.0.0 but the folder is 1.0.9" in err


def test_verify_catches_a_real_identity_even_with_matching_checksums(ws):
    rel = publish(ws, "1.0.0").path
    name = next(
        n for n in ("test", "validation", "train") if (rel / "sentences" / f"{n}.parquet").exists()
    )
    f = rel / "sentences" / f"{name}.parquet"
    t = pq.read_table(f)
    rows = t.to_pylist()
    rows[0]["provenance"]["annotator"] = "someone@example.org"
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), f)
    # Forge the checksum too: only the content check can tell.
    rewrite_manifest(rel, lambda m: m["files"][f"sentences/{name}.parquet"].update(
        sha256=sha256_file(f), bytes=f.stat().st_size))  # fmt: skip
    problems = verify(rel).problems
    assert any("not pseudonymous" in p for p in problems), problems


# --- 10: versions and labels matched whole ----------------------------------------------------


def test_version_with_a_trailing_newline_is_refused(ws, capsys):
    assert publish(ws, "1.0.2").path.is_dir()
    code, err = main_exit(capsys, "publish", "1.0.2\n", "-w", ws.root)
    assert code == 1 and "is not a semantic version" in err
    assert sorted(p.name for p in ws.releases_dir.iterdir()) == ["1.0.2"]


def test_ontology_label_with_a_trailing_newline_is_refused(ws):
    text = ws.ontology_path.read_text("utf-8")
    ws.ontology_path.write_text(text.replace("\n  PER:\n", '\n  "NEWT\\n":\n    hotkey: "0"\n'
                                             '    color: "#123456"\n  PER:\n', 1), "utf-8")  # fmt: skip
    with pytest.raises(OntologyError, match="NEWT"):
        load_ontology(ws.ontology_path)


# --- 11: an interrupted --to copy is completed by the retry -------------------------------------


def test_retry_completes_an_interrupted_copy(ws, tmp_path, capsys):
    rel = publish(ws, "1.0.0").path
    target = tmp_path / "bucket"
    partial = target / "1.0.0"
    # What a copy killed midway leaves: some files, one cut short, no manifest.
    files = sorted(json.loads((rel / MANIFEST).read_text("utf-8"))["files"])
    for i, name in enumerate(files[:3]):
        (partial / name).parent.mkdir(parents=True, exist_ok=True)
        data = (rel / name).read_bytes()
        (partial / name).write_bytes(data if i else data[: len(data) // 2])
    code, err = main_exit(capsys, "verify", "1.0.0", "--to", target, "-w", ws.root)
    assert code == 0, err
    assert verify(partial).ok
    # Once complete, it is left as it is.
    code, err = main_exit(capsys, "verify", "1.0.0", "--to", target, "-w", ws.root)
    assert code == 1 and "a complete copy of this release" in err


def test_copy_to_a_file_is_one_error_line_and_the_hint_does_not_repeat(ws, tmp_path, capsys):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    code, err = main_exit(capsys, "publish", "1.0.0", "--to", a_file, "-w", ws.root)
    assert code == 1 and err.count("error:") == 1
    assert err.count("corpus verify 1.0.0 --to") == 1  # the retry, said once
    assert (ws.releases_dir / "1.0.0").is_dir()  # the local release is complete
    code, err = main_exit(capsys, "verify", "1.0.0", "--to", a_file, "-w", ws.root)
    assert code == 1 and err.count("error:") == 1
    assert "corpus verify 1.0.0 --to" not in err  # this was the retry: no hint to repeat it


def test_copy_to_a_folder_that_cannot_be_written_is_one_error_line(ws, tmp_path, capsys):
    publish(ws, "1.0.0")
    # Tests run as root here, so permission bits do not stop writes: /sys refuses everyone.
    target = "/sys/corpus-release-copy" if os.geteuid() == 0 else str(tmp_path / "ro")
    if os.geteuid() != 0:
        os.mkdir(target, 0o555)
    code, err = main_exit(capsys, "verify", "1.0.0", "--to", target, "-w", ws.root)
    assert code == 1 and err.count("error:") == 1
    assert "Cannot write the copy to" in err and "writable" in err
