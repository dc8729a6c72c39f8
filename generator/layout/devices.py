"""DRC-clean sky130 devices drawn by the project: MOS stacks (with ports), tap rows, via stacks, MIM capacitor.

Why our own: the ``sky130`` package's nmos/pmos pcells are not DRC-clean and have no ports (TOOLCHAIN.md).
Every dimension comes from the rule table :mod:`generator.pdk.sky130.rules` (derived sizes are named expressions
of rule values, the rules in their comments); every layer from :mod:`generator.pdk.sky130.layers`. Units: µm.

MOS geometry (one *stack* = ``n`` gates in series on one diffusion column, one device per gate, as the netlist):
the diffusion runs vertically (x in [0, w], channel along y); gate 0 is at the bottom (the *source* end, row
``s``), the last gate at the top (the *drain* end, row ``d``). Each gate is contacted on a poly pad on the left
("L") or right ("R") side of the diffusion; consecutive gates alternate sides so pads never face each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gdsfactory as gf

from generator.layout._pdk import ensure_pdk

from generator.errors import DesignError
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.devices import mim_cap_side_for, mim_cap_value
from generator.pdk.sky130.rules import ceil_to, rule, snap, snap_up

ensure_pdk()

LICON = rule("licon.1")  #: licon cut size (licon.1)
MCON = rule("ct.1")  #: mcon cut size (ct.1)
#: step (µm) on which via landing pads and via-holding lines are drawn (a rule minimum rounded up to it)
PAD_STEP = 0.1
#: pad height (µm) of a single-mcon met1 pad: mcon with the met1 enclosure on both sides (ct.1 + 2 m1.4)
GATE_M1_H = snap(MCON + 2 * rule("m1.4"))
#: length (µm) of a gate's met1 pad: the met1 area rule over the pad height (m1.6 / GATE_M1_H), on a 10 nm step
GATE_M1_LEN = ceil_to(rule("m1.6") / GATE_M1_H, 0.01)


def rect(c: gf.Component, layer: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> None:
    """Add the rectangle [x0, x1] x [y0, y1] (µm, snapped to the 5 nm grid) on ``layer``."""
    x0, y0, x1, y1 = snap(x0), snap(y0), snap(x1), snap(y1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty rectangle on {layer}: {(x0, y0, x1, y1)}")
    c.add_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], layer=layer)


def add_port(c: gf.Component, name: str, x: float, y: float, layer=L.MET1, width: float = MCON,
             orientation=90) -> None:
    """Electrical port ``name`` at (x, y) on ``layer`` (centre snapped to the grid); default width: one mcon."""
    c.add_port(name, center=(snap(x), snap(y)), width=snap(width), orientation=orientation, layer=layer,
               port_type="electrical")


def contact_positions(span: float, size: float, space: float, margin: float) -> list[float]:
    """Lower edges of as many ``size`` cuts at pitch size+space as fit in ``span`` with ``margin`` each side, centred."""
    n = int(math.floor((span - 2 * margin + space) / (size + space) + 1e-9))
    if n < 1:
        return []
    used = n * size + (n - 1) * space
    start = snap((span - used) / 2)
    return [snap(start + k * (size + space)) for k in range(n)]


# ------------------------------------------------------------------------------------------- via stacks
#: (cut layer, lower metal, upper metal, cut size, lower enclosure, upper enclosure) bottom-up
_VIAS = {
    "via": (L.VIA, L.MET1, L.MET2, "via.1a", "via.5a", "m2.5"),
    "via2": (L.VIA2, L.MET2, L.MET3, "via2.1a", "via2.5", "m3.4"),
    "via3": (L.VIA3, L.MET3, L.MET4, "via3.1", "via3.5", "m4.3"),
}
_METAL_ORDER = [L.MET1, L.MET2, L.MET3, L.MET4]
#: metal -> (cut size rule, that metal's enclosure rules of the cut: full and one-of-two-adjacent-sides) of
#: every cut landing on it
_PAD_CUTS = {
    L.MET1: (("via.1a", ("via.4a", "via.5a")),),
    L.MET2: (("via.1a", ("m2.4", "m2.5")), ("via2.1a", ("via2.4", "via2.5"))),
    L.MET3: (("via2.1a", ("m3.4",)), ("via3.1", ("via3.4", "via3.5"))),
    L.MET4: (("via3.1", ("m4.3",)),),
}
_AREA_RULE = {L.MET1: "m1.6", L.MET2: "m2.6", L.MET3: "m3.6", L.MET4: "m4.4a"}


def _pad_side(metal) -> float:
    """Side (µm) of a square via landing pad on ``metal``: encloses every cut landing there by the larger of its
    enclosure rules on all sides, and meets the metal's area rule (a square of side √area, on PAD_STEP)."""
    enclose = max(rule(cut) + 2 * max(rule(e) for e in encs) for cut, encs in _PAD_CUTS[metal])
    return snap(max(enclose, ceil_to(math.sqrt(rule(_AREA_RULE[metal])), PAD_STEP)))


