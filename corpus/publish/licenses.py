"""The licence of a release, from the licences of its sources.

Each article carries its source's SPDX licence id (`license` in articles.parquet, from
`corpus ingest --license`; null when unknown, and for files written before the column
existed). The release licence is, in order:

1. the one the user chose: `corpus publish --license ID`, else `[publish] license` in
   corpus.toml (they take responsibility for it; the card says it was chosen);
2. else, derived from the sources:
   - every article's licence unknown, or some unknown -> `other` (nothing can be claimed for the
     unknown part);
   - one licence -> that licence;
   - several -> the most restrictive of them, when the others can be combined into it (the
     table below); otherwise publish refuses, naming the two licences and why.

Compatibility (a deliberately small table; anything it does not know is not combined):

| family | examples | combines with | result |
|---|---|---|---|
| public domain | CC0-1.0, PDDL-1.0 | everything below | the other licence |
| attribution | CC-BY-*, MIT, Apache-2.0, BSD-*, ODC-By-1.0 | PD, attribution, NC, one SA | most restrictive |
| non-commercial | CC-BY-NC-* | PD, attribution, NC, CC-BY-NC-SA | NC (or NC-SA) |
| share-alike | CC-BY-SA-*, ODbL-1.0 | PD, attribution, the same SA (any version) | that SA |
| NC share-alike | CC-BY-NC-SA-* | PD, attribution, NC, the same NC-SA | that NC-SA |
| no derivatives | CC-BY-ND-*, CC-BY-NC-ND-* | nothing else (an annotated corpus adapts it) | refused |

Share-alike and non-commercial cannot meet (CC-BY-SA forbids adding the NC restriction), two
different share-alike licences cannot meet, and a licence the table does not know (e.g.
`LicenseRef-...`) is only used alone. Within a family the highest version wins (4.0 over 3.0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from corpus.errors import ReleaseError

_PUBLIC = {"CC0-1.0", "PDDL-1.0"}
_PERMISSIVE = re.compile(r"^(MIT|Apache-2\.0|BSD-[0-9A-Za-z.-]+|ODC-By-1\.0|ISC)$", re.I)
_CC = re.compile(r"^CC-BY(?P<mods>(-(NC|SA|ND))*)-(?P<ver>\d+\.\d+)(-[A-Z]+)?$", re.I)
_SHARE_ALIKE_DATA = {"ODBL-1.0"}


@dataclass(frozen=True)
class Terms:
    """What a licence requires of a combined work (None: the table does not know it)."""

    id: str
    family: str  # public, attribution, nc, sa, nc-sa, nd, unknown
    version: float = 0.0

    @property
    def lineage(self) -> str:
        """Licences of one lineage differ only in version (CC-BY-SA-3.0 and -4.0)."""
        m = _CC.match(self.id)
        return f"CC-BY{m['mods'].upper()}" if m else self.id.upper()


def terms(spdx: str) -> Terms:
    """The family of an SPDX licence id (case-insensitive)."""
    up = spdx.strip().upper()
    if up in _PUBLIC:
        return Terms(spdx, "public")
    if up in _SHARE_ALIKE_DATA:
        return Terms(spdx, "sa")
    if _PERMISSIVE.match(spdx.strip()):
        return Terms(spdx, "attribution")
    m = _CC.match(spdx.strip())
    if not m:
        return Terms(spdx, "unknown")
    mods = set(filter(None, m["mods"].upper().split("-")))
    if "ND" in mods:
        family = "nd"
    elif mods == {"NC", "SA"}:
        family = "nc-sa"
    elif "SA" in mods:
        family = "sa"
    elif "NC" in mods:
        family = "nc"
    else:
        family = "attribution"
    return Terms(spdx, family, float(m["ver"]))


_WHY = {
    frozenset({"sa", "nc"}): "a share-alike licence forbids adding the non-commercial restriction",
    frozenset({"sa", "nc-sa"}): "two different share-alike licences cannot both apply",
    frozenset({"sa"}): "two different share-alike licences cannot both apply",
    frozenset({"nc-sa"}): "two different share-alike licences cannot both apply",
}
_RANK = {"public": 0, "attribution": 1, "nc": 2, "sa": 3, "nc-sa": 4}


def _combine(a: Terms, b: Terms) -> Terms:
    """The licence a work combining `a` and `b` can carry, or ReleaseError saying why not."""
    if a.lineage == b.lineage:
        return a if a.version >= b.version else b
    families = {a.family, b.family}
    if "nd" in families:
        why = "a no-derivatives licence does not allow an annotated, combined corpus"
    elif "unknown" in families:
        unknown = a if a.family == "unknown" else b
        why = f"{unknown.id} is not in the compatibility table, so it is only used alone"
    elif families in ({"sa", "nc"}, {"sa", "nc-sa"}) or (
        a.family == b.family and a.family in ("sa", "nc-sa")
    ):
        why = _WHY[frozenset(families)]
    else:
        if {a.family, b.family} == {"attribution"}:
            # Two permissive licences of different lineages (MIT and CC-BY-4.0): CC-BY carries
            # the attribution duty of both; otherwise the ids are kept as an SPDX AND.
            cc = [t for t in (a, b) if _CC.match(t.id)]
            if cc:
                return max(cc, key=lambda t: t.version)
            return Terms(f"{a.id} AND {b.id}", "attribution")
        return a if _RANK[a.family] >= _RANK[b.family] else b
    raise _Conflict(a.id, b.id, why)


class _Conflict(Exception):
    def __init__(self, a: str, b: str, why: str) -> None:
        super().__init__(why)
        self.a, self.b, self.why = a, b, why


def hub_license(spdx: str) -> str:
    """The Hugging Face card `license` value of an SPDX id (lower case; `other` if none)."""
    t = terms(spdx)
    if t.family == "unknown" or " " in spdx:
        return "other"
    return spdx.strip().lower()


def release_license(
    sources: list[dict[str, Any]], chosen: str | None, chosen_by: str | None = None
) -> dict[str, Any]:
    """The release licence and how it was decided, from `sources` rows (`source`,
    `license` or None, `articles`). Raises ReleaseError when licences cannot be combined and
    none was chosen."""
    known = sorted({s["license"] for s in sources if s["license"]})
    unknown = sum(s["articles"] for s in sources if not s["license"])
    if chosen:
        return {
            "id": chosen,
            "hub": hub_license(chosen),
            "rule": f"chosen ({chosen_by or '--license'})",
        }
    if unknown:
        return {
            "id": None,
            "hub": "other",
            "rule": f"{unknown:,} article(s) have no recorded licence",
        }
    if not known:
        return {"id": None, "hub": "other", "rule": "no source licence recorded"}
    result = terms(known[0])
    try:
        for spdx in known[1:]:
            result = _combine(result, terms(spdx))
    except _Conflict as c:

        def named(lic: str) -> str:
            names = sorted(s["source"] for s in sources if s["license"] == lic)
            more = f" and {len(names) - 2} more" if len(names) > 2 else ""
            return f"{lic} ({', '.join(names[:2])}{more})" if names else lic

        a = c.a if c.a in known else result.id
        raise ReleaseError(
            f"Cannot combine sources licensed {named(a)} and {named(c.b)}: {c.why}.",
            "Choose the release licence with `corpus publish VERSION --license ID` (if you "
            "may), or leave one of the sources out.",
        ) from None
    rule = "the sources' licence" if len(known) == 1 else "the most restrictive compatible licence"
    return {"id": result.id, "hub": hub_license(result.id), "rule": rule}


def source_counts(articles: Any) -> list[dict[str, Any]]:
    """`source`, `license`, `articles` per source of an articles table (a missing `license`
    column, from files written before it existed, reads as unknown)."""
    import pyarrow as pa

    t = articles.select(["source"])
    lic = (
        articles["license"]
        if "license" in articles.column_names
        else pa.nulls(articles.num_rows, pa.string())
    )
    t = t.append_column("license", lic).append_column(
        "n", pa.repeat(pa.scalar(1, pa.int64()), articles.num_rows)
    )
    g = t.group_by(["source", "license"], use_threads=False).aggregate([("n", "sum")])
    rows = [
        {"source": r["source"], "license": r["license"], "articles": r["n_sum"]}
        for r in g.to_pylist()
    ]
    return sorted(rows, key=lambda r: (r["source"], r["license"] or ""))
