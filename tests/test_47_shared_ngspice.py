"""The PySpice shared-library back-end (issue 14): ngspice in-process (NgSpiceShared) in a child process of its
own, behind the one simulation context. Same spike times and waveforms as the batch runner on an Iris column deck
and on the Iris network testbench; a hang is killed by the timeout and the next run gets a fresh child.
Budget: ~20 s.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from generator.circuit.mapping import map_model
from generator.design import DeviceProfile
from generator.spice import netlist as nl
from generator.spice.ngspice import NgspiceError, NgspiceTimeout
from generator.spice.sim import BatchNgspice, SharedNgspice, Simulation, _split_control
from generator.spice.waveform import crossing_time

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.ngspice


@pytest.fixture(scope="module")
def iris():
    from generator.model.data import load_iris
    from generator.verify.model_side import model_spike_times

    design = map_model(REPO / "trained_models" / "iris", DeviceProfile.load(REPO / "profiles" / "sky130_tt_27C.json"))
    times, _ = model_spike_times(REPO / "trained_models" / "iris", load_iris().x_test[:1])
    return design, [np.asarray(t[0], dtype=float) for t in times]


@pytest.fixture(scope="module")
def shared():
    backend = SharedNgspice()
    yield backend
    backend.close()


def _spike(t, v, fire, vdd):
    tc = crossing_time(t, v, vdd / 2, rising=True, t_start=fire[0], t_stop=fire[1])
    return (tc - fire[0]) * 1e9


def test_split_control_drops_quit():
    circuit, control = _split_control("* t\nV1 a 0 1\n.control\nrun\n* c\nwrdata x v(a)\nquit 0\n.endc\n.end\n")
    assert control == ["run", "wrdata x v(a)"] and ".control" not in circuit and "V1 a 0 1" in circuit


def test_column_deck_same_on_both_backends(iris, shared, tmp_path):
    design, times = iris
    p = design.params
    fire = nl.phase_schedule(1, p)[0]["fire"]
    layer, t_out = 0, times[1]
    neurons = [i for i in range(design.layers[layer].n_out) if t_out[i] < 0.95][:2] or [0]
    for neuron in neurons:
        got = {}
        for tag, backend in (("batch", BatchNgspice()), ("shared", shared)):
            with Simulation(p.corner, tmp_path / tag, backend=backend) as sim:
                for kind, fast in (("today", False), ("fast", True)):
                    deck = nl.render_column_testbench(design, layer, neuron, times[0], lib=sim.library.name, fast=fast)
                    res = sim.run(deck, name=f"col{neuron}_{kind}", vectors=["v(mem)", "v(spk)", "i(vcol)"])
                    got[tag, kind] = res
        for kind in ("today", "fast"):
            a, b = got["batch", kind], got["shared", kind]
            assert set(a.vectors) == set(b.vectors), (sorted(a.vectors), sorted(b.vectors))
            assert a.scale == b.scale == "time"
            assert a["time"].shape == b["time"].shape  # the same engine takes the same steps
            np.testing.assert_allclose(b["v(mem)"], a["v(mem)"], atol=1e-9)
            ta, tb = (_spike(r["time"], r["v(spk)"], fire, p.vdd) for r in (a, b))
            assert (math.isnan(ta) and math.isnan(tb)) or abs(ta - tb) <= 0.01, (neuron, kind, ta, tb)
            assert b.raw_path is None and b.deck_path.is_file() and b.log_path.is_file()


def test_network_testbench_same_on_both_backends(iris, shared, tmp_path):
    design, times = iris
    p = design.params
    sched = nl.phase_schedule(len(design.layers), p)
    spikes = {}
    for tag, backend in (("batch", BatchNgspice()), ("shared", shared)):
        with Simulation(p.corner, tmp_path / tag, backend=backend) as sim:
            nl.write_netlist(design, sim.workdir, sample_spikes=times[0])
            res = sim.run((sim.workdir / "testbench.spice").read_text(), name="testbench")
            spikes[tag] = [_spike(res["time"], res[f"v(s{k + 1}_{i})"], sched[k]["fire"], p.vdd)
                           for k, layer in enumerate(design.layers) for i in range(layer.n_out)]
            # the deck's own wrdata ran in the run folder with either back-end
            assert (sim.workdir / nl.DATA_FILE).is_file()
    a, b = np.array(spikes["batch"]), np.array(spikes["shared"])
    assert np.isfinite(a).sum() >= 2
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) <= 0.01, (a, b)


def test_shared_backend_survives_a_hang_and_reports_errors(iris, tmp_path):
    design, times = iris
    backend = SharedNgspice()
    try:
        with Simulation(design.params.corner, tmp_path, backend=backend) as sim:
            deck = nl.render_column_testbench(design, 0, 0, times[0], lib=sim.library.name)
            with pytest.raises(NgspiceTimeout):
                sim.run(deck.replace(".tran 1e-09", ".tran 1e-12").replace(" 0 1e-08", " 0 1e-12"), name="slow",
                        timeout_s=1.0)
            res = sim.run(deck, name="after")  # a fresh child
            assert res["time"].size > 10
            bad = re.sub(r"^(XSP_0 .*) synapse_pos$", r"\1 synapse_nope", deck, count=1, flags=re.M)
            assert bad != deck
            with pytest.raises(NgspiceError, match="synapse_nope"):
                sim.run(bad, name="bad")
            assert sim.run(deck, name="again")["time"].size == res["time"].size
    finally:
        backend.close()
