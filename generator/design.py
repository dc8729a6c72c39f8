"""The hardware description as plain data: the single source for netlist, layout and reports.

Everything here is a JSON-serialisable dataclass: no torch, no gdsfactory objects. Views (netlist,
layout) and checks (DRC, LVS, verification) read a :class:`Design`; they never describe the circuit a
second time.

Units: volts (V), amperes (A), farads (F), seconds (s), micrometres (µm) for device sizes, °C.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import DesignError
from generator.io import atomic_write_text, dump_json
from generator.pdk import sky130


@dataclass(frozen=True)
class CircuitParams:
    """Circuit parameters of the RC-Spike IMC array; defaults are the paper's Table 2 (PAPER.md 5.4).

    Device sizes in µm. The synapse stack is selector + memory transistor in series, both W x L.
    """

    vdd: float = 1.8  # V, supply
    v0: float = 1.3  # V, resting membrane potential (reset level)
    v_switch: float = 0.428  # V, switching threshold of the sensing inverter
    c_m: float = 140e-15  # F, membrane capacitance used by the model
    t_phase: float = 1e-6  # s, duration of one phase (reset, accumulation, firing)
    v_b_sense: float = 0.95  # V, bias of the sensing-inverter PMOS
    v_b_dis: float = 0.554  # V, gate bias of the discharger NMOS
    syn_w: float = 1.0  # µm, synapse selector and memory transistor width
    syn_l: float = 0.25  # µm, synapse selector and memory transistor length
    dis_w: float = 1.0  # µm, discharger width
    dis_l: float = 0.25  # µm, discharger length
    corner: str = "tt"  # process corner of the device models
    temp: float = 27.0  # °C

    @property
    def v_th(self) -> float:
        """Circuit firing threshold V_th^circ = V0 - V_switch (V): the membrane swing of one unit."""
        return self.v0 - self.v_switch

    @property
    def unit_current(self) -> float:
        """Current (A) of a unit weight: I = C_m V_th / T (PAPER.md Table 2); ~122 nA by default."""
        return self.c_m * self.v_th / self.t_phase

    def validate(self) -> "CircuitParams":
        checks = {
            "vdd": self.vdd > 0,
            "v0": 0 < self.v0 < self.vdd,
            "v_switch": 0 < self.v_switch < self.v0,
            "c_m": self.c_m > 0,
            "t_phase": self.t_phase > 0,
            "syn_w": self.syn_w > 0,
            "syn_l": self.syn_l > 0,
            "dis_w": self.dis_w > 0,
            "dis_l": self.dis_l > 0,
        }
        bad = [k for k, ok in checks.items() if not (ok and math.isfinite(float(getattr(self, k))))]
        if bad:
            vals = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise DesignError(f"invalid circuit parameters: {vals} (need 0 < v_switch < v0 < vdd, positive sizes)")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "CircuitParams":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise DesignError(f"unknown CircuitParams fields {unknown}; known: {sorted(names)}")
        return cls(**d).validate()


@dataclass(frozen=True)
class NeuronSizes:
    """Device sizes (W, L in µm) of the neuron circuit (templates/netlist/neuron.j2).

    The sensing inverter's switching threshold is set by the LVT input NFET against the pull-up chain (enable
    PFET, PFET biased at V_b_sense, HVT PFET); the bias PFET's length (sbias_l) is the trim knob. With these sizes
    and V_b_sense = 0.95 V (tt, 27 °C) the output spike rises when the membrane, falling at the firing-phase rate
    (~0.7 V/µs), passes 0.428 V = Table 2's V_switch (the DC threshold is 0.437 V; the difference is the
    inverter's delay, constant because every crossing happens at the same ramp rate). Weaker devices (W = 0.42 µm)
    lag by ~75 mV at that rate; much wider ones add nonlinear gate capacitance to the membrane.
    The discharger (current source and phase switch) uses CircuitParams.dis_w / dis_l, as characterised.
    """

    reset_w: float = 0.42  # reset transmission gate (NFET and PFET)
    reset_l: float = 0.15
    sen_w: float = 0.42  # sensing-inverter enable PFET (gate = phase_b)
    sen_l: float = 0.15
    sbias_w: float = 0.42  # sensing-inverter bias PFET (gate = V_b_sense)
    sbias_l: float = 0.345
    sp_w: float = 1.0  # sensing-inverter HVT PFET
    sp_l: float = 0.15
    sn_w: float = 2.0  # sensing-inverter LVT NFET
    sn_l: float = 0.15
    logic_n_w: float = 0.42  # NAND / clamp NFETs
    logic_p_w: float = 0.42  # NAND PFETs
    logic_l: float = 0.15
    out_n_w: float = 0.42  # output inverter
    out_p_w: float = 0.84


NEURON_SIZES = NeuronSizes()

#: membrane-node capacitance (F) besides the MIM capacitor: a fixed part from the neuron's own devices and a part
#: per input (the two synapse selectors' drain overlap, and the selector channel of a conducting stack). Measured
#: with ngspice (tt, 27 °C, schematic devices without junction areas) by tests/test_13_netlist.py
#: (test_membrane_slope_matches_current), which fails when these drift by more than 2 % of C_m.
PARASITIC_NEURON_F = 4.04e-15
PARASITIC_PER_INPUT_F = 0.61e-15


def membrane_parasitic(n_in: int) -> float:
    """Estimated membrane capacitance (F) of the neuron devices plus a column of ``n_in`` synapses."""
    return PARASITIC_NEURON_F + PARASITIC_PER_INPUT_F * n_in


#: membrane WIRING capacitance (F) of the drawn neuron and per synapse row of its column (the dendrite and the
#: memory transistors' drain straps, mostly to the VDD/VSS rails beside them), measured by extracting generated
#: layouts (generator/signoff/pex.py) of 1..32-input columns: 14.3 fF + 1.0 fF per input (fit within 0.1 fF).
#: tests/test_38_membrane_wiring.py re-extracts the committed layouts and fails when these drift by over 10 %.
WIRING_NEURON_F = 14.3e-15
WIRING_PER_INPUT_F = 1.0e-15


def membrane_wiring(n_in: int) -> float:
    """Estimated wiring capacitance (F) on the membrane of a neuron with a column of ``n_in`` synapses."""
    return WIRING_NEURON_F + WIRING_PER_INPUT_F * n_in


#: µm, neuron (= column) pitch of the layout unless the model card or the command says otherwise; fits C_m up to
#: ~250 fF with the standard neuron
DEFAULT_NEURON_PITCH_UM = 12.0


@dataclass(frozen=True)
class MimDesign:
    """The neuron's MIM capacitor as drawn and netlisted: square side ``w`` x ``l`` (µm) and its model value ``c`` (F)."""

    w: float
    l: float
    c: float


