"""Design -> SPICE netlists through the Jinja2 templates in ``templates/netlist/`` (no netlist text here).

What is written (:func:`write_netlist`):

* ``<name>.spice`` — subcircuits ``synapse_pos``, ``synapse_neg``, ``neuron``, ``layer<k>`` and the top
  subcircuit ``<name>`` (every spike, inverted spike, membrane, bias and control net is a pin);
* ``testbench.spice`` — one input sample, runnable as is: ``cd DIR && ngspice -b testbench.spice``; it writes
  ``testbench.dat`` (``wrdata``: time, then every neuron's output spike ``v(s<l>_<i>)`` and membrane
  ``v(m<l>_<i>)``, l = 1-based layer) and loads ``sky130_models.lib`` (written next to it);
* ``<name>.cdl`` — the same hierarchy with primitive ``M``/``C`` lines in SI units, for LVS.

Circuit (PAPER.md 5.2-5.3, templates/netlist/neuron.j2 and synapse.j2): a synapse is two stacks on the membrane,
NMOS selector+memory to ground (w > 0) and PMOS memory+selector from VDD (w < 0); the memory gate of an unused
or off stack sits at its off rail (NMOS gate at ground, PMOS gate at VDD). The neuron is the MIM membrane
capacitor, a reset transmission gate to V0, the discharger (phase switch + current source at V_b_dis), the
sensing inverter (LVT NMOS, HVT PMOS, PMOS biased at V_b_sense, enabled by the phase) and NAND+inverter output
logic that keeps the spike high from the crossing to the end of the firing phase.

Schedule (PAPER.md Fig. 6b, pipelined, T = CircuitParams.t_phase): T0 = T; layer l (1-based) is held in reset from
0 to T0+(l-1)T, accumulates in [T0+(l-1)T, T0+lT) and fires in [T0+lT, T0+(l+1)T) while layer l+1 accumulates.
Input spike t (model units, [0, 1]) of input j rises at T0 + t*T (edge centred there, rise time ``RISE_S``) and
stays high to the end of layer 1's accumulation; t >= 1 means no spike. Output spike time in model units =
(crossing of VDD/2 - start of the layer's firing phase) / T. :func:`phase_schedule` returns these windows.

Membrane capacitance: the model's C_m is the TOTAL membrane capacitance. The MIM capacitor is sized to
C_m - :func:`membrane_parasitic`, the gate/overlap capacitance the neuron and its column of synapses add to the
membrane node (measured with ngspice, see the function); the verification loop calibrates what remains. Layers
with different column heights get different neuron subcircuits (``neuron``, ``neuron_1``, ...). A column whose
parasitic exceeds 80 % of C_m (e.g. 784 inputs at C_m = 140 fF: ~480 fF) is a DesignError: raise C_m.

Circuit effects beyond the paper's model, measured on these netlists and modelled in the PNN
(generator/circuit/effects.py): when a selector opens at the end of the accumulation phase, the node between
selector and memory transistor recharges through the memory transistor from the membrane (~3-4 mV per conducting
stack at C_m = 140 fF, opposite signs for NMOS and PMOS stacks; switch_charge.py); the neuron fires ~1.6 ns after
its threshold crossing (firing_delay.py); and λ, hence E±, depends on the synapse current.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from generator import topology
from generator.design import NEURON_SIZES, CircuitParams, Design, NeuronDesign
from generator.errors import DesignError
from generator.io import atomic_write_text, dump_json
from generator.pdk import sky130
from generator.spice.fast import (FAST_OPTIONS, REFERENCE_OPTIONS, TIGHT_LEAD_S, TIGHT_OPTIONS, FastDeck, fast_context,
                                  lump_inactive, shared_synapse_fets)
from generator.spice.templates import render

#: rise/fall time of every digital stimulus edge (s); edges are centred on their nominal time
RISE_S = 1e-9
#: transient print step and maximum internal step (s): 1 ns keeps spike-time errors well under the 2 ns target
TSTEP_S = 1e-9
TMAX_S = 1e-8
#: ngspice options of the testbenches
OPTIONS = "method=gear reltol=1e-4 chgtol=1e-16"
#: ngspice options whose spike times are converged (within 0.006 ns of an even tighter run; TOOLCHAIN.md): the
#: verification's network testbenches (the written bundle keeps OPTIONS so it runs as fast as before)
OPTIONS_CONVERGED = REFERENCE_OPTIONS
#: reltol ten times tighter than OPTIONS_CONVERGED: the verification report's check of its own numerical error
#: (chgtol 1e-17 as well stopped the post-layout iris-ideal network with "timestep too small" at a switching edge)
OPTIONS_TIGHTER = "method=gear reltol=1e-7 chgtol=1e-16"
DATA_FILE = "testbench.dat"


def spice_name(name: str) -> str:
    """A SPICE-safe subcircuit/file name: letters, digits and '_' (others become '_'), not starting with a digit."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name) or "network"
    return s if not s[0].isdigit() else "n_" + s


