"""Street networks for walking and cycling, snapping and street travel times.

A :class:`StreetNetwork` is a plain array structure: OSM node ids, node
coordinates in the analysis CRS (EPSG:25832) and the directed graph as CSR
arrays of edge lengths in metres.  Travel times are lengths divided by a
constant speed; shortest paths come from :func:`scipy.sparse.csgraph.dijkstra`.

Networks are read from OSM data (and cached) by :mod:`coverage.network.load`.
Walking networks (``mode="fuss"``) ignore one-way restrictions; cycling
networks (``mode="rad"``) respect ``oneway`` and roundabouts unless
``oneway:bicycle=no`` or ``cycleway*=opposite*`` allows contraflow.  Only the
largest connected component (weakly for walking, whose graph is symmetric,
strongly for cycling) is kept.  All OSM way nodes are kept as graph nodes (no
topological simplification) so that addresses snap close to their street.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage.errors import ConfigError, InputDataError, NetworkError

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

__all__ = [
    "NETWORK_ARRAYS",
    "NETWORK_MODES",
    "SPARSE_TIME_OFFSET_S",
    "SnapResult",
    "StreetNetwork",
    "snap",
    "street_times",
    "street_times_sparse",
]

logger = logging.getLogger(__name__)

NETWORK_ARRAYS: dict[str, type] = {
    "node_ids": np.int64,
    "x": np.float64,
    "y": np.float64,
    "indptr": np.int64,
    "indices": np.int32,
    "length_m": np.float64,
}
"""The arrays of a :class:`StreetNetwork` and their dtypes (also the layout of its cache entry)."""

NETWORK_MODES: tuple[str, ...] = ("fuss", "rad")
"""Modes that have a street network (``"oepnv"`` uses the walking network)."""

SPARSE_TIME_OFFSET_S = 1e-9
"""Offset added to every value stored by :func:`street_times_sparse`.

