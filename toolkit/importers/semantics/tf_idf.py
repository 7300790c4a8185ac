"""TfIdfVectorizer: its n-gram pool and which (skip, size) windows are counted, for both tables."""

from __future__ import annotations

MODES = ("TF", "IDF", "TFIDF")


def check(attributes, context) -> str:
    mode = attributes.get("mode")
    return "" if mode in MODES else f"mode={mode!r} is not one of {', '.join(MODES)}"


def pool(items, ngram_counts, ngram_indexes) -> dict[tuple, int]:
    """ONNX TfIdfVectorizer's pool: the n-grams of each length n from ngram_counts[n-1] on, each
    mapped to its output position in ngram_indexes (in pool order)."""
    grams, ends = {}, [*ngram_counts[1:], len(items)]
    positions = iter(ngram_indexes)
    for size, (start, end) in enumerate(zip(ngram_counts, ends, strict=True), start=1):
        for offset in range(start, end, size):
            grams[tuple(items[offset : offset + size])] = next(positions)
    return grams


def windows(low: int, high: int, max_skip_count: int) -> list[tuple[int, int]]:
    """(skip, size) pairs counted: every size at skip 1; unigrams only once, not again for every
    skip distance (as onnxruntime does)."""
    return [
        (skip, size)
        for skip in range(1, max_skip_count + 2)
        for size in range(low if skip == 1 else max(low, 2), high + 1)
    ]
