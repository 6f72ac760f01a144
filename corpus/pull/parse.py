"""Pull: turn Label Studio full-JSON export snapshots into validated ANNOTATIONS rows.

The flow, top to bottom:

1. ``iter_export_tasks`` streams tasks out of the export file (``ijson``), so memory does not
   grow with the export.
2. Tasks are taken in chunks; each chunk's sentences are looked up in ``data/sentences.parquet``
   (the task's text must still be the workspace sentence).
3. Per annotation, ``parse_annotation`` validates every region and relation against the sentence
   text and the ontology and builds the row; any failure quarantines the whole annotation with
   all its reasons (``data/quarantine/pull.parquet``, which lists what the latest snapshot of
   each project could not use), never a silently trimmed row.
4. Incremental: annotations whose ``updated_at`` is unchanged since the previous pull are copied
   over from the previous file instead of being parsed again; annotations missing from the new
   snapshot are removed and counted. The result is written atomically.

Label Studio's open-source export has no "changed since" filter, so the snapshot itself is
complete; what is incremental is the work done on it and the report of what changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import CorpusError
from corpus.fs import file_version
from corpus.io import (
    ParquetSink,
    dataset,
    parquet_file,
    read_table,
)
from corpus.quarantine import Quarantine
from corpus.schemas import ANNOTATIONS
from corpus.types import QuarantinedRow

# Names fixed by the labeling-config contract (corpus/ontology.py generates the config).
TEXT_OBJECT = "text"
ENTITY_CONTROL = "entities"
TRIGGER_CONTROL = "triggers"
CHOICE_CONTROL = "sentence"

PARSER_VERSION = 1  # bump when parsing changes: the next pull then re-parses everything
CHUNK_TASKS = 1000  # tasks per chunk: bounds memory (~20 MB of parsed JSON), amortises lookups
STAGE = "pull"
PSEUDONYM_STATE = "pseudonyms"  # workspace state holding the secret salt (private)


class PullError(CorpusError):
    """The export as a whole cannot be used (as opposed to a bad annotation inside it)."""

    def __init__(self, path: str, problem: str, hint: str | None = None):
        super().__init__(
            f"Label Studio export {path}: {problem}",
            hint or "Run `corpus pull` again to take a fresh export snapshot.",
        )
        self.path = path


# --- what the ontology allows -------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """The labels, roles and choices a region may use (built from the workspace ontology)."""

    entity_types: frozenset[str]
    event_roles: Mapping[str, frozenset[str]]  # event type -> its roles
    choices: frozenset[str]
    hash: str = ""

    @property
    def roles(self) -> frozenset[str]:
        return frozenset().union(*self.event_roles.values()) if self.event_roles else frozenset()

    @classmethod
    def from_ontology(cls, ontology: Any) -> Vocabulary:
        return cls(
            entity_types=frozenset(ontology.entity_types),
            event_roles={k: frozenset(v) for k, v in ontology.event_types.items()},
            choices=frozenset(ontology.choices),
            hash=ontology.hash,
        )


# --- pseudonymous annotators ----------------------------------------------------------------


class Pseudonymizer:
    """Stable pseudonymous annotator ids: a keyed hash of the Label Studio user id.

    The key is a per-workspace secret, so ids cannot be reversed by hashing guessed user ids or
    emails, and the email (when an export includes it) is never used or stored.
    """

    def __init__(self, salt: bytes):
        self._salt = salt

    def __call__(self, completed_by: Any) -> str:
        user = completed_by.get("id") if isinstance(completed_by, dict) else completed_by
        if user is None or isinstance(user, bool):
            return "ann-unknown"
        return self.for_user_id(user)

    def for_user_id(self, user: int | str) -> str:
        digest = hmac.new(self._salt, f"ls-user:{user}".encode(), hashlib.blake2b).hexdigest()
        return "ann-" + digest[:12]

    @classmethod
    def for_workspace(cls, workspace: Any) -> Pseudonymizer:
        """The workspace's pseudonymizer; creates its secret salt (state, mode 0600) once."""
        state = workspace.read_state(PSEUDONYM_STATE)
        if not state.get("salt"):
            state = {"salt": secrets.token_hex(32)}
            workspace.write_state(PSEUDONYM_STATE, state, private=True)
        return cls(bytes.fromhex(state["salt"]))