def device_names() -> dict:
    """Model key (generator/topology.py) -> sky130 device name, as the templates' ``dev``."""
    return dict(topology.MODEL_KEYS)


def _topology() -> dict:
    return {"neuron": topology.NEURON, "neuron_pins": topology.NEURON_PINS,
            "synapse_pos": topology.SYNAPSE_POS, "synapse_pos_pins": topology.SYNAPSE_POS_PINS,
            "synapse_neg": topology.SYNAPSE_NEG, "synapse_neg_pins": topology.SYNAPSE_NEG_PINS}


def device_sizes(p: CircuitParams, neuron: NeuronDesign | None = None) -> dict:
    """Size field (generator/topology.py ``Device.w``/``l``) -> µm: the neuron's device sizes, discharger, synapse."""
    z = asdict(neuron.sizes if neuron is not None else NEURON_SIZES)
    return {**z, "dis_w": p.dis_w, "dis_l": p.dis_l, "syn_w": p.syn_w, "syn_l": p.syn_l}


def device_context(p: CircuitParams, neuron: NeuronDesign | None = None, flavor: str = "spice") -> dict:
    """What ``synapse.j2``/``neuron.j2`` need: flavor, dev, topo, sz, p and (with a neuron) its ``mim``.

    Shared by the network netlists and the characterisation testbenches, so every deck instantiates the same
    devices with the same sizes.
    """
    ctx = {"flavor": flavor, "dev": device_names(), "topo": _topology(), "sz": device_sizes(p, neuron), "p": p}
    if neuron is not None:
        ctx["mim"] = neuron.mim
        ctx["wire"] = neuron.wiring_f
    return ctx


# ---------------------------------------------------------------------------------------------- schedule
def phase_schedule(n_layers: int, params: CircuitParams) -> list[dict]:
    """Per layer (0-based list index, layer l = index + 1): reset/accumulate/fire windows in seconds.

    {"reset": (0, a0), "accumulate": (a0, a0+T), "fire": (a0+T, a0+2T)} with a0 = T0 + (l-1)T, T0 = T.
    """
    t = params.t_phase
    out = []
    for k in range(n_layers):
        a0 = t + k * t
        out.append({"reset": (0.0, a0), "accumulate": (a0, a0 + t), "fire": (a0 + t, a0 + 2 * t)})
    return out


def stop_time(n_layers: int, params: CircuitParams) -> float:
    """End of the transient (s): the end of the last layer's firing phase."""
    return phase_schedule(n_layers, params)[-1]["fire"][1]


def pulse_points(on: float, off: float, vdd: float, tstop: float, high_at_zero: bool = False) -> list[tuple[float, float]]:
    """PWL points of a pulse high in [on, off) with edges of RISE_S centred on on/off (0 V / vdd)."""
    h = RISE_S / 2
    pts: list[tuple[float, float]] = []
    if high_at_zero:
        pts += [(0.0, vdd)]
    else:
        pts += [(0.0, 0.0), (on - h, 0.0), (on + h, vdd)]
    if off < tstop:
        pts += [(off - h, vdd), (off + h, 0.0)]
    pts.append((tstop, pts[-1][1]))
    return pts