@dataclass(frozen=True)
class NeuronDesign:
    """Everything the netlist and the layout need of one layer's neuron.

    ``mim``: the membrane capacitor, sized so MIM + ``parasitic_f`` + ``wiring_f`` = C_m for this layer's column
    height; ``sizes``: the neuron's device sizes (µm); ``parasitic_f``: the membrane capacitance (F) the neuron's
    devices and the column of synapses add (:func:`membrane_parasitic`); ``wiring_f``: the estimated capacitance
    (F) of the drawn wiring on the membrane (:func:`membrane_wiring`): the schematic netlist carries it as a
    capacitor of its own, the post-layout netlist the extracted value instead. Computed once by
    :func:`neuron_design`.
    """

    mim: MimDesign
    sizes: NeuronSizes = NEURON_SIZES
    parasitic_f: float = 0.0
    wiring_f: float = 0.0

    @classmethod
    def from_dict(cls, d: dict) -> "NeuronDesign":
        return cls(mim=MimDesign(**d["mim"]), sizes=NeuronSizes(**d.get("sizes", {})),
                   parasitic_f=float(d.get("parasitic_f", 0.0)), wiring_f=float(d.get("wiring_f", 0.0)))


def mim_for(params: CircuitParams, n_in: int) -> MimDesign:
    """MIM capacitor of a neuron with ``n_in`` inputs: square, carries C_m less the devices' and the wiring's
    capacitance, side on the layout grid."""
    extra = membrane_parasitic(n_in) + membrane_wiring(n_in)
    c = params.c_m - extra
    if c < 0.2 * params.c_m:
        raise DesignError(
            f"a column of {n_in} synapses adds ~{extra * 1e15:.0f} fF (devices and wiring) to the membrane, more than "
            f"C_m = {params.c_m * 1e15:.0f} fF allows; raise c_m in CircuitParams (the unit current C_m V_th / T "
            "scales with it) or split the layer")
    side = sky130.mim_cap_side_for(c)
    side = math.ceil(side / sky130.GRID_UM - 1e-9) * sky130.GRID_UM  # up to the layout's manufacturing grid
    side = round(side, 3)
    return MimDesign(w=side, l=side, c=sky130.mim_cap_value(side, side))


