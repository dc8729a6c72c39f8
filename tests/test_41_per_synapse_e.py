"""Per-synapse reversal potentials from the measured λ(I) (issue 4, beyond the paper).

``generator.circuit.mapping.per_synapse_reversal`` turns each synapse's mapped current into its own E± via the
profile's ``lambda_n_vs_i`` / ``lambda_p_vs_i`` tables; ``verify_model(model_e="per-synapse")`` hands them to the
model side. No simulator here: the tensor function and the model side only (the ngspice comparison is measured
with ``imcgen verify --model-e``, see the report of issue 4).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from generator.circuit.mapping import map_model, per_synapse_reversal
from generator.design import DeviceProfile, LayerDesign
from generator.errors import DesignError
from generator.verify import (
    VerifyError,
    load_model_run,
    model_membrane_trace,
    model_spike_times,
    model_times_for_design,
    verify_model,
)

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "sky130_tt_27C.json"
IRIS = ROOT / "trained_models" / "iris"
SCALE = 0.98


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    assert PROFILE.is_file(), f"{PROFILE} missing: create it with `imcgen characterize --out {PROFILE}`"
    return DeviceProfile.load(PROFILE)


@pytest.fixture(scope="module")
def design(profile):
    assert (IRIS / "card.json").is_file(), f"{IRIS} missing: the committed Iris model is needed"
    return map_model(IRIS, profile, scale_pos=SCALE, scale_neg=SCALE)


def _with_currents(design, currents: list[list[float]]):
    """A one-layer copy of ``design`` whose synapse currents (A) are ``currents`` [out][in]."""
    n_out, n_in = len(currents), len(currents[0])
    layer = LayerDesign(name="t", n_in=n_in, n_out=n_out, weights=[[0.0] * n_in for _ in range(n_out)],
                        currents=currents, gate_bias=[[None] * n_in for _ in range(n_out)])
    return dataclasses.replace(design, layers=[layer])


def test_table_points_give_one_over_vth_lambda(design, profile):
    """At a table current E+ = 1/(V_th λ_N), E- = -1/(V_th λ_P); zero and other-sign positions keep the global E."""
    tn, tp = profile.tables["lambda_n_vs_i"], profile.tables["lambda_p_vs_i"]
    v_th = design.params.v_th
    cur = [[tn["i0"][3], -tp["i0"][5], 0.0],
           [tn["i0"][9], -tp["i0"][15], 0.0]]
    ((ep, en),) = per_synapse_reversal(_with_currents(design, cur), profile)
    assert ep.shape == en.shape == (2, 3) and ep.dtype == np.float64
    assert ep[0, 0] == pytest.approx(1.0 / (v_th * tn["lambda"][3]), rel=1e-9)
    assert ep[1, 0] == pytest.approx(1.0 / (v_th * tn["lambda"][9]), rel=1e-9)
    assert en[0, 1] == pytest.approx(-1.0 / (v_th * tp["lambda"][5]), rel=1e-9)
    assert en[1, 1] == pytest.approx(-1.0 / (v_th * tp["lambda"][15]), rel=1e-9)
    # positions without an NMOS current keep the global E+, without a PMOS current the global E-
    assert ep[0, 1] == ep[0, 2] == ep[1, 1] == ep[1, 2] == design.e_pos
    assert en[0, 0] == en[0, 2] == en[1, 0] == en[1, 2] == design.e_neg


def test_larger_lambda_gives_smaller_magnitude(design, profile):
    """λ falls with current in both stacks here, so the weaker synapse (larger λ) has the smaller |E|."""
    tn, tp = profile.tables["lambda_n_vs_i"], profile.tables["lambda_p_vs_i"]
    weak, strong = 30e-9, 300e-9
    lam = lambda t, i: float(np.interp(np.log(i), np.log(t["i0"]), t["lambda"]))  # noqa: E731
    assert lam(tn, weak) > lam(tn, strong) and lam(tp, weak) > lam(tp, strong)
    ((ep, en),) = per_synapse_reversal(_with_currents(design, [[weak, strong, -weak, -strong]]), profile)
    assert 0 < ep[0, 0] < ep[0, 1]
    assert 0 < -en[0, 2] < -en[0, 3]
    # the PMOS λ spreads far more than the NMOS λ over this range (33 % vs 7 % in the profile's meta)
    assert (-en[0, 3] / -en[0, 2]) > 1.15 > ep[0, 1] / ep[0, 0]


def test_currents_beyond_the_table_hold_the_end_value(design, profile):
    tn = profile.tables["lambda_n_vs_i"]
    lo = 1.0 / (design.params.v_th * tn["lambda"][0])
    hi = 1.0 / (design.params.v_th * tn["lambda"][-1])
    ((ep, _),) = per_synapse_reversal(_with_currents(design, [[tn["i0"][0] / 10, tn["i0"][-1] * 10]]), profile)
    assert ep[0, 0] == pytest.approx(lo, rel=1e-9) and ep[0, 1] == pytest.approx(hi, rel=1e-9)


def test_missing_table_is_a_clear_error(design, profile):
    tables = {k: v for k, v in profile.tables.items() if k != "lambda_p_vs_i"}
    bad = dataclasses.replace(profile, tables=tables)
    with pytest.raises(DesignError, match="lambda_p_vs_i.*imcgen characterize"):
        per_synapse_reversal(_with_currents(design, [[-50e-9]]), bad)


def test_iris_design_tensors(design, profile):
    """Per layer [N_out, N_in]; every synapse with a current has its own E, the rest the global one."""
    rev = per_synapse_reversal(design, profile)
    assert len(rev) == len(design.layers)
    for (ep, en), layer in zip(rev, design.layers):
        cur = np.asarray(layer.currents)
        assert ep.shape == en.shape == cur.shape == (layer.n_out, layer.n_in)
        assert np.all(ep > 0) and np.all(en < 0)
        assert np.all(ep[cur <= 0] == design.e_pos) and np.all(en[cur >= 0] == design.e_neg)
        # Iris currents are small (< 100 nA): λ above the reference current's, so |E| below the global one
        assert np.all(ep[cur > 0] <= design.e_pos + 1e-9) and np.all(en[cur < 0] >= design.e_neg - 1e-9)
        assert np.any(np.abs(en[cur < 0] - design.e_neg) > 0.1)


def test_model_side_uses_the_tensors(design, profile):
    """Global E everywhere as tensors == the model with global E (the committed Iris model was trained with
    E±(|w|): compare with it run without its table); the per-synapse tensors change the spike times."""
    from generator.circuit.mapping import read_trained_model

    _, card = read_trained_model(IRIS)
    run = load_model_run(IRIS, 6, effects={**{k: card.get(k) for k in ("switch_step", "fire_delay", "driven_step")},
                                           "reversal_table": None})
    x = run.times[0]
    import torch

    xt = torch.from_numpy(x.astype(np.float32))
    same = [(np.full((l.n_out, l.n_in), design.e_pos), np.full((l.n_out, l.n_in), design.e_neg))
            for l in design.layers]
    t_same, _ = model_spike_times(IRIS, xt, "card", same)
    for a, b in zip(t_same, run.times):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    t_ps = model_times_for_design(IRIS, x, design, profile)
    ps_run = load_model_run(IRIS, 6, reversal=per_synapse_reversal(design, profile))
    for a, b in zip(t_ps, ps_run.times):
        np.testing.assert_array_equal(a, b)
    diff_ns = np.abs(t_ps[-1] - run.times[-1]) * design.params.t_phase * 1e9
    assert diff_ns.max() > 1.0, "per-synapse E± did not reach the model (output spike times unchanged)"
    with pytest.raises(VerifyError, match="do not match its weight"):
        model_spike_times(IRIS, xt, "card", [(np.ones((2, 2)), -np.ones((2, 2)))] * len(design.layers))


def test_membrane_trace_per_synapse(design):
    t_in = [0.1, 0.3, 0.5, 0.7, 0.9]
    w = design.layers[0].weights[1]
    g = model_membrane_trace(t_in, w, design.e_pos, design.e_neg)
    same = model_membrane_trace(t_in, w, [design.e_pos] * 5, [design.e_neg] * 5)
    np.testing.assert_array_equal(g[1], same[1])
    en = [design.e_neg * 0.8] * 5  # smaller |E-|: the negative synapses saturate sooner
    other = model_membrane_trace(t_in, w, design.e_pos, en)
    assert np.max(np.abs(other[1] - g[1])) > 1e-3


def test_unknown_model_e_is_rejected(tmp_path):
    with pytest.raises(VerifyError, match="model_e.*global, per-synapse"):
        verify_model(IRIS, out_dir=tmp_path, model_e="local", scales=(1.0, 1.0))


def test_cli_has_the_option(tmp_path):
    from generator.cli import app

    res = CliRunner().invoke(app, ["verify", "--help"])
    assert res.exit_code == 0 and "--model-e" in res.output and "per-synapse" in res.output
    res = CliRunner().invoke(app, ["verify", str(IRIS), "--out", str(tmp_path), "--scale", "1",
                                   "--executor", "serial", "--model-e", "local"])
    assert res.exit_code == 2