def inverted(points: list[tuple[float, float]], vdd: float) -> list[tuple[float, float]]:
    return [(t, vdd - v) for t, v in points]


def input_pwl(t_model: float, window: tuple[float, float], vdd: float, tstop: float) -> list[tuple[float, float]]:
    """PWL points of one input spike: rises at window[0] + t*T, falls at window[1]; none when t >= 1.

    ``t_model`` in model units ([0, 1]; below 0 is clipped to 0); a non-finite time is a DesignError.
    """
    if not math.isfinite(t_model):
        raise DesignError(f"input spike time {t_model!r} is not finite; spike times are in [0, 1] (1 = no spike)")
    a, b = window
    t_edge = a + min(max(t_model, 0.0), 1.0) * (b - a)
    if t_model >= 1.0 or t_edge + RISE_S >= b:
        return [(0.0, 0.0), (tstop, 0.0)]
    return pulse_points(t_edge, b, vdd, tstop)


def _controls(prefix: str, win: dict, p: CircuitParams, tstop: float) -> list[dict]:
    """Reset/phase PWL sources (and their inverses) of one layer."""
    rst = pulse_points(0.0, win["reset"][1], p.vdd, tstop, high_at_zero=True)
    ph = pulse_points(win["fire"][0], win["fire"][1], p.vdd, tstop)
    return [
        {"name": f"RST{prefix}", "node": f"rst{prefix}", "points": rst},
        {"name": f"RSTB{prefix}", "node": f"rstb{prefix}", "points": inverted(rst, p.vdd)},
        {"name": f"PH{prefix}", "node": f"ph{prefix}", "points": ph},
        {"name": f"PHB{prefix}", "node": f"phb{prefix}", "points": inverted(ph, p.vdd)},
    ]


def rails(p: CircuitParams) -> list[dict]:
    return [
        {"name": "DD", "node": "vdd", "value": p.vdd},
        {"name": "V0", "node": "v0", "value": p.v0},
        {"name": "BDIS", "node": "vbdis", "value": p.v_b_dis},
        {"name": "BSENSE", "node": "vbsense", "value": p.v_b_sense},
    ]


def supply_vectors(p: CircuitParams) -> list[tuple[str, float, str]]:
    """(rail node, rail voltage V, ngspice current vector) of every DC rail source of the testbenches. The vector
    is the current INTO the source's + terminal (A): the power the rail delivers is ``-voltage * current``."""
    return [(r["node"], float(r["value"]), f"i(v{r['name'].lower()})") for r in rails(p)]


def _bias_nets(design: Design, k: int, i: int, j: int, *, top: bool) -> tuple[str, str, list[dict]]:
    """Nets of synapse (out i, in j) of layer k's NMOS and PMOS memory gates, and the DC sources they need.

    The stack that carries the current gets a source; the other (and an off synapse) sits at its off rail.
    """
    layer = design.layers[k]
    vb = layer.gate_bias[i][j]
    sign = layer.sign(i, j) if vb is not None else 0
    tag = f"{k + 1}" if top else ""
    bn, bp, src = "0", "vdd", []
    if sign > 0:
        bn = f"b{tag}n_{i}_{j}"
        src.append({"name": f"B{tag}N_{i}_{j}", "node": bn, "value": vb})
    elif sign < 0:
        bp = f"b{tag}p_{i}_{j}"
        src.append({"name": f"B{tag}P_{i}_{j}", "node": bp, "value": vb})
    return bn, bp, src


