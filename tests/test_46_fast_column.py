"""The fast column deck (issue 14, opt-in): synapse FETs as M lines on shared sky130 cards and a tolerance
schedule (loose accumulation, reltol 1e-6 chgtol 1e-16 from 5 ns before its end, stop once fired).

One 64-input digits output column (test sample 0, the model's own hidden spikes as inputs), three runs with real
ngspice: today's deck and settings, the fast deck, and the tight-tolerance reference (reltol 1e-6 throughout).
Budget: ~30 s on the shared 2-core machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from generator.circuit.mapping import map_model
from generator.design import DeviceProfile
from generator.errors import DesignError
from generator.spice import netlist as nl
from generator.spice.fast import FastDeck, lump_inactive, shared_fet_models
from generator.spice.sim import Simulation
from generator.spice.waveform import crossing_time

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits_column():
    from generator.model.data import load_digits
    from generator.verify.model_side import model_spike_times

    design = map_model(REPO / "trained_models" / "digits", DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json"))
    times, _ = model_spike_times(REPO / "trained_models" / "digits", load_digits().x_test[:1])
    t_out = times[2][0]
    fires = np.where(np.isfinite(t_out) & (t_out < 0.95), t_out, np.inf)
    neuron = int(np.argmin(np.abs(fires - 0.5)))
    return design, neuron, [float(t) for t in times[1][0]]


def _spike_ns(design, res) -> float:
    p = design.params
    fire = nl.phase_schedule(1, p)[0]["fire"]
    tc = crossing_time(res["time"], res["v(spk)"], p.vdd / 2, rising=True, t_start=fire[0], t_stop=fire[1])
    return (tc - fire[0]) * 1e9


def test_shared_cards_flatten_the_wrapper():
    f = shared_fet_models("sky130_fd_pr__nfet_01v8", 1.0, 0.25, prefix="fs_nfet")
    params = dict(f.params)
    assert params["fs_nfet_w"] == "1" and params["fs_nfet_l"] == "0.25"
    assert "fs_nfet_swx_vth" in params and "fs_nfet_l" in params["fs_nfet_swx_vth"]  # renamed inside expressions
    assert f.model == "fs_nfet_nshort_model" and all(c.name.startswith("fs_nfet_nshort_model.") for c in f.cards)
    assert 1 <= len(f.cards) <= 4  # only the bins whose L/W range holds W = 1, L = 0.25 (boundaries shared)
    inst = dict(f.instance)
    assert inst["l"] == "{fs_nfet_l}" and "fs_nfet_swx_vth" in inst["delvto"]


def test_fast_deck_is_opt_in_and_well_formed(digits_column):
    design, neuron, t_in = digits_column
    default = nl.render_column_testbench(design, 1, neuron, t_in)
    assert default == nl.render_column_testbench(design, 1, neuron, t_in, fast=False)
    assert "synapse_pos\nMNM" not in default and "stop when" not in default
    fast = nl.render_column_testbench(design, 1, neuron, t_in, fast=True)
    assert "\nMNM col" not in fast and "\nMNM mem bias x vss fs_nfet_nshort_model" in fast
    assert "stop when time > 1.995e-06" in fast and "option reltol=1e-6 chgtol=1e-16" in fast
    assert "stop when v(spk) > 1.71" in fast
    ref = nl.render_column_testbench(design, 1, neuron, t_in, fast=FastDeck.reference())
    assert ".option method=gear reltol=1e-6 chgtol=1e-16" in ref and "stop when" not in ref
    with pytest.raises(DesignError, match="probe mode"):
        nl.render_column_testbench(design, 1, neuron, t_in, fast=True, hold_v0=True)


@pytest.mark.ngspice
def test_fast_deck_matches_today_and_is_closer_to_the_tight_reference(digits_column, tmp_path):
    design, neuron, t_in = digits_column
    out = {}
    with Simulation(design.params.corner, tmp_path) as sim:
        for name, fast in (("today", False), ("fast", True), ("ref", FastDeck.reference())):
            deck = nl.render_column_testbench(design, 1, neuron, t_in, lib=sim.library.name, fast=fast)
            res = sim.run(deck, name=f"col_{name}", timeout_s=300)
            out[name] = (_spike_ns(design, res), res)
    today, fast, ref = out["today"][0], out["fast"][0], out["ref"][0]
    assert all(math.isfinite(x) for x in (today, fast, ref)), (today, fast, ref)
    # the fast deck stops once the neuron fired: its waveform ends within the firing phase
    assert out["fast"][1]["time"][-1] < nl.phase_schedule(1, design.params)[0]["fire"][1]
    assert abs(fast - ref) <= 0.1, f"fast {fast:.4f} ns vs reference {ref:.4f} ns"
    assert abs(fast - ref) <= abs(today - ref), (today, fast, ref)
    # today's deck is itself not converged (TOOLCHAIN.md: up to +0.55 ns, born at the switch-off step); the fast
    # deck agrees with it to within that error + 0.1 ns (measured here: today +0.62 ns, fast +0.003 ns vs ref)
    assert abs(fast - today) <= abs(today - ref) + 0.1, (today, fast, ref)


def test_fast_cards_drop_only_the_body_network(digits_column):
    design, neuron, t_in = digits_column
    fast = nl.render_column_testbench(design, 1, neuron, t_in, fast=True)
    ref = nl.render_column_testbench(design, 1, neuron, t_in, fast=FastDeck.reference())
    assert "rbodymod = 0" in fast and "rbodymod = 1" not in fast
    assert "rbodymod = 1" in ref and "rbodymod = 0" not in ref


def _half_idle(t_in):
    """The column's inputs with every second one never spiking (t = 1)."""
    return [1.0 if j % 2 else t for j, t in enumerate(t_in)]


