"""SPICE characterisation of the synapse and discharger devices -> :class:`~generator.design.DeviceProfile`.

What is measured (PAPER.md §4-5, App. A.2), with the sky130 models, the sizes in :class:`CircuitParams`:

* **NMOS synapse stack** (positive weight): membrane node -- memory NFET (gate bias V_N) -- selector NFET (gate
  at VDD, on) -- GND. Current *out of* the membrane, I_N(V) = I0 (1 + λ_N (V - V0)), λ_N > 0.
* **PMOS synapse stack** (negative weight): VDD -- selector PFET (gate at 0, on) -- memory PFET (gate bias V_P)
  -- membrane node. Current *into* the membrane, I_P(V) = I0 (1 - λ_P (V - V0)), λ_P > 0 (its V_SD = VDD - V).
* **Discharger**: membrane -- current-source NFET (gate V_b_dis) -- phase-switch NFET (gate at VDD in the firing
  phase) -- GND; I_dis(V) = I0 (1 + λ_dis (V - V0)) (NMOS convention; App. A.2 scales it to α(1 - β_dis v)).

Why the memory transistor sits at the membrane and the switch at the rail: with the switch at the membrane
(gate at VDD) the switch saturates once V > VDD - V_T,n(body) ≈ 1.05 V and becomes a cascode; the stack's
current is then flat above ~1.05 V and bends sharply below it (a straight line misses it by > 5 %). With the
memory transistor at the membrane and the switch in deep triode at the rail (a few µV drop at these currents)
the drain of the current source sees the whole membrane swing and the I-V is a straight CLM line (fit residual
< 0.5 %), the memory gate bias is referenced to the rail, and the measured λ match the paper's (0.41, 0.75).
The netlists must use the same order (the profile's ``meta.stack_order`` says it);
``stack_order="selector-at-membrane"`` characterises the other order for comparison.

Each curve is fitted over the membrane swing [V_switch, V0] by least squares on the *relative* error. The
reported λ_N and λ_P are interpolated (in log current) at the unit current C_m V_th / T (~122 nA); λ_dis is the
fit at V_b_dis. Then E+ = 1/(V_th λ_N), E- = -1/(V_th λ_P), E_dis = 1/(V_th λ_dis), V_th = V0 - V_switch.

``DeviceProfile.tables`` (SI units: V, A, 1/V; all lists of floats):

* ``nmos_vg``, ``nmos_id``: NMOS-stack current (A) versus memory gate bias (V) at V = V0; ``nmos_vg`` ascending,
  ``nmos_id`` strictly increasing, trimmed to [TABLE_I_MIN, TABLE_I_MAX]. Mapping inverts it.
* ``pmos_vg``, ``pmos_id``: PMOS-stack current magnitude (A) versus gate bias (V) at V = V0; ``pmos_vg``
  ascending, ``pmos_id`` strictly *decreasing* (a higher gate voltage turns the PMOS off).
* ``lambda_n_vs_i``, ``lambda_p_vs_i``: {"vg", "i0", "lambda", "max_rel_residual"} per gate bias, sorted by
  ascending i0 (fit intercept at V0, A), covering ~10 nA .. 3 µA.
* ``lambda_dis_vs_i``: the same for the discharger over its gate bias ``vb``.
* ``nmos_iv``, ``pmos_iv``: {"v": membrane grid (V), "vg": [...], "i": [[A per v] per vg], "i0": [...],
  "lambda": [...]} for a few gate biases around the unit current (for plots and checks).
* ``dis_iv``: {"v", "i", "i0", "lambda", "vb"} at V_b_dis.
* ``switch_charge``: the extra charge each stack kind moves when its selector opens, over currents, delays and
  membrane levels (generator/circuit/switch_charge.py; the model's switch-off step comes from it).
* ``firing_delay``: the neuron's output-spike delay behind the model's threshold crossing (s;
  generator/circuit/firing_delay.py; the model's ``fire_delay``).
* ``driven_edge``: the extra switch-off charge of neuron-driven selectors, as conduction time at the unit current
  (s) by fan-out (generator/circuit/driven_edge.py; the model's ``driven_step``).
"""

from __future__ import annotations