# ---------------------------------------------------------------------------------------------- structure
#: CDL view (LVS reference): synapse sign -> the subcircuit of one drawn synapse cell, both stacks with the
#: unused memory gate tied to its rail (templates/netlist/cdl.j2; the layout's synapse cell, generator/layout/synapse.py)
SYNAPSE_CELLS = {1: "synapse_cell_pos", -1: "synapse_cell_neg", 0: "synapse_cell_off"}
def _bias_kinds(n_in: int, n_out: int, signs: list[list[int]] | None) -> list[tuple[int, int, str]]:
    """(i, j, "n"|"p") of each memory-gate bias port: both per synapse (``signs`` None: the SPICE view), or in
    the CDL view (``signs[i][j]``) only the used stack's, as the layout draws it (the other gate is tied off)."""
    if signs is None:
        return [(i, j, s) for i in range(n_out) for j in range(n_in) for s in ("n", "p")]
    return [(i, j, "n" if signs[i][j] > 0 else "p") for i in range(n_out) for j in range(n_in) if signs[i][j]]


def _layer_ports(n_in: int, n_out: int, signs: list[list[int]] | None = None) -> list[str]:
    ports = [f"in_{j}" for j in range(n_in)] + [f"inb_{j}" for j in range(n_in)]
    ports += [f"out_{i}" for i in range(n_out)] + [f"outb_{i}" for i in range(n_out)]
    ports += [f"mem_{i}" for i in range(n_out)]
    ports += [f"b{s}_{i}_{j}" for i, j, s in _bias_kinds(n_in, n_out, signs)]
    return ports + ["reset", "reset_b", "phase", "phase_b", "v0", "vbdis", "vbsense", "vdd", "vss"]


def _spike_net(k: int, j: int, inv: bool) -> str:
    """Top-level net of spike j entering layer k (k = 0: the inputs in_j; else layer k's outputs s<k>_<j>)."""
    if k == 0:
        return f"inb_{j}" if inv else f"in_{j}"
    return f"sb{k}_{j}" if inv else f"s{k}_{j}"


def _layer_signs(design: Design, flavor: str) -> list[list[list[int]] | None]:
    """Per layer the synapse signs [i][j] the CDL view needs (None for the SPICE view: every bias is a port)."""
    if flavor != "cdl":
        return [None] * len(design.layers)
    return [[[layer.sign(i, j) for j in range(layer.n_in)] for i in range(layer.n_out)] for layer in design.layers]


def top_ports(design: Design, signs_all: list | None = None) -> list[str]:
    n0 = design.layers[0].n_in
    ports = [f"in_{j}" for j in range(n0)] + [f"inb_{j}" for j in range(n0)]
    for k, layer in enumerate(design.layers):
        l = k + 1
        ports += [f"s{l}_{i}" for i in range(layer.n_out)] + [f"sb{l}_{i}" for i in range(layer.n_out)]
        ports += [f"m{l}_{i}" for i in range(layer.n_out)]
    for k, layer in enumerate(design.layers):
        l = k + 1
        signs = signs_all[k] if signs_all is not None else None
        ports += [f"b{l}{s}_{i}_{j}" for i, j, s in _bias_kinds(layer.n_in, layer.n_out, signs)]
    for k in range(len(design.layers)):
        l = k + 1
        ports += [f"rst{l}", f"rstb{l}", f"ph{l}", f"phb{l}"]
    return ports + ["v0", "vbdis", "vbsense", "vdd", "vss"]


