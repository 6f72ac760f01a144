"""Stage 6, publish: immutable dataset versions.

The steps, in the order `build.publish` runs them: `annotations` (read and adjudicate),
`configs` (features and the nested rows of each config), `tokens` (tokens and BIO tags),
`splits` (by article group), `stats` (figures for the card), `card` (README.md), `manifest`
(versions, checksums). `release` reads published versions: verify, diff, copy, push.
"""
