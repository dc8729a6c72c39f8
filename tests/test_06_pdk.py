"""The sky130 PDK package (generator/pdk/sky130/): one layer map, one rule table, re-exported public names.

The layer map is checked against the pinned ``sky130`` pip package's own map (its gdsfactory PDK object), so a
typo in a layer number cannot survive; the rule table is the one the DRC checks and the layout draws from.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import generator
from generator.errors import PdkError
from generator.pdk import sky130
from generator.pdk.sky130 import layers, rules

ROOT = Path(generator.__file__).resolve().parent

#: project layer name -> name of the same layer in the sky130 package's LAYER enum (``sky130.PDK.layers``)
GF_NAME = {
    "NWELL": "nwelldrawing", "DNWELL": "dnwelldrawing", "DIFF": "diffdrawing", "TAP": "tapdrawing",
    "POLY": "polydrawing", "LICON1": "licon1drawing", "NPC": "npcdrawing", "NSDM": "nsdmdrawing",
    "PSDM": "psdmdrawing", "LVTN": "lvtndrawing", "HVTP": "hvtpdrawing", "HVI": "hvidrawing", "LI1": "li1drawing",
    "MCON": "mcondrawing", "MET1": "met1drawing", "VIA": "viadrawing", "MET2": "met2drawing", "VIA2": "via2drawing",
    "MET3": "met3drawing", "VIA3": "via3drawing", "MET4": "met4drawing", "VIA4": "via4drawing",
    "MET5": "met5drawing", "CAPM": "capm", "CAPM2": "cap2m", "AREAID_SC": "areaidstandardc",
    "PR_BOUNDARY": "prBoundaryboundary",
    "NWELL_PIN": "nwellpin", "POLY_PIN": "polypin", "LI1_PIN": "li1pin", "MET1_PIN": "met1pin",
    "MET2_PIN": "met2pin", "MET3_PIN": "met3pin", "MET4_PIN": "met4pin", "MET5_PIN": "met5pin",
    "LI1_LABEL": "li1label", "MET1_LABEL": "met1label", "MET2_LABEL": "met2label", "MET3_LABEL": "met3label",
    "MET4_LABEL": "met4label", "MET5_LABEL": "met5label",
}


@pytest.fixture(scope="module")
def pip_layers() -> dict[str, tuple[int, int]]:
    """name -> (layer, datatype) of the installed sky130 package's gdsfactory PDK (imports gdsfactory, ~2 s)."""
    import sky130 as sky130_pip

    return {m.name: (int(m[0]), int(m[1])) for m in sky130_pip.PDK.layers}


def test_every_project_layer_equals_the_sky130_package_layer(pip_layers):
    assert set(layers.LAYERS) == set(GF_NAME), "a layer was added to layers.py: add its sky130 package name here"
    wrong = {name: (value, pip_layers.get(GF_NAME[name])) for name, value in layers.LAYERS.items()
             if pip_layers.get(GF_NAME[name]) != value}
    assert not wrong, f"project layer -> (ours, sky130 package's): {wrong}"


def test_the_drc_layer_names_map_to_project_layers():
    assert set(rules.DRAWN.values()) <= set(layers.LAYERS.values())
    assert set(layers.PIN_OF.values()) <= set(layers.LAYERS.values())


def test_one_rule_table():
    """No second table: the old per-purpose modules are gone and `rule` reads RULES."""
    pdk = ROOT / "pdk"
    assert not [p.name for p in pdk.glob("sky130_*.py")], "generator/pdk/sky130_*.py must not come back"
    assert not (pdk / "sky130.py").exists()
    for r in rules.RULES:
        first = next(q for q in rules.RULES if q.name == r.name)
        assert rules.rule(r.name) == first.value
        assert r.value == first.value, f"rule {r.name} is listed twice with different values"
    with pytest.raises(PdkError, match="no sky130 rule"):
        rules.rule("m9.1")


