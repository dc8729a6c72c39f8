"""The network (layers side by side, layer k's outputs wired to layer k+1's spike rows) and the top cell with pins.

Pins (text on the pin layer of the drawing layer, plus a small pin rectangle); netlist net in brackets:
- inputs ``IN{j}`` / ``IN{j}_B`` [in_j / inb_j] (met4, west end of layer 0's spike rows);
- outputs ``L{k}_OUT{i}`` / ``L{k}_OUT{i}_B`` [s{k+1}_i / sb{k+1}_i]: for k < last at the bus end in the
  routing channel (met3), for the last layer on the neuron's bottom-edge ports (met2);
- per layer at the west end of the neuron row (met3): ``L{k}_RESET``, ``L{k}_RESET_B``, ``L{k}_PHASE``,
  ``L{k}_PHASE_B`` [rst/rstb/ph/phb{k+1}] and ``V0``, ``VBDIS``, ``VBSENSE`` (shared nets, one pin per layer);
- ``VDD`` / ``VSS`` (met2 bars at each layer's west edge that tie every synapse-row and neuron rail);
- per-synapse memory-gate biases ``L{k}_VBN_{i}_{j}`` / ``L{k}_VBP_{i}_{j}`` (met2 pads; the unused stack's
  memory gate is tied off in the cell).
Output routing (k -> k+1): each neuron's spk/spkb riser (met2) drops to its own met3 bus line below the neuron
row, the bus runs east into the channel between the layers, a met2 vertical climbs to the target row and a met4
line enters layer k+1's spike line ``spk`` (NMOS selector) / ``spkb`` (PMOS selector) of row i.
"""

from __future__ import annotations

import hashlib

import gdsfactory as gf
import klayout.db as kdb

from generator.design import NEURON_SIZES, Design
from generator.errors import DesignError
from generator.layout._pdk import ensure_pdk
from generator.layout.array import bias_pin_name, build_layer, label
from generator.layout.devices import check_mos_size
from generator.layout.neuron import neuron_size
from generator.layout.routing import WIRE_W, hwire, via, vwire
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.rules import rule, snap
from generator.layout.synapse import synapse

ensure_pdk()

LAYER_GAP_UM = 20.0  #: µm, minimum gap between layers placed side by side (the output channel may need more)
#: µm, pitch of the met3 output bus lines (met3 track + m3.2) and of the met2 channel verticals
BUS_PITCH = snap(WIRE_W[L.MET3] + rule("m3.2"))
BAR_VSS, BAR_VDD = 1.5, 3.0  #: µm west of a layer: the met2 bars tying its VSS / VDD rails
BAR_W = 0.5  #: µm, bar width

_CACHE: dict[str, tuple[gf.Component, dict]] = {}


def design_signs(design: Design) -> list[list[list[int]]]:
    """Per layer the sign matrix in rows of inputs: signs[k][j][i] for input j, output i (+1, -1, 0)."""
    out = []
    for layer in design.layers:
        out.append([[layer.sign(i, j) for i in range(layer.n_out)] for j in range(layer.n_in)])
    return out


def check_design(design: Design, neuron_pitch: float | None = None) -> None:
    """Raise DesignError (naming the value and the fix) for anything that cannot be drawn; writes nothing.
    ``neuron_pitch`` (µm): None = the Design's own (``design.neuron_pitch_um``)."""
    neuron_pitch = design.neuron_pitch_um if neuron_pitch is None else neuron_pitch
    p = design.params
    p.validate()
    check_mos_size("n", p.syn_w, p.syn_l, "synapse (CircuitParams.syn_w/syn_l)")
    check_mos_size("n", p.dis_w, p.dis_l, "discharger (CircuitParams.dis_w/dis_l)")
    if not design.layers:
        raise DesignError(f"design {design.name!r} has no layers; nothing to draw")
    for k, layer in enumerate(design.layers):
        if layer.n_in < 1 or layer.n_out < 1:
            raise DesignError(f"layer {k} ({layer.name}) has size {layer.n_in}x{layer.n_out}; need >= 1x1")
        if len(layer.currents) != layer.n_out or any(len(r) != layer.n_in for r in layer.currents):
            raise DesignError(f"layer {k} ({layer.name}): currents must be {layer.n_out} rows of {layer.n_in}")
        if layer.neuron.sizes != NEURON_SIZES:
            raise DesignError(f"layer {k} ({layer.name}): the neuron cell is drawn for the standard device sizes "
                              f"(design.NEURON_SIZES); the Design asks for {layer.neuron.sizes}")
        try:
            neuron_size(p.c_m, p.dis_w, p.dis_l, mim_side(design, k), neuron_pitch)
        except DesignError as exc:
            raise DesignError(f"{exc} (C_m={p.c_m:.3g} F in CircuitParams.c_m)") from None