def _context(design: Design, flavor: str) -> dict:
    if not design.layers:
        raise DesignError(f"design {design.name!r} has no layers")
    p = design.params.validate()
    name = spice_name(design.name)
    layers, instances, neurons = [], [], []
    signs_all = _layer_signs(design, flavor)
    for k, layer in enumerate(design.layers):
        signs = signs_all[k]
        if k and layer.n_in != design.layers[k - 1].n_out:
            raise DesignError(f"design {design.name!r}: layer {k} has {layer.n_in} inputs but layer {k - 1} has "
                              f"{design.layers[k - 1].n_out} outputs")
        # one neuron subcircuit per distinct neuron (MIM and device sizes: the MIM depends on the column height)
        nd = layer.neuron
        # post-layout (design.parasitics): the extracted wiring replaces the estimate (neuron.j2's CW)
        wire = 0.0 if design.parasitics else nd.wiring_f
        neuron = next((n["name"] for n in neurons if (n["mim"], n["sizes"], n["wire"]) == (nd.mim, nd.sizes, wire)),
                      None)
        if neuron is None:
            neuron = "neuron" if not neurons else f"neuron_{len(neurons)}"
            neurons.append({"name": neuron, "mim": nd.mim, "sizes": nd.sizes, "sz": device_sizes(p, nd),
                            "wire": wire, "n_in": layer.n_in})
        sub = f"{name}_layer{k}"
        layers.append({"k": k, "n_in": layer.n_in, "n_out": layer.n_out, "subckt": sub, "neuron": neuron,
                       "ports": _layer_ports(layer.n_in, layer.n_out, signs)})
        if signs is not None:  # CDL: the synapse cell each synapse is (both stacks; the unused gate tied off)
            layers[-1]["synapses"] = [{"i": i, "j": j, "cell": SYNAPSE_CELLS[signs[i][j]],
                                       "bias": ("n" if signs[i][j] > 0 else "p") if signs[i][j] else ""}
                                      for i in range(layer.n_out) for j in range(layer.n_in)]
        l = k + 1
        nets = [_spike_net(k, j, False) for j in range(layer.n_in)] + [_spike_net(k, j, True) for j in range(layer.n_in)]
        nets += [f"s{l}_{i}" for i in range(layer.n_out)] + [f"sb{l}_{i}" for i in range(layer.n_out)]
        nets += [f"m{l}_{i}" for i in range(layer.n_out)]
        nets += [f"b{l}{s}_{i}_{j}" for i, j, s in _bias_kinds(layer.n_in, layer.n_out, signs)]
        nets += [f"rst{l}", f"rstb{l}", f"ph{l}", f"phb{l}", "v0", "vbdis", "vbsense", "vdd", "vss"]
        instances.append({"name": f"L{k}", "subckt": sub, "nets": nets})
    return {
        **device_context(p, flavor=flavor), "neurons": neurons, "layers": layers, "sizes": design.sizes,
        "top": {"subckt": name, "ports": top_ports(design, signs_all if flavor == "cdl" else None),
                "instances": instances},
        # CDL: the synapse cells the layers use (an unused one would be a second top circuit)
        **({"synapse_cells": {s: c for s, c in SYNAPSE_CELLS.items()
                              if any(s in row for signs in signs_all for row in signs)}} if flavor == "cdl" else {}),
    }


def render_network(design: Design, *, shared_synapses: bool = False) -> str:
    """``<name>.spice``: subcircuits and the top subcircuit (SPICE flavour, W/L in µm).

    ``shared_synapses`` (simulation decks only, not the bundle's netlist): the synapse FETs as M lines on one
    shared copy of the sky130 cards (generator/spice/fast.py), as in the fast column deck."""
    ctx = _context(design, "spice")
    if shared_synapses:
        ctx["fets"] = shared_synapse_fets(ctx["topo"], ctx["sz"])
    return render("netlist/spice.j2", **ctx)


def render_cdl(design: Design) -> str:
    """``<name>.cdl``: the same hierarchy as primitive M/C lines in SI units (LVS reference)."""
    return render("netlist/cdl.j2", **_context(design, "cdl"))


def _check_corner(design: Design, corner: str | None) -> str:
    return sky130.check_corner(corner or design.params.corner)


def _input_times(design: Design, sample_spikes) -> np.ndarray:
    n0 = design.layers[0].n_in
    if sample_spikes is None:
        return np.zeros(n0)
    t = np.asarray(sample_spikes, dtype=np.float64).reshape(-1)
    if t.shape != (n0,):
        raise DesignError(f"sample_spikes has {t.size} values but the design has {n0} inputs")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise DesignError(f"sample_spikes[{int(bad[0])}] = {t[bad[0]]!r} is not finite; spike times lie in [0, 1]")
    return t