def test_lump_inactive_groups_by_polarity_and_bias_bin():
    gates = [(0.41, None), (0.44, None), (0.47, None), (None, 1.22), (None, 1.23), (None, None)]
    out = lump_inactive(gates, 0.05)
    by = {(g.stack, None if g.gate_v is None else round(g.gate_v, 4)): g.count for g in out}
    # NMOS stacks: tied off (3 synapses use their PMOS or none), 0.40-0.45 V bin (0.41, 0.44), 0.45-0.50 (0.47)
    assert by == {("pos", None): 3, ("pos", 0.425): 2, ("pos", 0.47): 1, ("neg", None): 4, ("neg", 1.225): 2}
    assert sum(g.count for g in out if g.stack == "pos") == len(gates) == sum(g.count for g in out
                                                                               if g.stack == "neg")
    assert [g.stack for g in out] == ["pos"] * 3 + ["neg"] * 2  # deterministic order
    with pytest.raises(ValueError, match="lump_bin_v"):
        FastDeck(lump_bin_v=0.0)


def test_idle_inputs_are_lumped_in_the_fast_deck_only(digits_column):
    design, neuron, t_in = digits_column
    t = _half_idle(t_in)
    active = [j for j, x in enumerate(t) if nl.input_pwl(x, (1e-6, 2e-6), 1.8, 3e-6) != [(0.0, 0.0), (3e-6, 0.0)]]
    fast = nl.render_column_testbench(design, 1, neuron, t, fast=True)
    assert fast.count("\nXSP_") == len(active) and f"\nVIN{1} " not in fast
    mult = [int(line.rsplit("mult=", 1)[1]) for line in fast.splitlines() if line.startswith(("XLP_", "XLN_"))]
    assert sum(mult) == 2 * (len(t) - len(active))  # both stacks of every idle synapse, once
    ref = nl.render_column_testbench(design, 1, neuron, t, fast=FastDeck.reference())
    assert "\nXLP_" not in ref and ref.count("\nXSP_") == len(t)


@pytest.mark.ngspice
def test_lumped_idle_synapses_keep_the_spike_time(digits_column, tmp_path):
    """Half the inputs never spike: the lumped fast deck, the fast deck with every synapse drawn and the reference
    fire within 0.05 ns of each other."""
    design, neuron, t_in = digits_column
    t = _half_idle(t_in)
    out = {}
    with Simulation(design.params.corner, tmp_path) as sim:
        for name, fast in (("lumped", True), ("drawn", FastDeck(lump_bin_v=None)), ("ref", FastDeck.reference())):
            deck = nl.render_column_testbench(design, 1, neuron, t, lib=sim.library.name, fast=fast)
            out[name] = _spike_ns(design, sim.run(deck, name=f"col_{name}", timeout_s=300))
    assert all(math.isfinite(x) for x in out.values()), out
    assert abs(out["lumped"] - out["ref"]) <= 0.05 and abs(out["lumped"] - out["drawn"]) <= 0.05, out


