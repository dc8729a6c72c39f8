"""Device and net extraction of a sky130 GDS with ``klayout.db.LayoutToNetlist`` (runs wherever pip klayout does).

Why: the layout must be the netlisted circuit. This extracts MOSFETs (4-terminal, by implant, well and Vt layer)
and the MIM capacitor (capm2 over met4) with connectivity through every contact and via, and compares the result
with the CDL reference (``NetlistComparer``). Layers come from :mod:`generator.pdk.sky130.layers`, device names
from :mod:`generator.pdk.sky130`. Units: W/L in µm as KLayout reports them; capacitance in F.

Device recognition (sky130 device rules): gate = poly & diff; nfet_01v8 = n+ gate outside the n-well without
lvtn, nfet_01v8_lvt with lvtn; pfet_01v8 = p+ gate in the n-well without hvtp, pfet_01v8_hvt with hvtp. The
substrate is one net (everything outside the n-well) reached through p+ taps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import klayout.db as kdb

from generator.errors import DesignError
from generator.pdk import sky130 as P
from generator.pdk.sky130 import layers as L


@dataclass
class Extraction:
    """Result of :func:`extract`: the extracted netlist and device counts per model name."""

    netlist: kdb.Netlist
    l2n: kdb.LayoutToNetlist
    devices: dict[str, int] = field(default_factory=dict)

    def circuit(self, name: str) -> kdb.Circuit:
        c = self.netlist.circuit_by_name(name)
        if c is None:
            raise DesignError(f"extracted netlist has no circuit {name!r}")
        return c


def _layout_of(src) -> tuple[kdb.Layout, kdb.Cell]:
    if isinstance(src, (str, os.PathLike)):
        ly = kdb.Layout()
        ly.read(str(src))
        tops = ly.top_cells()
        if len(tops) != 1:
            raise DesignError(f"{src}: expected one top cell, found {[t.name for t in tops]}")
        return ly, tops[0]
    ly, cell = src
    return ly, cell


def setup_extraction(l2n: kdb.LayoutToNetlist, ly: kdb.Layout) -> None:
    """Declare the sky130 layers, device extractors and connectivity on ``l2n`` (a LayoutToNetlist or a
    LayoutVsSchematic over ``ly``) and extract the netlist; MIM capacitors get the PDK's C (area + perimeter law).
    """

    def mk(layer, name):
        return l2n.make_layer(ly.layer(*layer), name)

    nwell, diff, tap, poly = mk(L.NWELL, "nwell"), mk(L.DIFF, "diff"), mk(L.TAP, "tap"), mk(L.POLY, "poly")
    nsdm, psdm, lvtn, hvtp = mk(L.NSDM, "nsdm"), mk(L.PSDM, "psdm"), mk(L.LVTN, "lvtn"), mk(L.HVTP, "hvtp")
    licon, li1, mcon = mk(L.LICON1, "licon"), mk(L.LI1, "li1"), mk(L.MCON, "mcon")
    met = [mk(m, f"met{k + 1}") for k, m in enumerate((L.MET1, L.MET2, L.MET3, L.MET4, L.MET5))]
    vias = [mk(v, n) for v, n in ((L.VIA, "via"), (L.VIA2, "via2"), (L.VIA3, "via3"), (L.VIA4, "via4"))]
    capm2 = mk(L.CAPM2, "capm2")
    pin_text = {m: l2n.make_text_layer(ly.layer(*L.PIN_OF[m]), f"pin{k}")
                for k, m in enumerate((L.MET1, L.MET2, L.MET3, L.MET4))}

    sub = l2n.make_layer("bulk")  # empty: NMOS bulk terminals land here; one global substrate net with the p+ taps
    gate = poly & diff
    ndiff = (diff & nsdm) - nwell
    pdiff = (diff & psdm) & nwell
    ngate, pgate = gate & ndiff, gate & pdiff
    sd_n, sd_p = ndiff - gate, pdiff - gate
    ptap, ntap = (tap & psdm) - nwell, (tap & nsdm) & nwell
    # licon on poly must not short to diff: split contacts
    licon_poly = licon & poly
    licon_diff = licon - poly
    for lay, name in ((sd_n, "sd_n"), (sd_p, "sd_p"), (ptap, "ptap"), (ntap, "ntap"), (licon_poly, "licon_poly"),
                      (licon_diff, "licon_diff")):
        l2n.register(lay, name)

    def mos(model, g, sd, bulk):
        ex = kdb.DeviceExtractorMOS4Transistor(model)
        l2n.extract_devices(ex, {"SD": sd, "G": g, "P": poly, "W": bulk, "tS": sd, "tD": sd, "tG": poly,
                                 "tW": bulk})

    mos(P.NFET_LVT, ngate & lvtn, sd_n, sub)
    mos(P.NFET, ngate - lvtn, sd_n, sub)
    mos(P.PFET_HVT, pgate & hvtp, sd_p, nwell)
    mos(P.PFET, pgate - hvtp, sd_p, nwell)
    # MIM capacitor: capm2 over met4; area capacitance in F/µm² (KLayout areas in µm²); the perimeter term is
    # added after extraction (mim_law)
    cap_top = capm2
    cap_bot = met[3]
    ex = kdb.DeviceExtractorCapacitor(P.MIM_CAP, P.MIM_CAP_DENSITY_F_PER_UM2)
    l2n.extract_devices(ex, {"P1": cap_top, "P2": cap_bot, "tA": cap_top, "tB": cap_bot})
    via4_cap = vias[3] & capm2
    via4_plain = vias[3] - capm2
    l2n.register(via4_cap, "via4_cap")
    l2n.register(via4_plain, "via4_plain")

    for layer in [sd_n, sd_p, ptap, ntap, poly, licon_poly, licon_diff, li1, mcon, *met, *vias, capm2, nwell,
                  via4_cap, via4_plain]:
        l2n.connect(layer)
    for a, b in ((sd_n, licon_diff), (sd_p, licon_diff), (ptap, licon_diff), (ntap, licon_diff),
                 (poly, licon_poly), (licon_diff, li1), (licon_poly, li1), (li1, mcon), (mcon, met[0]),
                 (met[0], vias[0]), (vias[0], met[1]), (met[1], vias[1]), (vias[1], met[2]), (met[2], vias[2]),
                 (vias[2], met[3]), (met[3], via4_plain), (via4_plain, met[4]), (capm2, via4_cap),
                 (via4_cap, met[4]), (ntap, nwell)):
        l2n.connect(a, b)
    l2n.connect_global(sub, "VSS_SUB")
    l2n.connect_global(ptap, "VSS_SUB")
    for m, t in pin_text.items():
        l2n.connect(met[[L.MET1, L.MET2, L.MET3, L.MET4].index(m)], t)
    l2n.extract_netlist()
    mim_law(l2n.netlist())


def mim_law(nl: kdb.Netlist) -> None:
    """Set every extracted MIM's C from its area A and perimeter P with the sky130 model law
    C = ca (w + dw)(l + dw) = ca (A + dw P / 2 + dw^2) (KLayout's extractor knows only the area term)."""
    ca, dw = P.MIM_CAP_DENSITY_F_PER_UM2, P.MIM_CAP_DW_UM
    for c in nl.each_circuit():
        for d in c.each_device():
            if d.device_class().name.upper() == P.MIM_CAP.upper():
                a = d.parameter(kdb.DeviceClassCapacitor.PARAM_A)
                per = d.parameter(kdb.DeviceClassCapacitor.PARAM_P)
                d.set_parameter(kdb.DeviceClassCapacitor.PARAM_C, ca * (a + dw * per / 2 + dw * dw))


def device_counts(nl: kdb.Netlist) -> dict[str, int]:
    """Devices per class name over the whole hierarchy (each circuit's devices times its instance count)."""
    tops = list(nl.each_circuit_top_down())
    if not tops:
        return {}
    mult: dict[int, int] = {}
    for c in tops:  # top-down: a circuit's count is known before its children's
        refs = list(c.each_ref())
        mult[c.name] = sum(mult.get(r.circuit().name, 0) for r in refs) if refs else 1
    counts: dict[str, int] = {}
    for c in tops:
        for d in c.each_device():
            name = d.device_class().name
            counts[name] = counts.get(name, 0) + mult[c.name]
    return dict(sorted(counts.items()))


def extract(src, *, flat: bool = True) -> Extraction:
    """Extract ``src`` (a GDS path with one top cell, or a (kdb.Layout, kdb.Cell) pair), hierarchically.

    ``flat``: flatten the extracted netlist into the top circuit (what a cell-level comparison wants).
    Returns the netlist and the device counts per model name (after combining nothing: one per drawn gate).
    """
    ly, cell = _layout_of(src)
    l2n = kdb.LayoutToNetlist(kdb.RecursiveShapeIterator(ly, cell, []))
    l2n.threads = 1
    setup_extraction(l2n, ly)
    nl = l2n.netlist()
    if flat:
        nl.flatten()
    nl.make_top_level_pins()
    nl.purge()
    counts: dict[str, int] = {}
    top = next(nl.each_circuit_top_down())
    for c in nl.each_circuit():
        n_inst = _multiplicity(top, c)
        for d in c.each_device():
            name = d.device_class().name
            counts[name] = counts.get(name, 0) + n_inst
    return Extraction(nl, l2n, dict(sorted(counts.items())))


def _multiplicity(top: kdb.Circuit, c: kdb.Circuit) -> int:
    """How many times circuit ``c`` occurs below ``top`` (1 for the top itself)."""
    if c.name == top.name:
        return 1
    return sum(_multiplicity(top, r.circuit()) for r in c.each_ref())


def compare(extracted: kdb.Netlist, reference: kdb.Netlist, *, cap_rel_tol: float = 0.05) -> tuple[bool, str]:
    """NetlistComparer of ``extracted`` against ``reference`` (read from CDL); returns (equal, log text).

    MOS W/L compare exactly (1 nm); the capacitor's C within ``cap_rel_tol`` (the extractor uses the area term,
    the CDL value also holds the model's perimeter term).
    """
    extracted.case_sensitive = False
    reference.case_sensitive = False
    for nl in (extracted, reference):
        for dc in nl.each_device_class():
            if isinstance(dc, kdb.DeviceClassCapacitor):
                dc.equal_parameters = kdb.EqualDeviceParameters(kdb.DeviceClassCapacitor.PARAM_C, 0.0, cap_rel_tol)
            elif isinstance(dc, kdb.DeviceClassMOS4Transistor):
                eq = kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_W, 0.001, 0.0)
                eq += kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_L, 0.001, 0.0)
                dc.equal_parameters = eq
    xref = kdb.NetlistCrossReference()
    ok = kdb.NetlistComparer().compare(extracted, reference, xref)
    lines = []
    for pair in xref.each_circuit_pair():
        lines.append(f"circuit {pair.first().name if pair.first() else None} <> "
                     f"{pair.second().name if pair.second() else None}: {xref.status_of_circuit_pair(pair) if hasattr(xref, 'status_of_circuit_pair') else ''}")
        for dp in xref.each_device_pair(pair):
            if dp.status() != kdb.NetlistCrossReference.Match:
                a, b = dp.first(), dp.second()
                lines.append(f"  device {a.expanded_name() if a else None} <> {b.expanded_name() if b else None}: "
                             f"{dp.status()}")
        for np_ in xref.each_net_pair(pair):
            if np_.status() != kdb.NetlistCrossReference.Match:
                a, b = np_.first(), np_.second()
                lines.append(f"  net {a.expanded_name() if a else None} <> {b.expanded_name() if b else None}: "
                             f"{np_.status()}")
    return ok, "\n".join(lines)


def read_cdl(path: str | os.PathLike) -> kdb.Netlist:
    """Read a CDL/SPICE reference netlist (the project's ``<name>.cdl``) into a kdb.Netlist."""
    nl = kdb.Netlist()
    nl.read(str(path), kdb.NetlistSpiceReader())
    return nl