def render_testbench(design: Design, sample_spikes: Sequence[float] | None = None, *, corner: str | None = None,
                     lib: str = sky130.LIBRARY_NAME, netlist_file: str | None = None, sample_note: str = "",
                     data_file: str = DATA_FILE, deck_name: str = "testbench.spice", save_supply: bool = False,
                     options: str = OPTIONS, tight: tuple[float, str] | None = None) -> str:
    """Text of the network testbench for one sample (input spike times in model units; None = all at t = 0).

    ``tight`` = (t_s, options): ``options`` from time ``t_s`` on (a .control stop, option, resume); before it,
    ``options``. The fast network deck (:func:`network_tight_window`) is loose until the first layer's
    accumulation ends and tight from there: every later phase makes some layer's spike times.

    ``save_supply``: also save the DC rails' currents (:func:`supply_vectors`; for energy per inference). Off by
    default, so the default testbench text is unchanged."""
    corner = _check_corner(design, corner)
    p = design.params
    times = _input_times(design, sample_spikes)
    ctx = _context(design, "spice")
    n_layers = len(design.layers)
    sched = phase_schedule(n_layers, p)
    tstop = stop_time(n_layers, p)
    pwls = []
    for k, win in enumerate(sched):
        pwls += _controls(str(k + 1), win, p, tstop)
    for j, t in enumerate(times):
        pts = input_pwl(float(t), sched[0]["accumulate"], p.vdd, tstop)
        pwls += [{"name": f"IN{j}", "node": f"in_{j}", "points": pts},
                 {"name": f"INB{j}", "node": f"inb_{j}", "points": inverted(pts, p.vdd)}]
    biases, bias_map = [], {}
    for k, layer in enumerate(design.layers):
        for i in range(layer.n_out):
            for j in range(layer.n_in):
                bn, bp, src = _bias_nets(design, k, i, j, top=True)
                bias_map[f"b{k + 1}n_{i}_{j}"] = bn
                bias_map[f"b{k + 1}p_{i}_{j}"] = bp
                biases += src
    nets = [bias_map.get(port, "0" if port == "vss" else port) for port in ctx["top"]["ports"]]
    saves = []
    for k, layer in enumerate(design.layers):
        saves += [f"v(s{k + 1}_{i})" for i in range(layer.n_out)]
    for k, layer in enumerate(design.layers):
        saves += [f"v(m{k + 1}_{i})" for i in range(layer.n_out)]
    if save_supply:
        saves += [vec for _, _, vec in supply_vectors(p)]
    ctx["top"]["nets"] = nets
    ctx.update(rails=rails(p), pwls=pwls, biases=biases, saves=saves, lib=lib, corner=corner, parasitics=design.parasitics,
               netlist_file=netlist_file or f"{ctx['top']['subckt']}.spice", tstep=TSTEP_S, tstop=tstop,
               tmax=TMAX_S, options=options, data_file=data_file, sample_note=sample_note, deck_name=deck_name,
               tight=tight)
    return render("netlist/testbench.j2", **ctx)


def network_tight_window(design: Design) -> tuple[float, str]:
    """(time s, options) from which a fast network deck runs at the converged options: TIGHT_LEAD_S before the
    end of the first layer's accumulation phase (before it, only reset and that accumulation run: loose options,
    FAST_OPTIONS, as in the fast column deck)."""
    acc_end = phase_schedule(len(design.layers), design.params)[0]["accumulate"][1]
    return acc_end - TIGHT_LEAD_S, TIGHT_OPTIONS


