"""Parasitic extraction (generator/signoff/pex.py) against analytic values from the sky130 stack data, and on the
committed Iris layout: every net with metal gets C, long nets get R, the membrane's wiring C is reported."""

from __future__ import annotations

import shutil
import subprocess

import klayout.db as kdb
import pytest

from generator.design import PARASITIC_NEURON_F, PARASITIC_PER_INPUT_F
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130 import stack as S
from generator.signoff.pex import PexError, extract_parasitics

AF = 1e-18


def _gds(tmp_path, shapes, name="t"):
    """GDS with one cell holding boxes [(layer, (x1, y1, x2, y2) µm)], each labelled N<k> on its pin layer (the
    extraction keeps a circuit only when it has devices or named nets)."""
    ly = kdb.Layout()
    ly.dbu = 0.001
    top = ly.create_cell(name)
    for k, (layer, box) in enumerate(shapes):
        b = kdb.DBox(*box)
        top.shapes(ly.layer(*layer)).insert(b)
        top.shapes(ly.layer(*L.PIN_OF[layer])).insert(kdb.DText(f"N{k}", b.center().x, b.center().y))
    path = tmp_path / f"{name}.gds"
    ly.write(str(path))
    return path


def _by_area(par, layer):
    """Nets sorted by their drawn area on ``layer`` (largest first)."""
    return sorted(par.nets.values(), key=lambda n: -n.area_um2.get(layer, 0.0))


def test_long_wire_c_and_r(tmp_path):
    w, l = 0.5, 200.0
    par = extract_parasitics(_gds(tmp_path, [(L.MET1, (0, 0, l, w))]))
    (n,) = [n for n in par.nets.values() if n.area_um2]
    m1 = S.BY_NAME["met1"]
    c = (l * w * m1.c_area_af_um2 + 2 * (l + w) * m1.c_fringe_af_um) * AF
    r = m1.r_sheet_ohm * l / w
    print(f"wire: C {n.c_ground_f * 1e15:.3f} fF (analytic {c * 1e15:.3f}), R {n.r_ohm:.2f} ohm (analytic {r:.2f})")
    assert n.c_ground_f == pytest.approx(c, rel=0.05)
    assert n.r_ohm == pytest.approx(r, rel=0.05)


def test_parallel_plate_met2_over_met1(tmp_path):
    # met1 plate 20x20, met2 plate 10x10 inside it: two nets (no via)
    par = extract_parasitics(_gds(tmp_path, [(L.MET1, (0, 0, 20, 20)), (L.MET2, (5, 5, 15, 15))]))
    bottom, = [n for n in par.nets.values() if n.area_um2.get("met1")]
    top, = [n for n in par.nets.values() if n.area_um2.get("met2")]
    c_plate = (100 * S.OVERLAP_AF_UM2[("met2", "met1")] + 40 * S.SIDEOVERLAP_AF_UM[("met2", "met1")]) * AF
    c_cc = par.coupling_between(top.name, bottom.name)
    m1 = S.BY_NAME["met1"]
    c_bot = (400 * m1.c_area_af_um2 + 80 * m1.c_fringe_af_um) * AF
    k = S.DIELECTRIC_K[S.DIELECTRIC_BELOW["met2"]]
    d = S.BY_NAME["met2"].z_um - S.BY_NAME["met1"].z_um - S.BY_NAME["met1"].t_um
    print(f"plate: coupling {c_cc * 1e15:.3f} fF (table {c_plate * 1e15:.3f}; eps*A/d {k * S.EPS0_AF_PER_UM * 100 / d * 1e-3:.3f}"
          f" fF area only), bottom to substrate {bottom.c_ground_f * 1e15:.3f} fF (table {c_bot * 1e15:.3f})")
    assert c_cc == pytest.approx(c_plate, rel=0.05)
    assert top.c_ground_f == pytest.approx(0.0, abs=1e-18)  # fully shielded by the met1 plate
    assert bottom.c_ground_f == pytest.approx(c_bot, rel=0.05)
    # the physical parallel-plate value eps*A/d is within 15 % of the foundry table's area term
    assert 100 * S.OVERLAP_AF_UM2[("met2", "met1")] == pytest.approx(k * S.EPS0_AF_PER_UM * 100 / d, rel=0.15)