def mim_side(design: Design, k: int) -> float:
    """MIM capacitor side (µm) of layer ``k``'s neurons: the Design's (the netlist instantiates the same)."""
    mim = design.layers[k].neuron.mim
    if abs(mim.w - mim.l) > 1e-9:
        raise DesignError(f"layer {k}: the neuron cell draws a square MIM capacitor; the Design has {mim.w} x {mim.l} µm")
    return snap(mim.w)


def _digest(design: Design, neuron_pitch: float) -> str:
    h = hashlib.sha256()
    h.update(design.name.encode())
    h.update(repr(design.params).encode())
    h.update(repr(neuron_pitch).encode())
    for s in design_signs(design):
        h.update(repr(s).encode())
    return h.hexdigest()[:10]


def build_top(design: Design, neuron_pitch: float | None = None) -> tuple[gf.Component, dict]:
    """Top cell (named ``design.name``) and a geometry summary; cached per design content within a process."""
    neuron_pitch = design.neuron_pitch_um if neuron_pitch is None else neuron_pitch
    check_design(design, neuron_pitch)
    key = _digest(design, neuron_pitch)
    if key in _CACHE:
        return _CACHE[key]
    p = design.params
    top_name = design.name if design.name not in {c.info.get("top_name") for c, _ in _CACHE.values()} else \
        f"{design.name}_{key}"
    top = gf.Component(top_name)
    top.info["top_name"] = top_name
    summary = {"layers": []}
    x = 0.0
    dbu = top.kcl.dbu
    signs_all = design_signs(design)
    geos = []
    for k, signs in enumerate(signs_all):
        cell, geo = build_layer(f"{top_name}_L{k}_{key}", signs, p.syn_w, p.syn_l, p.c_m, p.dis_w, p.dis_l,
                                neuron_pitch, mim_side(design, k))
        top.kdb_cell.insert(kdb.CellInstArray(cell.kdb_cell.cell_index(), kdb.Trans(int(round(x / dbu)), 0)))
        bb = cell.dbbox()
        geo["x"] = x
        geos.append(geo)
        _pins(top, k, signs, geo, x, len(design.layers))
        _rail_bars(top, geo, x)
        x_end = x + geo["n_out"] * geo["pitch_x"]
        gap = LAYER_GAP_UM
        if k + 1 < len(signs_all):
            gap = max(gap, snap(4.0 + 2 * geo["n_out"] * BUS_PITCH + BAR_VDD + BAR_W + 2.0))
        x_next = snap(x_end + gap)
        if k + 1 < len(signs_all):
            _route_outputs(top, k, geo, x, x_next, synapse_spike_y(p))
        else:
            _label_outputs(top, k, geo, x)
        y_low = -geo["neuron_height"] - (1.0 + 2 * geo["n_out"] * BUS_PITCH if k + 1 < len(signs_all) else 0.0)
        geo["bbox"] = [bb.left + x - BAR_VDD - BAR_W, min(bb.bottom, y_low), max(bb.right + x, x_next - LAYER_GAP_UM
                       if k + 1 < len(signs_all) else bb.right + x), bb.top]
        summary["layers"].append(geo)
        x = x_next
    _CACHE[key] = (top, summary)
    return top, summary


def synapse_spike_y(p) -> dict:
    """y (µm) of the ``spk`` / ``spkb`` met4 lines inside a synapse cell of the Design's size."""

    c = synapse(w=p.syn_w, l=p.syn_l, sign=1)
    return {n: c.ports[n].center[1] for n in ("spk", "spkb")}


