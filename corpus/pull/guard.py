"""Refuse a pull that would drop valid annotations because of a local ontology edit.

A pull validates every region against the workspace ontology. When a label is removed from the
YAML before the project is updated, a re-validating pull would quarantine, and so remove from
data/annotations.parquet, every annotation that uses it; a publish right then would silently
lose sentences. `project push` refuses the same edit; so does pull, saying what to do.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from corpus.errors import CorpusError


class OntologyDropsLabels(CorpusError):
    """The workspace ontology no longer has labels that pulled annotations use."""

    def __init__(self, ontology_path: Path, uses: dict[str, Counter]):
        listed = "; ".join(
            f"{what}: " + ", ".join(f"{label} ({n} annotations)" for label, n in sorted(c.items()))
            for what, c in uses.items()
            if c
        )
        super().__init__(
            f"The ontology ({ontology_path}) no longer has labels that pulled annotations use "
            f"({listed}); pulling now would remove those annotations.",
            "Put the labels back in the ontology and pull again; to retire a label, change "
            "those annotations in Label Studio first, then run `corpus project create` and "
            "`corpus pull --full`.",
        )
        self.uses = uses


class OntologyChanged(CorpusError):
    """The ontology changed since the project's labeling config was generated from it."""

    def __init__(self, ontology_path: Path, project_id: int):
        super().__init__(
            f"The ontology ({ontology_path}) changed since project {project_id} was set up: "
            "its annotations would be validated against labels the annotators do not have.",
            "Run `corpus project create` to update the project first (it refuses to drop "
            "labels that annotations still use), then pull again.",
        )


def labels_missing(annotations_path: Path, vocab: Any, project_id: int) -> dict[str, Counter]:
    """Per kind, the labels of `project_id`'s pulled rows that `vocab` no longer has, counted
    once per annotation."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from corpus.io import exists, parquet_file

    uses: dict[str, Counter] = {k: Counter() for k in ("entities", "events", "roles", "choices")}
    if not exists(annotations_path):
        return uses
    columns = ["project_id", "entities", "triggers", "arguments", "choice"]
    allowed = {
        ("entities", "label"): vocab.entity_types,
        ("triggers", "event_type"): frozenset(vocab.event_roles),
        ("arguments", "role"): vocab.roles,
    }
    kind_of = {"entities": "entities", "triggers": "events", "arguments": "roles"}

    def unknown(values: Any, known: frozenset) -> Any:
        return pc.invert(pc.is_in(values, value_set=pa.array(sorted(known), pa.string())))

    try:  # streamed and vectorised: a million annotations are checked in seconds
        for batch in parquet_file(annotations_path).iter_batches(4096, columns=columns):
            t = batch.filter(pc.equal(batch.column("project_id"), project_id))
            for (col, field), known in allowed.items():
                lists = t.column(col)
                values = pc.struct_field(pc.list_flatten(lists), field)
                bad = pc.fill_null(unknown(values, known), True)
                if pc.any(bad).as_py():
                    parents = pc.list_parent_indices(lists).filter(bad).to_pylist()
                    labels = values.filter(bad).to_pylist()
                    # Counted once per annotation, however many of its spans use the label.
                    uses[kind_of[col]].update(
                        label for _, label in set(zip(parents, labels, strict=True))
                    )
            choices = t.column("choice")
            bad = pc.and_(
                pc.is_valid(choices), pc.fill_null(unknown(choices, vocab.choices), False)
            )
            uses["choices"].update(choices.filter(bad).to_pylist())
    except (pa.ArrowException, OSError, KeyError) as e:
        raise CorpusError(
            f"{annotations_path} is not a readable annotations file ({e}).",
            "Move it aside (or restore it from a backup), then run `corpus pull --full`: "
            "everything is in Label Studio.",
        ) from e
    return uses


def check_pull_keeps_annotations(workspace: Any, vocab: Any, project_id: int) -> None:
    """Raise when pulling `project_id` now would remove annotations over an ontology edit."""
    project = workspace.read_state("project")
    recorded = project.get("ontology_hash")
    if recorded and vocab.hash and str(project.get("project_id")) == str(project_id):
        if recorded != vocab.hash:
            raise OntologyChanged(workspace.ontology_path, project_id)
    uses = labels_missing(workspace.annotations_path, vocab, project_id)
    if any(uses.values()):
        raise OntologyDropsLabels(workspace.ontology_path, uses)
