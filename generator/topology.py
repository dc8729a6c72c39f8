"""The devices and nets of the neuron and the synapse stacks: written once, read by the templates and the layout.

Each device is its netlist instance name, a model key (:data:`MODEL_KEYS`: the sky130 device it is), its nets
and which size it takes. MOS nets are (drain, gate, source, bulk); the MIM capacitor's are (top, bottom). Sizes
name a field of :class:`generator.design.NeuronSizes` or of CircuitParams (``dis_w``/``dis_l`` for the
discharger, ``syn_w``/``syn_l`` for the synapse stacks). ``templates/netlist/neuron.j2`` and ``synapse.j2`` emit
one line per device in this order; ``generator/layout/neuron.py`` draws exactly these devices (its tests extract
the drawn neuron and compare it with the CDL made from this list). Circuit: PAPER.md 5.2-5.3 and the templates.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.pdk import sky130


@dataclass(frozen=True)
class Device:
    """One device: instance ``name``, ``model`` key, ``nets`` and the size fields ``w``/``l`` (µm)."""

    name: str
    model: str
    nets: tuple[str, ...]
    w: str = ""
    l: str = ""


#: model key -> sky130 device (generator.pdk.sky130)
MODEL_KEYS = {"nfet": sky130.NFET, "pfet": sky130.PFET, "nfet_lvt": sky130.NFET_LVT, "pfet_hvt": sky130.PFET_HVT,
              "mim": sky130.MIM_CAP}

NEURON_PINS = ("mem", "spk", "spkb", "reset", "reset_b", "phase", "phase_b", "v0", "vbdis", "vbsense", "vdd", "vss")

#: the neuron (PAPER.md 5.3): MIM membrane capacitor (top = mem, bottom = vss), reset transmission gate, discharger
#: (current source NB at vbdis over phase switch ND), sensing inverter (enable PE, bias PB, HVT pull-up PI, LVT
#: input NI, clamp NC), NAND (PA1, PA2, NA1, NA2) and output inverter (PO, NO)
NEURON = (
    Device("CM", "mim", ("mem", "vss")),
    Device("PR", "pfet", ("mem", "reset_b", "v0", "vdd"), "reset_w", "reset_l"),
    Device("NR", "nfet", ("mem", "reset", "v0", "vss"), "reset_w", "reset_l"),
    Device("NB", "nfet", ("mem", "vbdis", "dx", "vss"), "dis_w", "dis_l"),
    Device("ND", "nfet", ("dx", "phase", "vss", "vss"), "dis_w", "dis_l"),
    Device("PE", "pfet", ("sa", "phase_b", "vdd", "vdd"), "sen_w", "sen_l"),
    Device("PB", "pfet", ("sb", "vbsense", "sa", "vdd"), "sbias_w", "sbias_l"),
    Device("PI", "pfet_hvt", ("inv", "mem", "sb", "vdd"), "sp_w", "sp_l"),
    Device("NI", "nfet_lvt", ("inv", "mem", "vss", "vss"), "sn_w", "sn_l"),
    Device("NC", "nfet", ("inv", "phase_b", "vss", "vss"), "logic_n_w", "logic_l"),
    Device("PA1", "pfet", ("spkb", "inv", "vdd", "vdd"), "logic_p_w", "logic_l"),
    Device("PA2", "pfet", ("spkb", "phase", "vdd", "vdd"), "logic_p_w", "logic_l"),
    Device("NA1", "nfet", ("spkb", "inv", "na", "vss"), "logic_n_w", "logic_l"),
    Device("NA2", "nfet", ("na", "phase", "vss", "vss"), "logic_n_w", "logic_l"),
    Device("PO", "pfet", ("spk", "spkb", "vdd", "vdd"), "out_p_w", "logic_l"),
    Device("NO", "nfet", ("spk", "spkb", "vss", "vss"), "out_n_w", "logic_l"),
)

#: synapse stacks (PAPER.md 5.2): memory transistor at the membrane, selector at the rail
SYNAPSE_POS_PINS = ("mem", "spk", "bias", "vss")
SYNAPSE_POS = (
    Device("NM", "nfet", ("mem", "bias", "x", "vss"), "syn_w", "syn_l"),
    Device("NS", "nfet", ("x", "spk", "vss", "vss"), "syn_w", "syn_l"),
)
SYNAPSE_NEG_PINS = ("mem", "spkb", "bias", "vdd")
SYNAPSE_NEG = (
    Device("PM", "pfet", ("mem", "bias", "x", "vdd"), "syn_w", "syn_l"),
    Device("PS", "pfet", ("x", "spkb", "vdd", "vdd"), "syn_w", "syn_l"),
)


def device_counts(devices=NEURON) -> dict[str, int]:
    """Devices per sky130 model name (without the ``sky130_fd_pr__`` prefix), sorted by name."""
    out: dict[str, int] = {}
    for d in devices:
        key = MODEL_KEYS[d.model].removeprefix("sky130_fd_pr__")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
