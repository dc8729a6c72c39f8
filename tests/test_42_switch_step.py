"""Circuit effects beyond the paper's model: measured with ngspice, modelled in the PNN, checked against the circuit.

When a synapse's selector opens at the end of the accumulation phase, the node between memory transistor and
selector recharges from the membrane (generator/circuit/switch_charge.py); the neuron's comparator and output
logic fire a little after the threshold crossing (generator/circuit/firing_delay.py). These tests climb from the
model functions to the measurements to one neuron column in ngspice, where the model with the effects must
predict the circuit's spike time and the model without them must miss (so the check can fail).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.circuit.mapping import design_from_weights, map_model, read_trained_model
from generator.circuit.firing_delay import measure_firing_delay
from generator.circuit.effects import circuit_effects
from generator.circuit.switch_charge import measure_switch_charge, step_model
from generator.design import CircuitParams, DeviceProfile
from generator.errors import DesignError
from generator.model import functional as Fn
from generator.circuit.driven_edge import measure_driven_edge
from generator.model.layers import (RCSpikeLinear, build_network, check_reversal_table, check_switch_step,
                                    driven_switch_step)

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "sky130_tt_27C.json"
IRIS = ROOT / "trained_models" / "iris"

TABLE = {"log_w": [-3.0, 0.0, 2.0], "pos": [0.002, 0.004, 0.006], "neg": [0.001, 0.003, 0.005], "w_min": 0.01}


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    assert PROFILE.is_file(), f"{PROFILE} missing: create it with `imcgen characterize --out {PROFILE}`"
    return DeviceProfile.load(PROFILE)


@pytest.fixture(scope="module")
def measured(profile, tmp_path_factory):
    return measure_switch_charge(profile, CircuitParams(), workdir=tmp_path_factory.mktemp("switch"))


# ============================================================================================ the model function
def test_step_table_values_signs_and_off_synapses():
    w = torch.tensor([[1.0, -1.0, np.exp(-1.5), -np.exp(1.0), 0.005, -0.005, 0.0, 100.0]], dtype=torch.float64)
    s = Fn.switch_step_per_synapse(w, TABLE)[0]
    expect = [0.004, -0.003, 0.003, -0.004, 0.0, 0.0, 0.0, 0.006]  # interpolated, off below w_min, held at the end
    assert torch.allclose(s, torch.tensor(expect, dtype=torch.float64), atol=1e-7), s


def test_only_inputs_that_spiked_conduct():
    w = torch.tensor([[1.0, 1.0, -1.0], [0.0, 1.0, 1.0]])
    t = torch.tensor([[0.2, 1.0, 0.5], [1.0, 1.0, 1.0], [0.0, 0.99, 0.3]])
    s = Fn.switch_step(t, w, TABLE)
    assert torch.allclose(s, torch.tensor([[0.004 - 0.003, 0.004], [0.0, 0.0], [0.004 + 0.004 - 0.003, 0.008]]))
    assert torch.equal(Fn.switch_step(t, w, None), torch.zeros(3, 2))


def test_step_is_differentiable_everywhere_the_training_goes():
    w = torch.tensor([[0.0, 0.003, 0.5, -0.5, -2.0, 20.0]], dtype=torch.float64, requires_grad=True)
    t = torch.zeros(2, 6, dtype=torch.float64)
    Fn.switch_step(t, w, TABLE).sum().backward()
    assert torch.isfinite(w.grad).all()
    assert w.grad[0, 2] > 0 and w.grad[0, 3] > 0  # a larger |w| steps further (the PMOS one downwards)


def test_layer_adds_the_step_to_the_firing_phase():
    torch.manual_seed(0)
    plain = RCSpikeLinear(4, 3, 2.9, -1.7, eval_solver="exact").eval()
    stepped = RCSpikeLinear(4, 3, 2.9, -1.7, eval_solver="exact", switch_step=TABLE).eval()
    stepped.load_state_dict(plain.state_dict())
    t = torch.tensor([[0.1, 0.3, 1.0, 0.6]])
    v = plain.membrane(t) + Fn.switch_step(t, plain.weight, TABLE)
    assert torch.allclose(stepped(t), Fn.spike_time(v))
    assert not torch.allclose(stepped(t), plain(t))


def test_reversal_table_gives_each_synapse_its_own_e():
    table = {"log_w": [-2.0, 0.0], "e_pos": [2.0, 3.0], "e_neg": [-1.0, -2.0]}
    w = torch.tensor([[1.0, -np.exp(-1.0), 0.01]], dtype=torch.float64, requires_grad=True)
    ep, en = Fn.reversal_from_table(w, table)
    assert torch.allclose(ep, torch.tensor([[3.0, 2.5, 2.0]], dtype=torch.float64))
    assert torch.allclose(en[0, 1], torch.tensor(-1.5, dtype=torch.float64)) and not ep.requires_grad
    layer = RCSpikeLinear(3, 1, 2.9, -1.7, reversal_table=table).eval()
    with torch.no_grad():
        layer.weight.copy_(w)
    t = torch.tensor([[0.0, 0.2, 0.5]])
    assert torch.allclose(layer.membrane(t), Fn.rcspike_exact(t, layer.weight, *Fn.reversal_from_table(w.float(), table)))
    for bad in ({"log_w": [0, 1], "e_pos": [1, 2], "e_neg": [1, -1]}, {"log_w": [1, 0], "e_pos": [1, 2], "e_neg": [-1, -1]}):
        with pytest.raises(ValueError, match="reversal_table"):
            check_reversal_table(bad)


def test_firing_delay_shifts_the_spike_and_stays_in_the_phase():
    v = torch.tensor([0.0, 0.5, 0.999, 1.2])
    for e_dis in (None, 2.9):
        base = Fn.spike_time(v, e_dis)
        late = Fn.spike_time(v, e_dis, 0.002)
        assert torch.allclose(late, (base + 0.002).clamp(0, 1))
        assert float(late[0]) == 1.0 and float(late[-1]) == pytest.approx(0.002)
    with pytest.raises(ValueError, match="fire_delay"):
        RCSpikeLinear(2, 2, 2.9, -1.7, fire_delay=float("nan"))


def test_neuron_driven_layers_get_the_extra_step_at_their_fanout():
    driven = {"fanout": [1, 4, 16], "pos": [0.003, 0.002, 0.001], "neg": [0.002, 0.001, 0.0005]}
    at4 = driven_switch_step(TABLE, driven, 4)
    assert at4["pos"] == pytest.approx([x + 0.002 for x in TABLE["pos"]])
    assert at4["neg"] == pytest.approx([x + 0.001 for x in TABLE["neg"]])
    at2 = driven_switch_step(TABLE, driven, 2)  # halfway in log fan-out
    assert at2["pos"][0] == pytest.approx(TABLE["pos"][0] + 0.0025)
    assert driven_switch_step(TABLE, driven, 1000)["neg"][0] == pytest.approx(TABLE["neg"][0] + 0.0005)
    assert driven_switch_step(TABLE, None, 4) is TABLE and driven_switch_step(None, driven, 4) is None
    net = build_network("4-3-2", e_pos=2.9, e_neg=-1.7, switch_step=TABLE, driven_step=driven)
    first, second = net.spiking_layers
    assert first.switch_step["pos"] == TABLE["pos"]  # the first layer's inputs are ideal edges
    assert second.switch_step["pos"] == pytest.approx(driven_switch_step(TABLE, driven, 2)["pos"])


def test_bad_tables_and_unsupported_layers_are_rejected():
    for bad in ({"pos": [1, 2]}, {**TABLE, "log_w": [0.0, -1.0, 2.0]}, {**TABLE, "neg": [0.1]},
                {**TABLE, "pos": [float("nan")] * 3}, {**TABLE, "w_min": -1}):
        with pytest.raises(ValueError, match="switch_step"):
            check_switch_step(bad)
    with pytest.raises(ValueError, match="fully connected"):
        build_network("c4-p-10", e_pos=2.9, e_neg=-1.7, in_shape=(1, 8, 8), fire_delay=0.001)
    with pytest.raises(ValueError, match="fully connected"):
        build_network("c4-p-10", e_pos=2.9, e_neg=-1.7, in_shape=(1, 8, 8), switch_step=TABLE)
    with pytest.raises(ValueError, match="ttfs"):
        build_network("4-3", e_pos=2.9, e_neg=-1.7, model="ttfs", switch_step=TABLE)


# ============================================================================================ the measurement
@pytest.mark.ngspice
def test_measured_charge_has_the_physical_signs_and_trends(measured):
    tau = np.asarray(measured["tau_s"])
    for kind, sign in (("pos", 1.0), ("neg", -1.0)):
        q = sign * np.asarray(measured[kind]["q"])  # [hold, current, tau]
        assert (q > 0).all(), f"{kind}: the recharge must draw charge {'out of' if sign > 0 else 'into'} the membrane"
        assert (np.diff(q, axis=2) > 0).all(), f"{kind}: the inner node keeps recharging (log tail) after the edge"
        i_tau = int(np.argmin(abs(tau - 200e-9)))
        low = q[:, :8, i_tau]  # up to ~0.5 µA: the source-follower recharge grows with the current
        assert (np.diff(low, axis=1) > 0).all(), kind
    unit_q = np.interp(np.log(122e-9), np.log(measured["pos"]["current"]), np.asarray(measured["pos"]["q"])[1, :, 6])
    assert 0.1e-15 < unit_q < 2e-15, unit_q  # C: ~0.5 fC (a few fF of inner node times a few 100 mV)


@pytest.mark.ngspice
def test_committed_profile_holds_the_current_measurement(measured, profile):
    committed = profile.tables.get("switch_charge")
    assert committed is not None, f"regenerate {PROFILE} with `imcgen characterize --out {PROFILE}`"
    for kind in ("pos", "neg"):
        np.testing.assert_allclose(np.asarray(committed[kind]["q"]), np.asarray(measured[kind]["q"]),
                                   rtol=1e-3, atol=1e-20)


def test_step_model_units_and_capacitance_scaling(profile):
    table = profile.tables["switch_charge"]
    small = step_model(table, CircuitParams(), profile)
    big = step_model(table, dataclasses.replace(CircuitParams(), c_m=1e-12), profile)
    s140 = Fn.switch_step_per_synapse(torch.tensor([[1.0, -1.0]], dtype=torch.float64), small)[0]
    assert 0.002 < float(s140[0]) < 0.008 and -0.008 < float(s140[1]) < -0.002, s140  # a few ns per stack
    # the same current at 7.1x the capacitance: 7.1x smaller step (w = 1 at 140 fF is w = 0.14 at 1 pF)
    s1p = Fn.switch_step_per_synapse(torch.tensor([[0.14, -0.14]], dtype=torch.float64), big)[0]
    np.testing.assert_allclose(s1p.numpy() * 1e-12 / 140e-15, s140.numpy(), rtol=0.03)
    with pytest.raises(DesignError, match="outside the measured delays"):
        step_model(table, CircuitParams(), profile, tau_s=5e-6)


@pytest.mark.ngspice
def test_committed_firing_delay_is_current_and_small(profile, tmp_path):
    fresh = measure_firing_delay(profile, workdir=tmp_path)
    committed = profile.tables["firing_delay"]
    assert 0.2e-9 < fresh["delay_s_mean"] < 5e-9 and fresh["delay_s_spread"] < 0.5e-9, fresh
    assert fresh["delay_s_mean"] == pytest.approx(committed["delay_s_mean"], rel=0.02), (fresh, committed)


@pytest.mark.ngspice
def test_committed_driven_edge_is_current_and_adds_charge(profile, tmp_path):
    fresh = measure_driven_edge(profile, workdir=tmp_path)
    committed = profile.tables["driven_edge"]
    for kind in ("pos_s", "neg_s"):
        assert all(0 < x < 10e-9 for x in fresh[kind]), fresh  # the sharper logic edge moves more charge
        np.testing.assert_allclose(fresh[kind], committed[kind], rtol=0.02)


def test_missing_tables_are_a_clear_error(profile):
    old = DeviceProfile(**{**profile.__dict__, "tables": {k: v for k, v in profile.tables.items()
                                                          if k != "firing_delay"}})
    with pytest.raises(DesignError, match="firing_delay.*imcgen characterize"):
        circuit_effects(old, CircuitParams())
    eff = circuit_effects(profile, CircuitParams())
    assert set(eff) == {"reversal_table", "switch_step", "fire_delay", "driven_step"}
    assert eff["fire_delay"] == pytest.approx(profile.tables["firing_delay"]["delay_s_mean"] / 1e-6)
    ep_unit = np.interp(0.0, eff["reversal_table"]["log_w"], eff["reversal_table"]["e_pos"])
    assert ep_unit == pytest.approx(profile.e_pos, rel=0.02)  # the table at w = 1 is the profile's global E+


# ============================================================================================ against the circuit
@pytest.mark.ngspice
def test_model_with_the_effects_predicts_a_column_the_plain_model_misses(profile, tmp_path):
    """Four positive synapses that all spiked: four NMOS stacks recharge when the selectors open."""
    from generator.verify import SimJob, run_job

    _, card = read_trained_model(IRIS)
    params = map_model(IRIS, profile, clip=True).params  # the discharger bias for the card's E_dis
    w = np.array([[0.30, 0.25, 0.20, 0.15]])
    t_in = [0.0, 0.1, 0.2, 0.3]
    design = design_from_weights([w], {**card, "sizes": [4, 1]}, profile, params, name="step_check")
    sim = run_job(SimJob(design, 0, t_in, str(tmp_path / "col"), layer=0, neuron=0)).times[0][0]
    eff = circuit_effects(profile, params)
    tt, ww = torch.tensor([t_in], dtype=torch.float64), torch.tensor(w, dtype=torch.float64)
    plain = float(Fn.spike_time(Fn.rcspike_exact(tt, ww, card["e_pos"], card["e_neg"]), card["e_dis"])[0, 0])
    v = Fn.rcspike_exact(tt, ww, *Fn.reversal_from_table(ww, eff["reversal_table"]))
    modelled = float(Fn.spike_time(v + Fn.switch_step(tt, ww, eff["switch_step"]), card["e_dis"],
                                   eff["fire_delay"])[0, 0])
    err_plain, err_eff = (sim - plain) * 1e3, (sim - modelled) * 1e3  # ns at T = 1 µs
    assert abs(err_eff) < 2.0 and abs(err_plain) > 6.0, json.dumps({"plain_ns": err_plain, "effects_ns": err_eff})


# ============================================================================================ the model side of verify
def test_model_side_effects_resolve_from_card_profile_or_none(profile):
    from generator.verify import VerifyError, load_model_run, resolve_model_effects

    _, card = read_trained_model(IRIS)
    assert card["switch_step"] and card["reversal_table"] and card["fire_delay"] > 0, "Iris is trained with them"
    assert resolve_model_effects("card", card, profile, CircuitParams(), IRIS) == "card"
    with pytest.raises(VerifyError, match="C_m"):
        resolve_model_effects("card", card, profile, dataclasses.replace(CircuitParams(), c_m=1e-12), IRIS)
    from_profile = resolve_model_effects("profile", card, profile, CircuitParams(), IRIS)
    assert from_profile["fire_delay"] == pytest.approx(card["fire_delay"])
    none = resolve_model_effects("none", card, profile, CircuitParams(), IRIS)
    with pytest.raises(VerifyError, match="unknown model_effects"):
        resolve_model_effects("some", card, profile, CircuitParams(), IRIS)
    trained = load_model_run(IRIS, 4)
    same = load_model_run(IRIS, 4, effects=from_profile)
    plain = load_model_run(IRIS, 4, effects=none)
    np.testing.assert_allclose(same.times[-1], trained.times[-1], atol=1e-6)  # the card holds the profile's effects
    assert np.abs(plain.times[-1] - trained.times[-1]).max() > 0.003  # > 3 ns: the effects reach the model side
