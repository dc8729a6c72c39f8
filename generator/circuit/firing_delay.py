"""The neuron's firing delay: how much later the circuit's output spike comes than the model's threshold crossing.

Why: the model fires when v reaches 1 on its firing ramp. The circuit's sensing inverter is a comparator with a
finite gain; its input (the membrane) sees a Miller capacitance that grows as the inverter switches, the NAND and
output inverter add their delays, and the phase switch and discharger turning on at the start of the firing phase
inject a little charge. Together these shift every output spike by about the same time (~1.5 ns in tt). The
discharger bias is set analytically from the profile (generator/circuit/mapping.py: discharger_bias), so the
delay is not calibrated away; the PNN models it as a constant shift of the spike time
(:func:`generator.model.functional.spike_time`, ``delay``).

Measurement (:func:`measure_firing_delay`): a neuron with a single positive synapse whose input spikes at t = 0,
for a few small weights (so that the membrane hardly moves and the accumulation itself is exact to << 1 ns), in
the column testbench of the netlists; the delay is the circuit's spike time minus the model's (with the measured
switch-off step of that one stack, generator/circuit/switch_charge.py), averaged over the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generator.io import round_sig
from generator.design import CircuitParams, DeviceProfile
from generator.errors import DesignError
from generator.circuit.mapping import design_from_weights, discharger_bias
from generator.circuit.switch_charge import step_model
from generator.model import functional as Fn
from generator.spice import netlist as nl
from generator.spice.sim import Simulation
from generator.spice.waveform import crossing_time

#: weights (model units) of the single synapse: small, so v(1) < 0.2 and the accumulation error is negligible
WEIGHTS = (0.05, 0.1, 0.15, 0.2)


def _delay(sim: Simulation, k: int, w: float, card: dict, profile: DeviceProfile, p: CircuitParams, step: dict,
           fire: tuple[float, float], timeout_s: float) -> float:
    """Firing delay (s) of a single-synapse neuron of weight ``w``: circuit crossing minus the model's spike time."""
    wm = np.array([[w]])
    design = design_from_weights([wm], card, profile, p, name="firing_delay")
    res = sim.run(nl.render_column_testbench(design, 0, 0, [0.0], lib=sim.library.name), name=f"delay_{k}",
                  timeout_s=timeout_s)
    tc = crossing_time(res["time"], res["v(spk)"], p.vdd / 2, rising=True, t_start=fire[0], t_stop=fire[1])
    if not np.isfinite(tc):
        raise DesignError(f"the single-synapse neuron (w = {w}) did not fire in its firing phase; deck "
                          f"{res.deck_path}")
    tt = torch.zeros(1, 1, dtype=torch.float64)
    ww = torch.tensor(wm, dtype=torch.float64)
    v = Fn.rcspike_exact(tt, ww, profile.e_pos, profile.e_neg) + Fn.switch_step(tt, ww, step)
    t_model = float(Fn.spike_time(v, profile.e_dis)[0, 0])
    return tc - fire[0] - t_model * p.t_phase


def measure_firing_delay(profile: DeviceProfile, params: CircuitParams | None = None, *,
                         workdir: str | Path | None = None, timeout_s: float = 300.0) -> dict:
    """Simulate single-synapse neurons and return {"weights", "delay_s" (per weight), "delay_s_mean",
    "delay_s_spread" (max - min), "e_dis", "tau_ref_s"} (s).

    Needs the profile's ``switch_charge`` table (the step of the conducting stack is part of the model side) and
    its discharger table (the mapping's V_b_dis for the profile's E_dis).
    """


    p = (params or CircuitParams(corner=profile.corner, temp=profile.temp)).validate()
    table = (profile.tables or {}).get("switch_charge")
    if table is None:
        raise DesignError("the firing delay needs the profile's switch_charge table; measure it first "
                          "(generator/circuit/switch_charge.py)")
    vb, _ = discharger_bias(profile, p, profile.e_dis)
    p = CircuitParams(**{**p.__dict__, "v_b_dis": vb}).validate()
    step = step_model(table, p, profile)
    card = {"e_pos": profile.e_pos, "e_neg": profile.e_neg, "e_dis": profile.e_dis, "name": "firing_delay"}
    fire = nl.phase_schedule(1, p)[0]["fire"]
    delays = []
    with Simulation(p.corner, workdir, prefix="imcgen-delay-") as sim:
        for k, w in enumerate(WEIGHTS):
            delays.append(_delay(sim, k, w, card, profile, p, step, fire, timeout_s))
    d = np.asarray(delays)
    return {"weights": list(WEIGHTS), "delay_s": [round_sig(x) for x in d], "delay_s_mean": round_sig(d.mean()),
            "delay_s_spread": round_sig(d.max() - d.min()), "e_dis": round_sig(profile.e_dis),
            "tau_ref_s": step["tau_ref_s"]}
