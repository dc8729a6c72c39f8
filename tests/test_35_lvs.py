"""LVS of whole networks (generator/signoff/lvs.py, `imcgen lvs`): every committed small layout is its netlist,
and copies broken on purpose are not, with the report naming what broke.

Broken copies are made with klayout.db on a copy of layouts/iris/iris.gds: every via2 removed, the W of one
device changed (the neuron's LVT input transistor), one synapse instance deleted, two output bus lines shorted on
met3, the MIM capacitor shrunk.
"""

from __future__ import annotations

import json
import shutil

import klayout.db as kdb
import pytest
from typer.testing import CliRunner

from generator.circuit.mapping import map_model
from generator.cli import app
from generator.design import DeviceProfile
from generator.pdk.sky130 import layers as L
from generator.resources import default_profile
from generator.signoff.lvs import layout_name, run_lvs
from generator.spice.netlist import render_cdl

MODELS = ("iris", "iris-ideal", "digits")


@pytest.fixture(scope="module")
def cdls(tmp_path_factory):
    out = tmp_path_factory.mktemp("cdl")
    prof = DeviceProfile.load(default_profile())
    paths = {}
    for m in MODELS:
        p = out / m / f"{m}.cdl"
        p.parent.mkdir()
        p.write_text(render_cdl(map_model(f"trained_models/{m}", prof)))
        paths[m] = p
    return paths


@pytest.mark.parametrize("model", MODELS)
def test_committed_layout_matches_netlist(model, cdls, tmp_path):
    rep = run_lvs(f"layouts/{model}/{model}.gds", cdls[model])
    assert rep.match, rep.text()
    assert rep.devices == rep.reference_devices
    assert rep.devices["sky130_fd_pr__cap_mim_m3_2"] > 0
    # hierarchical: the synapse and neuron cells are compared once, as cells
    paired = {c["reference"].upper() for c in rep.circuits if c["layout"] and c["reference"]}
    assert {"NEURON", "SYNAPSE_CELL_POS", "SYNAPSE_CELL_NEG"} <= paired
    db = rep.write_lvsdb(tmp_path / f"{model}.lvsdb")
    back = kdb.LayoutVsSchematic()
    back.read(str(db))
    assert back.xref() is not None and back.reference is not None


def test_layout_names():
    assert layout_name("in_3") == "IN3" and layout_name("inb_0") == "IN0_B"
    assert layout_name("s1_4") == "L0_OUT4" and layout_name("sb2_0") == "L1_OUT0_B"
    assert layout_name("b2n_0_3") == "L1_VBN_0_3" and layout_name("b1p_4_1") == "L0_VBP_4_1"
    assert layout_name("rst1") == "L0_RESET" and layout_name("phb2") == "L1_PHASE_B"
    assert layout_name("vbsense") == "VBSENSE" and layout_name("VSS") == "VSS"


def test_cdl_exposes_only_used_bias_ports(cdls):
    text = cdls["iris"].read_text()
    top = text[text.index(".subckt iris\n"):text.index(".ends iris\n")]
    design = map_model("trained_models/iris", DeviceProfile.load(default_profile()))
    layer = design.layers[0]
    for i in range(layer.n_out):
        for j in range(layer.n_in):
            s = layer.sign(i, j)
            assert (f" b1n_{i}_{j} " in top) == (s > 0) and (f" b1p_{i}_{j} " in top) == (s < 0)


# ---------------------------------------------------------------------------------------------- broken copies
def _edit(src, dst, fn):
    ly = kdb.Layout()
    ly.read(str(src))
    fn(ly)
    ly.write(str(dst))
    return dst


def _cell(ly, prefix):
    cells = [c for c in ly.each_cell() if c.name.startswith(prefix)]
    assert len(cells) == 1, [c.name for c in cells]
    return cells[0]


def _break(tmp_path, fn):
    src = tmp_path / "iris.gds"
    shutil.copy("layouts/iris/iris.gds", src)
    return _edit(src, tmp_path / "broken.gds", fn)


def _kinds(rep):
    return {m.kind for m in rep.mismatches}


def test_all_via2_removed(cdls, tmp_path):
    def fn(ly):
        li = ly.layer(*L.VIA2)
        for c in ly.each_cell():
            c.shapes(li).clear()
    rep = run_lvs(_break(tmp_path, fn), cdls["iris"])
    assert not rep.match
    assert "net" in _kinds(rep) or "pin" in _kinds(rep), rep.text()