# --- reading the export ---------------------------------------------------------------------


def iter_export_tasks(path: Path) -> Iterator[dict[str, Any]]:
    """Tasks of a Label Studio full-JSON export (a JSON array), streamed one at a time."""
    import ijson  # lazily: only pulling needs it

    path = Path(path)
    if not path.exists():
        raise PullError(str(path), "file not found")
    n = 0
    with path.open("rb") as f:
        try:
            for task in ijson.items(f, "item", use_float=True):
                if not isinstance(task, dict):
                    raise PullError(str(path), f"item {n} is not a task object")
                n += 1
                yield task
        except ijson.JSONError as e:
            raise PullError(str(path), f"not valid JSON after {n} tasks ({e})") from e


def _ts(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _micros(dt: datetime | None) -> int:
    return -1 if dt is None else int(dt.timestamp() * 1_000_000)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- the per-annotation core ----------------------------------------------------------------


@dataclass(slots=True)
class Parsed:
    """A validated annotation's spans, or the reasons it cannot be used."""

    entities: list[dict] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    arguments: list[dict] = field(default_factory=list)
    choice: str | None = None
    problems: list[str] = field(default_factory=list)


def parse_result(result: Any, text: str, vocab: Vocabulary) -> Parsed:
    """Validate a Label Studio `result` list against the sentence `text` and the ontology."""
    out = Parsed()
    if not isinstance(result, list):
        out.problems.append(f"result is {type(result).__name__}, not a list")
        return out
    kinds: dict[str, tuple[str, str]] = {}  # region id -> (kind, label)
    relations = []
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            out.problems.append(f"result item {i} is not an object")
            continue
        rtype, control = item.get("type"), item.get("from_name")
        if rtype == "relation":
            relations.append(item)
            continue
        rid = item.get("id")
        where = f"region {rid}" if rid is not None else f"result item {i}"
        value = item.get("value") if isinstance(item.get("value"), dict) else {}
        if control in (ENTITY_CONTROL, TRIGGER_CONTROL):
            problems = _check_span(item, value, text, where)
            labels = value.get("labels")
            if not isinstance(labels, list) or len(labels) != 1:
                problems.append(f"{where}: expected exactly one label, got {labels!r}")
            elif control == ENTITY_CONTROL and labels[0] not in vocab.entity_types:
                problems.append(f"{where}: {labels[0]!r} is not an entity type of the ontology")
            elif control == TRIGGER_CONTROL and labels[0] not in vocab.event_roles:
                problems.append(f"{where}: {labels[0]!r} is not an event type of the ontology")
            if rid is None or not isinstance(rid, str | int):
                problems.append(f"{where}: region has no id")
            elif str(rid) in kinds:
                problems.append(f"{where}: region id used twice")
            if problems:
                out.problems.extend(problems)
                continue
            rid = str(rid)
            start, end, label = value["start"], value["end"], labels[0]
            if control == ENTITY_CONTROL:
                kinds[rid] = ("entity", label)
                out.entities.append(
                    {"id": rid, "start": start, "end": end, "label": label, "text": value["text"]}
                )
            else:
                kinds[rid] = ("trigger", label)
                out.triggers.append(
                    {
                        "id": rid,
                        "start": start,
                        "end": end,
                        "event_type": label,
                        "text": value["text"],
                    }
                )
        elif control == CHOICE_CONTROL:
            choices = value.get("choices")
            if rtype != "choices" or not isinstance(choices, list) or len(choices) != 1:
                out.problems.append(f"{where}: sentence choice must be one value, got {choices!r}")
            elif choices[0] not in vocab.choices:
                out.problems.append(f"{where}: {choices[0]!r} is not a sentence choice")
            elif out.choice is not None:
                out.problems.append(f"{where}: a second sentence choice")
            else:
                out.choice = choices[0]
        else:
            out.problems.append(f"{where}: unknown control {control!r} (type {rtype!r})")

    seen_args = set()
    for item in relations:
        a, b = str(item.get("from_id")), str(item.get("to_id"))
        where = f"relation {a}->{b}"
        if a not in kinds or b not in kinds:
            missing = [x for x in (a, b) if x not in kinds]
            out.problems.append(f"{where}: end {', '.join(missing)} is not a valid region")
            continue
        ends = {kinds[a][0]: a, kinds[b][0]: b}
        if set(ends) != {"entity", "trigger"}:
            out.problems.append(
                f"{where}: joins {kinds[a][0]} to {kinds[b][0]}, not a trigger to an entity"
            )
            continue
        trigger_id, entity_id = ends["trigger"], ends["entity"]
        event_type = kinds[trigger_id][1]
        roles = item.get("labels")
        if not isinstance(roles, list) or not roles:
            out.problems.append(f"{where}: argument has no role")
            continue
        for role in roles:
            if role not in vocab.event_roles.get(event_type, ()):
                known = "a role of another event type" if role in vocab.roles else "not a role"
                out.problems.append(
                    f"{where}: role {role!r} is {known} in the ontology, not of {event_type}"
                )
            elif (trigger_id, entity_id, role) not in seen_args:
                seen_args.add((trigger_id, entity_id, role))
                out.arguments.append(
                    {"trigger_id": trigger_id, "entity_id": entity_id, "role": role}
                )
    return out


def _check_span(item: dict, value: dict, text: str, where: str) -> list[str]:
    problems = []
    if item.get("type") != "labels":
        problems.append(f"{where}: type {item.get('type')!r}, expected 'labels'")
    if item.get("to_name") != TEXT_OBJECT:
        problems.append(f"{where}: labels {item.get('to_name')!r}, not the sentence text")
    start, end, claimed = value.get("start"), value.get("end"), value.get("text")
    if not (_is_int(start) and _is_int(end)):
        problems.append(f"{where}: start/end missing or not integers ({start!r}, {end!r})")
    elif not 0 <= start < end <= len(text):
        problems.append(
            f"{where}: offsets [{start}, {end}) outside the sentence (length {len(text)})"
        )
    elif text[start:end] != claimed:
        problems.append(
            f"{where}: text[{start}:{end}] is {text[start:end]!r} but the region says {claimed!r}"
        )
    return problems


@dataclass(slots=True)
class TaskContext:
    """What every annotation of a pull shares."""

    project_id: int
    vocab: Vocabulary
    pseudonymize: Callable[[Any], str]
    source: str  # quarantine source name, e.g. "label-studio project 3"
    review: bool = False  # rows are review decisions (see corpus.pull.adjudication.REVIEW_MARK)
    # prediction id -> model_version, for exports that list prediction ids only
    prediction_versions: Mapping[int, str] = field(default_factory=dict)


def task_problems(task: dict, sentence: tuple[str, str | None] | None) -> list[str]:
    """Why a task's annotations cannot be trusted as a whole (empty when the task is fine)."""
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    if not data.get("sentence_id"):
        return ["task data has no sentence_id (not a task pushed by corpus)"]
    if sentence is None:
        return [f"sentence {data['sentence_id']} is not in data/sentences.parquet any more"]
    if data.get("text") != sentence[0]:
        return [f"task text differs from sentence {data['sentence_id']} in the workspace"]
    return []


def parse_annotation(
    task: dict, annotation: dict, sentence: tuple[str, str | None], ctx: TaskContext
) -> tuple[dict | None, list[str]]:
    """One ANNOTATIONS row for `annotation` of `task`, or None and the reasons why not."""
    text, article_id = sentence
    data = task["data"]
    problems = []
    if not _is_int(annotation.get("id")):
        problems.append("annotation has no integer id")
    parsed = parse_result(annotation.get("result") or [], text, ctx.vocab)
    problems.extend(parsed.problems)
    if problems:
        return None, problems
    parent = annotation.get("parent_prediction")
    model_version = _model_version(task, annotation, parent) or (
        ctx.prediction_versions.get(parent) if _is_int(parent) else None
    )
    if ctx.review:
        model_version = "review:" + (model_version or "manual")
    lead = annotation.get("lead_time")
    return {
        "annotation_id": annotation["id"],
        "task_id": int(task["id"]),
        "project_id": ctx.project_id,
        "sentence_id": data["sentence_id"],
        "article_id": data.get("article_id") or article_id,
        "annotator": ctx.pseudonymize(annotation.get("completed_by")),
        "created_at": _ts(annotation.get("created_at")),
        "updated_at": _ts(annotation.get("updated_at")),
        "lead_time": float(lead) if isinstance(lead, int | float) else None,
        "cancelled": bool(annotation.get("was_cancelled")),
        "prediction_id": parent if _is_int(parent) else None,
        "prediction_model_version": model_version,
        "sentence_text": text,
        "entities": parsed.entities,
        "triggers": parsed.triggers,
        "arguments": parsed.arguments,
        "choice": parsed.choice,
        "raw_result": json.dumps(annotation.get("result") or [], ensure_ascii=False),
    }, []


def _model_version(task: dict, annotation: dict, parent: Any) -> str | None:
    """The model version of the prediction the annotation started from, when the export says:
    in the annotation's own `prediction` copy or in expanded task predictions. (The server
    fills `prediction` in even for annotations that did not start from it: only
    `parent_prediction` says where an annotation started.)"""
    if not _is_int(parent):
        return None
    own = annotation.get("prediction")
    if isinstance(own, dict) and own.get("id") == parent and own.get("model_version"):
        return str(own["model_version"])
    for p in task.get("predictions") or []:
        if isinstance(p, dict) and p.get("id") == parent and p.get("model_version"):
            return str(p["model_version"])
    return None


def _quarantine_row(ctx: TaskContext, task: dict, ann: dict, reasons: list[str]) -> QuarantinedRow:
    raw = json.dumps(
        {"task": task.get("id"), "data": task.get("data"), "annotation": ann}, ensure_ascii=False
    )
    return QuarantinedRow(
        source=ctx.source,
        location=f"task {task.get('id')} annotation {ann.get('id')}",
        reason="; ".join(reasons),
        raw=raw,
    )


def parse_tasks(
    tasks: list[dict],
    sentences: Mapping[str, tuple[str, str | None]],
    ctx: TaskContext,
    skip: Callable[[dict], bool] = lambda ann: False,
) -> tuple[list[dict], list[QuarantinedRow]]:
    """Rows and quarantined annotations for a chunk of tasks (annotations where `skip` is true
    are left out: the incremental pull copies those from the previous file)."""
    rows: list[dict] = []
    bad: list[QuarantinedRow] = []
    for task in tasks:
        anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not skip(a)]
        if not anns:
            continue
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        sentence = sentences.get(data.get("sentence_id"))
        problems = task_problems(task, sentence)
        for ann in anns:
            row, reasons = (
                (None, problems) if problems else parse_annotation(task, ann, sentence, ctx)
            )
            if row is None:
                bad.append(_quarantine_row(ctx, task, ann, reasons))
            else:
                rows.append(row)
    return rows, bad


