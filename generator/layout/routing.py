"""Routing primitives: straight wires and single vias with their landing pads (µm, 5 nm grid).

Conventions of the neuron and the network (why: keep every routing layer one-directional so crossings never
short): li1 and met1 local straps, met2 vertical, met3 horizontal (neuron tracks and output buses), met4 spike
lines and the MIM bottom plate, met5 the membrane plate. Widths and pads satisfy the sky130 rules of
the rule table :mod:`generator.pdk.sky130.rules` (width, enclosure, area).
"""

from __future__ import annotations

import gdsfactory as gf

from generator.layout.devices import PAD_STEP, VIA_PAD, rect
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.rules import ceil_to, rule, snap

#: default wire widths (µm): li1 and met1 straps and met2 verticals at the minimum width (li.1, m1.1, m2.1);
#: met3 tracks as wide as the via landing pads on them (VIA_PAD: no notches); met4 lines hold a via3 with its
#: met4 enclosure (via3.1 + 2 m4.3, on the pad step)
WIRE_W = {L.LI1: rule("li.1"), L.MET1: rule("m1.1"), L.MET2: rule("m2.1"), L.MET3: VIA_PAD[L.MET3],
          L.MET4: ceil_to(rule("via3.1") + 2 * rule("m4.3"), PAD_STEP)}

#: cut layer between two metals and (cut size rule, lower pad side, upper pad side) in µm: the square landing
#: pads of generator.layout.devices.VIA_PAD (enclosure incl. the adjacent-side rules, width and area rules)
_CUTS = {
    (L.MET1, L.MET2): (L.VIA, "via.1a", VIA_PAD[L.MET1], VIA_PAD[L.MET2]),
    (L.MET2, L.MET3): (L.VIA2, "via2.1a", VIA_PAD[L.MET2], VIA_PAD[L.MET3]),
    (L.MET3, L.MET4): (L.VIA3, "via3.1", VIA_PAD[L.MET3], VIA_PAD[L.MET4]),
}
METALS = [L.MET1, L.MET2, L.MET3, L.MET4]


def hwire(c: gf.Component, layer, x0: float, x1: float, y: float, w: float | None = None) -> None:
    """Horizontal wire on ``layer`` from x0 to x1 (µm) centred on y, width ``w`` (default :data:`WIRE_W`)."""
    h = (w or WIRE_W[layer]) / 2
    rect(c, layer, min(x0, x1) - 0.0, y - h, max(x0, x1), y + h)


def vwire(c: gf.Component, layer, x: float, y0: float, y1: float, w: float | None = None) -> None:
    """Vertical wire on ``layer`` from y0 to y1 (µm) centred on x, width ``w`` (default :data:`WIRE_W`)."""
    h = (w or WIRE_W[layer]) / 2
    rect(c, layer, x - h, min(y0, y1), x + h, max(y0, y1))


def via(c: gf.Component, x: float, y: float, lower, upper, pads: bool = True, flat: bool = False) -> None:
    """Cuts from metal ``lower`` up to metal ``upper`` centred at (x, y), with square landing pads on each metal.

    ``flat``: the met1/met2 pads of a met1-met2 via are 0.32 x 0.26 µm (the adjacent-side enclosure via.5a /
    m2.5 on the left and right only), so two S/D rows of a short transistor can both carry one.
    """
    i0, i1 = METALS.index(lower), METALS.index(upper)
    for k in range(i0, i1):
        cut, size_rule, lo_pad, hi_pad = _CUTS[(METALS[k], METALS[k + 1])]
        h = rule(size_rule) / 2
        rect(c, cut, x - h, y - h, x + h, y + h)
        if pads:
            for m, s in ((METALS[k], lo_pad), (METALS[k + 1], hi_pad)):
                sy = s
                if flat and cut == L.VIA:
                    s = snap(2 * h + 2 * max(rule("via.5a"), rule("m2.5")))
                    sy = snap(2 * h + 2 * max(rule("via.4a"), rule("m2.4")))
                rect(c, m, x - s / 2, y - sy / 2, x + s / 2, y + sy / 2)


def pad_half(layer) -> float:
    """Half side (µm) of the largest via landing pad :func:`via` draws on ``layer``."""
    sides = [s for (lo, hi), (_, _, a, b) in _CUTS.items() for m, s in ((lo, a), (hi, b)) if m == layer]
    return snap(max(sides) / 2)


def column_pitch_m2() -> float:
    """Minimum distance (µm) between two met2 verticals that carry via pads (pad + m2.2 + pad)."""
    return snap(2 * pad_half(L.MET2) + rule("m2.2"))
