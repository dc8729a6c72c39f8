"""SPICE netlists from a Design (generator/spice/netlist.py + templates/netlist/), checked with real ngspice and
the real sky130 models: membrane slope = I/C_m, slope change = λ, bias -> simulated current -> weight, the
network testbench runs as is and every neuron fires at most once, determinism, bad inputs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from generator.circuit.mapping import design_from_weights, discharger_bias, map_model
from generator.design import NEURON_SIZES, CircuitParams, Design, DeviceProfile
from generator.errors import DesignError
from generator.pdk import sky130
from generator.spice.netlist import (
    phase_schedule,
    render_cdl,
    render_column_testbench,
    render_network,
    write_netlist,
)
from generator.spice.ngspice import run_deck

from test_12_mapping import PROFILE, write_model

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "trained_models" / "iris"


def ngspice_or_fail() -> str:
    exe = shutil.which("ngspice")
    assert exe, "ngspice not found: `sudo apt-get install ngspice` (or `make setup`)"
    return exe


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    assert PROFILE.is_file(), f"{PROFILE} missing: create it with `imcgen characterize --out {PROFILE}`"
    return DeviceProfile.load(PROFILE)


@pytest.fixture(scope="module")
def params(profile) -> CircuitParams:
    vb, _ = discharger_bias(profile, CircuitParams())
    return dataclasses.replace(CircuitParams(), v_b_dis=round(vb, 6))


def column_design(weights: list[float], profile, params) -> Design:
    return design_from_weights([np.array([weights], dtype=float)], {"e_pos": profile.e_pos, "e_neg": profile.e_neg},
                               profile, params, name="col")


def rising_edges(t: np.ndarray, v: np.ndarray, level: float) -> np.ndarray:
    """Interpolated times where v crosses ``level`` upwards."""
    k = np.flatnonzero((v[:-1] < level) & (v[1:] >= level))
    return t[k] + (level - v[k]) * (t[k + 1] - t[k]) / (v[k + 1] - v[k])


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory) -> Path:
    """trained_models/iris when it exists, else a 5-5-5 model folder in the same format."""
    if (IRIS / "card.json").is_file():
        return IRIS
    rng = np.random.default_rng(3)
    w0 = rng.normal(0.0, 0.9, (5, 5))
    w1 = rng.normal(0.0, 0.9, (5, 5))
    return write_model(tmp_path_factory.mktemp("iris") / "iris", [w0, w1], name="iris", e_pos=2.885, e_neg=-1.726)


# ---------------------------------------------------------------------------------------------- text only
def test_netlist_text_structure_and_cdl_units(profile, params):
    d = column_design([0.8, -0.4, 0.0], profile, params)
    spice = render_network(d)
    for sub in ("synapse_pos", "synapse_neg", "neuron", "col_layer0", "col"):
        assert re.search(rf"^\.subckt {sub}\b", spice, re.M), sub
    assert sky130.MIM_CAP in spice and sky130.NFET_LVT in spice and sky130.PFET_HVT in spice
    cdl = render_cdl(d)
    devices = [l for l in cdl.splitlines() if l and l[0] in "MXCVR"]
    assert devices and all(l[0] in "MCX" for l in devices)
    prims = [l for l in devices if l[0] in "MC"]
    assert len([l for l in prims if l[0] == "M"]) == 4 + 15  # synapse_pos+neg subckts, neuron devices
    for line in prims:
        if line[0] == "M":
            w = float(re.search(r"W=(\S+)", line).group(1))
            assert 1e-7 < w < 1e-4, line  # metres
        else:
            assert sky130.MIM_CAP in line and 5e-14 < float(re.search(r"C=(\S+)", line).group(1)) < 2e-13
    assert NEURON_SIZES.sn_w > 0
    # two column heights -> two neuron subcircuits with different MIM capacitors, both used
    d2 = design_from_weights([np.full((2, 3), 0.5), np.full((1, 2), -0.5)], {"e_pos": 3, "e_neg": -2}, profile,
                             params, name="two")
    spice2 = render_network(d2)
    caps = re.findall(rf"^XCM mem vss {sky130.MIM_CAP} w=(\S+)", spice2, re.M)
    assert len(caps) == 2 and caps[0] != caps[1]
    assert re.search(r"^XN0 .* neuron$", spice2, re.M) and re.search(r"^XN0 .* neuron_1$", spice2, re.M)


def test_unknown_corner_and_bad_spikes(tmp_path, profile, params):
    d = column_design([0.8], profile, params)
    with pytest.raises(DesignError, match=r"unknown process corner 'xx'.*tt, ff, ss, sf, fs"):
        write_netlist(d, tmp_path / "n", corner="xx")
    with pytest.raises(DesignError, match="not finite"):
        write_netlist(d, tmp_path / "n", sample_spikes=[float("nan")])
    with pytest.raises(DesignError, match="1 inputs"):
        render_column_testbench(d, 0, 0, [0.1, 0.2])


def test_deterministic_bytes(tmp_path, iris_model, profile):
    d = map_model(iris_model, profile)
    spikes = [0.1, 0.4, 0.9, 1.0, 0.0]
    a = write_netlist(d, tmp_path / "a", sample_spikes=spikes)
    b = write_netlist(Design.load(d.save(tmp_path / "d.json")), tmp_path / "b", sample_spikes=spikes)
    for key in ("netlist", "testbench", "cdl", "schedule", "models"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    assert render_column_testbench(d, 1, 2, spikes) == render_column_testbench(d, 1, 2, spikes)


# ---------------------------------------------------------------------------------------------- ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("weight", [1.0, -1.0])
def test_membrane_slope_matches_current_and_lambda(tmp_path, profile, params, weight):
    """One neuron, one synapse (spike at t = 0): dV/dt = -I(V)/C_m with I(V) = I (1 + λ (V - V0))."""
    ngspice_or_fail()
    d = column_design([weight], profile, params)
    sky130.write_model_library(tmp_path)
    res = run_deck(render_column_testbench(d, 0, 0, [0.0]), tmp_path, name="slope", timeout_s=120)
    t, v = res["time"], res["v(mem)"]
    acc = phase_schedule(1, params)[0]["accumulate"]
    lo, hi = (params.v_switch + 0.05, params.v0) if weight > 0 else (params.v0, params.v0 + 0.3)
    sel = (t > acc[0] + 20e-9) & (t < acc[1] - 20e-9) & (v > lo) & (v < hi)
    assert sel.sum() > 20
    dvdt = np.gradient(v[sel], t[sel])
    a, b = np.linalg.lstsq(np.vstack([np.ones(sel.sum()), v[sel] - params.v0]).T, dvdt, rcond=None)[0]
    current = d.layers[0].currents[0][0]  # signed: + pulls charge out of the membrane
    assert -a == pytest.approx(current / params.c_m, rel=0.02)  # slope at V0 = I / C_m
    lam_sim = b / a if weight > 0 else -b / a
    lam_profile = profile.lambda_n if weight > 0 else profile.lambda_p
    assert lam_sim == pytest.approx(lam_profile, rel=0.05)
    if weight > 0:  # fires once in the firing phase, at the membrane's switching threshold
        edges = rising_edges(t, res["v(spk)"], params.vdd / 2)
        fire = phase_schedule(1, params)[0]["fire"]
        assert len(edges) == 1 and fire[0] < edges[0] < fire[1]
        assert np.interp(edges[0], t, v) == pytest.approx(params.v_switch, abs=0.01)


@pytest.mark.ngspice
def test_round_trip_bias_current_weight(tmp_path, profile, params):
    """Mapped bias -> simulated synapse current at V0 -> weight, within 1 % (membrane held at V0)."""
    ngspice_or_fail()
    w = [0.05, 0.3, 1.0, 2.5, -0.1, -0.6, -1.5, -3.0]
    d = column_design(w, profile, params)
    sky130.write_model_library(tmp_path)
    times = (np.arange(len(w)) + 0.5) / len(w)
    res = run_deck(render_column_testbench(d, 0, 0, times, hold_v0=True), tmp_path, name="rt", timeout_s=120)
    t, i = res["time"], res["i(vcol)"]
    acc0 = phase_schedule(1, params)[0]["accumulate"][0]
    for j, wj in enumerate(w):
        te = acc0 + times[j] * params.t_phase
        step = np.interp(te + 30e-9, t, i) - np.interp(te - 30e-9, t, i)  # A into the membrane
        w_back = -step / params.unit_current
        assert w_back == pytest.approx(wj, rel=0.01), (j, wj, w_back)


@pytest.mark.ngspice
def test_iris_testbench_runs_as_is_and_neurons_fire_once(tmp_path, iris_model, profile):
    exe = ngspice_or_fail()
    d = map_model(iris_model, profile)
    spikes = [0.22, 0.63, 0.07, 0.41, 0.0]
    paths = write_netlist(d, tmp_path, sample_spikes=spikes)
    proc = subprocess.run([exe, "-b", paths["testbench"].name], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert not re.search(r"^\s*error|singular matrix|timestep too small", log, re.I | re.M), log[-3000:]
    data = np.genfromtxt(tmp_path / "testbench.dat", names=True)
    sched = json.loads(paths["schedule"].read_text())
    t = data["time"]
    assert t[-1] == pytest.approx(sched["layers"][-1]["fire"][1], rel=1e-6)
    n_fired = 0
    for k, layer in enumerate(d.layers):
        fire = sched["layers"][k]["fire"]
        for i in range(layer.n_out):
            s = data[f"vs{k + 1}_{i}"]
            edges = rising_edges(t, s, d.params.vdd / 2)
            assert len(edges) <= 1, (k, i, edges)
            if len(edges):
                n_fired += 1
                assert fire[0] - 2e-9 <= edges[0] < fire[1], (k, i, edges)
                after = (t > edges[0] + 5e-9) & (t < fire[1] - 5e-9)
                assert np.all(s[after] > 0.9 * d.params.vdd)  # stays high to the end of the firing phase
            outside = (t < fire[0] - 2e-9) | (t > fire[1] + 5e-9)
            assert np.all(s[outside] < 0.1 * d.params.vdd)
            m = data[f"vm{k + 1}_{i}"]
            acc = sched["layers"][k]["accumulate"]
            assert np.interp(acc[0] - 5e-9, t, m) == pytest.approx(d.params.v0, abs=0.01)  # reset to V0
    assert n_fired >= 1


def test_cli_netlist(tmp_path, iris_model):
    from typer.testing import CliRunner

    from generator.cli import app

    res = CliRunner().invoke(app, ["netlist", str(iris_model), "--profile", str(PROFILE), "--out", str(tmp_path),
                                   "--sample", "3", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    tb = Path(summary["testbench"]).read_text()
    assert "iris test sample 3" in tb and (tmp_path / "design.json").is_file()
    res = CliRunner().invoke(app, ["netlist", str(iris_model), "--profile", str(PROFILE), "--out", str(tmp_path),
                                   "--sample", "9999"])
    assert res.exit_code == 2 and "out of range" in res.output