# --- the streaming pull ---------------------------------------------------------------------


def lookup_sentences(path: Path, ids: set[str]) -> dict[str, tuple[str, str | None]]:
    """sentence_id -> (text, article_id) for `ids`, read from the sentences file."""
    if not ids:
        return {}
    table = dataset(path, format="parquet").to_table(
        columns=["sentence_id", "text", "article_id"],
        filter=pc.field("sentence_id").isin(pa.array(sorted(ids), pa.string())),
    )
    return {
        sid: (text, aid)
        for sid, text, aid in zip(
            table.column("sentence_id").to_pylist(),
            table.column("text").to_pylist(),
            table.column("article_id").to_pylist(),
            strict=True,
        )
    }


@dataclass
class PullReport:
    """What a pull did; `kept == added + updated + unchanged` rows of this project."""

    project_id: int
    tasks: int = 0
    annotations: int = 0  # in the snapshot
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # in the previous pull, gone from Label Studio now
    quarantined: int = 0
    cancelled: int = 0  # among the rows kept
    full: bool = True  # everything was re-parsed (first pull, ontology or sentences changed)
    rows_written: int = 0  # whole file, all projects
    quarantine_path: str | None = None
    deleted_ids: list[int] = field(default_factory=list)
    quarantine_reasons: list[str] = field(default_factory=list)  # first few, for the report

    @property
    def kept(self) -> int:
        return self.added + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["kept"] = self.kept
        return d