@pytest.mark.ngspice
def test_mnist_output_column_runs_in_the_suite(shared_data, tmp_path):
    """Issue 14: an MNIST output column (400 inputs, C_m 2 pF from the card) on one real test image, in seconds:
    the lumped fast deck and the fast deck with every synapse drawn fire within 0.05 ns (the reference at reltol
    1e-6 takes ~160 CPU-s: benchmarks/column_cost.py measures it)."""
    from generator.model.data import load_mnist
    from generator.verify.model_side import model_spike_times

    model = REPO / "trained_models" / "mnist"
    design = map_model(model, DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json"))
    assert design.layers[1].n_in == 400 and design.params.c_m == pytest.approx(2e-12)
    times, _ = model_spike_times(model, load_mnist(shared_data).x_test[:1])
    t_in, t_out = [float(t) for t in times[1][0]], times[2][0]
    neuron = int(np.argmin(np.where(t_out < 0.99, t_out, np.inf)))  # the model's winner: it fires
    out = {}
    with Simulation(design.params.corner, tmp_path) as sim:
        for name, fast in (("lumped", True), ("drawn", FastDeck(lump_bin_v=None))):
            deck = nl.render_column_testbench(design, 1, neuron, t_in, lib=sim.library.name, fast=fast)
            out[name] = _spike_ns(design, sim.run(deck, name=f"col_{name}", timeout_s=300))
            if name == "lumped":
                sched = nl.phase_schedule(1, design.params)[0]
                spiking = [t for t in t_in if len(nl.input_pwl(t, sched["accumulate"], 1.8, sched["fire"][1])) > 2]
                assert 0 < deck.count("\nXSP_") == len(spiking) < 400  # only the spiking inputs are drawn
    assert all(math.isfinite(x) for x in out.values()), out
    assert abs(out["lumped"] - out["drawn"]) <= 0.05, out


@pytest.mark.ngspice
def test_fast_network_deck_matches_the_converged_one(tmp_path):
    """The fast network deck (shared synapse cards, loose until the first accumulation ends; what verification
    runs in network mode) against the X-instance deck at reltol 1e-6 throughout, on one Iris test sample."""
    from generator.model.data import load_iris
    from generator.verify.model_side import model_spike_times

    model = REPO / "trained_models" / "iris"
    design = map_model(model, DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json"))
    times, _ = model_spike_times(model, load_iris().x_test[:1])
    t_in = [float(v) for v in times[0][0]]
    paths = nl.write_netlist(design, tmp_path / "deck", sample_spikes=t_in, fast=True)
    assert "\nMNM mem bias x vss fs_nfet_nshort_model" in paths["netlist"].read_text()
    assert "option reltol=1e-6 chgtol=1e-16" in paths["testbench"].read_text()
    assert "fs_nfet" not in nl.render_network(design)  # the bundle's netlist keeps SkyWater's subcircuits
    out = {}
    sched = nl.phase_schedule(len(design.layers), design.params)
    for name, fast in (("fast", True), ("x_converged", False)):
        with Simulation(design.params.corner, tmp_path / name) as sim:
            nl.write_netlist(design, sim.workdir, sample_spikes=t_in, options=nl.OPTIONS_CONVERGED, fast=fast)
            res = sim.run((sim.workdir / "testbench.spice").read_text(), name="testbench", timeout_s=300)
        out[name] = np.array([crossing_time(res["time"], res[f"v(s{k + 1}_{i})"], design.params.vdd / 2, rising=True,
                                            t_start=w["fire"][0], t_stop=w["fire"][1]) * 1e9
                              for k, w in enumerate(sched) for i in range(design.layers[k].n_out)])
    both = np.isfinite(out["fast"]) & np.isfinite(out["x_converged"])
    assert both.sum() >= 3 and np.array_equal(np.isfinite(out["fast"]), np.isfinite(out["x_converged"]))
    assert np.max(np.abs(out["fast"][both] - out["x_converged"][both])) <= 0.05, out
