"""The network (all layers side by side, layer k's outputs feed layer k+1's spike rows) and the top cell with pins.

Pins (text on the pin layer of the drawing layer, plus a small pin rectangle):
- inputs ``IN{j}`` / ``IN{j}_B`` (met4, west end of layer 0's spike rows); layer k > 0 rows are ``L{k-1}_OUT{j}``
  / ``L{k-1}_OUT{j}_B``: the same names as the previous layer's outputs;
- outputs ``L{k}_OUT{i}`` on each neuron's sensing-inverter output (met1);
- per-synapse memory-gate biases ``L{k}_VBN_{i}_{j}`` / ``L{k}_VBP_{i}_{j}`` (met2 pads; only the stack that
  carries the weight: the other memory gate is tied off in the cell);
- per neuron ``L{k}_N{i}_RESET_B``, ``_PHASE``, ``_VB_DIS``, ``_VB_SENSE`` (met1, device gates), ``VDD``/``VSS``
  on every row's rails and every neuron's taps and capacitor plate.
"""

from __future__ import annotations

import hashlib

import gdsfactory as gf
import klayout.db as kdb

from generator.design import Design, DesignError
from generator.layout._pdk import ensure_pdk
from generator.layout.array import bias_pin_name, build_layer, label
from generator.layout.devices import check_mos_size
from generator.layout.neuron import NEURON_PITCH_UM, neuron_size
from generator.layout.synapse import synapse_pitch
from generator.pdk import sky130_layers as L
from generator.pdk.sky130_layout_rules import snap

ensure_pdk()

LAYER_GAP_UM = 20.0  #: µm between layers placed side by side

_CACHE: dict[str, tuple[gf.Component, dict]] = {}


def design_signs(design: Design) -> list[list[list[int]]]:
    """Per layer the sign matrix in rows of inputs: signs[k][j][i] for input j, output i (+1, -1, 0)."""
    out = []
    for layer in design.layers:
        out.append([[layer.sign(i, j) for i in range(layer.n_out)] for j in range(layer.n_in)])
    return out


def check_design(design: Design, neuron_pitch: float = NEURON_PITCH_UM) -> None:
    """Raise DesignError (naming the value and the fix) for anything that cannot be drawn; writes nothing."""
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
    width, _, side = neuron_size(p.c_m, p.dis_w, p.dis_l)
    if width > neuron_pitch + 1e-9:
        raise DesignError(
            f"C_m={p.c_m:.3g} F needs a {side:.2f} µm MIM capacitor (neuron {width:.2f} µm wide), more than the "
            f"neuron pitch {neuron_pitch} µm; lower CircuitParams.c_m or raise the neuron pitch (--neuron-pitch)")


def _digest(design: Design, neuron_pitch: float) -> str:
    h = hashlib.sha256()
    h.update(design.name.encode())
    h.update(repr(design.params).encode())
    h.update(repr(neuron_pitch).encode())
    for s in design_signs(design):
        h.update(repr(s).encode())
    return h.hexdigest()[:10]


def build_top(design: Design, neuron_pitch: float = NEURON_PITCH_UM) -> tuple[gf.Component, dict]:
    """Top cell (named ``design.name``) and a geometry summary; cached per design content within a process."""
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
    for k, signs in enumerate(design_signs(design)):
        cell, geo = build_layer(f"{top_name}_L{k}_{key}", signs, p.syn_w, p.syn_l, p.c_m, p.dis_w, p.dis_l,
                                neuron_pitch)
        top.kdb_cell.insert(kdb.CellInstArray(cell.kdb_cell.cell_index(), kdb.Trans(int(round(x / dbu)), 0)))
        _pins(top, k, signs, geo, x, len(design.layers))
        bb = cell.dbbox()
        geo["x"] = x
        geo["bbox"] = [bb.left + x, bb.bottom, bb.right + x, bb.top]
        summary["layers"].append(geo)
        x = snap(x + bb.right + LAYER_GAP_UM)
    _CACHE[key] = (top, summary)
    return top, summary


def _pins(top: gf.Component, k: int, signs: list[list[int]], geo: dict, x0: float, n_layers: int) -> None:
    px, py, nh = geo["pitch_x"], geo["pitch_y"], geo["neuron_height"]
    sp = geo["synapse_ports"][1]
    for j in range(geo["n_in"]):
        base = f"IN{j}" if k == 0 else f"L{k - 1}_OUT{j}"
        y = j * py
        label(top, base, x0 + 0.2, y + sp["spk"][1], L.MET4)
        label(top, f"{base}_B", x0 + 0.2, y + sp["spkb"][1], L.MET4)
        label(top, "VSS", x0 + 0.2, y + sp["vss"][1], L.MET1)
        label(top, "VDD", x0 + 0.2, y + sp["vdd"][1], L.MET1)
        for i, s in enumerate(signs[j]):
            if s == 0:
                continue
            kind = "vbn" if s == 1 else "vbp"
            bx, by = geo["synapse_ports"][s][kind]
            label(top, bias_pin_name(k, kind, i, j), x0 + i * px + bx, y + by, L.MET2)
    npn = geo["neuron_ports"]
    names = {"MRST_g": "RESET_B", "MDSW_g": "PHASE", "MDIS_g": "VB_DIS", "MSB_g": "VB_SENSE"}
    for i in range(geo["n_out"]):
        ox, oy = x0 + i * px, -nh
        nx, ny = npn["MSN_d"]
        label(top, f"L{k}_OUT{i}", ox + nx, oy + ny, L.MET1)
        for port, net in names.items():
            nx, ny = npn[port]
            label(top, f"L{k}_N{i}_{net}", ox + nx, oy + ny, L.MET1)
    del n_layers
