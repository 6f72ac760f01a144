"""Small shared types passed between stages.

Offsets are always Python code points into the canonical article text (or into the sentence text
where a docstring says so), end-exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SpanKind = Literal["entity", "trigger"]


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled span `[start, end)` with where it came from and how sure the source is."""

    start: int
    end: int
    label: str
    kind: SpanKind = "entity"
    score: float = 1.0
    source: str = ""

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(slots=True)
class QuarantinedRow:
    """A row kept aside with the reason it was rejected, so nothing is lost."""

    source: str
    location: str  # "line 12", "row 3", "file a.txt"
    reason: str
    raw: str = ""


@dataclass(slots=True)
class StageCounts:
    """What a stage did with the rows it read; `read == accepted + duplicate + quarantined`."""

    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    extra: dict[str, int] = field(default_factory=dict)