#: µm, square via landing pad per metal (met1 0.32: via.1a + 2 via.5a; met2 0.37: via2.1a + 2 via2.5;
#: met3/met4 0.5: the area rules m3.6/m4.4a, √0.24 = 0.49 on the 0.1 µm pad step)
VIA_PAD = {m: _pad_side(m) for m in _METAL_ORDER}


def via_stack(c: gf.Component, x: float, y: float, bottom=L.MET1, top=L.MET4) -> None:
    """Stacked vias centred at (x, y) from metal ``bottom`` up to ``top`` with square landing pads on each metal."""
    i0, i1 = _METAL_ORDER.index(bottom), _METAL_ORDER.index(top)
    names = ["via", "via2", "via3"]
    for k in range(i0, i1):
        cut, lo, hi, size_rule, _, _ = _VIAS[names[k]]
        h = rule(size_rule) / 2
        rect(c, cut, x - h, y - h, x + h, y + h)
    for m in _METAL_ORDER[i0:i1 + 1]:
        h = VIA_PAD[m] / 2
        rect(c, m, x - h, y - h, x + h, y + h)


# ------------------------------------------------------------------------------------------- MOS stack
@dataclass(frozen=True)
class StackGeometry:
    """Key coordinates (µm) of a drawn MOS stack, for parents that route to it."""

    w: float
    height: float  # diffusion height
    gate_y: tuple[float, ...]  # centre y of each gate
    pad_x: tuple[float, ...]  # centre x of each gate's contact
    s_y: float  # centre y of the source row
    d_y: float  # centre y of the drain row
    sd_x: tuple[float, ...]  # centre x of the mcons of the S/D rows


def _stack_dims(w: float, l, n: int, gap: float | None):
    """(S/D extension, pad height, gap, diffusion height, lower edge y of each gate) in µm.

    ``l`` is one gate length for every gate or a tuple with one length per gate (series devices of different L).
    """
    ls = _lengths(l, n)
    sd_ext = snap_up(max(rule("poly.7"), rule("licon.5c") + LICON + rule("licon.11")))
    pad_h = max(min(ls), LICON + 2 * rule("licon.8"))
    if gap is None:
        gap = snap_up(rule("poly.2") + max(0.0, (pad_h - min(ls)) / 2))
    height = snap(2 * sd_ext + sum(ls) + (n - 1) * gap)
    gate_y0, y = [], sd_ext
    for k in range(n):
        gate_y0.append(snap(y))
        y += ls[k] + gap
    return sd_ext, pad_h, gap, height, gate_y0


def _lengths(l, n: int) -> tuple[float, ...]:
    """Per-gate lengths (µm): ``l`` repeated ``n`` times, or ``l`` itself when it is a sequence of ``n`` values."""
    if isinstance(l, (tuple, list)):
        if len(l) != n:
            raise ValueError(f"need one gate length per gate ({n}), got {l!r}")
        return tuple(float(v) for v in l)
    return (float(l),) * n


def pad_offset() -> float:
    """Distance (µm) from the diffusion edge to a gate's poly licon (licon.14; psdm spacing nsd.5a + 0.11)."""
    # S/D li1 rows reach licon.5c - li.5 beyond the diffusion edge; the pad's li1 must stay li.3 away from them
    return snap_up(max(rule("licon.14"), rule("nsd.5a") + rule("licon.9"),
                       rule("li.3") + 2 * rule("li.5") - rule("licon.5c")))


def check_mos_size(kind: str, w: float, l: float, who: str = "device") -> None:
    """Raise DesignError naming the value when W or L is under the sky130 minimum (difftap.2, poly.1a)."""
    if not (w >= rule("difftap.2") - 1e-9):
        raise DesignError(f"{who}: {kind}fet width W={w} µm is under the sky130 minimum {rule('difftap.2')} µm; "
                          f"raise it in CircuitParams")
    if not (l >= rule("poly.1a") - 1e-9):
        raise DesignError(f"{who}: {kind}fet length L={l} µm is under the sky130 minimum {rule('poly.1a')} µm; "
                          f"raise it in CircuitParams")
    if abs(snap(w) - w) > 1e-9 or abs(snap(l) - l) > 1e-9:
        raise DesignError(f"{who}: W={w} / L={l} µm are not on the 5 nm manufacturing grid; round them")