def test_one_device_width_changed(cdls, tmp_path):
    # the neuron's LVT input NFET (W = 2 µm): cut 0.2 µm off its diffusion along the gate
    def fn(ly):
        c = _cell(ly, "mos_stack_Kn_W2_")
        li = ly.layer(*L.DIFF)
        shapes = list(c.shapes(li).each())
        assert len(shapes) == 1
        b = shapes[0].box
        nb = kdb.Box(b.left, b.bottom, b.right, b.top - 200) if b.height() == 2000 else \
            kdb.Box(b.left, b.bottom, b.right - 200, b.top)
        shapes[0].box = nb
    rep = run_lvs(_break(tmp_path, fn), cdls["iris"])
    assert not rep.match
    bad = [m for m in rep.mismatches if m.kind == "device"]
    assert bad and all(m.circuit.startswith("neuron") for m in bad), rep.text()
    assert any("nfet_01v8_lvt" in (m.layout or "") and "W=1.8" in (m.layout or "") for m in bad), rep.text()
    assert all(m.location is not None for m in bad)


def test_one_synapse_deleted(cdls, tmp_path):
    def fn(ly):
        layer = _cell(ly, "iris_L0_")
        inst = next(i for i in layer.each_inst() if i.cell.name.startswith("synapse") and not i.is_regular_array())
        inst.delete()
    rep = run_lvs(_break(tmp_path, fn), cdls["iris"])
    assert not rep.match
    assert any(m.kind == "subcircuit" and m.layout is None and "SYNAPSE_CELL" in (m.reference or "")
               for m in rep.mismatches), rep.text()
    assert rep.devices["sky130_fd_pr__nfet_01v8"] == rep.reference_devices["sky130_fd_pr__nfet_01v8"] - 2


def test_two_nets_shorted(cdls, tmp_path):
    # a met3 rectangle across the bus lines of L0_OUT0 and L0_OUT0_B (their labels sit on the lines)
    def fn(ly):
        top = ly.top_cells()[0]
        pts = {}
        for li in ly.layer_indexes():
            for s in top.shapes(li).each(kdb.Shapes.STexts):
                if s.text_string in ("L0_OUT0", "L0_OUT0_B"):
                    pts[s.text_string] = s.text_trans.disp
        a, b = pts["L0_OUT0"], pts["L0_OUT0_B"]
        box = kdb.Box(min(a.x, b.x) - 100, min(a.y, b.y) - 100, max(a.x, b.x) + 100, max(a.y, b.y) + 100)
        top.shapes(ly.layer(*L.MET3)).insert(box)
    rep = run_lvs(_break(tmp_path, fn), cdls["iris"])
    assert not rep.match
    assert any(m.kind == "net" and "L0_OUT0" in (m.layout or "") + (m.reference or "") for m in rep.mismatches), \
        rep.text()


def test_mim_resized(cdls, tmp_path):
    def fn(ly):
        c = _cell(ly, "mim_cap_")
        li = ly.layer(*L.CAPM2)
        s = next(iter(c.shapes(li).each()))
        s.box = s.box.enlarged(-300, -300)  # 0.3 µm less on every side: C about -14 %
    rep = run_lvs(_break(tmp_path, fn), cdls["iris"])
    assert not rep.match
    bad = [m for m in rep.mismatches if m.kind == "device"]
    assert any("cap_mim" in (m.layout or "") and m.circuit.startswith("neuron") for m in bad), rep.text()


# ---------------------------------------------------------------------------------------------- command line
def test_cli_exit_codes(cdls, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["lvs", "layouts/iris/iris.gds", str(cdls["iris"].parent), "--json",
                             "--report", str(tmp_path / "iris.lvsdb")])
    assert ok.exit_code == 0, ok.output
    line = json.loads(ok.output.strip().splitlines()[-1])
    assert line["match"] is True and line["mismatches"] == [] and line["devices"]["sky130_fd_pr__nfet_01v8"] == 170
    assert (tmp_path / "iris.lvsdb").stat().st_size > 0
    bad = runner.invoke(app, ["lvs", "layouts/iris/iris.gds", str(cdls["digits"]), "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output.strip().splitlines()[-1])["match"] is False
    missing = runner.invoke(app, ["lvs", "layouts/iris/iris.gds", str(tmp_path / "nothing.cdl")])
    assert missing.exit_code == 2
