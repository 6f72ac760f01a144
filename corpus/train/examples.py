"""Training examples: a sentence and its gold spans, from the workspace's annotations, a published
release, or external span corpora (JSONL like ANERcorp's, CoNLL/BIO).

Bad lines in an external file are skipped and counted, each with its file and line; a file that
cannot be read at all is an error naming it. Labels are mapped with `--label-map` (`PERS=PER`,
`MISC=` drops MISC); a label the ontology does not know is an error that says to map it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import CorpusError
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.ontology import Ontology
    from corpus.workspace import Workspace


class TrainError(CorpusError):
    """Training data or a model cannot be used; the message says which and why."""


@dataclass(slots=True)
class Example:
    """One sentence with its gold entity and trigger spans (offsets into `text`)."""

    text: str
    spans: list[Span]
    id: str = ""
    group: str = ""  # article or near-duplicate group: sentences of one group share a split


@dataclass(slots=True)
class LoadReport:
    """What reading one source gave: examples, skipped lines with reasons, dropped labels."""

    source: str
    examples: list[Example] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file:line: reason"
    dropped_labels: Counter = field(default_factory=Counter)


def parse_label_map(spec: str | None) -> dict[str, str | None]:
    """`"PERS=PER,LOC=GPE,MISC="` -> {"PERS": "PER", "LOC": "GPE", "MISC": None}."""
    out: dict[str, str | None] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise TrainError(
                f"--label-map entry {part!r} has no '='.",
                "Write SOURCE=TARGET pairs separated by commas, e.g. PERS=PER,MISC= (empty drops).",
            )
        a, b = (x.strip() for x in part.split("=", 1))
        if not a:
            raise TrainError(f"--label-map entry {part!r} has no source label.")
        out[a] = b or None
    return out


def split_of(key: str, validation: float = 0.1, seed: str = "train") -> str:
    """ "train" or "validation" from a hash of `key` (stable across runs and machines)."""
    h = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return "validation" if int.from_bytes(h, "big") / 2**64 < validation else "train"


def split_examples(
    examples: list[Example], validation: float = 0.1, seed: str = "train"
) -> tuple[list[Example], list[Example]]:
    """(train, validation) by a hash of each example's group (else its id, else its text)."""
    train, dev = [], []
    for ex in examples:
        key = ex.group or ex.id or ex.text
        (dev if split_of(key, validation, seed) == "validation" else train).append(ex)
    return train, dev


# --- external corpora ----------------------------------------------------------------------------


def _map_label(label: str, mapping: dict[str, str | None], report: LoadReport) -> str | None:
    if label in mapping:
        target = mapping[label]
        if target is None:
            report.dropped_labels[label] += 1
        return target
    return label


def read_jsonl(path: Path, mapping: dict[str, str | None]) -> LoadReport:
    """`{"id", "text", "entities": [{"start", "end", "label"}], "triggers": [...]}` per line."""
    report = LoadReport(str(path))
    for n, line in _lines(path, report):
        if line is None or not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            report.skipped.append(f"{where}: not valid JSON ({e.msg})")
            continue
        problem, ex = _example_from_row(row, mapping, report, n)
        if problem:
            report.skipped.append(f"{where}: {problem}")
        else:
            report.examples.append(ex)
    return report