def stack_geometry(w: float, l, n: int = 1, pad_sides: str = "R", gap: float | None = None) -> StackGeometry:
    """Coordinates of :func:`mos_stack` (``l``: one length or one per gate, µm)."""
    sd_ext, pad_h, gap, height, gy0 = _stack_dims(w, l, n, gap)
    ls = _lengths(l, n)
    po = pad_offset()
    pad_x = tuple(snap(w + po + LICON / 2) if s == "R" else snap(-po - LICON / 2) for s in pad_sides)
    row = contact_positions(w, LICON, rule("licon.2"), rule("licon.5c"))
    span0, span1 = row[0], row[-1] + LICON
    mc = contact_positions(span1 - span0, MCON, rule("ct.2"), 0.0)
    sd_x = tuple(snap(span0 + m + MCON / 2) for m in mc)
    return StackGeometry(w, height, tuple(snap(y + lk / 2) for y, lk in zip(gy0, ls)), pad_x,
                         snap(rule("licon.5c") + LICON / 2), snap(height - rule("licon.5c") - LICON / 2), sd_x)


@gf.cell
def mos_stack(kind: str = "n", w: float = 1.0, l: float = 0.25, n: int = 1, pad_sides: str = "R",
              vts: str = "", gap: float = 0.0, sd_met1: str = "sd", well: bool = True,
              ls: tuple[float, ...] = ()) -> gf.Component:
    """``n`` series MOSFETs of one type (``kind`` "n" or "p") on one diffusion, W x L µm each.

    ``pad_sides``: "L"/"R" per gate (contact side). ``vts``: per gate "s" (standard), "l" (LVT, n only) or
    "h" (HVT, p only); "" = all standard. ``gap``: gate-to-gate spacing (0 = minimum). ``sd_met1``: which S/D
    rows get mcon + met1 ("s", "d", "sd" or ""). ``well``: draw the n-well of a p stack. ``ls``: one gate
    length per gate (µm) when the series devices differ (overrides ``l``; e.g. the neuron's enable/bias/input
    PFET chain).
    Ports (met1): ``s``, ``d`` (if strapped) and ``g0``..``g{n-1}``; li1 ports ``s_li``, ``d_li``.
    """
    lens = _lengths(tuple(ls) if ls else l, n)
    for lk in lens:
        check_mos_size(kind, w, lk, "mos_stack")
    if kind not in ("n", "p"):
        raise ValueError(f"kind must be 'n' or 'p', got {kind!r}")
    if len(pad_sides) != n:
        raise ValueError(f"pad_sides needs one letter per gate ({n}), got {pad_sides!r}")
    vts = vts or "s" * n
    c = gf.Component()
    sd_ext, pad_h, gapv, height, gy0 = _stack_dims(w, lens, n, gap or None)
    g = stack_geometry(w, lens, n, pad_sides, gap or None)
    rect(c, L.DIFF, 0, 0, w, height)
    imp = L.NSDM if kind == "n" else L.PSDM
    e = rule("nsd.5a")
    rect(c, imp, -e, -e, w + e, height + e)
    if kind == "p" and well:
        ew = rule("difftap.8")
        rect(c, L.NWELL, -ew, -ew, w + ew, height + ew)
    # S/D contact rows (bottom = source, top = drain): licons across x, li1 enclosing by li.5 in y
    row = contact_positions(w, LICON, rule("licon.2"), rule("licon.5c"))
    for name, yc in (("s", g.s_y), ("d", g.d_y)):
        for x in row:
            rect(c, L.LICON1, x, yc - LICON / 2, x + LICON, yc + LICON / 2)
        rect(c, L.LI1, row[0] - rule("li.5"), yc - LICON / 2, row[-1] + LICON + rule("li.5"), yc + LICON / 2)
        add_port(c, f"{name}_li", (row[0] + row[-1] + LICON) / 2, yc, L.LI1)
        if name in sd_met1:
            for xm in g.sd_x:
                rect(c, L.MCON, xm - MCON / 2, yc - MCON / 2, xm + MCON / 2, yc + MCON / 2)
            m = rule("m1.5")
            rect(c, L.MET1, g.sd_x[0] - MCON / 2 - m, yc - MCON / 2 - m, g.sd_x[-1] + MCON / 2 + m, yc + MCON / 2 + m)
            add_port(c, name, (g.sd_x[0] + g.sd_x[-1]) / 2, yc, L.MET1)
    # gates with their contact pads
    for k in range(n):
        y0, y1 = gy0[k], snap(gy0[k] + lens[k])
        yc = (y0 + y1) / 2
        side = pad_sides[k]
        xl = g.pad_x[k] - LICON / 2  # licon left edge
        if side == "R":
            rect(c, L.POLY, -rule("poly.8"), y0, xl + LICON + rule("licon.8a"), y1)
        else:
            rect(c, L.POLY, xl - rule("licon.8a"), y0, w + rule("poly.8"), y1)
        ph = max(pad_h, lens[k]) / 2
        rect(c, L.POLY, xl - rule("licon.8a"), yc - ph, xl + LICON + rule("licon.8a"), yc + ph)
        rect(c, L.LICON1, xl, yc - LICON / 2, xl + LICON, yc + LICON / 2)
        ne = rule("licon.15")
        rect(c, L.NPC, xl - ne, yc - LICON / 2 - ne, xl + LICON + ne, yc + LICON / 2 + ne)
        rect(c, L.LI1, xl - rule("li.5"), yc - LICON / 2, xl + LICON + rule("li.5"), yc + LICON / 2)
        rect(c, L.MCON, xl, yc - MCON / 2, xl + MCON, yc + MCON / 2)
        # met1 pad: enclosure m1.5 toward the diffusion, longer outward to meet the m1.6 area (GATE_M1_LEN)
        m = rule("m1.4")
        if side == "R":
            rect(c, L.MET1, xl - rule("m1.5"), yc - MCON / 2 - m, xl - rule("m1.5") + GATE_M1_LEN, yc + MCON / 2 + m)
        else:
            rect(c, L.MET1, xl + LICON + rule("m1.5") - GATE_M1_LEN, yc - MCON / 2 - m, xl + LICON + rule("m1.5"),
                 yc + MCON / 2 + m)
        add_port(c, f"g{k}", g.pad_x[k], yc, L.MET1)
        vt = vts[k]
        if vt in ("l", "h"):
            layer = L.LVTN if vt == "l" else L.HVTP
            if (vt == "l") != (kind == "n"):
                raise ValueError("LVT is for n stacks, HVT for p stacks")
            ev = rule("lvtn.4b") if vt == "l" else rule("hvtp.3")
            rect(c, layer, -ev, y0 - ev, w + ev, y1 + ev)
    c.info["height"] = height
    c.info["gap"] = gapv
    return c