def neuron_design(params: CircuitParams, n_in: int, sizes: NeuronSizes = NEURON_SIZES) -> NeuronDesign:
    """The neuron of a layer whose columns have ``n_in`` synapses (the only place a neuron is sized)."""
    return NeuronDesign(mim=mim_for(params, n_in), sizes=sizes, parasitic_f=membrane_parasitic(n_in),
                        wiring_f=membrane_wiring(n_in))


@dataclass
class DeviceProfile:
    """Measured device facts from SPICE characterisation (see generator/circuit/characterize.py).

    lambda_* in 1/V; e_pos/e_neg/e_dis are the model's reversal potentials (dimensionless, model units):
    E+ = 1/(V_th lambda_N), E- = -1/(V_th lambda_P), E_dis = 1/(V_th lambda_dis).
    ``tables`` holds the sweeps (lists of floats), e.g. the memory transistors' Id(Vgate) at V0.
    """

    e_pos: float
    e_neg: float
    e_dis: float
    lambda_n: float
    lambda_p: float
    lambda_dis: float
    corner: str = "tt"
    temp: float = 27.0
    v_th: float = 0.872
    tables: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return dump_json(self)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DeviceProfile":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise DesignError(f"device profile {path} not found; create it with `imcgen characterize --out {path}`") from None
        except json.JSONDecodeError as exc:
            raise DesignError(f"device profile {path} is not valid JSON ({exc}); regenerate it with `imcgen characterize`") from None
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("e_pos", "e_neg", "e_dis", "lambda_n", "lambda_p", "lambda_dis") if n not in d]
        if missing:
            raise DesignError(f"device profile {path} lacks {missing}; regenerate it with `imcgen characterize`")
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Parasitic:
    """An extracted capacitor between two nets of the network testbench (``b`` = "0": ground), in F.

    Post-layout back-annotation (generator/verify/post_layout.py): the layout's wiring capacitance on the
    schematic's nets. ``a``/``b`` are the testbench's node names (``m1_0``, ``s1_2``, ``in_0``, ...).
    """

    a: str
    b: str
    c: float


@dataclass
class LayerDesign:
    """One layer: an n_in x n_out synapse array and a row of n_out neurons.

    Matrices are lists of rows indexed [out][in] (the weight layout of the model).
    ``weights``: model weights (dimensionless). ``currents``: signed synapse currents (A); positive means the
    NMOS stack (pulls charge out of the membrane), negative the PMOS stack. ``gate_bias``: memory-transistor gate
    bias (V) of the stack that carries the current, or None where the synapse is off (zero weight).
    ``neuron``: the layer's neuron (MIM, device sizes, membrane parasitic), read by the netlist and the layout alike.
    """

    name: str
    n_in: int
    n_out: int
    weights: list[list[float]]
    currents: list[list[float]]
    gate_bias: list[list[float | None]]
    neuron: NeuronDesign | None = None  # filled by Design from its CircuitParams when not given

    def sign(self, i: int, j: int) -> int:
        c = self.currents[i][j]
        return 1 if c > 0 else (-1 if c < 0 else 0)


@dataclass
class Design:
    """The complete hardware description of one network (all layers) plus how it was made."""

    name: str
    params: CircuitParams
    layers: list[LayerDesign]
    e_pos: float
    e_neg: float
    scale_pos: float = 1.0  # current calibration scale of positive weights (bottom-up: = scale_neg)
    scale_neg: float = 1.0
    source: dict = field(default_factory=dict)  # model folder, card digest, device profile, ...
    parasitics: list[Parasitic] = field(default_factory=list)  # post-layout: extracted wiring C (empty: schematic)
    neuron_pitch_um: float = DEFAULT_NEURON_PITCH_UM  # µm, the layout's neuron (column) pitch

    def __post_init__(self) -> None:
        for layer in self.layers:
            if layer.neuron is None:
                layer.neuron = neuron_design(self.params, layer.n_in)

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers] if self.layers else []

    def to_json(self) -> str:
        return dump_json(self)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, d: dict) -> "Design":
        d = dict(d)
        d["params"] = CircuitParams.from_dict(d["params"])
        layers = []
        for layer in d["layers"]:
            layer = dict(layer)
            if layer.get("neuron") is not None:
                layer["neuron"] = NeuronDesign.from_dict(layer["neuron"])
            layers.append(LayerDesign(**layer))
        d["layers"] = layers
        d["parasitics"] = [Parasitic(**c) for c in d.get("parasitics", [])]
        return cls(**d)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Design":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise DesignError(f"design file {path} not found; create it with `imcgen map MODEL --out DIR`") from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DesignError(f"design file {path} is malformed ({exc!r}); regenerate it with `imcgen map`") from None
