"""Adjudication: pick (or build) the one annotation per sentence that goes into a release.

Policies (workspace `corpus.toml` `[adjudication] policy = ...`):

- ``latest``: the newest annotation (``updated_at``, then ``created_at``, then id) wins.
- ``reviewer``: the named pseudonymous annotator's newest annotation wins when there is one,
  else ``latest``.
- ``majority``: spans (and argument roles) chosen by more than half of the sentence's annotators
  are kept; the sentence choice is the most frequent one (ties: the newest annotation's choice).
  With one annotator its row is kept unchanged; otherwise a row is built from the merged spans.

Whatever the policy, a decision pulled from a review project (``corpus review pull``) wins for its
sentence. Such rows are recognised by ``prediction_model_version`` starting with
:data:`REVIEW_MARK`, which the review pull writes. Cancelled (skipped) annotations never win.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from corpus.errors import CorpusError
from corpus.schemas import ANNOTATIONS

POLICIES = ("latest", "reviewer", "majority")
REVIEW_MARK = "review:"  # prefix of prediction_model_version on review decisions
MAJORITY_ANNOTATOR = "majority"  # annotator of a row built by the majority policy

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EntityKey = tuple[int, int, str]
TriggerKey = tuple[int, int, str]
ArgumentKey = tuple[TriggerKey, EntityKey, str]


class AdjudicationError(CorpusError):
    def __init__(self, problem: str):
        super().__init__(
            f"Adjudication: {problem}",
            "Set [adjudication] policy to one of "
            + ", ".join(POLICIES)
            + " (and reviewer = ANNOTATOR_ID for 'reviewer') in corpus.toml.",
        )


def is_review_decision(row: dict[str, Any]) -> bool:
    """True for a row pulled from a review project (a reviewer's decision)."""
    return (row.get("prediction_model_version") or "").startswith(REVIEW_MARK)


def _recency(row: dict[str, Any]) -> tuple:
    return (
        row.get("updated_at") or row.get("created_at") or _EPOCH,
        row.get("created_at") or _EPOCH,
        row.get("annotation_id") or 0,
    )


@dataclass(frozen=True, slots=True)
class Content:
    """What an annotation says, independent of region ids: comparable across annotators."""

    entities: frozenset[EntityKey]
    triggers: frozenset[TriggerKey]
    arguments: frozenset[ArgumentKey]
    choice: str | None


def content_of(row: dict[str, Any]) -> Content:
    """Region-id-free content of an ANNOTATIONS row (arguments keyed by their end spans)."""
    ents = {e["id"]: (e["start"], e["end"], e["label"]) for e in row["entities"]}
    trigs = {t["id"]: (t["start"], t["end"], t["event_type"]) for t in row["triggers"]}
    args = frozenset(
        (trigs[a["trigger_id"]], ents[a["entity_id"]], a["role"])
        for a in row["arguments"]
        if a["trigger_id"] in trigs and a["entity_id"] in ents
    )
    return Content(frozenset(ents.values()), frozenset(trigs.values()), args, row.get("choice"))


@dataclass(slots=True)
class Conflict:
    """A sentence whose annotators disagree; `rows` are their newest annotations, newest first."""

    sentence_id: str
    rows: list[dict[str, Any]]
    differs: list[str]  # which parts differ: "entities", "triggers", "arguments", "choice"


def _group(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["sentence_id"]].append(r)
    return groups


def _newest_per_annotator(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        cur = best.get(r["annotator"])
        if cur is None or _recency(r) > _recency(cur):
            best[r["annotator"]] = r
    return sorted(best.values(), key=_recency, reverse=True)


def find_conflicts(annotations: pa.Table) -> list[Conflict]:
    """Sentences where two or more annotators' newest non-cancelled annotations differ.

    A sentence whose newest review decision is at least as new as every annotation is settled
    and not reported again.
    """
    conflicts = []
    for sid, rows in sorted(_group(annotations.to_pylist()).items()):
        live = [r for r in rows if not r["cancelled"]]
        decisions = [r for r in live if is_review_decision(r)]
        votes = _newest_per_annotator([r for r in live if not is_review_decision(r)])
        if len(votes) < 2:
            continue
        if decisions and max(map(_recency, decisions))[0] >= max(map(_recency, votes))[0]:
            continue
        contents = [content_of(r) for r in votes]
        differs = [
            part
            for part in ("entities", "triggers", "arguments", "choice")
            if len({getattr(c, part) for c in contents}) > 1
        ]
        if differs:
            conflicts.append(Conflict(sid, votes, differs))
    return conflicts


def _majority_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A row holding what more than half of the annotators chose (see module docstring)."""
    votes = _newest_per_annotator(rows)
    if len(votes) == 1:
        return votes[0]
    need = len(votes) // 2 + 1
    ent_count: Counter = Counter()
    trig_count: Counter = Counter()
    arg_count: Counter = Counter()
    ent_first: dict[EntityKey, dict] = {}
    trig_first: dict[TriggerKey, dict] = {}
    for r in votes:  # newest first: the newest annotation's region ids and text are kept
        c = content_of(r)
        ent_count.update(c.entities)
        trig_count.update(c.triggers)
        arg_count.update(c.arguments)
        for e in r["entities"]:
            ent_first.setdefault((e["start"], e["end"], e["label"]), e)
        for t in r["triggers"]:
            trig_first.setdefault((t["start"], t["end"], t["event_type"]), t)
    ents = sorted(k for k, n in ent_count.items() if n >= need)
    trigs = sorted(k for k, n in trig_count.items() if n >= need)
    args = sorted(
        k for k, n in arg_count.items() if n >= need and k[0] in set(trigs) and k[1] in set(ents)
    )
    choices = Counter(r.get("choice") for r in votes if r.get("choice") is not None)
    choice = None
    if choices:
        top = max(choices.values())
        # Ties go to the newest annotation among the tied choices.
        choice = next(r["choice"] for r in votes if choices.get(r.get("choice")) == top)

    entities = [dict(ent_first[k]) for k in ents]
    triggers = [dict(trig_first[k]) for k in trigs]
    ent_id = {k: ent_first[k]["id"] for k in ents}
    trig_id = {k: trig_first[k]["id"] for k in trigs}
    arguments = [
        {"trigger_id": trig_id[t], "entity_id": ent_id[e], "role": role} for t, e, role in args
    ]
    newest = votes[0]
    built = dict(newest)
    built.update(
        annotator=MAJORITY_ANNOTATOR,
        lead_time=None,
        prediction_id=None,
        prediction_model_version=None,
        entities=entities,
        triggers=triggers,
        arguments=arguments,
        choice=choice,
        raw_result=json.dumps(
            {
                "policy": "majority",
                "annotators": len(votes),
                "from_annotations": sorted(r["annotation_id"] for r in votes),
                "result": to_ls_result(entities, triggers, arguments, choice),
            },
            ensure_ascii=False,
        ),
    )
    return built


def to_ls_result(
    entities: list[dict], triggers: list[dict], arguments: list[dict], choice: str | None
) -> list[dict[str, Any]]:
    """Label Studio `result` items for spans, relations and a choice (used for built rows and
    for review predictions)."""
    out: list[dict[str, Any]] = []
    for name, spans, key in (("entities", entities, "label"), ("triggers", triggers, "event_type")):
        for s in spans:
            out.append(
                {
                    "id": s["id"],
                    "from_name": name,
                    "to_name": "text",
                    "type": "labels",
                    "value": {
                        "start": s["start"],
                        "end": s["end"],
                        "text": s["text"],
                        "labels": [s[key]],
                    },
                }
            )
    for a in arguments:
        out.append(
            {
                "type": "relation",
                "from_id": a["trigger_id"],
                "to_id": a["entity_id"],
                "direction": "right",
                "labels": [a["role"]],
            }
        )
    if choice is not None:
        out.append(
            {
                "id": "sentence-choice",
                "from_name": "sentence",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [choice]},
            }
        )
    return out


def adjudicate(
    annotations: pa.Table, policy: str = "latest", reviewer: str | None = None
) -> pa.Table:
    """One non-cancelled ANNOTATIONS row per sentence_id, chosen by `policy` (module docstring).

    Sentences whose annotations are all cancelled are left out. Review decisions win.
    """
    if policy not in POLICIES:
        raise AdjudicationError(f"unknown policy {policy!r}")
    if policy == "reviewer" and not reviewer:
        raise AdjudicationError("policy 'reviewer' needs a reviewer annotator id")
    out = []
    for _sid, rows in sorted(_group(annotations.to_pylist()).items()):
        live = [r for r in rows if not r["cancelled"]]
        if not live:
            continue
        decisions = [r for r in live if is_review_decision(r)]
        if decisions:
            out.append(max(decisions, key=_recency))
            continue
        if policy == "reviewer":
            mine = [r for r in live if r["annotator"] == reviewer]
            out.append(max(mine or live, key=_recency))
        elif policy == "majority":
            out.append(_majority_row(live))
        else:
            out.append(max(live, key=_recency))
    return pa.Table.from_pylist(out, schema=ANNOTATIONS)


def workspace_policy(workspace: Any) -> tuple[str, str | None]:
    """(policy, reviewer) from corpus.toml `[adjudication]`, checked.

    `reviewer` may be a pseudonymous id (``ann-...``, as `corpus agreement` lists them) or the
    reviewer's Label Studio user id (a number), which is turned into the pseudonymous id here.
    """
    from corpus.errors import WorkspaceConfigError
    from corpus.pull.parse import Pseudonymizer
    from corpus.workspace import CONFIG_NAME

    cfg = workspace.section("adjudication")
    policy = cfg.get("policy", "latest")
    reviewer = cfg.get("reviewer") or None
    where = str(workspace.root / CONFIG_NAME)
    if policy not in POLICIES:
        raise WorkspaceConfigError(
            where, f"[adjudication] policy must be one of {', '.join(POLICIES)}, not {policy!r}"
        )
    if (
        isinstance(reviewer, int)
        and not isinstance(reviewer, bool)
        or (isinstance(reviewer, str) and reviewer.isdigit())
    ):
        reviewer = Pseudonymizer.for_workspace(workspace).for_user_id(int(reviewer))
    if policy == "reviewer" and not reviewer:
        raise WorkspaceConfigError(
            where, "[adjudication] policy 'reviewer' needs reviewer = ANNOTATOR_ID or LS_USER_ID"
        )
    return policy, reviewer


def adjudicate_workspace(workspace: Any) -> pa.Table:
    """The workspace's pulled annotations adjudicated with its configured policy."""
    from corpus.io import (
        read_table,
        require,
    )

    path = require(workspace.annotations_path, "corpus pull")
    policy, reviewer = workspace_policy(workspace)
    return adjudicate(read_table(path, schema=ANNOTATIONS), policy=policy, reviewer=reviewer)


# --- review tasks: each conflicting version shown as a prediction ------------------------------


def review_key(conflict: Conflict) -> str:
    """Identifies a conflict as pushed: the same versions are never pushed twice, a new edit
    makes a new review task."""
    from corpus.ids import content_id

    versions = sorted(f"{r['annotation_id']}@{r['updated_at']}" for r in conflict.rows)
    return content_id(conflict.sentence_id, *versions, prefix="r")


def review_task(
    conflict: Conflict, title: str | None, context_before: str | None, context_after: str | None
) -> dict[str, Any]:
    """A Label Studio task for a conflicting sentence: the usual task data, and one prediction
    per annotator's version (model_version names the annotator and annotation), so the reviewer
    picks one, edits it and submits the decision."""
    from corpus.labelstudio.tasks import shown_context

    newest = conflict.rows[0]
    title, context_before, context_after = shown_context(
        newest["sentence_text"], title, context_before, context_after
    )
    data = {
        "text": newest["sentence_text"],
        "sentence_id": conflict.sentence_id,
        "article_id": newest["article_id"],
        "title": title,
        "context_before": context_before,
        "context_after": context_after,
        "review_key": review_key(conflict),
        "differs": ", ".join(conflict.differs),
    }
    predictions = [
        {
            "model_version": f"{r['annotator']} #{r['annotation_id']}",
            "result": to_ls_result(r["entities"], r["triggers"], r["arguments"], r["choice"]),
        }
        for r in conflict.rows
    ]
    return {"data": data, "predictions": predictions}
