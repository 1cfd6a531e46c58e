"""Sensitive items: where a document still holds values a scrubbing stage wrote or left, for frequency dilution.

A document may carry :data:`KEY`, a list of ``[start, end, entity_type,
origin]``: character offsets into its *current* text, sorted and not
overlapping. ``origin`` says why the value is there:

==============  =====================================================================
``surrogate``   a PII surrogate (``sanitize.pii``, operator ``surrogate``)
``hash``        a keyed digest (``sanitize.pii``, operator ``hash``)
``allowed``     a detected value the allow list kept verbatim
``trace``       a surrogate for a de-identification marker (``sanitize.traces``)
``dilution``    a fresh surrogate the dilution stage wrote over a too-frequent value
==============  =====================================================================

Values of operators that leave no value (``tag``, ``redact``, ``mask``) are
not items. A stage that rewrites text moves the items it did not touch and
drops those its edits overlap (:func:`apply_edits`); the dilution stage
(``sanitize.dilution``) counts the values behind the spans corpus-wide by a
keyed hash. Items live only inside the pipeline: the writer keeps them out
of the output rows.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

KEY = "sensitive"


def apply_edits(text: str, edits: Sequence[tuple[int, int, str, tuple | None]],
                items: Iterable[Sequence] = ()) -> tuple[str, list[list]]:
    """``text`` with ``edits`` applied, and the items that hold in the new text.

    ``edits`` are ``(start, end, replacement, item)`` sorted and not
    overlapping, offsets into ``text``; ``item`` is ``(entity_type, origin)``
    for a replacement that is itself a sensitive value, else None. Existing
    ``items`` (not overlapping one another) that overlap an edit are dropped
    (their value was rewritten); the others move with the text around them.
    Overlapping or unsorted input is a ValueError naming offsets only.
    """
    old = sorted(items)
    _check_disjoint([(s, e) for s, e, *_ in old], "items")
    _check_disjoint([(s, e) for s, e, *_ in edits], "edits")
    parts, new_items, pos, shift = [], [], 0, 0
    i = 0
    for start, end, replacement, item in edits:
        while i < len(old) and old[i][0] < start:
            s, e, entity_type, origin = old[i]
            if e <= start:
                new_items.append([s + shift, e + shift, entity_type, origin])
            i += 1
        while i < len(old) and old[i][0] < end:  # starts inside the edit: overwritten
            i += 1
        parts.append(text[pos:start])
        new_start = start + shift
        if item is not None and replacement:
            new_items.append([new_start, new_start + len(replacement), *item])
        parts.append(replacement)
        shift += len(replacement) - (end - start)
        pos = end
    parts.append(text[pos:])
    for s, e, entity_type, origin in old[i:]:
        new_items.append([s + shift, e + shift, entity_type, origin])
    return "".join(parts), new_items


def _check_disjoint(spans: list[tuple[int, int]], what: str) -> None:
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        if s2 < e1 or s2 < s1:
            raise ValueError(f"sensitive {what} overlap or are unsorted: [{s1}, {e1}) then [{s2}, {e2})")