import dataclasses
import io
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from generator.design import CircuitParams, DeviceProfile
from generator.errors import DesignError
from generator.io import atomic_write_bytes, round_sig
from generator.pdk import sky130
from generator.spice.ngspice import ngspice_version
from generator.spice.sim import Simulation
from generator.circuit.driven_edge import measure_driven_edge
from generator.circuit.firing_delay import measure_firing_delay
from generator.circuit.switch_charge import measure_switch_charge

TABLE_VG_STEP = 0.002  #: V, gate-bias step of the Id(Vg) tables at V0
NMOS_TABLE_VG = (0.15, 1.10)  #: V, NMOS gate range of the table sweep (covers 1 nA .. 2 µA in every corner)
PMOS_TABLE_VSG = (0.15, 1.15)  #: V, PMOS |V_GS| range of the table sweep (gate = VDD - this)
TABLE_I_MIN = 0.5e-9  #: A, tables are trimmed to currents above this ...
TABLE_I_MAX = 5e-6  #: A, ... and below this
TABLE_I_COVER = (1e-9, 2e-6)  #: A, range the tables must cover (error otherwise)
FIT_VG_STEP = 0.02  #: V, gate-bias step of the I-V (CLM) sweeps
NMOS_FIT_VG = (0.35, 0.85)  #: V, memory NFET gate biases of the I-V sweep (~5 nA .. 5 µA in tt)
PMOS_FIT_VG = (0.75, 1.45)  #: V, memory PFET gate biases of the I-V sweep
DIS_FIT_HALF_SPAN = 0.15  #: V, discharger gate sweep V_b_dis ± this
V_POINTS_IN_SWING = 44  #: membrane-voltage steps across [V_switch, V0] (~20 mV)
V_MARGIN_STEPS = 5  #: extra steps below V_switch and above V0 (plots only)
LAMBDA_TABLE_I = (10e-9, 3e-6)  #: A, i0 range kept in the lambda-versus-current tables
SPREAD_I = (50e-9, 500e-9)  #: A, current range over which the λ spread is reported
IV_CURVE_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)  #: stored I-V curves at these multiples of the unit current
#: the two series orders of switch and current source; "memory-at-membrane" is the default and the recommended one
STACK_ORDERS = {
    "memory-at-membrane": {
        "nmos": "membrane - memory NFET(gate V_N) - selector NFET(gate spike) - GND",
        "pmos": "membrane - memory PFET(gate V_P) - selector PFET(gate spike_b) - VDD",
        "discharger": "membrane - source NFET(gate V_b_dis) - switch NFET(gate phase) - GND",
    },
    "selector-at-membrane": {
        "nmos": "membrane - selector NFET(gate spike) - memory NFET(gate V_N) - GND",
        "pmos": "membrane - selector PFET(gate spike_b) - memory PFET(gate V_P) - VDD",
        "discharger": "membrane - switch NFET(gate phase) - source NFET(gate V_b_dis) - GND",
    },
}
DEFAULT_STACK_ORDER = "memory-at-membrane"
RELTOL = 1e-5  #: ngspice relative tolerance of the sweeps


class CharacterizationError(DesignError):
    """The sweeps ran but their result cannot be used (range not covered, non-monotone table ...)."""


@dataclass(frozen=True)
class ClmFit:
    """I(V) = i0 (1 + slope_rel (V - V0)) fitted over the swing; ``max_rel_residual`` = max |fit/I - 1|."""

    i0: float  # A
    slope_rel: float  # 1/V, (dI/dV)/I0
    max_rel_residual: float

    def predict(self, v: np.ndarray, v0: float) -> np.ndarray:
        return self.i0 * (1.0 + self.slope_rel * (np.asarray(v) - v0))


def fit_clm(v: np.ndarray, i: np.ndarray, v0: float, window: tuple[float, float]) -> ClmFit:
    """Fit I = I0 (1 + s (V - V0)) to the points with V in ``window`` (V), minimising the relative error.

    Returns I0 (A), s (1/V) and the largest relative deviation of the fit over the window.
    """
    v = np.asarray(v, float)
    i = np.asarray(i, float)
    lo, hi = min(window), max(window)
    sel = (v >= lo - 1e-6) & (v <= hi + 1e-6)
    if sel.sum() < 3:
        raise CharacterizationError(f"fewer than 3 sweep points inside the fit window {window} V")
    x, y = v[sel] - v0, i[sel]
    if np.any(y <= 0):
        raise CharacterizationError(f"non-positive current in the fit window {window} V: min {y.min():.3g} A")
    a = np.stack([np.ones_like(x), x], axis=1) / y[:, None]  # rows scaled by 1/I: relative residuals
    (b, m), *_ = np.linalg.lstsq(a, np.ones_like(y), rcond=None)
    resid = float(np.max(np.abs((b + m * x) / y - 1.0)))
    return ClmFit(i0=float(b), slope_rel=float(m / b), max_rel_residual=resid)


