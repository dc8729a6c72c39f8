"""Weight mapping: a trained model folder + a DeviceProfile + CircuitParams -> a :class:`~generator.design.Design`.

Why: the trained weights are dimensionless; the circuit needs, for every synapse, which stack carries the
current (NMOS for w > 0, PMOS for w < 0, PAPER.md 5.2) and the analog gate bias (V) of its memory transistor.

Chain (PAPER.md Table 2, App. A.2):

    I_ij = C_m V_th w_ij / T * scale         (A; CircuitParams.unit_current, V_th = V0 - V_switch)
    V_gate = Id^-1(|I_ij|)                     (V; the memory transistor's Id(Vgate) table at V_mem = V0)

``scale`` is the current-scale calibration hook of the verification loop: ``scale_pos`` for w > 0, ``scale_neg``
for w < 0 (bottom-up flow: one global scale, pass the same number twice; top-down: two scales).
The inverse is a monotone cubic (PCHIP, Fritsch-Carlson) interpolation of V_gate against log(I), exact at the
table points and monotone between them, so every current inside the table has exactly one bias.

A weight of 0, or a current below the table's smallest current, turns the synapse off (``gate_bias`` None,
current 0): the netlist then ties the memory gate to the off rail. A current above the table's largest current
(the bias would leave the characterised range / the rails) is a :class:`DesignError` listing the offending
synapses, unless ``clip=True`` (the current is then limited to the table's largest current).

The trained model is read WITHOUT torch (``safetensors.numpy`` + ``card.json``), see :func:`read_trained_model`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from generator.design import CircuitParams, Design, DeviceProfile, LayerDesign
from generator.errors import DesignError
from generator.model.card import validate_card

#: Id(Vgate) table keys of DeviceProfile.tables, per stack: (gate-voltage key, current key)
TABLE_KEYS = {"nmos": ("nmos_vg", "nmos_id"), "pmos": ("pmos_vg", "pmos_id")}

#: how many offending synapses an error message lists before summarising
MAX_LISTED = 12


# ---------------------------------------------------------------------------------------------- trained model
def read_trained_model(folder: str | os.PathLike) -> tuple[list[np.ndarray], dict]:
    """Read ``weights.safetensors`` + ``card.json`` of a trained-model folder without torch.

    Returns (weights, card): ``weights[k]`` is layer k's float64 matrix [N_out, N_in] (key ``layers.{k}.weight``).
    Raises DesignError naming the file and the fix for a missing folder/file, a malformed file, NaN/inf weights
    (layer and index) and shapes that disagree with ``card["sizes"]``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DesignError(f"trained model folder {folder} not found; train one with `imcgen train ... --out {folder}`")
    card_path = folder / "card.json"
    wpath = folder / "weights.safetensors"
    for p in (card_path, wpath):
        if not p.is_file():
            raise DesignError(f"trained model file {p} is missing; the folder must hold card.json and "
                              "weights.safetensors as written by `imcgen train`")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{card_path} is not valid JSON ({exc}); re-run `imcgen train`") from None
    card = validate_card(card, card_path)  # the one card validator (name, dataset, E+ > 0 > E-, finite numbers)
    if not isinstance(card.get("sizes"), list) or len(card["sizes"]) < 2:
        raise DesignError(f"{card_path} lacks a 'sizes' list (e.g. [5, 5, 5]); only MLP models can be mapped")
    sizes = card["sizes"]
    if not all(isinstance(s, int) and s > 0 for s in sizes):
        raise DesignError(f"{card_path}: 'sizes' must be positive integers, got {sizes!r}")
    for key in ("e_pos", "e_neg"):
        v = card.get(key)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DesignError(f"{card_path}: {key!r} must be a finite number, got {v!r}")
    try:
        from safetensors.numpy import load_file

        tensors = load_file(str(wpath))
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError types
        raise DesignError(f"{wpath} is not a readable safetensors file ({exc}); re-run `imcgen train`") from None
    weights = []
    for k in range(len(sizes) - 1):
        key = f"layers.{k}.weight"
        if key not in tensors:
            raise DesignError(f"{wpath} has no tensor {key!r} (has {sorted(tensors)}); card sizes {sizes} need "
                              f"{len(sizes) - 1} layers")
        w = np.asarray(tensors[key], dtype=np.float64)
        want = (sizes[k + 1], sizes[k])
        if w.shape != want:
            raise DesignError(f"{wpath}: {key} has shape {list(w.shape)} but card sizes {sizes} need {list(want)}")
        bad = np.argwhere(~np.isfinite(w))
        if bad.size:
            where = ", ".join(f"[{i},{j}]={w[i, j]}" for i, j in bad[:MAX_LISTED])
            raise DesignError(f"{wpath}: {key} holds {len(bad)} non-finite weight(s) at (out,in) {where}; "
                              "retrain the model")
        weights.append(w)
    extra = sorted(k for k in tensors if not any(k == f"layers.{i}.weight" for i in range(len(sizes) - 1)))
    if any(k.endswith(".weight") for k in extra):
        raise DesignError(f"{wpath} has weight tensors {extra} beyond the card's sizes {sizes}")
    return weights, card