def membrane_parasitic_c(design: Design, layer_index: int, neuron_index: int) -> float:
    """Extracted capacitance (F) on neuron ``neuron_index``'s membrane of layer ``layer_index`` (0-based), all of
    its couplings counted to ground (column mode drives every other net from ideal sources); 0 for a schematic."""
    net = f"m{layer_index + 1}_{neuron_index}"
    return sum(c.c for c in design.parasitics if net in (c.a, c.b))


def render_column_testbench(design: Design, layer_index: int, neuron_index: int, input_times: Sequence[float], *,
                            corner: str | None = None, lib: str = sky130.LIBRARY_NAME, control: bool = True,
                            data_file: str | None = None, hold_v0: bool = False,
                            fast: "bool | FastDeck" = False) -> str:
    """A self-contained deck: neuron ``neuron_index`` of layer ``layer_index`` (0-based) and its synapse column.

    ``input_times``: the layer's input spike times (model units; the previous layer's output times or the encoded
    sample). Schedule: reset until T, accumulation [T, 2T), firing [2T, 3T). Saves ``v(mem)``, ``v(spk)`` and
    ``i(vcol)`` (the column's current into the membrane, A; a 0 V probe between column and neuron); output spike
    time = (crossing of VDD/2 - 2T) / T. ``hold_v0=True``: no neuron, the column is held at V0 by ``vcol``, so
    ``i(vcol)`` steps by each synapse's current at V0 as its spike arrives (current read-back of the mapping). ``lib``: the model library path as written in the deck
    (relative paths resolve in ngspice's working folder). ``control=False`` leaves out the .control block
    (run_deck then runs it with ``-r``); ``data_file`` adds a ``wrdata`` of v(mem), v(spk).
    ``fast`` (opt-in; default off, the default deck is unchanged): ``True`` or a
    :class:`generator.spice.fast.FastDeck` renders ``column_fast.j2``: synapse FETs as ``M`` lines on shared
    model cards and a tolerance schedule with a stop once the neuron fired (always with a .control block; the
    waveform then ends shortly after the spike). ``FastDeck.reference()`` is the tight-tolerance reference.
    """
    corner = _check_corner(design, corner)
    if not 0 <= layer_index < len(design.layers):
        raise DesignError(f"layer_index {layer_index} out of range (design has {len(design.layers)} layers)")
    layer = design.layers[layer_index]
    if not 0 <= neuron_index < layer.n_out:
        raise DesignError(f"neuron_index {neuron_index} out of range (layer {layer_index} has {layer.n_out} neurons)")
    times = np.asarray(input_times, dtype=np.float64).reshape(-1)
    if times.shape != (layer.n_in,):
        raise DesignError(f"input_times has {times.size} values but layer {layer_index} has {layer.n_in} inputs")
    p = design.params.validate()
    sched = phase_schedule(1, p)[0]
    tstop = sched["fire"][1]
    pwls = _controls("", sched, p, tstop)
    spec = (FastDeck() if fast is True else fast) if fast else None
    lump = spec is not None and spec.lump_bin_v is not None
    synapses, biases, idle = [], [], []
    for j, t in enumerate(times):
        pts = input_pwl(float(t), sched["accumulate"], p.vdd, tstop)
        bn, bp, src = _bias_nets(design, layer_index, neuron_index, j, top=False)
        if lump and len(pts) <= 2:  # the input never spikes: lumped below
            vb = src[0]["value"] if src else None
            idle.append((vb if bn != "0" else None, vb if bp != "vdd" else None))
            continue
        pwls += [{"name": f"IN{j}", "node": f"in_{j}", "points": pts},
                 {"name": f"INB{j}", "node": f"inb_{j}", "points": inverted(pts, p.vdd)}]
        synapses.append({"j": j, "bn": bn, "bp": bp})
        biases += src
    lumped = []
    for g, ls in enumerate(lump_inactive(idle, spec.lump_bin_v) if lump else []):
        node = {"pos": "0", "neg": "vdd"}[ls.stack] if ls.gate_v is None else f"bl{ls.stack[0]}_{g}"
        if ls.gate_v is not None:
            biases.append({"name": f"BL{ls.stack[0].upper()}_{g}", "node": node, "value": ls.gate_v})
        lumped.append({"g": g, "stack": ls.stack, "bias": node, "count": ls.count})
    ctx = {
        **device_context(p, layer.neuron), "rails": rails(p), "pwls": pwls, "biases": biases,
        "synapses": synapses, "lib": lib, "corner": corner, "tstep": TSTEP_S, "tstop": tstop, "tmax": TMAX_S,
        "options": OPTIONS, "control": control, "data_file": data_file, "n_in": layer.n_in,
        "layer_index": layer_index, "neuron_index": neuron_index, "design_name": design.name, "hold": hold_v0,
        "c_pex": membrane_parasitic_c(design, layer_index, neuron_index),
        "wire": 0.0 if design.parasitics else layer.neuron.wiring_f,
    }
    if spec is not None:
        if hold_v0:
            raise DesignError("the fast column deck has no probe mode (hold_v0): render it without fast")
        ctx.update(fast_context(spec, ctx["topo"], ctx["sz"], sched["accumulate"][1], p.vdd), lumped=lumped)
        return render("netlist/column_fast.j2", **ctx)
    return render("netlist/column.j2", **ctx)