def _lines(path: Path, report: LoadReport):
    """(line number, text) of a UTF-8 file (a BOM is ignored); a line that is not UTF-8 is
    counted as skipped and given as None, so one bad byte does not cost the whole file."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise TrainError(f"Cannot read {path}: {e.strerror or e}.") from e
    with f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                report.skipped.append(f"{path}:{n}: not UTF-8 text ({e.reason})")
                yield n, None
                continue
            if n == 1:
                line = line.removeprefix("\ufeff")
            yield n, line.rstrip("\n").rstrip("\r")


def _example_from_row(row, mapping, report: LoadReport, n: int):
    if not isinstance(row, dict):
        return "not a JSON object", None
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no 'text' string", None
    spans = []
    for key, kind in (("entities", "entity"), ("triggers", "trigger")):
        items = row.get(key, [])
        if not isinstance(items, list):
            return f"'{key}' is not a list", None
        for it in items:
            if not isinstance(it, dict):
                return f"an item of '{key}' is not an object", None
            s, e, label = it.get("start"), it.get("end"), it.get("label", it.get("event_type"))
            if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text)):
                return f"span {it} is outside the text (length {len(text)})", None
            if not isinstance(label, str) or not label:
                return f"span {it} has no label", None
            if "text" in it and text[s:e] != it["text"]:
                return f"span {it} does not match text[{s}:{e}] = {text[s:e]!r}", None
            label = _map_label(label, mapping, report)
            if label is not None:
                spans.append(Span(s, e, label, kind, 1.0, "gold"))
    rid = str(row.get("id") or f"{Path(report.source).name}:{n}")
    return None, Example(text, spans, rid, str(row.get("group") or rid))


def read_conll(path: Path, mapping: dict[str, str | None]) -> LoadReport:
    """CoNLL/BIO: one `TOKEN TAG` (or `TOKEN ... TAG`, tab or space separated) per line, a blank
    line between sentences, `-DOCSTART-` lines ignored. Tags are B-X/I-X (IOB1 or IOB2) or O;
    tokens are joined with single spaces into the sentence text."""
    report = LoadReport(str(path))
    tokens: list[tuple[str, str]] = []
    first = bad = 0

    def flush() -> None:
        nonlocal tokens, bad
        if tokens and not bad:
            report.examples.append(_conll_example(tokens, mapping, report, f"{path.name}:{first}"))
        tokens, bad = [], 0

    for n, line in _lines(path, report):
        if line is None:
            bad = 1  # already counted; the sentence around it is skipped with it
            continue
        if not line.strip() or line.startswith("-DOCSTART-"):
            flush()
            continue
        if not tokens and not bad:
            first = n
        parts = line.split("\t") if "\t" in line else line.split()
        tag = parts[-1].strip() if len(parts) >= 2 else ""
        ok = tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-", "E-", "S-"))
        if not ok or not parts[0].strip():
            if not bad:
                report.skipped.append(
                    f"{path}:{n}: expected 'TOKEN TAG' with a B-/I-/O tag, got {line!r}"
                )
            bad = 1  # the whole sentence is skipped: its spans would be wrong
            continue
        tokens.append((parts[0].strip(), tag))
    flush()
    return report


def _conll_example(tokens, mapping, report: LoadReport, rid: str) -> Example:
    text_parts, spans, pos = [], [], 0
    cur: list | None = None  # [start, end, label]
    for tok, tag in tokens:
        start = pos
        pos += len(tok)
        text_parts.append(tok)
        prefix, label = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        if cur and (prefix in ("O", "B", "S") or label != cur[2]):
            spans.append(cur)
            cur = None
        if prefix != "O":
            if cur is None:
                cur = [start, pos, label]
            else:
                cur[1] = pos
            if prefix in ("E", "S"):
                spans.append(cur)
                cur = None
        pos += 1
    if cur:
        spans.append(cur)
    out = []
    for s, e, label in spans:
        mapped = _map_label(label, mapping, report)
        if mapped is not None:
            out.append(Span(s, e, mapped, "entity", 1.0, "gold"))
    return Example(" ".join(text_parts), out, rid, rid)


def read_extra(path: Path, mapping: dict[str, str | None]) -> LoadReport:
    """An external span corpus: JSONL (`.jsonl`/`.json`) or CoNLL/BIO (anything else)."""
    if not path.exists():
        raise TrainError(f"--extra file {path} does not exist.")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path, mapping)
    return read_conll(path, mapping)


def check_labels(examples: list[Example], ontology: Ontology, source: str) -> None:
    """Every span label is one of the ontology's, of the right kind; else one clear error."""
    unknown: Counter = Counter()
    for ex in examples:
        for s in ex.spans:
            kind = ontology.kind_of(s.label)
            if kind is None:
                unknown[s.label] += 1
            elif kind != s.kind:
                object.__setattr__(s, "kind", kind)
    if unknown:
        labels = ", ".join(f"{k} ({v})" for k, v in unknown.most_common())
        raise TrainError(
            f"{source}: labels not in the ontology: {labels}.",
            "Map or drop them with --label-map, e.g. --label-map PERS=PER,MISC= "
            f"(ontology entity types: {', '.join(ontology.entity_types)}).",
        )


# --- the workspace and releases -----------------------------------------------------------------


def from_annotations(workspace: Workspace) -> list[Example]:
    """The workspace's adjudicated annotations (its configured policy), one example a sentence.

    Sentences marked noise are left out; an annotation without spans is a real "nothing here"."""
    from corpus.pull.adjudication import adjudicate_workspace

    table = adjudicate_workspace(workspace)
    out = []
    for r in table.to_pylist():
        if r.get("choice") == "noise" or not r.get("sentence_text"):
            continue
        spans = [
            Span(e["start"], e["end"], e["label"], "entity", 1.0, "gold") for e in r["entities"]
        ]
        spans += [
            Span(t["start"], t["end"], t["event_type"], "trigger", 1.0, "gold")
            for t in r["triggers"]
        ]
        out.append(Example(r["sentence_text"], spans, r["sentence_id"], r.get("article_id") or ""))
    if not out:
        raise TrainError(
            f"{workspace.annotations_path} holds no finished annotations to train on.",
            "Annotate in Label Studio and run `corpus pull`, or train on --release / --extra.",
        )
    return out


def from_release(workspace: Workspace, version: str) -> list[Example]:
    """The sentences of a published release (its train and validation splits)."""
    import pyarrow.parquet as pq

    from corpus.publish.release import release_dir

    folder = release_dir(workspace, version) / "sentences"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise TrainError(f"Release {version} has no sentences config in {folder}.")
    out = []
    for file in files:
        if file.stem.startswith("test"):
            continue  # the test split stays unseen: it is for scoring trained models
        for r in pq.read_table(file).to_pylist():
            spans = [
                Span(e["start"], e["end"], e["label"], "entity", 1.0, "gold") for e in r["entities"]
            ]
            spans += [
                Span(ev["trigger"]["start"], ev["trigger"]["end"], ev["event_type"], "trigger", 1.0)
                for ev in r["events"]
            ]
            out.append(Example(r["text"], spans, r["id"], r.get("group") or r["article_id"]))
    return out
