"""Content-derived ids: re-running a stage gives the same ids."""

from __future__ import annotations

import hashlib


def content_id(*parts: object, prefix: str = "", length: int = 16) -> str:
    """A stable hex id from the parts (joined with a separator no part can contain)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return prefix + h.hexdigest()[:length]
