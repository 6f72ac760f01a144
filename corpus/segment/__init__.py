"""Stage 2, segment: Arabic sentence spans into each article's canonical text.

`sentence_spans(text)` returns `[(start, end), ...]` code-point offsets; `segment_batch` is the
stage's pure batch function (articles table in, sentences table out).
"""

from corpus.segment.spans import segment_batch, sentence_spans

__all__ = ["segment_batch", "sentence_spans"]
