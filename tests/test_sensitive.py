"""Sensitive items follow the text through every rewrite (sanitize.sensitive.apply_edits)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitize.sensitive import apply_edits


def _spans(draw, length: int, max_spans: int) -> list[tuple[int, int]]:
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=2 * max_spans, unique=True)))
    return [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]


@st.composite
def rewrites(draw):
    text = draw(st.text(alphabet="ab cé€𝄞\n", min_size=0, max_size=60))
    items = [[s, e, "PERSON", "trace"] for s, e in _spans(draw, len(text), 6) if e > s]
    edits = []
    for s, e in _spans(draw, len(text), 6):
        replacement = draw(st.text(alphabet="xyZ ", max_size=8))
        edits.append((s, e, replacement, draw(st.sampled_from([None, ("EMAIL_ADDRESS", "surrogate")]))))
    return text, edits, items


@settings(max_examples=400, deadline=None)
@given(rewrites())
def test_items_keep_their_values_and_edits_become_items(case):
    text, edits, items = case
    new_text, new_items = apply_edits(text, edits, items)
    # the new text is the plain rewrite
    expected, pos = [], 0
    for s, e, replacement, _ in edits:
        expected += [text[pos:s], replacement]
        pos = e
    assert new_text == "".join(expected) + text[pos:]
    # an old item survives exactly when no edit overlaps it (an empty edit at its inside counts), with its value
    survivors = [it for it in items
                 if not any(s < it[1] and it[0] < e or (s == e and it[0] < s < it[1]) for s, e, _, _ in edits)]
    old = [(text[s:e], o) for s, e, _, o in survivors]
    assert [(new_text[s:e], o) for s, e, _, o in new_items if o == "trace"] == old
    # each replacement that is a value is an item holding exactly that replacement
    written = [r for _, _, r, item in edits if item is not None and r]
    assert [new_text[s:e] for s, e, _, o in new_items if o == "surrogate"] == written
    # sorted and non-overlapping
    assert all(a[1] <= b[0] for a, b in zip(new_items, new_items[1:]))


def test_an_item_cut_by_an_edit_is_dropped_and_later_ones_move():
    text = "Ann Lee and Bo Chan met"
    items = [[0, 7, "PERSON", "trace"], [12, 19, "PERSON", "trace"]]
    new_text, new_items = apply_edits(text, [(4, 7, "Kowalczyk", None)], items)
    assert new_text == "Ann Kowalczyk and Bo Chan met"
    assert [new_text[s:e] for s, e, _, _ in new_items] == ["Bo Chan"]


def test_overlapping_items_or_edits_are_refused_with_offsets_only():
    with pytest.raises(ValueError, match=r"items overlap or are unsorted: \[0, 7\) then \[4, 9\)"):
        apply_edits("Ann Lee Smith", [], [[0, 7, "PERSON", "trace"], [4, 9, "PERSON", "allowed"]])
    with pytest.raises(ValueError, match="edits overlap"):
        apply_edits("Ann Lee Smith", [(0, 7, "x", None), (4, 9, "y", None)])
