"""Device characterisation with real ngspice and the real sky130 models (one CLI run shared by the tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.circuit.characterize import CharacterizationError, fit_clm, lambda_at
from generator.cli import app
from generator.design import CircuitParams, DeviceProfile
from generator.pdk import sky130
from generator.spice.ngspice import run_deck
from generator.spice.templates import render

pytestmark = pytest.mark.ngspice
REPO = Path(__file__).resolve().parents[1]
PARAMS = CircuitParams()
WINDOW = (PARAMS.v_switch, PARAMS.v0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`imcgen characterize --json --out ... --plot ... --workdir ...` once (tt, 27 °C)."""
    d = tmp_path_factory.mktemp("char")
    res = CliRunner().invoke(app, ["characterize", "--out", str(d / "p.json"), "--plot", str(d / "p.png"),
                                   "--workdir", str(d / "work"), "--json"])
    assert res.exit_code == 0, res.output
    last = json.loads(res.stdout.strip().splitlines()[-1])
    profile = DeviceProfile.load(d / "p.json")
    return d, last, profile


@pytest.fixture(scope="module")
def profile(run):
    return run[2]


def test_cli_writes_profile_json_and_plot(run):
    d, last, profile = run
    assert last["lambda_n"] == profile.lambda_n and last["e_neg"] == profile.e_neg
    for key in ("e_pos", "e_neg", "e_dis", "lambda_n", "lambda_p", "lambda_dis", "corner", "temp", "tables"):
        assert key in last
    assert (d / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (d / "work" / "char_nmos.spice").is_file()  # decks kept with --workdir


def _stack_iv(tmp_path, family: str, gate: float) -> tuple[np.ndarray, np.ndarray]:
    """Independent re-simulation: I(V) of one stack at one gate bias, in the family's sign convention."""
    lib = sky130.write_model_library(tmp_path)
    ctx = dict(lib_line=sky130.lib_line(lib), corner="tt", temp=27.0, reltol=1e-5, vdd=PARAMS.vdd, v0=PARAMS.v0,
               vm_start=PARAMS.v_switch, vm_stop=PARAMS.v0, vm_step=PARAMS.v_th / 40,
               w=PARAMS.syn_w, l=PARAMS.syn_l, table_start=gate, table_stop=gate, table_step=0.01,
               vg_start=gate, vg_stop=gate, vg_step=0.01, selector_at_membrane=False)
    if family == "discharger":
        ctx.update(nfet=sky130.NFET, v_b_dis=gate, w=PARAMS.dis_w, l=PARAMS.dis_l)
    else:
        ctx.update(nfet=sky130.NFET, pfet=sky130.PFET)
    res = run_deck(render(f"characterize/{family}.spice.j2", **ctx), tmp_path, name=family)
    vecs = next(v for _, v in res.plots if np.ptp(v["v(m)"]) > 0)
    sign = 1.0 if family == "pmos_stack" else -1.0
    return vecs["v(m)"], sign * vecs["i(vm)"]


def _gate_for(profile, family: str, current: float) -> float:
    t = profile.tables
    vg = np.asarray(t[f"{family}_vg"])
    i = np.asarray(t[f"{family}_id"])
    if family == "pmos":
        vg, i = vg[::-1], i[::-1]
    return float(np.interp(math.log(current), np.log(i), vg))


@pytest.mark.parametrize("family", ["nmos", "pmos"])
def test_fit_predicts_simulated_current_within_3_percent(profile, tmp_path, family):
    """Bias a stack from the table at the unit current, re-simulate: I_unit (1 ± λ (V - V0)) within 3 %."""
    unit = PARAMS.unit_current
    gate = _gate_for(profile, family, unit)
    v, i = _stack_iv(tmp_path, f"{family}_stack", gate)
    lam = profile.lambda_n if family == "nmos" else -profile.lambda_p
    pred = unit * (1 + lam * (v - PARAMS.v0))
    rel = np.abs(pred / i - 1)
    assert v.min() <= PARAMS.v_switch + 1e-6 and v.max() >= PARAMS.v0 - 1e-6
    assert rel.max() < 0.03, f"{family}: max deviation {rel.max():.2%}"
    assert abs(i[np.argmin(np.abs(v - PARAMS.v0))] / unit - 1) < 0.01  # table inversion at V0


def test_discharger_fit_within_3_percent(profile, tmp_path):
    v, i = _stack_iv(tmp_path, "discharger", PARAMS.v_b_dis)
    d = profile.tables["dis_iv"]
    pred = d["i0"] * (1 + profile.lambda_dis * (v - PARAMS.v0))
    assert np.max(np.abs(pred / i - 1)) < 0.03
    assert math.isclose(profile.meta["i_dis_v0_a"], d["i0"])


def test_every_stored_curve_fits_within_3_percent(profile):
    for key, sign in (("nmos_iv", 1), ("pmos_iv", -1)):
        iv = profile.tables[key]
        v = np.asarray(iv["v"])
        sel = (v >= WINDOW[0] - 1e-6) & (v <= WINDOW[1] + 1e-6)
        for i, i0, lam in zip(iv["i"], iv["i0"], iv["lambda"]):
            pred = i0 * (1 + sign * lam * (v[sel] - PARAMS.v0))
            assert np.max(np.abs(pred / np.asarray(i)[sel] - 1)) < 0.03
    for key in ("lambda_n_vs_i", "lambda_p_vs_i", "lambda_dis_vs_i"):
        assert max(profile.tables[key]["max_rel_residual"]) < 0.03


def test_reversal_potentials_consistent(profile):
    v_th = PARAMS.v_th
    assert math.isclose(profile.v_th, v_th, rel_tol=1e-6)
    assert math.isclose(profile.e_pos, 1 / (v_th * profile.lambda_n), rel_tol=1e-5)
    assert math.isclose(profile.e_neg, -1 / (v_th * profile.lambda_p), rel_tol=1e-5)
    assert math.isclose(profile.e_dis, 1 / (v_th * profile.lambda_dis), rel_tol=1e-5)
    assert profile.e_pos > 0 > profile.e_neg and profile.e_dis > 0
    # λ_N, λ_P are the λ(I) tables read at the unit current; sky130 tt lands near the paper's 0.41 / 0.75
    assert math.isclose(lambda_at(profile.tables["lambda_n_vs_i"], PARAMS.unit_current), profile.lambda_n, rel_tol=1e-4)
    assert math.isclose(lambda_at(profile.tables["lambda_p_vs_i"], PARAMS.unit_current), profile.lambda_p, rel_tol=1e-4)
    assert 0.25 < profile.lambda_n < 0.55 and 0.4 < profile.lambda_p < 0.9
    assert profile.corner == "tt" and profile.temp == 27.0


def test_id_tables_monotone_dense_and_covering(profile):
    t = profile.tables
    for fam, direction in (("nmos", 1), ("pmos", -1)):
        vg, i = np.asarray(t[f"{fam}_vg"]), np.asarray(t[f"{fam}_id"])
        assert len(vg) == len(i) > 100
        assert np.all(np.diff(vg) > 0)
        assert np.all(direction * np.diff(i) > 0)
        assert i.min() <= 1e-9 and i.max() >= 2e-6
        assert np.max(np.abs(np.diff(np.log(i)))) < 0.2  # dense: < 20 % current change per step


def test_lambda_spread_reported(profile):
    sp = profile.meta["lambda_spread"]
    for fam, key in (("n", "lambda_n_vs_i"), ("p", "lambda_p_vs_i")):
        tab = profile.tables[key]
        sel = [(50e-9 <= i <= 500e-9) for i in tab["i0"]]
        lam = [x for x, s in zip(tab["lambda"], sel) if s]
        assert sp[fam]["min"] == min(lam) and sp[fam]["max"] == max(lam)
        assert 0 < sp[fam]["rel_spread"] < 1


def test_committed_profile_is_current(profile):
    committed = DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json")
    for name in ("lambda_n", "lambda_p", "lambda_dis", "e_pos", "e_neg", "e_dis"):
        assert math.isclose(getattr(committed, name), getattr(profile, name), rel_tol=1e-3), name
    assert committed.tables.keys() == profile.tables.keys()


def test_unknown_corner_lists_valid_corners(tmp_path):
    res = CliRunner().invoke(app, ["characterize", "--corner", "zz", "--out", str(tmp_path / "p.json"), "--json"])
    assert res.exit_code == 2  # bad input (generator/commands/_common.py)
    err = json.loads(res.stdout.strip().splitlines()[-1])["error"]
    assert "zz" in err and all(c in err for c in sky130.CORNERS)
    assert not (tmp_path / "p.json").exists()


def test_too_small_device_rejected(tmp_path):
    res = CliRunner().invoke(app, ["characterize", "--l", "0.1", "--out", str(tmp_path / "p.json")])
    assert res.exit_code == 2 and "minimum" in res.output  # bad input


def test_fit_clm_recovers_a_line_and_rejects_bad_data():
    v = np.linspace(0.4, 1.4, 51)
    f = fit_clm(v, 1e-7 * (1 + 0.4 * (v - 1.3)), 1.3, WINDOW)
    assert math.isclose(f.i0, 1e-7, rel_tol=1e-9) and math.isclose(f.slope_rel, 0.4, rel_tol=1e-9)
    assert f.max_rel_residual < 1e-9
    with pytest.raises(CharacterizationError):
        fit_clm(v, -np.ones_like(v), 1.3, WINDOW)


def test_stack_order_option_renders_both_orders():
    ctx = dict(lib_line="* none", corner="tt", temp=27.0, reltol=1e-5, vdd=1.8, v0=1.3, vm_start=0.4, vm_stop=1.3,
               vm_step=0.1, nfet=sky130.NFET, w=1, l=0.25, table_start=0.2, table_stop=1.0, table_step=0.1,
               vg_start=0.4, vg_stop=0.6, vg_step=0.1)
    mem = render("characterize/nmos_stack.spice.j2", selector_at_membrane=False, **ctx)
    sel = render("characterize/nmos_stack.spice.j2", selector_at_membrane=True, **ctx)
    assert "XNM m g x 0" in mem and "XNS x vdd 0 0" in mem
    assert "XNS m vdd x 0" in sel and "XNM x g 0 0" in sel
    with pytest.raises(Exception, match="stack order"):
        from generator.circuit.characterize import characterize

        characterize(stack_order="upside-down")
