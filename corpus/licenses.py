"""SPDX licence ids: what `corpus ingest --license` and corpus.toml `[sources."NAME"] license`
accept, matched whole (a trailing newline or a typo'd value is refused)."""

from __future__ import annotations

import re

from corpus.errors import CorpusError

# An SPDX licence id (CC-BY-4.0, MIT, LicenseRef-agency-terms) or a simple expression of ids
# joined by AND / OR / WITH.
_SPDX_ID = r"[A-Za-z0-9](?:[A-Za-z0-9.+-]*[A-Za-z0-9+])?"
SPDX = re.compile(rf"{_SPDX_ID}(?: (?:AND|OR|WITH) {_SPDX_ID})*")
HINT = (
    "Use an id from https://spdx.org/licenses/ such as CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0 or MIT, "
    "or LicenseRef-NAME for other terms."
)


def is_license(value: object) -> bool:
    return isinstance(value, str) and SPDX.fullmatch(value) is not None


def check_license(value: object, where: str) -> str:
    """`value` if it is shaped like an SPDX licence id or expression, else a clear error."""
    if is_license(value):
        return value  # type: ignore[return-value]
    raise CorpusError(f"{where}: {value!r} is not an SPDX licence id", HINT)
