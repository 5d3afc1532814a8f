"""Tests of coverage.analysis.demand: the demand segments and the assumptions table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.analysis.demand import (
    DEMAND_COLUMNS,
    GROUP_COLUMNS,
    LEVEL_COLUMNS,
    demand_assumptions_table,
    demand_segments,
    level_shares,
)
from coverage.errors import ConfigError, InputDataError
from coverage.inputs.config import DemandAssumptions, Parameters
from coverage.inputs.schema import GROUPS, LEVELS


def _residents(einwohner, **extra) -> pd.DataFrame:
    n = len(einwohner)
    df = pd.DataFrame({
        "herkunft_id": [f"o{i}" for i in range(n)],
        "einwohner": np.asarray(einwohner, float),
        "gemeinde_ars": ["033570001001"] * n,
        "mk_ars": ["033570001"] * n,
    })
    for k, v in extra.items():
        df[k] = v
    return df


def test_model_formula_by_hand():
    p = Parameters()
    b = p.bedarf
    seg = demand_segments(_residents([100.0]), params=p)
    assert list(seg.columns) == list(DEMAND_COLUMNS)
    # A1 × eltern by hand
    rate = b.anteil_15_65 * sum(
        b.aufenthalt_anteile[d] * b.kursbedarf[d] * b.niveau_verteilung[d][1] for d in range(3)
    )
    got = seg.query("niveau == 'A1' and gruppe == 'eltern'")["personen"].item()
    assert got == pytest.approx(100 * rate * b.gruppen_anteile["eltern"], rel=1e-12)
    assert len(seg) == len(LEVELS) * len(GROUPS)


def test_model_total_conserved_and_zero_rows_dropped():
    p = Parameters()
    b = p.bedarf
    ew = np.array([0.0, 12.5, 300.0])
    seg = demand_segments(_residents(ew), params=p)
    factor = b.anteil_15_65 * float(np.dot(np.multiply(b.aufenthalt_anteile, b.kursbedarf), np.ones(3)))
    tot = seg.groupby("herkunft_id")["personen"].sum()
    assert "o0" not in tot.index  # zero residents → no segments
    assert tot["o1"] == pytest.approx(12.5 * factor, rel=1e-12)
    assert tot["o2"] == pytest.approx(300 * factor, rel=1e-12)
    assert (seg["personen"] > 0).all()


def test_level_counts_only_split_by_group_shares():
    lv = {c: [float(i + 1)] for i, c in enumerate(LEVEL_COLUMNS)}
    seg = demand_segments(_residents([50.0], **lv), params=Parameters())
    by_level = seg.groupby("niveau")["personen"].sum()
    for i, lvl in enumerate(LEVELS):
        assert by_level[lvl] == pytest.approx(i + 1, rel=1e-12)
    shares = Parameters().bedarf.gruppen_anteile
    a1 = seg[seg["niveau"] == "A1"].set_index("gruppe")["personen"]
    for g in GROUPS:
        assert a1[g] == pytest.approx(2 * shares[g])


def test_group_counts_only_split_by_model_levels():
    gc = {c: [float(i)] for i, c in enumerate(GROUP_COLUMNS)}
    seg = demand_segments(_residents([50.0], **gc), params=Parameters())
    by_group = seg.groupby("gruppe")["personen"].sum()
    assert "allgemein" not in by_group.index  # 0 persons
    for i, g in enumerate(GROUPS[1:], start=1):
        assert by_group[g] == pytest.approx(i, rel=1e-12)
    mix = level_shares(DemandAssumptions())
    assert mix.sum() == pytest.approx(1.0)
    eltern = seg[seg["gruppe"] == "eltern"].set_index("niveau")["personen"]
    assert eltern["B1"] == pytest.approx(mix[LEVELS.index("B1")])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(0, 1000, allow_nan=False), min_size=6, max_size=6),
            st.lists(st.floats(0, 1000, allow_nan=False), min_size=5, max_size=5),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_both_counts_conserve_level_totals(rows):
    lv = np.array([r[0] for r in rows])
    gc = np.array([r[1] for r in rows])
    extra = {c: lv[:, j] for j, c in enumerate(LEVEL_COLUMNS)} | {c: gc[:, j] for j, c in enumerate(GROUP_COLUMNS)}
    res = _residents(lv.sum(axis=1), **extra)
    seg = demand_segments(res, params=Parameters())
    # per origin × level the sum over groups equals the level count
    got = seg.groupby(["herkunft_id", "niveau"])["personen"].sum()
    for i in range(len(rows)):
        for j, lvl in enumerate(LEVELS):
            expect = lv[i, j]
            val = got.get((f"o{i}", lvl), 0.0)
            assert val == pytest.approx(expect, rel=1e-12, abs=1e-12)
    assert seg["personen"].sum() == pytest.approx(lv.sum(), rel=1e-12, abs=1e-12)
    # group proportions follow the group counts where they exist
    for i in range(len(rows)):
        if gc[i].sum() > 0 and lv[i].sum() > 0:
            by_g = seg[seg["herkunft_id"] == f"o{i}"].groupby("gruppe")["personen"].sum()
            for j, g in enumerate(GROUPS):
                assert by_g.get(g, 0.0) == pytest.approx(lv[i].sum() * gc[i, j] / gc[i].sum(), rel=1e-9, abs=1e-9)


def test_invalid_inputs_raise_german_errors():
    with pytest.raises(InputDataError, match="muss eine Zahl"):
        demand_segments(_residents([-1.0]), params=Parameters())
    with pytest.raises(InputDataError, match="nicht eindeutig"):
        demand_segments(_residents([1.0, 2.0]).assign(herkunft_id="x"), params=Parameters())
    with pytest.raises(InputDataError, match="fehlen"):
        demand_segments(_residents([1.0], niveau_A1=[1.0]), params=Parameters())
    with pytest.raises(InputDataError, match="fehlen die Spalten"):
        demand_segments(_residents([1.0]).drop(columns="mk_ars"), params=Parameters())
    bad = Parameters(bedarf=DemandAssumptions(kursbedarf=(0.5, 0.2)))
    with pytest.raises(ConfigError):
        demand_segments(_residents([1.0]), params=bad)


def test_assumptions_table_sources():
    t = demand_assumptions_table(Parameters())
    assert list(t.columns) == ["Annahme", "Wert", "Quelle"]
    pub = t[t["Quelle"] == "Integrationskonzept LK Rotenburg (Wümme), 2023"]
    assert len(pub) == 4  # 15–65 share + three residence-duration shares
    assert pub["Wert"].iloc[0] == "73,6 %"  # 9,260 of 12,590
    assert set(t["Quelle"]) == {"Integrationskonzept LK Rotenburg (Wümme), 2023", "Modellannahme"}
    changed = Parameters(bedarf=DemandAssumptions(anteil_15_65=0.6))
    t2 = demand_assumptions_table(changed)
    assert t2.loc[0, "Quelle"] == "Modellannahme"
