"""The 4-transistor synapse block (PAPER.md 5.2): NMOS stack NS+NM and PMOS stack PS+PM, always both drawn.

Floor plan (bottom to top, one cell = pitch_x x pitch_y µm, abutting in an array):
p+ tap row + met1 VSS rail | NMOS stack: NS (selector, gate 0, at the VSS source) then NM (memory, gate 1),
drain row at the top | n-well edge | PMOS stack: drain row at the bottom, PM (memory, gate 0), then PS (selector,
gate 1, at the VDD source) | n+ tap row + met1 VDD rail. Electrical order of each stack: dendrite - memory -
selector - rail, the order the netlist uses and characterisation measured (the memory transistor's drain sees
the whole membrane swing, so its current is a straight channel-length-modulation line).

Wiring: both drains -> met1 strap -> via -> the met2 **dendrite** (vertical, full cell height, centred). The
selector gates go up a via stack to the met4 **spike lines** (horizontal, full width): ``spk`` drives NS (active
high), ``spkb`` drives PS (active low). The memory gates: the stack that carries the weight (``sign`` +1: NMOS,
-1: PMOS) has its gate on a met2 **bias pad** (port ``vbn`` / ``vbp``, one per synapse: the bias is externally
supplied, as in the paper); the unused memory gate is tied to its own source (NM to VSS, PM to VDD: off) by li1.
``sign`` 0 ties both off. Rails, taps, n-well, implants, met4 lines and the dendrite run edge to edge, so an
array of abutting cells (references, not copies) is connected and DRC-clean.
"""

from __future__ import annotations

import gdsfactory as gf

from generator.layout._pdk import ensure_pdk
from generator.layout.devices import (GATE_M1_LEN, TAP_H, VIA_PAD, add_port, check_mos_size, mos_stack,
                                      pad_offset, rect, stack_geometry, tap_row, via_stack)
from generator.layout.routing import WIRE_W
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.rules import rule, snap, snap_up
from generator.layout.devices import contact_positions

ensure_pdk()

SPIKE_LINE_W = WIRE_W[L.MET4]  #: µm, width of the met4 spike lines: the met4 line width (holds a via3, m4.3)
DENDRITE_W = 0.3  #: µm, width of the met2 dendrite (a design choice above m2.1)
#: µm, how far a gate's met1 pad reaches beyond its poly licon's inner edge: the pad length less its m1.5
#: enclosure toward the diffusion
GATE_M1_REACH = snap(GATE_M1_LEN - rule("m1.5"))


def min_pitch_x(w: float) -> float:
    """Smallest cell width (µm) for transistor width ``w``: gate pads on both sides plus npc/met1 spacing."""
    po = pad_offset()
    met1 = 2 * (po + GATE_M1_REACH) + rule("m1.2")  # gate met1 pads reach po + GATE_M1_REACH beyond the diffusion
    npc = 2 * (po + rule("licon.1") + rule("licon.15")) + rule("npc.2")
    return snap_up(w + max(met1, npc))


def _layout_y(w: float, l: float):
    """y coordinates of the floor plan (µm)."""
    n = stack_geometry(w, l, 2, "RL")
    y_pt = rule("difftap.11")  # p tap: keeps nwell of the cell below at difftap.11
    y_n = snap(y_pt + TAP_H + rule("difftap.3"))
    y_p = snap(y_n + n.height + rule("difftap.9") + rule("difftap.8"))
    y_nt = snap(y_p + n.height + rule("difftap.3"))
    pitch_y = snap(y_nt + TAP_H + rule("difftap.10"))
    return n, y_pt, y_n, y_p, y_nt, pitch_y


def synapse_pitch(w: float, l: float) -> tuple[float, float]:
    """(min pitch_x, pitch_y) in µm of a synapse with W x L transistors."""
    return min_pitch_x(w), _layout_y(w, l)[-1]


