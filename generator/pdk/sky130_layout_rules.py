"""sky130 drawing dimensions the layout generator uses (µm): minimum widths, spacings, enclosures, extensions.

These are the values of SkyWater's periphery design rules (names as in the SkyWater documentation) that the
generator needs to *draw* clean geometry. The *checking* rule table is ``generator/pdk/sky130_rules.py``
(the DRC's); where it exists, :func:`rule` reads the value from there so the two cannot drift apart, and the
table below is only the fallback. Every value is a multiple of the 5 nm manufacturing grid.
"""

from __future__ import annotations

from generator.pdk.sky130_layers import GRID_UM

#: rule name -> value (µm or µm² for areas). Names follow the SkyWater periphery rules.
RULES: dict[str, float] = {
    # diffusion / tap
    "difftap.1": 0.15,  # min width of diff or tap
    "difftap.2": 0.42,  # min transistor width (diff width across the gate)
    "difftap.3": 0.27,  # min spacing diff/tap to diff/tap
    "difftap.8": 0.18,  # n-well enclosure of p+ diff
    "difftap.9": 0.34,  # n+ diff to n-well spacing
    "difftap.10": 0.18,  # n-well enclosure of n+ tap
    "difftap.11": 0.13,  # p+ tap to n-well spacing
    "nwell.1": 0.84,  # n-well width
    "nwell.2a": 1.27,  # n-well spacing
    # poly
    "poly.1a": 0.15,  # poly width (min gate length)
    "poly.2": 0.21,  # poly spacing
    "poly.4": 0.075,  # poly on field to diff spacing
    "poly.5": 0.055,  # poly to tap spacing
    "poly.7": 0.25,  # diff extension beyond the gate (source/drain)
    "poly.8": 0.13,  # poly extension beyond diff (end cap)
    # contacts
    "licon.1": 0.17,  # licon size
    "licon.2": 0.17,  # licon spacing
    "licon.5a": 0.04,  # diff enclosure of licon
    "licon.5c": 0.06,  # diff enclosure of licon, one of two adjacent sides
    "licon.7": 0.12,  # tap enclosure of licon, one of two adjacent sides
    "licon.8": 0.05,  # poly enclosure of poly licon
    "licon.8a": 0.08,  # poly enclosure of poly licon, one of two adjacent sides
    "licon.9": 0.11,  # poly licon to psdm spacing
    "licon.11": 0.055,  # diff licon to gate spacing
    "licon.14": 0.19,  # poly licon to diff spacing
    "licon.15": 0.10,  # npc enclosure of poly licon
    "npc.1": 0.27,  # npc width
    "npc.2": 0.27,  # npc spacing
    "npc.4": 0.09,  # npc to gate spacing
    # implants and Vt adjust
    "nsd.1": 0.38,  # nsdm / psdm width
    "nsd.2": 0.38,  # nsdm / psdm spacing
    "nsd.5a": 0.125,  # implant enclosure of diff
    "nsd.5b": 0.125,  # implant enclosure of tap
    "nsd.10a": 0.265,  # implant area (µm²)
    "lvtn.1a": 0.38,  # lvtn width
    "lvtn.4b": 0.18,  # lvtn enclosure of gate
    "hvtp.1": 0.38,  # hvtp width
    "hvtp.3": 0.18,  # hvtp enclosure of pfet gate
    # local interconnect
    "li.1": 0.17,  # li1 width
    "li.3": 0.17,  # li1 spacing
    "li.5": 0.08,  # li1 enclosure of licon, one of two adjacent sides (other sides 0)
    "li.6": 0.0561,  # li1 area (µm²)
    "ct.1": 0.17,  # mcon size
    "ct.2": 0.19,  # mcon spacing
    # metal 1..5 and vias
    "m1.1": 0.14,
    "m1.2": 0.14,
    "m1.4": 0.03,  # met1 enclosure of mcon
    "m1.5": 0.06,  # met1 enclosure of mcon, one of two adjacent sides
    "m1.6": 0.083,  # met1 area
    "via.1a": 0.15,
    "via.2": 0.17,
    "via.4a": 0.055,  # met1 enclosure of via
    "via.5a": 0.085,  # met1 enclosure of via, one of two adjacent sides
    "m2.1": 0.14,
    "m2.2": 0.14,
    "m2.4": 0.055,  # met2 enclosure of via
    "m2.5": 0.085,  # met2 enclosure of via, one of two adjacent sides
    "m2.6": 0.0676,  # met2 area
    "via2.1a": 0.2,
    "via2.2": 0.2,
    "via2.4": 0.04,  # met2 enclosure of via2
    "via2.5": 0.085,  # met2 enclosure of via2, one of two adjacent sides
    "m3.1": 0.3,
    "m3.2": 0.3,
    "m3.4": 0.065,  # met3 enclosure of via2
    "via3.1": 0.2,
    "via3.2": 0.2,
    "via3.4": 0.06,  # met3 enclosure of via3
    "via3.5": 0.09,  # met3 enclosure of via3, one of two adjacent sides
    "m4.1": 0.3,
    "m4.2": 0.3,
    "m4.3": 0.065,  # met4 enclosure of via3
    "m4.4a": 0.24,  # met4 area
    "via4.1": 0.8,
    "via4.2": 0.8,
    "via4.4": 0.19,  # met4 enclosure of via4
    "m5.1": 1.6,
    "m5.2": 1.6,
    "m5.3": 0.31,  # met5 enclosure of via4
    "m5.4": 4.0,  # met5 area
    # MIM capacitor between met4 and met5 (capm2)
    "cap2m.1": 1.0,  # capm2 width
    "cap2m.2a": 0.84,  # capm2 spacing
    "cap2m.3": 0.14,  # met4 (bottom plate) enclosure of capm2
    "cap2m.4": 0.2,  # capm2 enclosure of via4
    "cap2m.5": 0.2,  # capm2 to via4 (outside) spacing
    "cap2m.8": 0.14,  # capm2 to via3 spacing
    "cap2m.11": 0.5,  # capm2 to met4 not under it
}


def _checking_table() -> dict[str, float]:
    """name -> value of the DRC's rule table (first rule of each name), or {} when it is not importable."""
    try:
        from generator.pdk import sky130_rules
    except ImportError:
        return {}
    out: dict[str, float] = {}
    for r in sky130_rules.RULES:
        out.setdefault(r.name, float(r.value))
    return out


_CHECKING = _checking_table()


def rule(name: str) -> float:
    """Value (µm) of design rule ``name``: the DRC's rule table is the authority, :data:`RULES` the fallback."""
    if name in _CHECKING and _CHECKING[name] > 0:
        return _CHECKING[name]
    if name not in RULES:
        raise KeyError(f"no sky130 drawing rule {name!r} in generator/pdk/sky130_layout_rules.py")
    return RULES[name]


def snap(x: float) -> float:
    """Round ``x`` (µm) to the 5 nm manufacturing grid."""
    return round(round(x / GRID_UM) * GRID_UM, 4)


def snap_up(x: float) -> float:
    """Round ``x`` (µm) up to the 5 nm grid (for sizes that must not shrink below a rule)."""
    import math

    return round(math.ceil(round(x / GRID_UM, 6)) * GRID_UM, 4)