def test_no_layer_tuple_outside_the_pdk():
    """Layer numbers live in generator/pdk only (DESIGN.md)."""
    tuples = {f"({a}, {b})" for a, b in layers.LAYERS.values()} | {f"({a},{b})" for a, b in layers.LAYERS.values()}
    found = []
    for path in ROOT.rglob("*.py"):
        if path.is_relative_to(ROOT / "pdk"):
            continue
        text = path.read_text()
        found += [f"{path.relative_to(ROOT)}: {t}" for t in tuples if t in text]
    assert not found, found


def test_device_minimums_come_from_the_rule_table():
    assert sky130.MIN_L_UM == rules.rule("poly.1a") == 0.15
    assert sky130.MIN_W_UM == rules.rule("difftap.2") == 0.42
    assert all(v == (sky130.MIN_W_UM, sky130.MIN_L_UM) for v in sky130.MIN_SIZE_UM.values())


def test_grid_helpers():
    assert sky130.GRID_UM == layers.GRID_UM == 0.005
    assert rules.snap(0.1234) == 0.125 and rules.snap(0.1224) == 0.12
    assert rules.snap_up(0.1201) == 0.125 and rules.snap_up(0.12) == 0.12
    assert rules.snap_up(0.12 + 1e-12) == 0.12  # float noise does not cost a grid step
    assert rules.ceil_to(0.3609, 0.01) == 0.37 and rules.ceil_to(math.sqrt(0.24), 0.1) == 0.5
    for x in (0.001, 0.4899, 1.0, 7.9551, 12.3456):
        up = rules.snap_up(x)
        assert up >= x - 1e-12 and up - x < sky130.GRID_UM and abs(up / sky130.GRID_UM - round(up / sky130.GRID_UM)) < 1e-9


def test_public_names_are_re_exported():
    for name in ("NFET", "PFET", "NFET_LVT", "PFET_HVT", "MIM_CAP", "CORNERS", "LIBRARY_NAME", "check_corner",
                 "write_model_library", "lib_line", "spiceinit_text", "models_root", "mim_cap_value",
                 "mim_cap_side_for", "read_mim_cap_params", "NGSPICE_THREADS_ENV", "GRID_UM", "snap_up", "rule"):
        assert hasattr(sky130, name), name
    assert sky130.check_corner("ss") == "ss"
    with pytest.raises(PdkError, match="valid corners"):
        sky130.check_corner("xx")
    side = sky130.mim_cap_side_for(sky130.mim_cap_value(8.0, 8.0))
    assert side == pytest.approx(8.0, abs=1e-12)


def test_drawn_sizes_meet_their_rules():
    """The layout's rule-derived sizes (generator/layout) satisfy the rules they are computed from."""
    from generator.layout import devices as D
    from generator.layout import routing as R

    L = layers
    area = {L.MET1: "m1.6", L.MET2: "m2.6", L.MET3: "m3.6", L.MET4: "m4.4a"}
    for m, side in D.VIA_PAD.items():
        assert side * side >= rules.rule(area[m]) - 1e-12
    assert D.VIA_PAD[L.MET1] >= rules.rule("via.1a") + 2 * rules.rule("via.5a") - 1e-12
    assert D.VIA_PAD[L.MET2] >= rules.rule("via2.1a") + 2 * rules.rule("via2.5") - 1e-12
    assert D.GATE_M1_LEN * D.GATE_M1_H >= rules.rule("m1.6")
    assert D.MIM_MIN_SIDE ** 2 >= rules.rule("m5.4") - 1e-12
    assert R.WIRE_W[L.MET4] >= rules.rule("m4.1") and R.WIRE_W[L.MET3] >= rules.rule("m3.1")
    for value in list(D.VIA_PAD.values()) + list(R.WIRE_W.values()) + [D.GATE_M1_LEN, D.TAP_H, D.MIM_MIN_SIDE]:
        assert re.fullmatch(r"\d+\.\d{1,3}", f"{value:.10g}") or value == int(value), value
        assert abs(value / sky130.GRID_UM - round(value / sky130.GRID_UM)) < 1e-9, value