A source node reaches itself in 0 s; a stored 0 would be indistinguishable
from "not reachable" for many sparse operations (``eliminate_zeros``,
``toarray``).  Every stored entry is therefore ``seconds + 1e-9``; subtract
the offset for exact values (the error is far below any time resolution).
"""

_CHUNK_CELLS = 8_000_000
"""Dense cells (float64) per Dijkstra chunk in :func:`street_times_sparse` (64 MB)."""


def _check_mode(mode: str) -> None:
    if mode not in NETWORK_MODES:
        raise ConfigError(f"Unbekannter Verkehrsmodus {mode!r} für ein Straßennetz; erlaubt sind 'fuss' und 'rad'.")


def _check_speed(speed_m_s: float) -> float:
    speed = float(speed_m_s)
    if not np.isfinite(speed) or speed <= 0:
        raise ConfigError(f"Die Geschwindigkeit muss eine positive Zahl (m/s) sein, nicht {speed_m_s!r}.")
    return speed


@dataclass(frozen=True, eq=False)
class StreetNetwork:
    """A directed street network for one mode, as read-only arrays.

    Attributes
    ----------
    mode
        ``"fuss"`` (walking) or ``"rad"`` (cycling).
    node_ids
        OSM node id per node (int64); synthetic networks use 1..n.
    x, y
        Node coordinates in metres, EPSG:25832 (float64).
    indptr, indices
        CSR structure of the directed graph: the edges leaving node ``i`` go
        to ``indices[indptr[i]:indptr[i + 1]]`` (sorted, no duplicates, no
        self-loops).
    length_m
        Edge length in metres, aligned with ``indices`` (float64).

    Notes
    -----
    Build instances with :func:`load_street_network`,
    :meth:`StreetNetwork.from_edges` or :func:`tests._synthetic.grid_network`.
    The arrays are made read-only.  Equality is identity (arrays are not
    compared).
    """

    mode: str
    node_ids: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    length_m: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        for name, dtype in NETWORK_ARRAYS.items():
            arr = np.array(getattr(self, name), dtype=dtype, copy=True).ravel()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        n = self.node_ids.size
        if self.x.size != n or self.y.size != n:
            raise NetworkError("node_ids, x und y müssen gleich lang sein.")
        if self.indptr.size != n + 1 or self.indptr[0] != 0:
            raise NetworkError("indptr muss n_nodes + 1 Einträge haben und mit 0 beginnen.")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise NetworkError("indptr ist nicht monoton oder passt nicht zu indices.")
        if self.length_m.size != self.indices.size:
            raise NetworkError("length_m und indices müssen gleich lang sein.")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise NetworkError("indices verweist auf nicht vorhandene Knoten.")
        if np.any(~np.isfinite(self.length_m)) or np.any(self.length_m < 0):
            raise NetworkError("Kantenlängen müssen endlich und nicht negativ sein.")

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.size)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.size)

    def csr(self, speed_m_s: float) -> sp.csr_matrix:
        """Directed graph as a sparse matrix of travel seconds.

        Parameters
        ----------
        speed_m_s
            Constant travel speed in metres per second (> 0).

        Returns
        -------
        scipy.sparse.csr_matrix
            ``n_nodes × n_nodes``; entry ``(i, j)`` is the time from node ``i``
            to node ``j`` along one edge.  Zero-length edges are stored as
            explicit zeros, which :mod:`scipy.sparse.csgraph` treats as edges.
        """
        speed = _check_speed(speed_m_s)
        return sp.csr_matrix(
            (self.length_m / speed, self.indices, self.indptr),
            shape=(self.n_nodes, self.n_nodes),
        )

    @functools.cached_property
    def _kdtree(self) -> cKDTree:
        """KD-tree over the nodes, built once on first use."""
        from scipy.spatial import cKDTree  # imported here: scipy.spatial costs ~0.1 s at start-up

        return cKDTree(np.column_stack([self.x, self.y]))

    @classmethod
    def from_edges(
        cls,
        *,
        mode: str,
        node_ids: npt.ArrayLike,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        u: npt.ArrayLike,
        v: npt.ArrayLike,
        length_m: npt.ArrayLike,
        largest_component: bool = True,
    ) -> StreetNetwork:
        """Build a network from a directed edge list.

        Parameters
        ----------
        mode
            ``"fuss"`` or ``"rad"``.  For ``"fuss"`` every edge is added in
            both directions.
        node_ids, x, y
            Per node: id and EPSG:25832 coordinates.
        u, v, length_m
            Directed edges as node indices and their lengths in metres.
            Parallel edges keep the shortest; self-loops are dropped.
        largest_component
            Keep only the largest connected component (weakly for
            ``"fuss"``, strongly for ``"rad"``).  Nodes without edges are
            always dropped in that case.

        Returns
        -------
        StreetNetwork
        """
        _check_mode(mode)
        node_ids = np.asarray(node_ids, dtype=np.int64).ravel()
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        u = np.asarray(u, dtype=np.int64).ravel()
        v = np.asarray(v, dtype=np.int64).ravel()
        length = np.asarray(length_m, dtype=np.float64).ravel()
        n = node_ids.size
        if mode == "fuss":
            u, v = np.concatenate([u, v]), np.concatenate([v, u])
            length = np.concatenate([length, length])
        indptr, indices, length = _csr_arrays(n, u, v, length)
        if largest_component and n:
            keep = _largest_component(n, indptr, indices, strong=(mode == "rad"))
            if keep.size < n:
                sub = sp.csr_matrix((length, indices, indptr), shape=(n, n))[keep][:, keep]
                sub.sort_indices()
                indptr, indices, length = sub.indptr, sub.indices, sub.data
                node_ids, x, y = node_ids[keep], x[keep], y[keep]
        return cls(
            mode=mode,
            node_ids=node_ids,
            x=x,
            y=y,
            indptr=indptr,
            indices=indices,
            length_m=length,
        )


def _csr_arrays(
    n: int,
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    length: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """CSR arrays of a directed edge list: no self-loops, shortest parallel edge."""
    if u.size != v.size or u.size != length.size:
        raise NetworkError("u, v und length_m müssen gleich lang sein.")
    if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
        raise NetworkError("Kanten verweisen auf nicht vorhandene Knoten.")
    loop = u == v
    u, v, length = u[~loop], v[~loop], length[~loop]
    order = np.lexsort((length, v, u))
    u, v, length = u[order], v[order], length[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, length = u[first], v[first], length[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v.astype(np.int32), length


def _largest_component(
    n: int, indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int32], *, strong: bool
) -> npt.NDArray[np.int64]:
    """Sorted node indices of the largest (weak or strong) component."""
    graph = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=True, connection="strong" if strong else "weak")
    sizes = np.bincount(labels)
    return np.flatnonzero(labels == int(np.argmax(sizes))).astype(np.int64)


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True, eq=False)
class SnapResult:
    """Nearest network node of each point.

    Attributes
    ----------
    node
        Index into the network's nodes (int64), always the nearest node, also
        for points flagged ``too_far``.
    distance_m
        Straight-line distance point → node in metres (float64).
    too_far
        True where ``distance_m > max_distance_m``; callers decide whether to
        report such points as unreachable.  Points are never dropped.
    """

    node: npt.NDArray[np.int64]
    distance_m: npt.NDArray[np.float64]
    too_far: npt.NDArray[np.bool_]


def snap(
    network: StreetNetwork,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    max_distance_m: float,
) -> SnapResult:
    """Snap points (EPSG:25832) to their nearest network node.

    The KD-tree over the nodes is built on first use and cached on the
    network.  The snap distance is meant to be *walked*: callers add
    ``distance_m / walking_speed`` to street times (also for cycling, where it
    is the way from the door to the street).

    Parameters
    ----------
    network
        The street network.
    x, y
        Point coordinates in metres, EPSG:25832, same length.
    max_distance_m
        Points farther from every node are flagged in ``too_far``.

    Returns
    -------
    SnapResult

    Raises
    ------
    InputDataError
        If coordinates are not finite or x and y differ in length.
    ConfigError
        If ``max_distance_m`` is negative or not a number.
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.size != ys.size:
        raise InputDataError(f"x und y haben unterschiedlich viele Werte ({xs.size} und {ys.size}).")
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        raise InputDataError(
            "Koordinaten müssen endliche Zahlen in EPSG:25832 sein.",
            row=int(np.flatnonzero(bad)[0]) + 1,
        )
    limit = float(max_distance_m)
    if not limit >= 0:
        raise ConfigError(f"max_distance_m muss eine nicht negative Zahl sein, nicht {max_distance_m!r}.")
    if xs.size == 0:
        return SnapResult(
            node=np.zeros(0, dtype=np.int64),
            distance_m=np.zeros(0, dtype=np.float64),
            too_far=np.zeros(0, dtype=bool),
        )
    distance, node = network._kdtree.query(np.column_stack([xs, ys]), k=1)
    distance = np.asarray(distance, dtype=np.float64)
    too_far = distance > limit
    if too_far.any():
        logger.info(
            "%d von %d Punkten liegen mehr als %.0f m vom Straßennetz entfernt",
            int(too_far.sum()),
            xs.size,
            limit,
        )
    return SnapResult(node=np.asarray(node, dtype=np.int64), distance_m=distance, too_far=too_far)


