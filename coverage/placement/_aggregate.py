"""Aggregated placement models: valid upper bounds from clustered demand points.

Demand points of one level reach overlapping sets of candidate courses; a
county-size block has about a thousand merged points with ~20 candidates each,
mostly fractions of a person. The LP relaxation of the compact model is weak
there (a fractional course needs only a fraction of its minimum group), and the
strong links ``x_dk ≤ w_d y_k`` that fix this make every LP slow.

Here points are grouped into clusters with similar candidate sets. The
aggregated model has one point per cluster ``c`` with all its persons ``W_c`` and
an edge to every candidate ``k`` reached by some member, bounded by the persons
``W_ck`` of the members that reach ``k`` (also in the strong link
``x_ck ≤ W_ck y_k``). Every solution of the original model, summed over the
members of each cluster, is a solution of the aggregated model with the same
value, so the optimum (and any dual bound) of the aggregated model bounds the
original one from above. The aggregated model is small enough for the strong
formulation. Its selection, evaluated on the original points, is a feasible
solution; clusters whose members could not be served as the aggregated solution
assumed are split, and the model is solved again (iterative aggregation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import cut_tree, linkage

from coverage.placement._milp import Merged

__all__: list[str] = []

logger = logging.getLogger(__name__)

_MAX_DENSE = 6000  # points up to which the hierarchical clustering is used


@dataclass(frozen=True)
class Aggregated:
    """An aggregated instance.

    Attributes
    ----------
    merged
        Cluster weights ``W_c``, values and the union cover ``(n_c, n_k)``.
    edge_weight
        ``W_ck`` per stored entry of ``merged.cover`` (csr order).
    labels
        Cluster of every original point, ``(m,)``.
    """

    merged: Merged
    edge_weight: np.ndarray
    labels: np.ndarray


def _cut(cover: np.ndarray, n: int) -> np.ndarray:
    """Labels ``0 … n−1`` of a complete-linkage clustering by Jaccard distance."""
    m = cover.shape[0]
    if n >= m:
        return np.arange(m)
    if n <= 1:
        return np.zeros(m, np.int64)
    z = linkage(cover, method="complete", metric="jaccard")
    lab = cut_tree(z, n_clusters=n).ravel().astype(np.int64)  # exactly n clusters, even with tied distances
    return np.unique(lab, return_inverse=True)[1]


def cluster_points(merged: Merged, n_clusters: int) -> np.ndarray | None:
    """Cluster the points by similar candidate sets (only points of equal value weight).

    Returns the labels ``(m,)`` or ``None`` if the instance is too large for the
    dense clustering.
    """
    m = merged.cover.shape[0]
    if m > _MAX_DENSE:
        return None
    dense = merged.cover.toarray()
    labels = np.zeros(m, np.int64)
    values, inv = np.unique(merged.values, return_inverse=True)
    nxt = 0
    for i in range(len(values)):
        idx = np.nonzero(inv == i)[0]
        share = max(1, round(n_clusters * len(idx) / m))
        lab = _cut(dense[idx], share)
        labels[idx] = nxt + lab
        nxt += int(lab.max()) + 1
    return labels


def aggregate(merged: Merged, labels: np.ndarray) -> Aggregated:
    """The aggregated instance for the given point labels."""
    m = merged.cover.shape[0]
    n_c = int(labels.max()) + 1 if m else 0
    member = sp.csr_matrix((np.ones(m), (labels, np.arange(m))), shape=(n_c, m))
    wk = sp.csr_matrix(member @ sp.diags(merged.weights) @ merged.cover.astype(float))
    wk.eliminate_zeros()
    wk.sort_indices()
    wc = np.asarray(member @ merged.weights).ravel()
    vc = np.zeros(n_c)
    vc[labels] = merged.values
    cover = sp.csr_matrix((np.ones(wk.nnz, bool), wk.indices.copy(), wk.indptr.copy()), shape=wk.shape)
    return Aggregated(Merged(wc, vc, cover, np.zeros(0, np.int64)), wk.data.copy(), labels)


def refine(merged: Merged, agg: Aggregated, coarse_x: np.ndarray, fine_x: np.ndarray | None,
           *, max_split: int) -> np.ndarray:
    """Split the clusters where the aggregated solution served more than its members could.

    ``coarse_x`` is the flow on the edges of ``agg.merged.cover``, ``fine_x`` the
    best flow of the same selection on the original points (``None`` if the
    selection is not viable there). Clusters are split in two by the same
    clustering, largest excess first; returns the new labels (unchanged if
    nothing can be split).
    """
    labels = agg.labels
    n_c = agg.merged.cover.shape[0]
    c_edge = np.repeat(np.arange(n_c), np.diff(agg.merged.cover.indptr))
    served_c = np.bincount(c_edge, coarse_x, minlength=n_c)
    if fine_x is None:
        fine_c = np.zeros(n_c)
    else:
        p_edge = np.repeat(np.arange(merged.cover.shape[0]), np.diff(merged.cover.indptr))
        fine_c = np.bincount(labels[p_edge], fine_x, minlength=n_c)
    size = np.bincount(labels, minlength=n_c)
    excess = np.where(size > 1, served_c - fine_c, -np.inf)
    order = np.argsort(-excess, kind="stable")
    order = order[excess[order] > 1e-9][:max_split]
    if len(order) == 0:
        # no visible excess: split the largest clusters that were used at all
        used = np.nonzero((served_c > 1e-9) & (size > 1))[0]
        order = used[np.argsort(-size[used], kind="stable")][:max_split]
    if len(order) == 0:
        return labels
    new = labels.copy()
    nxt = n_c
    for c in order:
        idx = np.nonzero(labels == c)[0]
        lab = _cut(merged.cover[idx].toarray(), 2)
        if lab.max() == 0:  # identical candidate sets (other value bands): halve
            lab = (np.arange(len(idx)) >= len(idx) // 2).astype(np.int64)
        new[idx[lab == 1]] = nxt
        nxt += 1
    return new