@gf.cell
def synapse(w: float = 1.0, l: float = 0.25, sign: int = 1, pitch_x: float = 0.0) -> gf.Component:
    """One synapse block; ``sign`` selects which memory gate goes to a bias pad (+1 NMOS, -1 PMOS, 0 none).

    ``pitch_x`` (µm, 0 = minimum) widens the cell so its column matches the neuron pitch.
    Ports: ``spk``/``spkb`` (met4, west edge), ``dend_t``/``dend_b`` (met2), ``vss``/``vdd`` (met1, west edge),
    ``vbn`` and/or ``vbp`` (met2 bias pads, only for the used stack). Device names: NS, NM, PS, PM.
    """
    check_mos_size("n", w, l, "synapse")
    if sign not in (-1, 0, 1):
        raise ValueError(f"sign must be -1, 0 or +1, got {sign!r}")
    px_min = min_pitch_x(w)
    px = snap(pitch_x) if pitch_x else px_min
    if px < px_min - 1e-9:
        raise ValueError(f"synapse pitch_x {px} µm is under the minimum {px_min} µm for W={w} µm")
    g, y_pt, y_n, y_p, y_nt, py = _layout_y(w, l)
    xd = snap((px - w) / 2)
    c = gf.Component()
    nstk = mos_stack(kind="n", w=w, l=l, n=2, pad_sides="RL", sd_met1="d")
    pstk = mos_stack(kind="p", w=w, l=l, n=2, pad_sides="LR", sd_met1="s", well=False)
    rn = c.add_ref(nstk, name="NMOS_NM_NS")
    rn.move((xd, y_n))
    rp = c.add_ref(pstk, name="PMOS_PS_PM")
    rp.move((xd, y_p))
    pt = c.add_ref(tap_row(kind="p", length=px), name="ptap")
    pt.move((0, y_pt))
    nt = c.add_ref(tap_row(kind="n", length=px), name="ntap")
    nt.move((0, y_nt))
    # n-well: from difftap.9 above the NMOS diffusion to the cell top; overhangs the sides to merge with neighbours
    ew = rule("difftap.10")
    rect(c, L.NWELL, -ew, y_n + g.height + rule("difftap.9"), px + ew, py)
    # sources to the tap rows (li1), drains to the dendrite (met1 strap + via)
    lic = rule("licon.1")
    row = [xd + x for x in _row_licons(w)]
    sx0, sx1 = row[0], row[-1] + lic
    rect(c, L.LI1, sx0, y_pt + rule("licon.7"), sx1, y_n + g.s_y)
    rect(c, L.LI1, sx0, y_p + g.d_y, sx1, y_nt + rule("licon.7") + lic)
    xc = snap(px / 2)
    m = VIA_PAD[L.MET1] / 2  # = the via landing pad half-width: no notch
    rect(c, L.MET1, xc - m, y_n + g.d_y - m, xc + m, y_p + g.s_y + m)
    ymid = snap((y_n + g.d_y + y_p + g.s_y) / 2)
    via_stack(c, xc, ymid, L.MET1, L.MET2)
    rect(c, L.MET2, xc - DENDRITE_W / 2, 0, xc + DENDRITE_W / 2, py)
    add_port(c, "dend_t", xc, py, L.MET2, DENDRITE_W, 90)
    add_port(c, "dend_b", xc, 0, L.MET2, DENDRITE_W, 270)
    # selector gates to the met4 spike lines (NS = n gate 0, right pad; PS = p gate 1, right pad)
    xr = xd + g.pad_x[0]  # right pads
    xl = xd + g.pad_x[1]  # left pads (NM = n gate 1, PM = p gate 0)
    y_ns = y_n + g.gate_y[0]
    y_ps = y_p + g.gate_y[1]
    for name, y in (("spk", y_ns), ("spkb", y_ps)):
        via_stack(c, xr, y, L.MET1, L.MET4)
        rect(c, L.MET4, 0, y - SPIKE_LINE_W / 2, px, y + SPIKE_LINE_W / 2)
        add_port(c, name, 0, y, L.MET4, SPIKE_LINE_W, 180)
    # memory gates: bias pad for the used stack, tie-off to the source for the other
    y_nm = y_n + g.gate_y[1]
    y_pm = y_p + g.gate_y[0]
    li5 = rule("li.5")
    xtie = xl - lic / 2 - li5
    if sign == 1:
        via_stack(c, xl, y_nm, L.MET1, L.MET2)
        add_port(c, "vbn", xl, y_nm, L.MET2, 0.3, 180)
    else:  # NM gate -> NMOS source row (VSS), li1 strap on the left
        _tie_off(c, xtie, xl + lic / 2, y_nm, y_n + g.s_y, sx0 + lic)
    if sign == -1:
        via_stack(c, xl, y_pm, L.MET1, L.MET2)
        add_port(c, "vbp", xl, y_pm, L.MET2, 0.3, 180)
    else:  # PM gate -> PMOS source row (VDD), li1 strap on the left
        _tie_off(c, xtie, xl + lic / 2, y_pm, y_p + g.d_y, sx0 + lic)
    add_port(c, "vss", 0, y_pt + TAP_H / 2, L.MET1, TAP_H, 180)
    add_port(c, "vdd", 0, y_nt + TAP_H / 2, L.MET1, TAP_H, 180)
    c.info["pitch_x"] = px
    c.info["pitch_y"] = py
    c.info["sign"] = sign
    return c


def _tie_off(c: gf.Component, x0: float, x1: float, y_gate: float, y_row: float, x_row: float) -> None:
    """li1 strap from a gate pad (x0..x1, outside the diffusion) to a source contact row at y_row.

    The vertical part stays beside the diffusion, clear of the drain contact row next to the gate (li.3); the
    horizontal part runs along the source row to its first contact at x_row.
    """
    lic = rule("licon.1")
    rect(c, L.LI1, x0, min(y_gate, y_row) - lic / 2, x1, max(y_gate, y_row) + lic / 2)
    rect(c, L.LI1, x0, y_row - lic / 2, x_row, y_row + lic / 2)


def _row_licons(w: float) -> list[float]:

    return contact_positions(w, rule("licon.1"), rule("licon.2"), rule("licon.5c"))