def _pins(top: gf.Component, k: int, signs: list[list[int]], geo: dict, x0: float, n_layers: int) -> None:
    px, py, nh = geo["pitch_x"], geo["pitch_y"], geo["neuron_height"]
    sp = geo["synapse_ports"][1]
    for j in range(geo["n_in"]):
        y = j * py
        if k == 0:
            label(top, f"IN{j}", x0 + 0.2, y + sp["spk"][1], L.MET4)
            label(top, f"IN{j}_B", x0 + 0.2, y + sp["spkb"][1], L.MET4)
        for i, s in enumerate(signs[j]):
            if s == 0:
                continue
            kind = "vbn" if s == 1 else "vbp"
            bx, by = geo["synapse_ports"][s][kind]
            label(top, bias_pin_name(k, kind, i, j), x0 + i * px + bx, y + by, L.MET2)
    npn = geo["neuron_ports"]
    names = {"reset": f"L{k}_RESET", "reset_b": f"L{k}_RESET_B", "phase": f"L{k}_PHASE",
             "phase_b": f"L{k}_PHASE_B", "v0": "V0", "vbdis": "VBDIS", "vbsense": "VBSENSE"}
    for port, net in names.items():
        nx, ny = npn[port]
        label(top, net, x0 + nx + 0.3, -nh + ny, L.MET3)
    del n_layers


def _rail_bars(top: gf.Component, geo: dict, x0: float) -> None:
    """met2 bars west of the layer tying every synapse-row and neuron rail: VSS at x0 - BAR_VSS, VDD further out."""
    py, nh = geo["pitch_y"], geo["neuron_height"]
    sp, npn = geo["synapse_ports"][1], geo["neuron_ports"]
    for net, bar in (("vss", BAR_VSS), ("vdd", BAR_VDD)):
        xb = snap(x0 - bar)
        ys = [snap(j * py + sp[net][1]) for j in range(geo["n_in"])] + [snap(-nh + npn[net][1])]
        for y in ys:
            hwire(top, L.MET1, xb - 0.16, x0 + 0.1, y, 0.41)
            via(top, xb, y, L.MET1, L.MET2)
        vwire(top, L.MET2, xb, min(ys) - 0.2, max(ys) + 0.2, BAR_W)
        label(top, net.upper(), xb, ys[-1], L.MET2)


def _route_outputs(top: gf.Component, k: int, geo: dict, x0: float, x_next: float, spike_y: dict) -> None:
    """Wire neuron i's spk / spkb of layer k to row i's spike lines spk / spkb of layer k+1 (see module doc)."""
    px, py, nh = geo["pitch_x"], geo["pitch_y"], geo["neuron_height"]
    npn = geo["neuron_ports"]
    x_ch0 = snap(x0 + geo["n_out"] * px + 2.0)
    for i in range(geo["n_out"]):
        for s, net in enumerate(("spk", "spkb")):
            n = 2 * i + s
            xp = snap(x0 + i * px + npn[net][0])
            yb = snap(-nh - 1.0 - n * BUS_PITCH)
            xc = snap(x_ch0 + n * BUS_PITCH)
            yt = snap(i * py + spike_y[net])
            vwire(top, L.MET2, xp, -nh, yb, 0.3)
            via(top, xp, yb, L.MET2, L.MET3)
            hwire(top, L.MET3, xp, xc, yb)
            via(top, xc, yb, L.MET2, L.MET3)
            vwire(top, L.MET2, xc, yb, yt, 0.3)
            via(top, xc, yt, L.MET2, L.MET4)
            hwire(top, L.MET4, xc, x_next + 0.3, yt)
            label(top, f"L{k}_OUT{i}" + ("_B" if s else ""), xc, yb, L.MET3)


def _label_outputs(top: gf.Component, k: int, geo: dict, x0: float) -> None:
    px, nh = geo["pitch_x"], geo["neuron_height"]
    npn = geo["neuron_ports"]
    for i in range(geo["n_out"]):
        for s, net in enumerate(("spk", "spkb")):
            label(top, f"L{k}_OUT{i}" + ("_B" if s else ""), x0 + i * px + npn[net][0], -nh + 0.1, L.MET2)
