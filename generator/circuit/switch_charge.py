"""The charge a synapse stack moves when its selector opens: measured with ngspice, modelled in the PNN.

Why: in the stack membrane -- memory transistor -- x -- selector -- rail, the node x sits at the rail while the
selector conducts. When the selector opens at the end of the accumulation phase, x is no longer held, and the memory
transistor (still biased on) keeps conducting until x has charged up to where its gate-source voltage is gone:
x recharges *from the membrane*. The selector's own gate edge couples into x and adds to it. The RC-Spike model
stops every synapse current exactly at t = 1; the circuit moves an extra charge q per conducting stack, mostly
within tens of ns and a logarithmic tail after (subthreshold: Δv_x ≈ n U_T ln(1 + τ I / (C_x n U_T))). At the
paper's C_m = 140 fF one NMOS stack at the unit current moves the membrane by ~3 mV, i.e. ~3 ns of firing time:
with a handful of conducting stacks this is the largest remaining model-circuit difference.

What is measured (:func:`measure_switch_charge`): one transient with many stacks, each with its own membrane node
held at a fixed voltage by a source (the effect is a few mV on a real membrane, so holding it changes nothing),
with the synapse subcircuits of the netlists and the same stimulus edges (``netlist.RISE_S``). The selector is on
in [t_on, t_off); the extra charge out of the membrane after the nominal switch-off instant t_off is

    q(τ) = ∫_{t_off - T/10}^{t_off + τ} i dt  -  I_on T/10,

with I_on the stack's current just before the edge (C; positive = drawn out of the membrane, i.e. it raises the
model's v; an NMOS stack gives q > 0, a PMOS stack q < 0). In model units the membrane step is q / (C_m V_th).

The model (:func:`step_model`): per stack kind, q at the reference delay τ_ref (plus the small switch-on charge)
in model units q / (C_m V_th), tabulated against ln |w| = ln(I / I_unit); the card stores it as ``switch_step``
and :func:`generator.model.functional.switch_step` turns it into one step per conducting synapse. Not a straight
line in ln I: above ~1 µA the PMOS stack's switch-on transient grows, so the table is interpolated, not fitted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.io import round_sig
from generator.design import CircuitParams, DeviceProfile
from generator.errors import DesignError
from generator.spice import netlist as nl
from generator.spice.sim import Simulation
from generator.circuit.mapping import GateTable

#: stack currents measured (A): a log grid over what the mapping uses, weight 0.05 at C_m = 140 fF (6 nA) up to
#: weight 4 at C_m = 1 pF (3.5 µA)
CURRENTS_A = tuple(float(x) for x in np.geomspace(5e-9, 4e-6, 15))
#: delays after the nominal switch-off at which q is reported (s)
TAUS_S = (2e-9, 5e-9, 10e-9, 20e-9, 50e-9, 100e-9, 200e-9, 500e-9, 1e-6)
#: reference delay of the model's step (s): the median firing time of the Iris output layer is ~0.5 T; the
#: charge at 200 ns is within ~10 % of its value over most of the firing phase (see the table's tau axis)
TAU_REF_S = 200e-9
#: membrane levels (fractions of the swing: V = V0 - f V_th) at which the stacks are held
HOLD_FRACTIONS = (0.0, 0.5, 1.0)
#: selector on-time as fractions of T: on at 0.2 T (settled long before the edge), off at 1.0 T
T_ON_FRACTION = 0.2
T_OFF_FRACTION = 1.0


def charge_between(t: np.ndarray, i: np.ndarray, a: float, b: float) -> float:
    """∫_a^b i dt (trapezoid on the simulator's own time points, end points interpolated)."""
    sel = (t > a) & (t < b)
    tt = np.concatenate([[a], t[sel], [b]])
    ii = np.concatenate([[np.interp(a, t, i)], i[sel], [np.interp(b, t, i)]])
    return float(np.sum(0.5 * (ii[1:] + ii[:-1]) * np.diff(tt)))


def measure_switch_charge(profile: DeviceProfile, params: CircuitParams | None = None, *,
                          workdir: str | Path | None = None, timeout_s: float = 300.0) -> dict:
    """Simulate the selector-edge charge of both stack kinds over currents, delays and membrane levels.

    The gate bias of every stack comes from the profile's Id(Vgate) tables, exactly as the mapping sets it.
    Returns the ``switch_charge`` table (SI units): {"tau_s": [...], "v_hold": [...], "t_phase_s", "units",
    "pos"/"neg": {"current": [A], "vg": [V], "q": [[[C per tau] per current] per v_hold], "q_on": [[C] per v]}}.
    ``q_on`` is the same integral around the switch-on edge (over [t_on - T/10, t_on + T/10]), for the record.
    """

    p = (params or CircuitParams(corner=profile.corner, temp=profile.temp)).validate()
    t_on, t_off = T_ON_FRACTION * p.t_phase, T_OFF_FRACTION * p.t_phase
    tstop = t_off + max(TAUS_S) + 0.05 * p.t_phase
    pts = nl.pulse_points(t_on, t_off, p.vdd, tstop)
    pwls = [{"name": "SPK", "node": "spk", "points": pts},
            {"name": "SPKB", "node": "spkb", "points": nl.inverted(pts, p.vdd)}]
    holds = [p.v0 - f * p.v_th for f in HOLD_FRACTIONS]
    currents = np.array(CURRENTS_A)
    stacks, biases, vg = [], [], {}
    for kind, table in (("pos", "nmos"), ("neg", "pmos")):
        gt = GateTable.from_profile(profile, table)
        if currents.min() < gt.i_min or currents.max() > gt.i_max:
            raise DesignError(f"the {table.upper()} Id(Vgate) table of the profile covers {gt.i_min:.3g}..{gt.i_max:.3g} A"
                              f", not {currents.min():.3g}..{currents.max():.3g} A; regenerate it with `imcgen characterize`")
        vg[kind] = gt.bias_for(currents)
        for c, g in enumerate(vg[kind]):
            node = f"g{kind}{c}"
            biases.append({"name": f"B{kind}{c}", "node": node, "value": float(g)})
            for h, vh in enumerate(holds):
                stacks.append({"k": len(stacks), "kind": kind, "bias": node, "v_hold": vh, "c": c, "h": h})
    with Simulation(p.corner, workdir, prefix="imcgen-switch-") as sim:
        deck = sim.render("characterize/switch_charge.spice.j2", **nl.device_context(p),
                          rails=[{"name": "DD", "node": "vdd", "value": p.vdd}], pwls=pwls, biases=biases,
                          stacks=stacks, temp=p.temp, options=nl.OPTIONS, tstep=nl.TSTEP_S, tstop=tstop,
                          tmax=nl.TMAX_S)
        res = sim.run(deck, name="switch_charge", timeout_s=timeout_s)
    t = res["time"]
    win = 0.1 * p.t_phase
    out = {"tau_s": list(TAUS_S), "v_hold": [round_sig(v) for v in holds], "t_phase_s": p.t_phase,
           "units": {"q": "C (positive: drawn out of the membrane)", "current": "A", "tau_s": "s", "v_hold": "V"}}
    for kind in ("pos", "neg"):
        q = np.zeros((len(holds), len(currents), len(TAUS_S)))
        q_on = np.zeros((len(holds), len(currents)))
        for s in (s for s in stacks if s["kind"] == kind):
            i = -res[f"i(vm{s['k']})"]  # ngspice: source current flows + -> -, i.e. into the node from VM
            i_on = float(np.mean(i[(t > t_off - 2 * win) & (t < t_off - win)]))
            base = charge_between(t, i, t_off - win, t_off) - i_on * win
            for m, tau in enumerate(TAUS_S):
                q[s["h"], s["c"], m] = base + charge_between(t, i, t_off, t_off + tau)
            q_on[s["h"], s["c"]] = charge_between(t, i, t_on - win, t_on + win) - i_on * win
        out[kind] = {"current": [round_sig(c) for c in currents], "vg": [round_sig(g) for g in vg[kind]],
                     "q": [[[round_sig(x) for x in row] for row in per_hold] for per_hold in q],
                     "q_on": [[round_sig(x) for x in row] for row in q_on]}
    return out


def charge_at(table: dict, kind: str, tau_s: float) -> np.ndarray:
    """The measured switch-off charge q (C) of stack ``kind`` ("pos"/"neg") at delay ``tau_s`` (s; interpolated
    in log delay), [membrane level, current]."""
    taus = np.asarray(table["tau_s"], dtype=float)
    if not taus[0] <= tau_s <= taus[-1]:
        raise DesignError(f"tau_s {tau_s:g} s is outside the measured delays {taus[0]:g}..{taus[-1]:g} s")
    q = np.asarray(table[kind]["q"], dtype=float)  # [hold, current, tau]
    return np.array([[np.interp(np.log(tau_s), np.log(taus), row) for row in per_hold] for per_hold in q])


def step_model(table: dict, params: CircuitParams, profile: DeviceProfile, *, tau_s: float = TAU_REF_S) -> dict:
    """The model's switch-off step table (:func:`generator.model.functional.switch_step_per_synapse`) for ``params``.

    Per stack kind: q(I) = q_off(I, tau_s) + q_on(I), averaged over the measured membrane levels, in model units
    q / (C_m V_th) against ln(I / I_u), I_u = params.unit_current (so ln(I / I_u) = ln |w|). The switch-on charge
    q_on is lumped into the step at t = 1 (it happens at t_j; the conductance afterwards changes its effect on
    v(1) only to second order). ``w_min``: the smallest weight the mapping turns on (the profile's Id(Vgate)
    tables start at their smallest current). ``t_on_max``: the latest input spike (model units) the netlist
    applies (netlist.input_pwl). Returns {"log_w", "pos", "neg" (magnitude; a PMOS step lowers v), "w_min",
    "t_on_max", "tau_ref_s", "c_m", "v_th"}.
    """

    p = params.validate()
    unit = p.unit_current
    scale = 1.0 / (p.c_m * p.v_th)
    # a spike whose edge would not be complete before the phase ends is not applied (netlist.input_pwl), so its
    # selector never conducts: the model must not count it
    out: dict = {"tau_ref_s": float(tau_s), "c_m": p.c_m, "v_th": p.v_th, "t_on_max": 1.0 - nl.RISE_S / p.t_phase}
    for kind, sign in (("pos", 1.0), ("neg", -1.0)):
        d = table[kind]
        y = sign * (charge_at(table, kind, tau_s) + np.asarray(d["q_on"], dtype=float)).mean(axis=0) * scale
        out[kind] = [float(v) for v in y]
        out["log_w"] = [float(x) for x in np.log(np.asarray(d["current"], dtype=float) / unit)]
    i_min = max(GateTable.from_profile(profile, t).i_min for t in ("nmos", "pmos"))
    out["w_min"] = i_min / unit
    return out