# ------------------------------------------------------------------------------------------- taps
TAP_H = snap(LICON + 2 * rule("licon.7"))  #: height (µm) of a tap row: a licon with the tap enclosure licon.7
#: µm, extra space between the licons (mcons) of a tap row: one cut size, so rows keep a relaxed fixed pitch
_TAP_SKIP = LICON


@gf.cell
def tap_row(kind: str = "p", length: float = 2.0, rail: bool = True) -> gf.Component:
    """A substrate (``kind`` "p": p+ tap, VSS) or n-well (``kind`` "n": n+ tap, VDD) tap row [0, length] x [0, TAP_H].

    Licons at a fixed pitch start 0.12 µm in from each end so abutting rows stay clean; li1 + met1 rail on top
    (met1 port ``rail``). The n row draws no n-well: its parent owns the well (continuous across cells).
    """
    c = gf.Component()
    rect(c, L.TAP, 0, 0, length, TAP_H)
    e = rule("nsd.5b")  # the implant overhangs the ends too: abutting rows merge, a row end stays enclosed
    rect(c, L.PSDM if kind == "p" else L.NSDM, -e, -e, length + e, TAP_H + e)
    xs = contact_positions(length, LICON, rule("licon.2") + _TAP_SKIP, rule("licon.7"))
    y0 = rule("licon.7")
    for x in xs:
        rect(c, L.LICON1, x, y0, x + LICON, y0 + LICON)
    rect(c, L.LI1, 0, y0, length, y0 + LICON)
    ms = contact_positions(length, MCON, rule("ct.2") + MCON, rule("licon.7"))  # the licons' end margin
    for x in ms:
        rect(c, L.MCON, x, y0, x + MCON, y0 + MCON)
    if rail:
        rect(c, L.MET1, 0, 0, length, TAP_H)
        add_port(c, "rail", length / 2, TAP_H / 2, L.MET1, width=TAP_H, orientation=0)
    return c


