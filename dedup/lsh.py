"""Locality-sensitive hashing over MinHash signatures: banding, its S-curve, and candidates.

A signature of ``k = bands × rows`` values is cut into ``bands`` bands of
``rows`` consecutive values; two documents become candidates when any band
is identical. For a pair with Jaccard similarity ``s`` each value agrees with
probability ``s``, so a band agrees with probability ``s**rows`` and

    P(candidate | s) = 1 - (1 - s**rows) ** bands          (the S-curve)

More rows make the curve steeper and push it right (fewer false positives,
more false negatives); more bands push it left. :func:`optimal_bands_rows`
picks ``(bands, rows)`` for a Jaccard threshold ``t`` as datasketch does: it
minimizes ``fp_weight · ∫₀ᵗ P(s) ds + fn_weight · ∫ₜ¹ (1 - P(s)) ds``, the
weighted areas of false-positive and false-negative probability. Candidates
are verified afterwards, so false positives cost only verification work,
which is why demem's defaults weigh false negatives more.

Buckets can be huge (100k copies of a template): :func:`bucket_pairs` links
every member to the bucket's first member and to its successor instead of
emitting all n·(n-1)/2 pairs, which keeps the work linear and, with the
union-find afterwards, the clusters the same.
"""
from __future__ import annotations

import numpy as np

from dedup.hashing import murmur3_128

_GRID = np.linspace(0.0, 1.0, 2001)  # integration grid: error < 1e-6 on these smooth curves


def collision_probability(similarity, bands: int, rows: int):
    """P(two documents share at least one band | Jaccard ``similarity``)."""
    s = np.asarray(similarity, dtype=float)
    return 1.0 - (1.0 - s**rows) ** bands


def _area(values: np.ndarray, grid: np.ndarray) -> float:
    return float(np.trapezoid(values, grid)) if len(grid) > 1 else 0.0


def error_weights(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    """(false-positive area below ``threshold``, false-negative area above it)."""
    low = _GRID[_GRID <= threshold]
    high = _GRID[_GRID >= threshold]
    fp = _area(collision_probability(low, bands, rows), low)
    fn = _area(1.0 - collision_probability(high, bands, rows), high)
    return fp, fn


def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """The (bands, rows) with bands·rows <= num_perm minimizing the weighted error areas."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp, fn = error_weights(threshold, bands, rows)
            error = fp * fp_weight + fn * fn_weight
            if error < best_error - 1e-12:
                best, best_error = (bands, rows), error
    return best


def s_curve(bands: int, rows: int, points=(0.5, 0.7, 0.8, 0.9)) -> dict[str, float]:
    """P(candidate) at each similarity in ``points``, for the report."""
    return {f"{p:.2f}": round(float(collision_probability(p, bands, rows)), 6) for p in points}


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit key per band: MurmurHash3 of the band's values, seeded by the band index.

    Keys of different bands never meet (the caller keys buckets by
    ``(band, key)``); within a band, unequal value runs collide with odds
    ~2**-64.
    """
    raw = np.ascontiguousarray(signature[: bands * rows], dtype="<u8").tobytes()
    width = rows * 8
    return [murmur3_128(raw[b * width : (b + 1) * width], b)[0] for b in range(bands)]


def bucket_pairs(members: list, all_pairs_up_to: int) -> list[tuple]:
    """Candidate pairs ``(a, b)``, ``a < b``, among the members of one bucket.

    Up to ``all_pairs_up_to`` members every pair is a candidate. Beyond,
    each member is paired with the first member (a star) and with the next
    member in order (a chain): 2·n pairs, and every member still reaches
    the first through verified links whenever the bucket is a true cluster.
    """
    members = sorted(set(members))
    n = len(members)
    if n < 2:
        return []
    if n <= all_pairs_up_to:
        return [(members[i], members[j]) for i in range(n) for j in range(i + 1, n)]
    first = members[0]
    pairs = {(first, m) for m in members[1:]}
    pairs.update(zip(members[1:], members[2:]))
    return sorted(pairs)
