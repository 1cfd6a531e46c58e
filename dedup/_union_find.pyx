# cython: language_level=3
"""Union-find over int64 node indices: the in-memory finish of connected components.

Union by rank with path halving, so a batch of E edges over N nodes costs
O((N + E) * alpha(N)). Everything runs with the GIL released over two arrays
(int64 parents, uint8 ranks: 9 bytes a node) and the parent array becomes the
result. The pure-Python twin is ``dedup.components.component_labels_reference``.
"""
from libc.stdint cimport int64_t, uint8_t

import numpy as np


cdef inline int64_t _find(int64_t* parent, int64_t x) noexcept nogil:
    # Path halving: every visited node skips to its grandparent, which flattens
    # the tree as fast as full compression without a second pass or a stack.
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


cdef Py_ssize_t _first_out_of_range(const int64_t* ids, Py_ssize_t count,
                                    int64_t num_nodes) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(count):
        if ids[k] < 0 or ids[k] >= num_nodes:
            return k
    return -1


cdef void _min_labels(const int64_t* src, const int64_t* dst, Py_ssize_t num_edges,
                      int64_t* parent, uint8_t* rank, int64_t num_nodes) noexcept nogil:
    cdef int64_t i, a, b, p, q, label
    cdef Py_ssize_t k
    for i in range(num_nodes):
        parent[i] = i
        rank[i] = 0
    for k in range(num_edges):
        a = _find(parent, src[k])
        b = _find(parent, dst[k])
        if a == b:
            continue
        if rank[a] < rank[b]:
            a, b = b, a
        parent[b] = a
        if rank[a] == rank[b]:
            rank[a] += 1
    # Point every node straight at its root; roots keep parent[r] == r.
    for i in range(num_nodes):
        parent[i] = _find(parent, i)
    # Ascending scan: the first node met in a component is its minimum. A
    # root's slot, once its component has been met, stores that minimum, and
    # each visited node's slot is overwritten by its label. Three cases for
    # p = parent[i]:
    #   p == i: i is a root nobody met yet, so i is its component's minimum;
    #   p > i:  p is a root not yet visited; parent[p] == p means i is the
    #           first of the component (record it there), else it holds the min;
    #   p < i:  p was visited already and its slot holds the label.
    for i in range(num_nodes):
        p = parent[i]
        if p == i:
            label = i
        elif p > i:
            q = parent[p]
            if q == p:
                parent[p] = i
                label = i
            else:
                label = q
        else:
            label = parent[p]
        parent[i] = label


def min_labels(const int64_t[::1] src, const int64_t[::1] dst, int64_t num_nodes):
    """int64[num_nodes]: for every node, the smallest node index of its component.

    Edge k joins ``src[k]`` and ``dst[k]``; both must lie in ``[0, num_nodes)``.
    Self-edges and repeated edges are allowed. The labels depend only on the
    partition the edges induce, never on their order or orientation.
    """
    cdef Py_ssize_t num_edges = src.shape[0]
    cdef Py_ssize_t bad
    if dst.shape[0] != num_edges:
        raise ValueError(f"src has {num_edges} endpoints but dst has {dst.shape[0]}")
    if num_nodes < 0:
        raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
    labels = np.empty(num_nodes, dtype=np.int64)
    ranks = np.empty(num_nodes, dtype=np.uint8)
    cdef int64_t[::1] parent = labels
    cdef uint8_t[::1] rank = ranks
    if num_edges == 0:
        labels[:] = np.arange(num_nodes, dtype=np.int64)
        return labels
    cdef const int64_t* s = &src[0]
    cdef const int64_t* d = &dst[0]
    with nogil:
        bad = _first_out_of_range(s, num_edges, num_nodes)
        if bad < 0:
            bad = _first_out_of_range(d, num_edges, num_nodes)
    if bad >= 0:
        raise ValueError(
            f"edge {bad} has an endpoint outside [0, {num_nodes}): "
            f"({src[bad]}, {dst[bad]})"
        )
    with nogil:
        _min_labels(s, d, num_edges, &parent[0], &rank[0], num_nodes)
    return labels