def _previous_index(path: Path, project_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted annotation ids of `project_id` in the previous file and their updated_at (µs)."""
    if not path.exists():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    t = read_table(path, columns=["annotation_id", "project_id", "updated_at"])
    t = t.filter(pc.equal(t.column("project_id"), project_id))
    ids = t.column("annotation_id").to_numpy()
    upd = pc.fill_null(t.column("updated_at").cast(pa.int64()), -1).to_numpy()
    order = np.argsort(ids, kind="stable")
    return ids[order], upd[order]


def pull_export(
    export_path: Path,
    *,
    ctx: TaskContext,
    sentences_path: Path,
    annotations_path: Path,
    quarantine_dir: Path,
    incremental: bool = True,
    progress: Callable[[int], None] | None = None,
) -> PullReport:
    """Stream one project's export snapshot into `annotations_path` (see the module docstring).

    Rows of other projects in the file (e.g. review decisions) are kept as they are.
    """
    report = PullReport(project_id=ctx.project_id, full=not incremental)
    # Previous rows of this project: what "added", "updated" and "deleted" are measured against.
    prev_ids, prev_upd = _previous_index(annotations_path, ctx.project_id)
    quarantine = Quarantine(quarantine_dir, STAGE)
    seen: list[np.ndarray] = []  # annotation ids in the snapshot
    unchanged: list[np.ndarray] = []  # ... whose previous row is copied over

    def status(ann: dict) -> str:
        i = np.searchsorted(prev_ids, ann.get("id"))
        if i < len(prev_ids) and prev_ids[i] == ann.get("id"):
            upd = _micros(_ts(ann.get("updated_at")))
            same = incremental and upd == prev_upd[i] and upd != -1
            return "unchanged" if same else "updated"
        return "added"

    def run_chunk(chunk: list[dict], sink: ParquetSink) -> None:
        states: dict[int, str] = {}
        ids = []
        for task in chunk:
            for ann in task.get("annotations") or []:
                if isinstance(ann, dict) and _is_int(ann.get("id")):
                    ids.append(ann["id"])
                    states[ann["id"]] = status(ann) if len(prev_ids) else "added"
        report.annotations += sum(len(t.get("annotations") or []) for t in chunk)
        seen.append(np.asarray(ids, np.int64))
        same = [i for i, s in states.items() if s == "unchanged"]
        unchanged.append(np.asarray(same, np.int64))
        report.unchanged += len(same)
        wanted = {
            (t.get("data") or {}).get("sentence_id")
            for t in chunk
            if isinstance(t.get("data"), dict)
            and any(states.get(a.get("id")) != "unchanged" for a in t.get("annotations") or [])
        }
        sentences = lookup_sentences(sentences_path, {s for s in wanted if isinstance(s, str)})
        rows, bad = parse_tasks(
            chunk, sentences, ctx, skip=lambda a: states.get(a.get("id")) == "unchanged"
        )
        for row in rows:
            if states[row["annotation_id"]] == "updated":
                report.updated += 1
            else:
                report.added += 1
            report.cancelled += row["cancelled"]
        for q in bad:
            quarantine.add(q)
            if len(report.quarantine_reasons) < 20:
                report.quarantine_reasons.append(f"{q.location}: {q.reason}")
        report.quarantined += len(bad)
        sink.write_rows(rows)
        if progress:
            progress(len(chunk))

    with ParquetSink(annotations_path, ANNOTATIONS) as sink:
        chunk: list[dict] = []
        for task in iter_export_tasks(export_path):
            report.tasks += 1
            chunk.append(task)
            if len(chunk) >= CHUNK_TASKS:
                run_chunk(chunk, sink)
                chunk = []
        if chunk:
            run_chunk(chunk, sink)
        seen_ids = np.concatenate(seen) if seen else np.empty(0, np.int64)
        keep_ids = np.concatenate(unchanged) if unchanged else np.empty(0, np.int64)
        deleted = np.setdiff1d(prev_ids, seen_ids)
        report.deleted = int(len(deleted))
        report.deleted_ids = [int(x) for x in deleted[:50]]
        # Carry over other projects' rows and this project's unchanged rows from the old file.
        if annotations_path.exists():
            keep = pa.array(keep_ids, pa.int64())
            # Small buffered reads without read-ahead threads: memory stays flat as it grows.
            old = parquet_file(annotations_path, buffer_size=1 << 20)
            for batch in old.iter_batches(batch_size=1024, use_threads=False):
                t = pa.Table.from_batches([batch])
                mask = pc.or_(
                    pc.not_equal(t.column("project_id"), ctx.project_id),
                    pc.is_in(t.column("annotation_id"), value_set=keep),
                )
                t = t.filter(mask)
                report.cancelled += int(
                    pc.sum(
                        pc.and_(
                            pc.equal(t.column("project_id"), ctx.project_id), t.column("cancelled")
                        )
                    ).as_py()
                    or 0
                )
                sink.write(t)
        report.rows_written = sink.rows
    report.quarantine_path = _replace_quarantine(quarantine, ctx.source)
    return report


def _replace_quarantine(quarantine: Quarantine, source: str) -> str | None:
    """The pull quarantine mirrors the latest snapshot: this project's earlier rows are
    replaced by this pull's (an annotation fixed in Label Studio leaves it), other projects'
    rows stay. The annotations themselves are never lost: they are still in Label Studio."""
    from corpus.io import write_table
    from corpus.schemas import QUARANTINE

    path = quarantine.path
    new = pa.Table.from_pylist(quarantine.rows, schema=QUARANTINE)
    if path.exists():
        old = read_table(path, schema=QUARANTINE)
        old = old.filter(pc.not_equal(old.column("source"), source))
        new = pa.concat_tables([old, new])
    if new.num_rows == 0:
        path.unlink(missing_ok=True)
        return None
    write_table(path, new, QUARANTINE)
    return str(path) if quarantine.rows else None


# --- the workspace-level pull ---------------------------------------------------------------


def sentences_fingerprint(path: Path) -> str:
    """Changes whenever the sentences file is rewritten (then everything is re-validated)."""
    v = file_version(path)
    when = v.get("mtime_ns", v.get("version"))
    return f"{v['bytes']}:{when}:{parquet_file(path).metadata.num_rows}"


def workspace_vocabulary(workspace: Any) -> Vocabulary:
    from corpus.ontology import load_ontology  # lazily: the ontology module parses YAML

    return Vocabulary.from_ontology(load_ontology(workspace.ontology_path))


def pull_snapshot(
    workspace: Any,
    export_path: Path,
    project_id: int,
    *,
    snapshot_id: Any = None,
    review: bool = False,
    full: bool = False,
    vocab: Vocabulary | None = None,
    prediction_versions: Mapping[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PullReport:
    """Pull one export snapshot of `project_id` into the workspace and advance its cursor.

    The cursor (state "pull") records, per project, the snapshot, when it was pulled and a
    fingerprint of what validation depended on (ontology, sentences, parser version); when the
    fingerprint changed, or `full` is set, every annotation is parsed and validated again.
    """
    from corpus.io import require
    from corpus.pull.guard import check_pull_keeps_annotations

    require(workspace.sentences_path, "corpus segment")
    vocab = vocab or workspace_vocabulary(workspace)
    check_pull_keeps_annotations(workspace, vocab, int(project_id))
    state = workspace.read_state("pull")
    projects = state.get("projects", {})
    previous = projects.get(str(project_id), {})
    fingerprint = {
        "ontology_hash": vocab.hash,
        "sentences": sentences_fingerprint(workspace.sentences_path),
        "parser_version": PARSER_VERSION,
    }
    incremental = (
        not full
        and previous.get("fingerprint") == fingerprint
        and workspace.annotations_path.exists()
    )
    ctx = TaskContext(
        project_id=int(project_id),
        vocab=vocab,
        pseudonymize=Pseudonymizer.for_workspace(workspace),
        source=f"label-studio {'review ' if review else ''}project {project_id}",
        review=review,
        prediction_versions=prediction_versions or {},
    )
    report = pull_export(
        export_path,
        ctx=ctx,
        sentences_path=workspace.sentences_path,
        annotations_path=workspace.annotations_path,
        quarantine_dir=workspace.quarantine_dir,
        incremental=incremental,
        progress=progress,
    )
    projects[str(project_id)] = {
        "snapshot_id": snapshot_id,
        "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "review": review,
        "tasks": report.tasks,
        "annotations": report.kept,
        "quarantined": report.quarantined,
        "fingerprint": fingerprint,
    }
    workspace.write_state("pull", {**state, "projects": projects})
    return report