# --------------------------------------------------------------------------- times


def _sources(network: StreetNetwork, sources: npt.ArrayLike) -> npt.NDArray[np.int64]:
    src = np.asarray(sources, dtype=np.int64).ravel()
    if src.size and (src.min() < 0 or src.max() >= network.n_nodes):
        raise ConfigError(
            f"Startknoten außerhalb des Netzes (0 … {network.n_nodes - 1}): {int(src.min())} … {int(src.max())}."
        )
    return src


def _graph(network: StreetNetwork, speed_m_s: float, *, reverse: bool) -> sp.csr_matrix:
    matrix = network.csr(speed_m_s)
    if reverse and network.mode != "fuss":  # walking graphs are symmetric
        matrix = matrix.transpose().tocsr()
    return matrix


def _check_limit(limit_s: float | None) -> float:
    if limit_s is None:
        return np.inf
    limit = float(limit_s)
    if not limit >= 0:
        raise ConfigError(f"limit_s muss eine nicht negative Zahl sein, nicht {limit_s!r}.")
    return limit


def street_times(
    network: StreetNetwork,
    sources: npt.ArrayLike,
    *,
    speed_m_s: float,
    limit_s: float | None = None,
    reverse: bool = False,
) -> npt.NDArray[np.float64]:
    """Dense shortest street travel times from (or to) source nodes.

    Parameters
    ----------
    network
        The street network.
    sources
        Node indices (not OSM ids), e.g. ``snap(...).node``.
    speed_m_s
        Constant speed in metres per second.
    limit_s
        Stop searching beyond this many seconds; farther nodes are ``inf``.
    reverse
        False: times *from* each source to every node.  True: times from
        every node *to* each source (Dijkstra on the transposed graph; only
        differs from False on cycling networks with one-way streets).

    Returns
    -------
    numpy.ndarray
        ``n_sources × n_nodes`` float64 seconds, ``inf`` where unreachable.
        Memory is ``8 · n_sources · n_nodes`` bytes; use
        :func:`street_times_sparse` for many sources.
    """
    src = _sources(network, sources)
    if src.size == 0:
        return np.zeros((0, network.n_nodes), dtype=np.float64)
    graph = _graph(network, speed_m_s, reverse=reverse)
    dist = csgraph.dijkstra(graph, directed=True, indices=src, limit=_check_limit(limit_s))
    return np.asarray(dist, dtype=np.float64).reshape(src.size, network.n_nodes)