@pytest.mark.parametrize("s", [0.14, 0.3, 1.0])
def test_parallel_wires_coupling(tmp_path, s):
    l, w = 50.0, 0.5
    par = extract_parasitics(_gds(tmp_path, [(L.MET1, (0, 0, l, w)), (L.MET1, (0, w + s, l, 2 * w + s))]))
    a, b = [n.name for n in par.nets.values() if n.area_um2]
    m1 = S.BY_NAME["met1"]
    expect = l * m1.sidewall_k_af / (s + m1.sidewall_offset_um) * AF
    got = par.coupling_between(a, b)
    print(f"wires at {s} um: coupling {got * 1e15:.3f} fF (formula {expect * 1e15:.3f})")
    assert got == pytest.approx(expect, rel=0.05)


def test_bad_inputs(tmp_path):
    with pytest.raises(PexError, match="does not exist"):
        extract_parasitics(tmp_path / "missing.gds")
    with pytest.raises(PexError, match="folder"):
        extract_parasitics(tmp_path)
    bad = tmp_path / "bad.gds"
    bad.write_text("not a gds")
    with pytest.raises(PexError, match="cannot read"):
        extract_parasitics(bad)


@pytest.fixture(scope="module")
def iris(repo_root):
    return extract_parasitics(repo_root / "layouts" / "iris" / "iris.gds")


def test_iris_no_zero_rc(iris):
    with_metal = [n for n in iris.nets.values() if sum(n.area_um2.values()) > 0]
    assert len(with_metal) > 100
    zero_c = [n.name for n in with_metal if not n.c_total_f > 0]
    assert not zero_c, zero_c
    long_nets = [n for n in with_metal if max(n.perimeter_um.values()) > 100]
    assert long_nets
    zero_r = [n.name for n in long_nets if not n.r_ohm > 0]
    assert not zero_r, zero_r
    assert iris.unattributed == 0
    print(f"iris: {len(iris.nets)} nets, C to substrate {iris.c_ground_total_f * 1e15:.1f} fF, coupling "
          f"{iris.c_coupling_total_f * 1e15:.1f} fF, {iris.runtime_s:.2f} s")


def test_iris_membrane_vs_design_estimate(iris):
    assert len(iris.mim_caps) == 10
    n_in = {"L0": 4, "L1": 5}
    for m in iris.mim_caps:
        net = iris.net(m["top_net"])
        block = "L0" if "_L0_" in m["block"] else "L1"
        est = PARASITIC_NEURON_F + PARASITIC_PER_INPUT_F * n_in[block]
        print(f"{block} membrane {m['top_net']}: wiring C {net.c_total_f * 1e15:.2f} fF (substrate "
              f"{net.c_ground_f * 1e15:.2f}, coupling {net.c_coupling_f * 1e15:.2f}), R {net.r_ohm:.0f} ohm; "
              f"Design device estimate {est * 1e15:.2f} fF; MIM {m['c_f'] * 1e15:.1f} fF")
        # sanity: wiring C is real but well below the MIM it loads
        assert 1e-15 < net.c_total_f < 0.5 * m["c_f"]
        assert m["bottom_net"] == iris.substrate_net == "VSS"


def test_cli_writes_json_and_spice(repo_root, tmp_path):
    from typer.testing import CliRunner

    from generator.cli import app

    res = CliRunner().invoke(app, ["pex", str(repo_root / "layouts" / "iris" / "iris.gds"), "--out",
                                   str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    spice = (tmp_path / "o" / "iris.pex.spice").read_text()
    assert (tmp_path / "o" / "pex.json").is_file()
    assert "$" not in "".join(l for l in spice.splitlines() if not l.startswith("*"))
    assert "CPEX_G" in spice and "CPEX_X" in spice
    res = CliRunner().invoke(app, ["pex", str(tmp_path / "none.gds"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2


@pytest.mark.ngspice
def test_spice_reads_in_ngspice(tmp_path):
    par = extract_parasitics(_gds(tmp_path, [(L.MET1, (0, 0, 50, 0.5)), (L.MET1, (0, 0.8, 50, 1.3))], name="pair"))
    par.write_spice(tmp_path / "pair.pex.spice")
    deck = tmp_path / "run.cir"
    deck.write_text(f".include {tmp_path / 'pair.pex.spice'}\nX1 pair\n.options rshunt=1e12\n.op\n.end\n")
    res = subprocess.run([shutil.which("ngspice"), "-b", str(deck)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "error" not in (res.stdout + res.stderr).lower(), res.stdout + res.stderr
