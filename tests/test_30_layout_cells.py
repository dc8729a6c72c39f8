"""Layout cells: ports on grid, expected layers, bbox regression (tests/data/layout_regression.json), DRC-clean."""

from __future__ import annotations

import json
from pathlib import Path

import gdsfactory as gf
import pytest

from generator.errors import DesignError
from generator.layout.devices import mim_cap, mos_cell, tap_row
from generator.layout.neuron import neuron
from generator.layout.synapse import synapse
from generator.pdk.sky130 import layers as L
from generator.signoff.drc import check_layout

REG = Path(__file__).parent / "data" / "layout_regression.json"


def cells() -> dict:
    return {
        "nmos": mos_cell(kind="n", w=1.0, l=0.25, n=1, pad_sides="R"),
        "nmos_lvt": mos_cell(kind="n", w=1.0, l=0.15, n=1, pad_sides="R", vts="l"),
        "pmos": mos_cell(kind="p", w=1.0, l=0.25, n=1, pad_sides="L"),
        "pmos_hvt_stack": mos_cell(kind="p", w=1.0, l=0.15, n=2, pad_sides="LR", vts="sh", gap=0.6),
        "nmos_min": mos_cell(kind="n", w=0.42, l=0.15, n=2, pad_sides="RL"),
        "ptap": tap_row(kind="p", length=2.0),
        "mim": mim_cap(side=8.22),
        "synapse_pos": synapse(sign=1),
        "synapse_neg": synapse(sign=-1),
        "synapse_off": synapse(sign=0),
        "neuron": neuron(),
    }


def describe(c) -> dict:
    bb = c.dbbox()
    return {"bbox": [round(v, 4) for v in (bb.left, bb.bottom, bb.right, bb.top)],
            "ports": {p.name: [round(p.center[0], 4), round(p.center[1], 4), p.layer_info.layer, p.layer_info.datatype] for p in sorted(c.ports, key=lambda p: p.name)}}


def test_regression_bbox_and_ports():
    got = {k: describe(c) for k, c in cells().items()}
    want = json.loads(REG.read_text())
    assert got == want


def test_ports_on_grid_and_named():
    for name, c in cells().items():
        for p in c.ports:
            for v in p.center:
                assert abs(round(v / 0.005) * 0.005 - v) < 1e-6, (name, p.name, p.center)
    assert {"s", "d", "g0", "b"} <= {p.name for p in cells()["nmos"].ports}
    assert {"spk", "spkb", "dend_t", "dend_b", "vss", "vdd", "vbn"} <= {p.name for p in cells()["synapse_pos"].ports}
    assert "vbp" in {p.name for p in cells()["synapse_neg"].ports}
    assert not {"vbn", "vbp"} & {p.name for p in cells()["synapse_off"].ports}


def _layers(c):
    ly = c.kcl.layout
    out = set()
    for li in ly.layer_indexes():
        info = ly.get_info(li)
        if not c.kdb_cell.begin_shapes_rec(li).at_end():
            out.add((info.layer, info.datatype))
    return out


def test_expected_layers():
    cs = cells()
    base = {L.DIFF, L.POLY, L.LICON1, L.LI1, L.MCON, L.MET1, L.NPC, L.TAP}
    assert base | {L.NSDM, L.PSDM} <= _layers(cs["nmos"])
    assert base | {L.NWELL, L.PSDM, L.NSDM} <= _layers(cs["pmos"])
    assert L.LVTN in _layers(cs["nmos_lvt"]) and L.HVTP in _layers(cs["pmos_hvt_stack"])
    assert {L.MET4, L.CAPM2, L.VIA4, L.MET5} <= _layers(cs["mim"])
    assert {L.NWELL, L.MET2, L.VIA, L.VIA2, L.VIA3, L.MET4} <= _layers(cs["synapse_pos"])


def test_all_cells_drc_clean():
    top = gf.Component("test30_all_cells")
    x = 0.0
    for c in cells().values():
        r = top.add_ref(c)
        r.move((x - c.dbbox().left, -c.dbbox().bottom))
        x += c.dbbox().width() + 5.0
    rep = check_layout(top.kcl.layout, top.name)
    assert rep.by_rule == {}, rep.by_rule


def test_bad_sizes_raise():
    with pytest.raises(DesignError, match="width W=0.3"):
        mos_cell(kind="n", w=0.3, l=0.25)
    with pytest.raises(DesignError, match="length L=0.1"):
        synapse(w=1.0, l=0.1)
    with pytest.raises(DesignError, match="neuron pitch"):
        neuron(c_m=1e-12)