# ---------------------------------------------------------------------------------------------- files
def write_netlist(design: Design, out_dir: str | os.PathLike, *, sample_spikes: Sequence[float] | None = None,
                  corner: str | None = None, sample_note: str = "", options: str = OPTIONS,
                  fast: bool = False) -> dict[str, Path]:
    """Write ``<name>.spice``, ``testbench.spice``, ``<name>.cdl``, ``schedule.json`` and the model library.

    ``options``: the testbench's ngspice options (OPTIONS; the verification uses OPTIONS_CONVERGED).
    ``fast`` (simulation decks of the verification, not the bundle): the fast network deck, synapse FETs on shared
    cards (:func:`render_network`) and FAST_OPTIONS until :func:`network_tight_window`, TIGHT_OPTIONS after.

    Returns {"netlist", "testbench", "cdl", "schedule", "models"} -> Path. Byte-identical for equal inputs (the
    model library is written by pdk.sky130.write_model_library and holds this installation's absolute paths).
    """
    corner = _check_corner(design, corner)
    out = Path(out_dir)
    name = spice_name(design.name)
    paths = {
        "netlist": out / f"{name}.spice",
        "testbench": out / "testbench.spice",
        "cdl": out / f"{name}.cdl",
        "schedule": out / "schedule.json",
    }
    texts = {
        "netlist": render_network(design, shared_synapses=fast),
        "testbench": render_testbench(design, sample_spikes, corner=corner, netlist_file=paths["netlist"].name,
                                      sample_note=sample_note, options=FAST_OPTIONS if fast else options,
                                      tight=network_tight_window(design) if fast else None),
        "cdl": render_cdl(design),
        "schedule": dump_json({
            "t_phase_s": design.params.t_phase, "rise_s": RISE_S, "data_file": DATA_FILE,
            "layers": [{k: list(v) for k, v in w.items()} for w in phase_schedule(len(design.layers), design.params)],
            "input_spikes": _input_times(design, sample_spikes).tolist(),
            "threshold_v": design.params.vdd / 2,
            "spike_vectors": [[f"v(s{k + 1}_{i})" for i in range(layer.n_out)] for k, layer in enumerate(design.layers)],
            "membrane_vectors": [[f"v(m{k + 1}_{i})" for i in range(layer.n_out)]
                                 for k, layer in enumerate(design.layers)],
            "decode": "spike time (model units) = (first upward crossing of threshold_v - fire[0]) / t_phase_s; "
                      "no crossing = 1 (no spike)",
        }),
    }
    for key, text in texts.items():
        atomic_write_text(paths[key], text)
    paths["models"] = sky130.write_model_library(out, corner)
    return paths
