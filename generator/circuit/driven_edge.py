"""The extra switch-off charge of a synapse whose selector is driven by a neuron, not by an ideal edge.

Why: the switch-off step (generator/circuit/switch_charge.py) is measured with the testbench's ideal 1 ns edges,
which is what the first layer's inputs are. A hidden neuron's output logic (NAND with the phase, then an inverter)
drives the next layer's selectors with its own, sharper edge (0.2 ns into one synapse pair, 2 ns into 64) when its
firing phase ends; the selector's channel charge then splits differently and the inner node pulls more charge from
the membrane. On the Iris network this made the output layer fire 1.5-4 ns earlier than a model with the ideal-edge
step. The logic's release delay itself is small (spk falls 0.2-0.7 ns after the phase edge for fan-outs 1-16).

Measurement (:func:`measure_driven_edge`): the netlists' neuron, clamped so that it fires at once, drives
``fanout`` synapse pairs at the unit current (each stack into a held membrane node) through its firing phase; the
charge each stack moves beyond the same stack switched by the ideal edge (same current, delay and membrane level)
is reported as the equivalent extra conduction time at the unit current (s), per selector kind (spk drives the
NMOS selectors, spkb the PMOS ones) and per fan-out.

The model (generator/model/layers.py: :func:`assign_circuit_effects`): in every layer fed by neurons the switch-off
step of each stack kind grows by that time / T (model units), taken at the layer's fan-out (its number of neurons).
Measured at the unit current only: the extra charge is treated as the same for every current.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.io import round_sig
from generator.design import CircuitParams, DeviceProfile, neuron_design
from generator.errors import DesignError
from generator.circuit.mapping import GateTable
from generator.circuit.switch_charge import charge_at, charge_between
from generator.spice import netlist as nl
from generator.spice.sim import Simulation
from generator.circuit.switch_charge import TAU_REF_S

#: fan-outs measured (synapse pairs driven by one neuron output); interpolated in log fan-out, held at the ends
FANOUTS = (1, 4, 16, 64)
#: membrane level of the load stacks: mid-swing (V0 - V_th / 2)
HOLD_FRACTION = 0.5


def measure_driven_edge(profile: DeviceProfile, params: CircuitParams | None = None, *,
                          workdir: str | Path | None = None, timeout_s: float = 300.0) -> dict:
    """Return {"fanout", "pos_s", "neg_s", "tau_ref_s", "unit_current"}: the extra charge, as conduction time (s) at
    the unit current, of an NMOS / PMOS stack whose selector is driven by a neuron output with that fan-out.
    Needs the profile's ``switch_charge`` table (the ideal-edge reference) and Id(Vgate) tables."""

    p = (params or CircuitParams(corner=profile.corner, temp=profile.temp)).validate()
    table = (profile.tables or {}).get("switch_charge")
    if table is None:
        raise DesignError("the driven-edge charge needs the profile's switch_charge table; measure it first")
    unit = p.unit_current
    vg_n = float(GateTable.from_profile(profile, "nmos").bias_for(np.array([unit]))[0])
    vg_p = float(GateTable.from_profile(profile, "pmos").bias_for(np.array([unit]))[0])
    t_on, t_off = 0.2 * p.t_phase, 1.0 * p.t_phase

    tau = TAU_REF_S
    tstop = t_off + tau + 0.05 * p.t_phase
    ph = nl.pulse_points(t_on, t_off, p.vdd, tstop)
    pwls = [{"name": "PH", "node": "ph", "points": ph}, {"name": "PHB", "node": "phb", "points": nl.inverted(ph, p.vdd)}]
    v_hold = p.v0 - HOLD_FRACTION * p.v_th
    drivers = [{"k": k, "fanout": f, "loads": [{"j": j, "v_hold": v_hold} for j in range(f)]}
               for k, f in enumerate(FANOUTS)]
    rails = nl.rails(p) + [{"name": "LOW", "node": "vlow", "value": 0.2 * p.v_switch}]
    biases = [{"name": "BN", "node": "gbn", "value": vg_n}, {"name": "BP", "node": "gbp", "value": vg_p}]
    with Simulation(p.corner, workdir, prefix="imcgen-driven-") as sim:
        deck = sim.render("characterize/driven_edge.spice.j2", **nl.device_context(p, neuron_design(p, 1)),
                          rails=rails, pwls=pwls, biases=biases, drivers=drivers, bias_n="gbn", bias_p="gbp",
                          temp=p.temp, options=nl.OPTIONS, tstep=nl.TSTEP_S, tstop=tstop, tmax=nl.TMAX_S)
        res = sim.run(deck, name="driven_edge", timeout_s=timeout_s)
    t = res["time"]
    win = 0.1 * p.t_phase
    out: dict = {"fanout": list(FANOUTS), "tau_ref_s": tau, "unit_current": unit}
    for kind, src, sign in (("pos", "vp", 1.0), ("neg", "vn", -1.0)):
        # the ideal-edge reference: the same stack kind at the same current, delay and membrane level
        ref_cur = np.asarray(table[kind]["current"], dtype=float)
        q_tau = charge_at(table, kind, tau)[1]  # the middle membrane level (V0 - V_th / 2, as the loads here)
        q_ref = float(np.interp(np.log(unit), np.log(ref_cur), q_tau))
        vals = []
        for d in drivers:
            i = -res[f"i({src}{d['k']}_0)"]
            i_on = float(np.mean(i[(t > t_off - 2 * win) & (t < t_off - win)]))
            q = charge_between(t, i, t_off - win, t_off + tau) - i_on * win
            vals.append(round_sig((q - q_ref) / i_on))
        out[f"{kind}_s"] = vals
    return out
