"""Synthetic street networks for tests and benchmarks (private)."""

from __future__ import annotations

import numpy as np

from coverage.errors import ConfigError
from coverage.network.streets import StreetNetwork

__all__ = ["grid_network"]


def grid_network(
    nx_: int,
    ny_: int,
    *,
    spacing_m: float = 100.0,
    origin: tuple[float, float] = (500000.0, 5900000.0),
    mode: str = "fuss",
    seed: int = 0,
    drop_fraction: float = 0.0,
) -> StreetNetwork:
    """A rectangular grid of streets in EPSG:25832.

    Parameters
    ----------
    nx_, ny_
        Number of nodes along x and y (``nx_ * ny_`` nodes); node ``i + j*nx_``
        lies at ``origin + (i, j) * spacing_m``.  Node ids are ``1 … n``.
    spacing_m
        Block length in metres (every edge has this length).
    origin
        Coordinates of node 0 (south-west corner).
    mode
        ``"fuss"`` or ``"rad"``; all streets are two-way in both.
    seed
        Seed of the random edge removal.
    drop_fraction
        Fraction of (undirected) streets removed at random; afterwards only
        the largest connected component is kept, so the result is connected
        and may have fewer than ``nx_ * ny_`` nodes.

    Returns
    -------
    StreetNetwork
    """
    if nx_ < 1 or ny_ < 1:
        raise ConfigError("Das Gitter braucht mindestens einen Knoten je Richtung.")
    if not 0.0 <= drop_fraction < 1.0:
        raise ConfigError("drop_fraction muss in [0, 1) liegen.")
    idx = np.arange(nx_ * ny_, dtype=np.int64).reshape(ny_, nx_)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    if drop_fraction > 0 and u.size:
        rng = np.random.default_rng(seed)
        keep = rng.random(u.size) >= drop_fraction
        u, v = u[keep], v[keep]
    ii, jj = np.meshgrid(np.arange(nx_), np.arange(ny_))
    x = origin[0] + ii.ravel() * float(spacing_m)
    y = origin[1] + jj.ravel() * float(spacing_m)
    length = np.full(u.size, float(spacing_m))
    # both directions explicitly, so that "rad" grids are two-way as well
    return StreetNetwork.from_edges(
        mode=mode,
        node_ids=np.arange(1, nx_ * ny_ + 1, dtype=np.int64),
        x=x,
        y=y,
        u=np.concatenate([u, v]),
        v=np.concatenate([v, u]),
        length_m=np.concatenate([length, length]),
        largest_component=True,
    )