def _siglist(xs, digits: int = 6) -> list[float]:
    return [round_sig(x, digits) for x in np.asarray(xs, float).ravel()]


def _v_grid(params: CircuitParams) -> tuple[float, float, float]:
    step = params.v_th / V_POINTS_IN_SWING
    start = max(0.0, params.v_switch - V_MARGIN_STEPS * step)
    stop = min(params.vdd, params.v0 + V_MARGIN_STEPS * step)
    start = params.v_switch - math.floor((params.v_switch - start) / step + 1e-9) * step
    return start, stop, step


def _split_plots(result, gate_node: str) -> tuple[dict, dict]:
    """(1-D plot, 2-D plot) of a two-analysis deck: in the 2-D (nested) sweep both V(m) and the gate vary."""
    plots = [vecs for _, vecs in result.plots if gate_node in vecs and "v(m)" in vecs]
    if len(plots) != 2:
        raise CharacterizationError(f"expected 2 analyses in {result.deck_path}, got {len(plots)}")
    plots.sort(key=lambda p: bool(np.ptp(p[gate_node]) > 0 and np.ptp(p["v(m)"]) > 0))
    return plots[0], plots[1]


def _curves(p2: dict, gate_node: str, sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reshape a nested .dc (V(m) inner, gate outer) into (gates, v grid, I[gate, v]) with I in the family sign."""
    g = np.round(p2[gate_node], 9)
    gates = np.unique(g)
    v_rows, i_rows = [], []
    for gv in gates:
        sel = g == gv
        v_rows.append(p2["v(m)"][sel])
        i_rows.append(sign * p2["i(vm)"][sel])
    n = min(len(r) for r in v_rows)
    v = np.asarray(v_rows[0][:n])
    return gates, v, np.stack([r[:n] for r in i_rows])


def _lambda_table(gates, v, cur, v0, window, lam_sign) -> dict:
    rows = []
    for gv, i in zip(gates, cur):
        if np.any(i[(v >= window[0] - 1e-6) & (v <= window[1] + 1e-6)] <= 0):
            continue
        f = fit_clm(v, i, v0, window)
        rows.append((f.i0, float(gv), lam_sign * f.slope_rel, f.max_rel_residual))
    rows.sort()
    rows = [r for r in rows if LAMBDA_TABLE_I[0] <= r[0] <= LAMBDA_TABLE_I[1]]
    if len(rows) < 3:
        raise CharacterizationError(f"the I-V sweep gives fewer than 3 curves with I0 in {LAMBDA_TABLE_I} A; "
                                    "the gate range does not fit this corner/size")
    return {
        "i0": _siglist([r[0] for r in rows]),
        "vg": _siglist([r[1] for r in rows]),
        "lambda": _siglist([r[2] for r in rows]),
        "max_rel_residual": _siglist([r[3] for r in rows], 3),
    }


def lambda_at(table: dict, current: float) -> float:
    """λ (1/V) of a ``lambda_*_vs_i`` table at ``current`` (A), interpolated linearly in log current."""
    i0 = np.asarray(table["i0"], float)
    if not (i0[0] <= current <= i0[-1]):
        raise CharacterizationError(f"current {current:.3g} A outside the characterised range "
                                    f"[{i0[0]:.3g}, {i0[-1]:.3g}] A")
    return float(np.interp(np.log(current), np.log(i0), np.asarray(table["lambda"], float)))


def _id_table(p1: dict, sign: float, increasing: bool) -> tuple[list[float], list[float]]:
    vg = np.asarray(p1["v(g)"], float)
    i = sign * np.asarray(p1["i(vm)"], float)
    order = np.argsort(vg)
    vg, i = vg[order], i[order]
    keep = (i >= TABLE_I_MIN) & (i <= TABLE_I_MAX)
    vg, i = vg[keep], i[keep]
    if len(i) < 2 or i.min() > TABLE_I_COVER[0] or i.max() < TABLE_I_COVER[1]:
        rng = f"[{i.min():.3g}, {i.max():.3g}] A" if len(i) else "nothing"
        raise CharacterizationError(f"the Id(Vg) sweep covers {rng}, not {TABLE_I_COVER} A")
    vg_l, i_l = _siglist(vg), _siglist(i)
    d = np.diff(i_l)
    if not (np.all(d > 0) if increasing else np.all(d < 0)):
        raise CharacterizationError("the Id(Vg) table at V0 is not strictly monotone; check the device models")
    return vg_l, i_l


def _iv_curves(gates, v, cur, v0, window, unit, lam_sign) -> dict:
    fits = [fit_clm(v, i, v0, window) if np.all(i[(v >= window[0]) & (v <= window[1])] > 0) else None for i in cur]
    i0s = np.array([f.i0 if f else np.nan for f in fits])
    picked = []
    for mult in IV_CURVE_MULTIPLES:
        k = int(np.nanargmin(np.abs(np.log(np.where(i0s > 0, i0s, np.nan)) - math.log(mult * unit))))
        if k not in picked:
            picked.append(k)
    picked.sort(key=lambda k: i0s[k])
    return {
        "v": _siglist(v),
        "vg": _siglist(gates[picked]),
        "i": [_siglist(cur[k]) for k in picked],
        "i0": _siglist([fits[k].i0 for k in picked]),
        "lambda": _siglist([lam_sign * fits[k].slope_rel for k in picked]),
        "max_rel_residual": _siglist([fits[k].max_rel_residual for k in picked], 3),
    }


def characterize(
    params: CircuitParams | None = None,
    *,
    corner: str | None = None,
    temp: float | None = None,
    workdir: str | Path | None = None,
    timeout_s: float = 120.0,
    stack_order: str = DEFAULT_STACK_ORDER,
) -> DeviceProfile:
    """Simulate the synapse stacks and the discharger with ngspice and return the device profile.

    ``corner``/``temp`` (°C) default to ``params.corner``/``params.temp``. ``workdir``: where decks, logs and raw
    files go (kept); by default a temporary folder, removed after success and kept (named in the error) after a
    failure. ``stack_order``: one of :data:`STACK_ORDERS` (must match the netlist; see the module docstring).
    Raises PdkError (unknown corner, missing models), NgspiceError, CharacterizationError.
    """
    if stack_order not in STACK_ORDERS:
        raise DesignError(f"unknown stack order {stack_order!r}; valid: {', '.join(STACK_ORDERS)}")
    params = params or CircuitParams()
    params = dataclasses.replace(params, corner=corner or params.corner,
                                 temp=float(params.temp if temp is None else temp)).validate()
    sky130.check_corner(params.corner)
    for what, w, l in (("synapse", params.syn_w, params.syn_l), ("discharger", params.dis_w, params.dis_l)):
        if w < sky130.MIN_W_UM or l < sky130.MIN_L_UM:
            raise DesignError(f"{what} size W={w} µm L={l} µm is below the sky130 minimum "
                              f"W={sky130.MIN_W_UM} µm, L={sky130.MIN_L_UM} µm")
    with Simulation(params.corner, workdir, prefix="imcgen-char-") as sim:
        return _characterize(sim, params, stack_order, timeout_s)


def _characterize(sim: Simulation, params: CircuitParams, stack_order: str, timeout_s: float) -> DeviceProfile:
    """The sweeps and fits of :func:`characterize` in the run folder of ``sim``."""
    vm_start, vm_stop, vm_step = _v_grid(params)
    window = (params.v_switch, params.v0)
    common = dict(temp=params.temp,
                  reltol=RELTOL, vdd=params.vdd, v0=params.v0, vm_start=vm_start, vm_stop=vm_stop, vm_step=vm_step,
                  selector_at_membrane=(stack_order == "selector-at-membrane"))
    unit = params.unit_current
    decks = {
        "char_nmos": sim.render("characterize/nmos_stack.spice.j2", **common, nfet=sky130.NFET, w=params.syn_w,
                            l=params.syn_l, table_start=NMOS_TABLE_VG[0], table_stop=NMOS_TABLE_VG[1],
                            table_step=TABLE_VG_STEP, vg_start=NMOS_FIT_VG[0], vg_stop=NMOS_FIT_VG[1],
                            vg_step=FIT_VG_STEP),
        "char_pmos": sim.render("characterize/pmos_stack.spice.j2", **common, pfet=sky130.PFET, w=params.syn_w,
                            l=params.syn_l, table_start=params.vdd - PMOS_TABLE_VSG[1],
                            table_stop=params.vdd - PMOS_TABLE_VSG[0], table_step=TABLE_VG_STEP,
                            vg_start=PMOS_FIT_VG[0], vg_stop=PMOS_FIT_VG[1], vg_step=FIT_VG_STEP),
        "char_dis": sim.render("characterize/discharger.spice.j2", **common, nfet=sky130.NFET, w=params.dis_w,
                           l=params.dis_l, v_b_dis=params.v_b_dis, vg_start=params.v_b_dis - DIS_FIT_HALF_SPAN,
                           vg_stop=params.v_b_dis + DIS_FIT_HALF_SPAN, vg_step=FIT_VG_STEP),
    }
    # three independent ngspice processes: run them side by side (each ~1-3 s of CPU)
    with ThreadPoolExecutor(max_workers=len(decks)) as pool:
        futures = {name: pool.submit(sim.run, text, name=name, timeout_s=timeout_s)
                   for name, text in decks.items()}
        results = {name: f.result() for name, f in futures.items()}

    # ---- NMOS stack
    p1, p2 = _split_plots(results["char_nmos"], "v(g)")
    nmos_vg, nmos_id = _id_table(p1, -1.0, increasing=True)
    gates, v, cur = _curves(p2, "v(g)", -1.0)
    lam_n_tab = _lambda_table(gates, v, cur, params.v0, window, +1.0)
    nmos_iv = _iv_curves(gates, v, cur, params.v0, window, unit, +1.0)

    # ---- PMOS stack
    p1, p2 = _split_plots(results["char_pmos"], "v(g)")
    pmos_vg, pmos_id = _id_table(p1, +1.0, increasing=False)
    gates, v, cur = _curves(p2, "v(g)", +1.0)
    lam_p_tab = _lambda_table(gates, v, cur, params.v0, window, -1.0)
    pmos_iv = _iv_curves(gates, v, cur, params.v0, window, unit, -1.0)

    # ---- discharger
    p1, p2 = _split_plots(results["char_dis"], "v(b)")
    v_d, i_d = np.asarray(p1["v(m)"]), -np.asarray(p1["i(vm)"])
    order = np.argsort(v_d)
    v_d, i_d = v_d[order], i_d[order]
    dis_fit = fit_clm(v_d, i_d, params.v0, window)
    gates, v, cur = _curves(p2, "v(b)", -1.0)
    lam_dis_tab = _lambda_table(gates, v, cur, params.v0, window, +1.0)
    lam_dis_tab["vb"] = lam_dis_tab.pop("vg")

    lambda_n = lambda_at(lam_n_tab, unit)
    lambda_p = lambda_at(lam_p_tab, unit)
    lambda_dis = dis_fit.slope_rel
    for name, lam in (("lambda_n", lambda_n), ("lambda_p", lambda_p), ("lambda_dis", lambda_dis)):
        if not lam > 0:
            raise CharacterizationError(f"{name} = {lam:.4g} 1/V is not positive: the device is not in saturation "
                                        "over the swing; check V0, V_switch, biases and sizes")
    v_th = params.v_th

    def spread(tab: dict) -> dict:
        i0 = np.asarray(tab["i0"])
        lam = np.asarray(tab["lambda"])
        sel = (i0 >= SPREAD_I[0]) & (i0 <= SPREAD_I[1])
        lo, hi = float(lam[sel].min()), float(lam[sel].max())
        return {"min": round_sig(lo), "max": round_sig(hi), "rel_spread": round_sig((hi - lo) / (0.5 * (hi + lo)), 4),
                "i_range_a": list(SPREAD_I), "max_rel_fit_residual": round_sig(np.max(np.asarray(tab["max_rel_residual"])[sel]), 3)}

    tables = {
        "nmos_vg": nmos_vg, "nmos_id": nmos_id,
        "pmos_vg": pmos_vg, "pmos_id": pmos_id,
        "lambda_n_vs_i": lam_n_tab, "lambda_p_vs_i": lam_p_tab, "lambda_dis_vs_i": lam_dis_tab,
        "nmos_iv": nmos_iv, "pmos_iv": pmos_iv,
        "dis_iv": {"v": _siglist(v_d), "i": _siglist(i_d), "i0": round_sig(dis_fit.i0), "lambda": round_sig(dis_fit.slope_rel),
                   "max_rel_residual": round_sig(dis_fit.max_rel_residual, 3), "vb": round_sig(params.v_b_dis)},
    }
    try:
        sky130_version = metadata.version("sky130")
    except metadata.PackageNotFoundError:
        sky130_version = "unknown"
    meta = {
        "generator": "imcgen characterize",
        "simulator": ngspice_version(),
        "models": f"sky130 {sky130_version} sky130_fd_pr continuous models, corner {params.corner}",
        "params": dataclasses.asdict(params),
        "stack_order": {"name": stack_order, **STACK_ORDERS[stack_order]},
        "fit": "I = I0 (1 + s (V - V0)) over V in fit_window_v, least squares on relative error; "
               "lambda_n = s, lambda_p = -s, lambda_dis = s",
        "fit_window_v": [round_sig(window[0]), round_sig(window[1])],
        "reference_current_a": round_sig(unit),
        "i_dis_v0_a": round_sig(dis_fit.i0),
        "lambda_spread": {"n": spread(lam_n_tab), "p": spread(lam_p_tab)},
        "units": {"lambda": "1/V", "current": "A", "voltage": "V", "temp": "degC"},
    }
    profile = DeviceProfile(
        e_pos=round_sig(1.0 / (v_th * lambda_n)),
        e_neg=round_sig(-1.0 / (v_th * lambda_p)),
        e_dis=round_sig(1.0 / (v_th * lambda_dis)),
        lambda_n=round_sig(lambda_n),
        lambda_p=round_sig(lambda_p),
        lambda_dis=round_sig(lambda_dis),
        corner=params.corner,
        temp=params.temp,
        v_th=round_sig(v_th),
        tables=tables,
        meta=meta,
    )
    if stack_order == DEFAULT_STACK_ORDER:  # the netlists' synapse subcircuits; the other order is a comparison only
        # the circuit effects the PNN models (generator/circuit/effects.py); each builds on the tables before it

        exact = dataclasses.replace(profile, e_pos=1.0 / (v_th * lambda_n), e_neg=-1.0 / (v_th * lambda_p),
                                    e_dis=1.0 / (v_th * lambda_dis))  # the model side unrounded; same tables dict
        for key, measure in (("switch_charge", measure_switch_charge), ("firing_delay", measure_firing_delay),
                             ("driven_edge", measure_driven_edge)):
            tables[key] = measure(exact, params, workdir=sim.workdir / key, timeout_s=timeout_s)
    return profile


def plot_profile(profile: DeviceProfile, path: str | Path) -> Path:
    """PNG of the I-V curves with their CLM fits (NMOS, PMOS, discharger), the Id(Vg) tables and λ(I), and (when
    measured) the selector switch-off charge versus current and delay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = profile.tables
    v0 = float(profile.meta.get("params", {}).get("v0", 1.3))
    win = profile.meta.get("fit_window_v", [v0 - profile.v_th, v0])
    sw = t.get("switch_charge")
    fig, axes = plt.subplots(2, 4 if sw else 3, figsize=(20 if sw else 15, 8.5))
    for ax, key, title, sgn in ((axes[0, 0], "nmos_iv", "NMOS stack: current out of membrane", 1),
                                (axes[0, 1], "pmos_iv", "PMOS stack: current into membrane", -1)):
        iv = t[key]
        v = np.asarray(iv["v"])
        for vg, i, i0, lam in zip(iv["vg"], iv["i"], iv["i0"], iv["lambda"]):
            line, = ax.plot(v, np.asarray(i) * 1e9, lw=1.8, label=f"Vg={vg:.2f} V: I0={i0 * 1e9:.0f} nA, λ={lam:.3f}/V")
            ax.plot(v, i0 * (1 + sgn * lam * (v - v0)) * 1e9, "--", color=line.get_color(), lw=1)
        ax.set(title=title, xlabel="membrane V (V)", ylabel="I (nA)")
        ax.axvspan(win[0], win[1], color="0.93", zorder=0)
        ax.legend(fontsize=7)
    d = t["dis_iv"]
    v = np.asarray(d["v"])
    axes[0, 2].plot(v, np.asarray(d["i"]) * 1e9, lw=1.8, label=f"Vb={d['vb']:.3f} V (simulated)")
    axes[0, 2].plot(v, d["i0"] * (1 + d["lambda"] * (v - v0)) * 1e9, "--",
                    label=f"fit: I0={d['i0'] * 1e9:.1f} nA, λ_dis={d['lambda']:.3f}/V")
    axes[0, 2].axvspan(win[0], win[1], color="0.93", zorder=0)
    axes[0, 2].set(title="discharger: current out of membrane", xlabel="membrane V (V)", ylabel="I (nA)")
    axes[0, 2].legend(fontsize=7)
    ax = axes[1, 0]
    ax.semilogy(t["nmos_vg"], t["nmos_id"], label="NMOS stack")
    ax.semilogy(t["pmos_vg"], t["pmos_id"], label="PMOS stack (|I|)")
    ax.set(title="Id(Vgate) at V = V0 (mapping tables)", xlabel="memory gate bias (V)", ylabel="|I| (A)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for key, label, style in (("lambda_n_vs_i", "λ_N", "o-"), ("lambda_p_vs_i", "λ_P", "o-"),
                              ("lambda_dis_vs_i", "λ_dis (same device type as NM)", "x--")):
        ax.semilogx(t[key]["i0"], t[key]["lambda"], style, ms=4, label=label)
    ref = profile.meta.get("reference_current_a")
    if ref:
        ax.axvline(ref, color="0.5", ls=":", label=f"unit current {ref * 1e9:.0f} nA")
    ax.set(title="CLM coefficient versus current", xlabel="I0 at V0 (A)", ylabel="λ (1/V)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    for key, label, style in (("lambda_n_vs_i", "NMOS", "o-"), ("lambda_p_vs_i", "PMOS", "o-"),
                              ("lambda_dis_vs_i", "discharger", "x--")):
        ax.semilogx(t[key]["i0"], np.asarray(t[key]["max_rel_residual"]) * 100, style, ms=4, label=label)
    ax.set(title="max |fit/sim - 1| over the swing", xlabel="I0 at V0 (A)", ylabel="%")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if sw:
        taus = np.asarray(sw["tau_s"])
        ref = int(np.argmin(abs(taus - 200e-9)))
        ax = axes[0, 3]
        for kind, label in (("pos", "NMOS stack"), ("neg", "PMOS stack")):
            q = np.asarray(sw[kind]["q"]) * 1e15  # fC [hold, current, tau]
            for h, vh in enumerate(sw["v_hold"]):
                ax.semilogx(sw[kind]["current"], q[h, :, ref], "o-" if h == 1 else ":", ms=3,
                            label=f"{label}, V_mem={vh:.2f} V" if h in (0, len(sw["v_hold"]) - 1) or h == 1 else None)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(title=f"switch-off charge out of the membrane at {taus[ref] * 1e9:.0f} ns", xlabel="stack current (A)",
               ylabel="q (fC)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, 3]
        for kind, label in (("pos", "NMOS"), ("neg", "PMOS")):
            cur = np.asarray(sw[kind]["current"])
            q = np.asarray(sw[kind]["q"])[1] * 1e15
            for c in (2, len(cur) // 2, len(cur) - 3):
                ax.semilogx(taus * 1e9, q[c], "o-", ms=3, label=f"{label} {cur[c] * 1e9:.0f} nA")
        delay = t.get("firing_delay", {}).get("delay_s_mean")
        ax.set(title="switch-off charge vs delay" + (f"; firing delay {delay * 1e9:.2f} ns" if delay else ""),
               xlabel="delay after the selector edge (ns)", ylabel="q (fC)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sky130 {profile.corner}, {profile.temp:g} °C: λ_N={profile.lambda_n:.3f}, λ_P={profile.lambda_p:.3f}, "
                 f"λ_dis={profile.lambda_dis:.3f} 1/V;  E+={profile.e_pos:.2f}, E-={profile.e_neg:.2f}, "
                 f"E_dis={profile.e_dis:.2f}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