# ------------------------------------------------------------------------------------------- MIM capacitor
def mim_geometry(c_farad: float) -> dict:
    """Drawn capm2 side (µm) for capacitance ``c_farad`` (F), from the model law in generator.pdk.sky130.devices."""

    side = snap_up(mim_cap_side_for(c_farad))
    if side < rule("cap2m.1"):
        side = rule("cap2m.1")
    # via4 array inside capm2: enclosure capm2.4, size/space via4.1/via4.2; met5 encloses via4 by m5.3
    return {"side": side, "value_f": mim_cap_value(side, side)}


#: µm, inset of the met5 top plate from the capm2 edge: the via4 enclosure by capm2 (cap2m.4) less the one by
#: met5 (m5.3), never negative
MIM_PLATE_INSET = max(rule("cap2m.4") - rule("m5.3"), 0.0)
#: µm, smallest MIM side: the met5 plate (side - 2 inset) meets the met5 area m5.4 (√4 = 2), width m5.1 and
#: holds one via4 (via4.1) with its m5.3 enclosure
MIM_MIN_SIDE = snap_up(2 * MIM_PLATE_INSET + max(math.sqrt(rule("m5.4")), rule("m5.1"),
                                                 rule("via4.1") + 2 * rule("m5.3")))


@gf.cell
def mim_cap(side: float = 8.0) -> gf.Component:
    """sky130_fd_pr__cap_mim_m3_2 of ``side`` x ``side`` µm: met4 bottom plate (port ``bot``), capm2, via4, met5 top
    plate (port ``top``). The met5 plate stays inside the capm2 (enclosure capm2.4 of the via4s).
    """
    if side < MIM_MIN_SIDE:
        raise DesignError(f"MIM capacitor side {side} µm is too small for a via4 contact "
                          f"(need >= {MIM_MIN_SIDE:g} µm); raise C_m")
    c = gf.Component()
    e4 = rule("cap2m.3")
    rect(c, L.MET4, -e4, -e4, side + e4, side + e4)
    rect(c, L.CAPM2, 0, 0, side, side)
    # met5 top plate, inset by capm2.4 - the via4s are inside it with m5.3 enclosure
    inset = MIM_PLATE_INSET
    rect(c, L.MET5, inset, inset, side - inset, side - inset)
    v = rule("via4.1")
    m = inset + rule("m5.3")
    xs = contact_positions(side - 2 * m, v, rule("via4.2"), 0.0)
    for x in xs:
        for y in xs:
            rect(c, L.VIA4, m + x, m + y, m + x + v, m + y + v)
    add_port(c, "top", side / 2, side / 2, L.MET5, width=rule("m5.1"))
    add_port(c, "bot", -e4 / 2, side / 2, L.MET4, width=rule("m4.1"), orientation=180)
    c.info["side"] = side
    return c


@gf.cell
def mos_cell(kind: str = "n", w: float = 1.0, l: float = 0.25, n: int = 1, pad_sides: str = "R", vts: str = "",
             gap: float = 0.0) -> gf.Component:
    """A stand-alone MOS stack with its body tap: n stacks get a p+ tap row below (port ``b``, VSS), p stacks an
    n-well and an n+ tap row above (port ``b``, VDD). Stack ports are re-exported (``s``, ``d``, ``g0``...).
    """
    c = gf.Component()
    stk = mos_stack(kind=kind, w=w, l=l, n=n, pad_sides=pad_sides, vts=vts, gap=gap, sd_met1="sd", well=False)
    h = stk.info["height"]
    x0, x1 = -0.2, snap(w + 0.2)
    if kind == "n":
        r = c.add_ref(stk, name="stack")
        r.move((0, snap(TAP_H + rule("difftap.3"))))
        t = c.add_ref(tap_row(kind="p", length=snap(x1 - x0)), name="tap")
        t.move((x0, 0))
    else:
        r = c.add_ref(stk, name="stack")
        t = c.add_ref(tap_row(kind="n", length=snap(x1 - x0)), name="tap")
        t.move((x0, snap(h + rule("difftap.3"))))
        e = rule("difftap.10")
        rect(c, L.NWELL, min(x0, 0) - e, -rule("difftap.8"), x1 + e, snap(h + rule("difftap.3") + TAP_H + e))
    for p in r.ports:
        c.add_port(p.name, port=p)
    c.add_port("b", port=t.ports["rail"])
    c.info["height"] = h
    return c