def street_times_sparse(
    network: StreetNetwork,
    sources: npt.ArrayLike,
    *,
    speed_m_s: float,
    limit_s: float,
    reverse: bool = False,
) -> sp.csr_matrix:
    """Sparse street travel times up to a limit, computed in chunks of sources.

    Parameters
    ----------
    network
        The street network.
    sources
        Node indices (not OSM ids).
    speed_m_s
        Constant speed in metres per second.
    limit_s
        Only nodes reached within this many seconds are stored.
    reverse
        As in :func:`street_times`.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n_sources × n_nodes`` float64.  A stored entry means "reachable
        within ``limit_s``" and holds ``seconds + SPARSE_TIME_OFFSET_S``
        (1e-9 s), so that a 0-second entry (the source itself) survives
        ``eliminate_zeros`` and ``toarray``; absent entries are unreachable.

    Notes
    -----
    Dijkstra runs on chunks of sources whose dense result stays below
    64 MB (8 million cells), so memory is bounded by the chunk plus the
    sparse output, whatever the number of sources.
    """
    src = _sources(network, sources)
    limit = _check_limit(limit_s)
    n = network.n_nodes
    if src.size == 0:
        return sp.csr_matrix((0, n), dtype=np.float64)
    graph = _graph(network, speed_m_s, reverse=reverse)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    for start in range(0, src.size, chunk):
        part = src[start : start + chunk]
        dist = np.asarray(csgraph.dijkstra(graph, directed=True, indices=part, limit=limit)).reshape(part.size, n)
        r, c = np.nonzero(dist <= limit)
        rows.append(r.astype(np.int64) + start)
        cols.append(c.astype(np.int64))
        vals.append(dist[r, c] + SPARSE_TIME_OFFSET_S)
    result = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(src.size, n),
    )
    logger.debug("Straßenzeiten: %d Quellen, %d Einträge ≤ %.0f s", src.size, result.nnz, limit)
    return result
