"""The neuron cell (PAPER.md 5.3): MIM membrane capacitor, reset switch, discharger, sensing inverter.

Devices (one per netlist device; names as in the report):
  C1    sky130_fd_pr__cap_mim_m3_2, top (met5) = membrane ``mem``, bottom (met4) = VSS (shield, as the paper)
  MRST  pfet_01v8      reset switch: mem <-> V0, gate ``reset_b`` (active low)
  MDSW  nfet_01v8      discharger switch (gate ``phase``) in series with
  MDIS  nfet_01v8      discharger current source (gate ``vb_dis``) to VSS
  MSB   pfet_01v8      sensing-inverter bias PFET (gate ``vb_sense``) from VDD in series with
  MSP   pfet_01v8_hvt  sensing-inverter pull-up (gate mem)
  MSN   nfet_01v8_lvt  sensing-inverter pull-down (gate mem)
Floor plan: the capacitor at the bottom; the device row above it; the dendrite (met2, from the synapse column
above) comes down at x = pitch/2 and lands on the capacitor's top plate through a via stack beside the plate.
The cell width is the column pitch of the array; a capacitor that does not fit raises DesignError.

Known gap (see the issue note): the device terminals other than the membrane node are brought out as ports
(met1) but not yet wired to each other; the output logic (NAND2 + INV) is not drawn.
"""

from __future__ import annotations

import gdsfactory as gf

from generator.design import DesignError
from generator.layout._pdk import ensure_pdk
from generator.layout.devices import add_port, check_mos_size, mim_cap, mim_geometry, mos_cell, rect, via_stack
from generator.pdk import sky130_layers as L
from generator.pdk.sky130_layout_rules import rule, snap

ensure_pdk()

NEURON_PITCH_UM = 12.0  #: µm, default neuron (= column) pitch; fits C_m up to ~250 fF
DEVICE_L_UM = 0.15  #: µm, gate length of the reset switch and the sensing inverter (minimum)
SENSE_W_UM = 1.0  #: µm, widths of the reset switch and sensing-inverter devices
_LANDING = 1.6  #: µm, met5/met4 landing for the membrane via4 (m5.1)

#: device name -> (model key, count) for the JSON summary and the tests
NEURON_DEVICES = {"MRST": "pfet", "MDSW": "nfet", "MDIS": "nfet", "MSB": "pfet", "MSP": "pfet_hvt",
                  "MSN": "nfet_lvt", "C1": "cap_mim_m3_2"}


def _device_row():
    """(name list, component) pairs of the device row, left to right."""
    return [
        (("MRST",), mos_cell(kind="p", w=SENSE_W_UM, l=DEVICE_L_UM, n=1, pad_sides="R")),
        (("MDIS", "MDSW"), None),  # placeholder replaced by caller (needs dis_w/dis_l)
        (("MSB", "MSP"), mos_cell(kind="p", w=SENSE_W_UM, l=DEVICE_L_UM, n=2, pad_sides="LR", vts="sh", gap=0.6)),
        (("MSN",), mos_cell(kind="n", w=SENSE_W_UM, l=DEVICE_L_UM, n=1, pad_sides="R", vts="l")),
    ]


def neuron_size(c_m: float, dis_w: float, dis_l: float) -> tuple[float, float, float]:
    """(min width, height, cap side) in µm of a neuron for membrane capacitance ``c_m`` (F)."""
    side = mim_geometry(c_m)["side"]
    row = _row(dis_w, dis_l)
    row_w = sum(comp.dbbox().width() for _, comp in row) + 0.6 * (len(row) - 1)
    row_h = max(comp.dbbox().height() for _, comp in row)
    plate = side + 2 * rule("cap2m.3")
    width = snap(max(plate + 2 * 0.5, row_w + 1.0))
    height = snap(plate + 2 * rule("cap2m.11") + _LANDING + 1.0 + row_h + 1.0)
    return width, height, side


def _row(dis_w: float, dis_l: float):
    row = _device_row()
    row[1] = (row[1][0], mos_cell(kind="n", w=dis_w, l=dis_l, n=2, pad_sides="RL"))
    return row


@gf.cell
def neuron(c_m: float = 140e-15, dis_w: float = 1.0, dis_l: float = 0.25, pitch_x: float = NEURON_PITCH_UM) -> gf.Component:
    """Neuron of width ``pitch_x`` µm with a MIM capacitor sized for ``c_m`` (F). Ports: ``dend`` (met2, top),
    ``vss_cap`` (met4 plate), and per device ``<NAME>_<terminal>`` (met1)."""
    check_mos_size("n", dis_w, dis_l, "neuron discharger")
    width, height, side = neuron_size(c_m, dis_w, dis_l)
    if width > pitch_x + 1e-9:
        raise DesignError(
            f"neuron: C_m={c_m:.3g} F needs a {side:.2f} µm MIM capacitor and a {width:.2f} µm wide neuron, "
            f"more than the neuron pitch {pitch_x} µm; lower C_m or raise the neuron pitch (--neuron-pitch)")
    c = gf.Component()
    cap = c.add_ref(mim_cap(side=side), name="C1")
    e4 = rule("cap2m.3")
    x_cap = snap((pitch_x - side) / 2)
    cap.move((x_cap, e4 + 0.5))
    y_cap_top = e4 + 0.5 + side
    xc = snap(pitch_x / 2)
    # membrane: met5 tongue from the plate up to a via4 landing outside the capacitor, then down to met2
    y_land0 = snap(y_cap_top + rule("cap2m.11") + 0.05)
    y_land = snap(y_land0 + _LANDING / 2)
    half = _LANDING / 2
    rect(c, L.MET5, xc - half, y_cap_top - 1.0, xc + half, y_land0 + _LANDING)
    rect(c, L.MET4, xc - half, y_land0, xc + half, y_land0 + _LANDING)
    v = rule("via4.1") / 2
    rect(c, L.VIA4, xc - v, y_land - v, xc + v, y_land + v)
    # via3 down to met3 and met2 beside the via4 (stacked on the met4 landing)
    via_stack(c, xc, y_land, L.MET2, L.MET4)
    add_port(c, "vss_cap", x_cap - e4 / 2, e4 + 0.5 + side / 2, L.MET4, 0.14, 180)
    # device row
    y_row = snap(y_land0 + _LANDING + 1.0)
    x = 0.5
    for names, comp in _row(dis_w, dis_l):
        bb = comp.dbbox()
        r = c.add_ref(comp, name="_".join(names))
        r.move((snap(x - bb.left), snap(y_row - bb.bottom)))
        for p in r.ports:
            if p.name in ("s_li", "d_li"):
                continue
            pname = p.name
            if p.name.startswith("g"):
                pname = f"{names[int(p.name[1:])]}_g"
            else:
                pname = f"{'_'.join(names)}_{p.name}"
            c.add_port(pname, port=p)
        x = x + bb.width() + 0.6
    # dendrite: met2 from the cell top down to the landing (between devices: x = pitch/2 is kept free)
    rect(c, L.MET2, xc - 0.15, y_land, xc + 0.15, height)
    add_port(c, "dend", xc, height, L.MET2, 0.3, 90)
    c.info["pitch_x"] = pitch_x
    c.info["height"] = height
    c.info["cap_side"] = side
    return c
