"""Post-layout back-annotation: the layout's extracted wiring capacitance on the schematic nets of its Design.

Why: the paper's headline figure is a post-layout simulation. The drawn Design is extracted
(generator/signoff/pex.py: capacitance to substrate, coupling, per net) and each extracted net is given the
schematic net it is: labelled nets through the layout's pin names (generator/signoff/lvs.py ``layout_name``,
the same translation LVS uses), each neuron's membrane through its MIM capacitor's top plate (layer from the
layer cell, neuron index from the x order). The result is a list of :class:`generator.design.Parasitic` on the
network testbench's node names, carried by the Design (``design.parasitics``) into every netlist the verification
renders.

Approximations (stated in the report): nets driven by ideal sources in the testbench (supply and bias rails, the
bias of every memory gate) are AC ground, so a coupling to them counts as capacitance to ground; a coupling to a
net the schematic's top level does not name (a node inside a neuron or synapse cell) counts to ground too; the
internal nodes' own wiring capacitance is not annotated. Resistance is not annotated (the longest signal line,
the membrane, has ~2 kΩ in series with ~140 fF: a 0.3 ns time constant against 1 µs phases).
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path

from generator.design import Design, Parasitic
from generator.io import round_sig
from generator.layout.export import write_layout
from generator.signoff.lvs import layout_name
from generator.signoff.pex import Parasitics, extract_parasitics
from generator.spice import netlist as nl

#: testbench nets held by ideal DC sources (AC ground); "0" is ground itself
_RAILS = {"vdd", "v0", "vbdis", "vbsense", "vss", "0"}
_BIAS = re.compile(r"^b\d+[np]_\d+_\d+$")
_LAYER_CELL = re.compile(r"_L(\d+)_[0-9a-f]+$")


def _membranes(design: Design, par: Parasitics) -> dict[str, str]:
    """Extracted top-plate net of each MIM -> the membrane net ``m<l>_<i>`` of the network testbench."""
    by_layer: dict[int, list[dict]] = defaultdict(list)
    for mim in par.mim_caps:
        m = _LAYER_CELL.search(mim["block"])
        if m:
            by_layer[int(m.group(1))].append(mim)
    out = {}
    for k, layer in enumerate(design.layers):
        mims = sorted(by_layer.get(k, []), key=lambda d: (d["x_um"], d["y_um"]))
        if len(mims) != layer.n_out:
            raise ValueError(f"layer {k}: the layout has {len(mims)} MIM capacitors, the Design {layer.n_out} neurons")
        for i, mim in enumerate(mims):
            out[mim["top_net"]] = f"m{k + 1}_{i}"
    return out


def annotate(design: Design, par: Parasitics) -> tuple[list[Parasitic], dict]:
    """Map extracted parasitics onto the testbench nets of ``design``: (capacitors, summary).

    Every signal net of the schematic's top level gets its capacitance to ground (substrate, AC-ground rails and
    unnamed internal nodes) as one capacitor, and each coupling between two signal nets one capacitor between
    them. Summary: totals (F) by where they went, membrane capacitance per layer, unmapped nets.
    """
    names = {layout_name(port).upper(): port for port in nl.top_ports(design)}
    names.update({k.upper(): v for k, v in _membranes(design, par).items()})

    def node(extracted: str) -> str | None:
        net = names.get(extracted.upper())
        if net is None:
            return None
        return "0" if net in _RAILS or _BIAS.match(net) else net

    ground: dict[str, float] = defaultdict(float)
    coupled: dict[tuple[str, str], float] = defaultdict(float)
    totals = {"ground_f": 0.0, "coupling_f": 0.0, "to_internal_f": 0.0, "not_annotated_f": 0.0}
    for name, net in par.nets.items():
        n = node(name)
        if n not in (None, "0"):
            ground[n] += net.c_ground_f
            totals["ground_f"] += net.c_ground_f
        else:
            totals["not_annotated_f"] += net.c_ground_f
    for a, b, c in par.couplings:
        na, nb = node(a), node(b)
        sig = [n for n in (na, nb) if n not in (None, "0")]
        if len(sig) == 2 and na != nb:
            coupled[tuple(sorted((na, nb)))] += c
            totals["coupling_f"] += c
        elif len(sig) == 2 or (len(sig) == 1 and (na == "0" or nb == "0")):
            ground[sig[0]] += c
            totals["ground_f"] += c
        elif len(sig) == 1:
            ground[sig[0]] += c
            totals["to_internal_f"] += c
        else:
            totals["not_annotated_f"] += c
    caps = [Parasitic(a=n, b="0", c=round_sig(c)) for n, c in sorted(ground.items()) if c > 0]
    caps += [Parasitic(a=a, b=b, c=round_sig(c)) for (a, b), c in sorted(coupled.items()) if c > 0]
    annotated = Design(design.name, design.params, design.layers, design.e_pos, design.e_neg, parasitics=caps)
    per_layer = []
    for k, layer in enumerate(design.layers):
        c_m = [nl.membrane_parasitic_c(annotated, k, i) for i in range(layer.n_out)]
        per_layer.append({"layer": k, "membrane_wiring_f_mean": round_sig(sum(c_m) / len(c_m)),
                          "membrane_wiring_f_max": round_sig(max(c_m)),
                          "design_device_parasitic_f": round_sig(layer.neuron.parasitic_f),
                          "design_wiring_f": round_sig(layer.neuron.wiring_f),
                          "mim_f": round_sig(layer.neuron.mim.c)})
    summary = {"capacitors": len(caps), **{k: round_sig(v) for k, v in totals.items()}, "layers": per_layer,
               "extracted_nets": len(par.nets), "extraction_s": round_sig(par.runtime_s, 3)}
    return caps, summary


def extract_design(design: Design, *, neuron_pitch: float | None = None, workdir: str | Path | None = None
                   ) -> tuple[list[Parasitic], dict]:
    """Draw ``design`` (GDS only), extract it and annotate: (capacitors on the testbench nets, summary)."""
    with tempfile.TemporaryDirectory(prefix="imcgen-postlayout-") as tmp:
        out = Path(workdir) if workdir is not None else Path(tmp)
        info = write_layout(design, out, neuron_pitch=neuron_pitch, render=False)
        par = extract_parasitics(info["paths"]["gds"])
        caps, summary = annotate(design, par)
    summary["gds"] = "drawn from the Design (the layout the build writes)"
    return caps, summary