def model_digest(folder: str | os.PathLike) -> str:
    """sha256 over card.json and weights.safetensors (hex, first 16 characters): names the model in a Design."""
    folder = Path(folder)
    h = hashlib.sha256()
    for name in ("card.json", "weights.safetensors"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- Id(Vgate) inverse
def _pchip(x: np.ndarray, y: np.ndarray, xq) -> np.ndarray:
    """Monotone piecewise-cubic Hermite interpolant (PCHIP, Fritsch-Carlson slopes) through (x, y) at ``xq``.

    scipy's :class:`~scipy.interpolate.PchipInterpolator`; ``x`` strictly increasing; outside [x[0], x[-1]] the
    end pieces extrapolate.
    """
    try:
        f = PchipInterpolator(x, y, extrapolate=True)
    except ValueError as exc:
        raise DesignError(f"cannot interpolate the device table: {exc}") from None
    return f(np.asarray(xq, dtype=np.float64))


@dataclasses.dataclass(frozen=True)
class GateTable:
    """The memory transistor's Id(Vgate) curve at V_mem = V0, ready for inversion (current magnitude, A -> V).

    ``vg``/``current`` sorted by increasing current; ``stack`` is "nmos" or "pmos".
    """

    stack: str
    vg: np.ndarray
    current: np.ndarray

    @classmethod
    def from_profile(cls, profile: DeviceProfile, stack: str) -> "GateTable":
        kv, ki = TABLE_KEYS[stack]
        tables = profile.tables or {}
        if kv not in tables or ki not in tables:
            raise DesignError(f"device profile lacks the {stack.upper()} Id(Vgate) table ({kv!r}, {ki!r}; has "
                              f"{sorted(tables)}); regenerate it with `imcgen characterize`")
        vg = np.asarray(tables[kv], dtype=np.float64)
        cur = np.abs(np.asarray(tables[ki], dtype=np.float64))
        if vg.shape != cur.shape or vg.ndim != 1 or len(vg) < 2:
            raise DesignError(f"device profile tables {kv!r}/{ki!r} must be equal-length lists of >= 2 numbers")
        ok = np.isfinite(vg) & np.isfinite(cur) & (cur > 0)
        vg, cur = vg[ok], cur[ok]
        order = np.argsort(cur, kind="stable")
        vg, cur = vg[order], cur[order]
        # keep the strictly monotone part (a table may flatten at the ends)
        keep = np.concatenate([[True], np.diff(cur) > 0])
        vg, cur = vg[keep], cur[keep]
        dv = np.diff(vg)
        if len(vg) < 2 or not (np.all(dv > 0) or np.all(dv < 0)):
            raise DesignError(f"the {stack.upper()} Id(Vgate) table of the device profile is not monotone in the gate "
                              "voltage; regenerate it with `imcgen characterize`")
        return cls(stack=stack, vg=vg, current=cur)

    @property
    def i_min(self) -> float:
        return float(self.current[0])

    @property
    def i_max(self) -> float:
        return float(self.current[-1])

    def bias_for(self, current: np.ndarray) -> np.ndarray:
        """Gate bias (V) for current magnitudes (A) inside [i_min, i_max] (PCHIP on log I)."""
        return _pchip(np.log(self.current), self.vg, np.log(np.asarray(current, dtype=np.float64)))

    def current_for(self, vg: np.ndarray) -> np.ndarray:
        """Forward direction (A) for gate biases (V) inside the table, monotone in log I (used by the tests)."""
        order = np.argsort(self.vg)
        x, y = self.vg[order], np.log(self.current[order])
        return np.exp(_pchip(x, y, np.asarray(vg, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------- discharger
def ramp_alpha(e_dis: float | None) -> float:
    """Firing-phase rate α (model units) so that v goes 0 -> 1 in one phase: α = -ln(1-β)/β, β = 1/E_dis.

    PAPER.md Eq. 82-85: dv/dt = α(1 - β v). E_dis None/inf is the ideal ramp (α = 1).
    """
    if e_dis is None or not math.isfinite(e_dis):
        return 1.0
    beta = 1.0 / float(e_dis)
    if not 0 < beta < 1:
        raise DesignError(f"E_dis = {e_dis!r} must be > 1 (the discharger must reach threshold within the phase)")
    return -math.log1p(-beta) / beta


def discharger_bias(profile: DeviceProfile, params: CircuitParams, e_dis: float | None = None) -> tuple[float, float]:
    """Gate bias V_b_dis (V) and current I_dis(V0) (A) of the discharger for the firing-phase ramp.

    Target I_dis(V0) = α C_m V_th / T with α from :func:`ramp_alpha` (``e_dis`` defaults to the profile's), so a
    neuron whose membrane sits at V0 when the firing phase starts reaches V_switch exactly at its end. The bias is
    the PCHIP inverse (log I) of the profile's ``lambda_dis_vs_i`` table ({"vb", "i0"}).
    """
    tab = (profile.tables or {}).get("lambda_dis_vs_i")
    if not isinstance(tab, dict) or "vb" not in tab or "i0" not in tab:
        raise DesignError("device profile lacks the discharger table 'lambda_dis_vs_i' ({'vb','i0'}); regenerate it "
                          "with `imcgen characterize`")
    e = profile.e_dis if e_dis is None else e_dis
    target = ramp_alpha(e) * params.unit_current
    vb = np.asarray(tab["vb"], dtype=np.float64)
    i0 = np.asarray(tab["i0"], dtype=np.float64)
    order = np.argsort(i0)
    vb, i0 = vb[order], i0[order]
    if not (i0[0] <= target <= i0[-1]):
        raise DesignError(f"discharger current {target * 1e9:.1f} nA is outside the characterised range "
                          f"{i0[0] * 1e9:.1f}..{i0[-1] * 1e9:.1f} nA; re-run `imcgen characterize` with another --v-b-dis")
    x = np.log(i0)
    v = float(_pchip(x, vb, np.array([math.log(target)]))[0])
    return v, target


# ---------------------------------------------------------------------------------------------- mapping
def _check_scale(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise DesignError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def map_layer(name: str, weights: np.ndarray, tables: dict[str, GateTable], params: CircuitParams, *,
              scale_pos: float = 1.0, scale_neg: float = 1.0, clip: bool = False,
              layer_index: int = 0) -> tuple[LayerDesign, list[tuple], dict]:
    """Map one weight matrix [N_out, N_in] to a LayerDesign.

    Returns (layer, offending, stats): ``offending`` lists (layer, out, in, weight, current A) of synapses whose
    current exceeds the table (empty when clipping), ``stats`` counts off/clipped synapses.
    """
    w = np.asarray(weights, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(w))
    if bad.size:
        i, j = bad[0]
        raise DesignError(f"layer {layer_index} ({name}) has non-finite weight(s), first at (out={i}, in={j}): "
                          f"{w[i, j]!r}; retrain the model")
    unit = params.unit_current
    cur = np.where(w > 0, w * unit * scale_pos, w * unit * scale_neg)  # signed, A
    n_out, n_in = w.shape
    currents = [[0.0] * n_in for _ in range(n_out)]
    bias: list[list[float | None]] = [[None] * n_in for _ in range(n_out)]
    offending, n_off, n_clip = [], 0, 0
    for stack, sel in (("nmos", cur > 0), ("pmos", cur < 0)):
        if not sel.any():
            continue
        tab = tables[stack]
        mag = np.abs(cur[sel])
        idx = np.argwhere(sel)
        over = mag > tab.i_max
        if over.any() and not clip:
            offending += [(layer_index, int(i), int(j), float(w[i, j]), float(cur[i, j]))
                          for (i, j), o in zip(idx, over) if o]
            continue
        n_clip += int(over.sum())
        mag = np.minimum(mag, tab.i_max)
        on = mag >= tab.i_min
        n_off += int((~on).sum())
        vb = np.full(mag.shape, np.nan)
        if on.any():
            vb[on] = tab.bias_for(mag[on])
        sign = 1.0 if stack == "nmos" else -1.0
        for (i, j), m, o, v in zip(idx, mag, on, vb):
            if o:
                currents[i][j] = sign * float(m)
                bias[i][j] = float(v)
    n_off += int((cur == 0).sum())
    layer = LayerDesign(name=name, n_in=n_in, n_out=n_out, weights=w.tolist(), currents=currents, gate_bias=bias)
    return layer, offending, {"off": n_off, "clipped": n_clip}


def design_from_weights(weights: list[np.ndarray], card: dict, profile: DeviceProfile, params: CircuitParams, *,
                        scale_pos: float = 1.0, scale_neg: float = 1.0, clip: bool = False,
                        name: str | None = None, source: dict | None = None) -> Design:
    """Build a Design from in-memory weights (the verification loop re-maps with new scales through this)."""
    params = params.validate()
    scale_pos = _check_scale("scale_pos", scale_pos)
    scale_neg = _check_scale("scale_neg", scale_neg)
    tables = {s: GateTable.from_profile(profile, s) for s in ("nmos", "pmos")}
    layers, offending, stats = [], [], {"off": 0, "clipped": 0}
    for k, w in enumerate(weights):
        layer, off, st = map_layer(f"layer{k}", w, tables, params, scale_pos=scale_pos, scale_neg=scale_neg,
                                   clip=clip, layer_index=k)
        layers.append(layer)
        offending += off
        for key in stats:
            stats[key] += st[key]
    if offending:
        listed = "; ".join(f"layer {l} out {i} in {j}: w={wv:.4g} I={c * 1e9:.1f} nA" for l, i, j, wv, c in
                           offending[:MAX_LISTED])
        more = f" (and {len(offending) - MAX_LISTED} more)" if len(offending) > MAX_LISTED else ""
        raise DesignError(
            f"{len(offending)} synapse(s) need more current than the memory transistor carries "
            f"(NMOS up to {tables['nmos'].i_max * 1e9:.1f} nA, PMOS up to {tables['pmos'].i_max * 1e9:.1f} nA at "
            f"V0={params.v0} V): {listed}{more}. Fix: retrain with a stronger weight penalty, lower the scale, widen "
            "the synapse transistors, or pass clip=True (--clip) to limit them")
    src = dict(source or {})
    src.update({
        "profile": {"corner": profile.corner, "temp": profile.temp, "e_pos": profile.e_pos, "e_neg": profile.e_neg,
                    "e_dis": profile.e_dis, "lambda_n": profile.lambda_n, "lambda_p": profile.lambda_p,
                    "lambda_dis": profile.lambda_dis},
        "table_range_a": {s: [t.i_min, t.i_max] for s, t in tables.items()},
        "unit_current_a": params.unit_current,
        "clip": bool(clip),
        "n_off": stats["off"],
        "n_clipped": stats["clipped"],
        "e_dis": card.get("e_dis"),
    })
    return Design(name=name or str(card.get("name") or "network"), params=params, layers=layers,
                  e_pos=float(card["e_pos"]), e_neg=float(card["e_neg"]), scale_pos=scale_pos, scale_neg=scale_neg,
                  source=src)


def default_params(card: dict, profile: DeviceProfile, *, c_m_ff: float | None = None, corner: str | None = None,
                   temp: float | None = None) -> CircuitParams:
    """The circuit a model is built as: the profile's corner and temperature, the card's ``circuit.c_m_ff``
    (long columns need more than the paper's 140 fF), each overridden by the command's option when given."""
    c_m = c_m_ff if c_m_ff is not None else (card.get("circuit") or {}).get("c_m_ff")
    params = CircuitParams(corner=corner or profile.corner, temp=profile.temp if temp is None else float(temp))
    if c_m is not None:
        params = dataclasses.replace(params, c_m=float(c_m) * 1e-15)
    return params.validate()


def map_model(model_dir: str | os.PathLike, profile: DeviceProfile, params: CircuitParams | None = None, *,
              scale_pos: float = 1.0, scale_neg: float = 1.0, clip: bool = False,
              calibrate_discharger: bool = True) -> Design:
    """Map the trained model in ``model_dir`` to a Design (see the module docstring for the chain and errors).

    ``params`` defaults to :func:`default_params` (the profile's corner and temperature, the card's C_m). With
    ``calibrate_discharger`` the Design's ``params.v_b_dis`` is set by :func:`discharger_bias` for the model's
    E_dis (the card's ``e_dis``, else the profile's): the paper's 0.554 V belongs to its own devices.
    """
    weights, card = read_trained_model(model_dir)
    if params is None:
        params = default_params(card, profile)
    i_dis = None
    if calibrate_discharger:
        vb, i_dis = discharger_bias(profile, params, card.get("e_dis"))
        params = dataclasses.replace(params, v_b_dis=round(vb, 6))
    model_dir = Path(model_dir)
    source = {
        "model_dir": model_dir.as_posix(),
        "model_digest": model_digest(model_dir),
        "arch": card.get("arch"),
        "dataset": card.get("dataset"),
        "encoding": card.get("encoding"),
        "test_accuracy": card.get("test_accuracy"),
        "discharger_current_a": i_dis,
    }
    name = str(card.get("name") or model_dir.name)
    design = design_from_weights(weights, card, profile, params, scale_pos=scale_pos, scale_neg=scale_neg,
                                 clip=clip, name=name, source=source)
    pitch = (card.get("circuit") or {}).get("neuron_pitch_um")
    if pitch is not None:  # the layout's neuron pitch the card asks for (long columns: a bigger MIM)
        design.neuron_pitch_um = float(pitch)
    return design


def weights_from_currents(design: Design) -> list[np.ndarray]:
    """Inverse of the first mapping step: w = I / (unit current * scale) per layer (used for round-trip checks)."""
    unit = design.params.unit_current
    out = []
    for layer in design.layers:
        c = np.asarray(layer.currents, dtype=np.float64)
        out.append(np.where(c > 0, c / (unit * design.scale_pos), c / (unit * design.scale_neg)))
    return out


# ---------------------------------------------------------------------------------------------- per-synapse E±
#: λ-versus-current tables of DeviceProfile.tables, per stack (fields "i0" A, "lambda" 1/V)
LAMBDA_TABLE_KEYS = {"nmos": "lambda_n_vs_i", "pmos": "lambda_p_vs_i"}


def _lambda_of(profile: DeviceProfile, stack: str, current: np.ndarray) -> np.ndarray:
    """λ (1/V) of the ``stack`` synapse at current magnitudes ``current`` (A), linear in log current.

    Currents outside the characterised range take the nearest end's λ (the table spans the usable
    range of the memory transistor, 10 nA..3 µA, so this only touches synapses at the very ends).
    """
    key = LAMBDA_TABLE_KEYS[stack]
    tab = (profile.tables or {}).get(key)
    if not isinstance(tab, dict) or "i0" not in tab or "lambda" not in tab:
        raise DesignError(f"device profile lacks the table {key!r} ({{'i0', 'lambda'}}); regenerate it with "
                          "`imcgen characterize`")
    i0 = np.asarray(tab["i0"], dtype=np.float64)
    lam = np.asarray(tab["lambda"], dtype=np.float64)
    ok = np.isfinite(i0) & np.isfinite(lam) & (i0 > 0) & (lam > 0)
    i0, lam = i0[ok], lam[ok]
    if i0.size < 2:
        raise DesignError(f"device profile table {key!r} needs >= 2 points with i0 > 0 and lambda > 0; regenerate "
                          "it with `imcgen characterize`")
    order = np.argsort(i0, kind="stable")
    return np.interp(np.log(np.asarray(current, dtype=np.float64)), np.log(i0[order]), lam[order])


def reversal_table(profile: DeviceProfile, params: CircuitParams, points: int = 25) -> dict:
    """E±(|w|) for the model (functional.reversal_from_table): the reversal potentials of a synapse as a function
    of its weight, from the profile's λ(I) tables, on a grid of ln|w| = ln(I / I_u) (I_u = params.unit_current)
    spanning the tables' currents. Why: λ of the stacks depends on their current (the PMOS λ by a third between 50
    and 500 nA), so a model with one global E± misstates the conductance of weak and strong synapses; training
    with E±(|w|) puts that into the weights. Returns {"log_w", "e_pos", "e_neg", "c_m"} (dimensionless)."""
    p = params.validate()
    lo = max(min(profile.tables[LAMBDA_TABLE_KEYS[s]]["i0"]) for s in ("nmos", "pmos"))
    hi = min(max(profile.tables[LAMBDA_TABLE_KEYS[s]]["i0"]) for s in ("nmos", "pmos"))
    cur = np.geomspace(lo, hi, points)
    v_th = p.v_th
    return {"log_w": [float(x) for x in np.log(cur / p.unit_current)],
            "e_pos": [float(1.0 / (v_th * x)) for x in _lambda_of(profile, "nmos", cur)],
            "e_neg": [float(-1.0 / (v_th * x)) for x in _lambda_of(profile, "pmos", cur)],
            "c_m": p.c_m}


def per_synapse_reversal(design: Design, profile: DeviceProfile) -> list[tuple[np.ndarray, np.ndarray]]:
    """Reversal potentials of every synapse from its own mapped current (beyond the paper's global E±).

    Why: λ of the synapse stacks depends on their current (the PMOS λ falls by a third between 50 and
    500 nA), so one global E± per sign misstates the conductance of the strong and weak synapses. Per layer:

        E+_ij = 1 / (V_th λ_N(I_ij))    where I_ij > 0 (NMOS stack)
        E-_ij = -1 / (V_th λ_P(|I_ij|)) where I_ij < 0 (PMOS stack)

    (dimensionless, model units; V_th = params.v_th in V, λ in 1/V from the profile's ``lambda_n_vs_i`` /
    ``lambda_p_vs_i`` tables, interpolated linearly in log current and held at the table ends). The
    currents (A) are the Design's, i.e. after the calibration scale. Every other position (zero current,
    or the other sign) holds the Design's global ``e_pos`` / ``e_neg``, so the arrays can be handed to
    the model as E± tensors broadcastable to the weight [N_out, N_in].

    Returns one (e_pos, e_neg) pair of float64 arrays [N_out, N_in] per layer.
    """
    v_th = float(design.params.v_th)
    out = []
    for layer in design.layers:
        cur = np.asarray(layer.currents, dtype=np.float64).reshape(layer.n_out, layer.n_in)
        e_pos = np.full(cur.shape, float(design.e_pos))
        e_neg = np.full(cur.shape, float(design.e_neg))
        pos, neg = cur > 0, cur < 0
        if pos.any():
            e_pos[pos] = 1.0 / (v_th * _lambda_of(profile, "nmos", cur[pos]))
        if neg.any():
            e_neg[neg] = -1.0 / (v_th * _lambda_of(profile, "pmos", -cur[neg]))
        out.append((e_pos, e_neg))
    return out
