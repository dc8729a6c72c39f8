"""sky130's published back-end layer stack and its parasitic constants, as data (read by generator/signoff/pex.py).

Sources (nominal corner, "typical" extraction style):

* Geometry (height of each conductor's bottom above the substrate, thickness) and the dielectrics: SkyWater's
  sky130 PDK documentation, metal-stack cross-section (https://skywater-pdk.readthedocs.io/en/main/_images/
  metal_stack.svg), as transcribed in klayout-pex's sky130A technology (github.com/iic-jku/klayout-pex,
  cxx/gen_tech_pb/pdk/sky130A.cpp, ``buildProcessStackInfo``).
* Sheet and via resistances: the same klayout-pex file (``buildProcessParasiticsInfo``, values in mOhm/sq there),
  which equal open_pdks' magic tech file and SkyWater's sky130_fd_pr parameter tables.
* Capacitances: open_pdks ``sky130/magic/sky130.tech`` (github.com/RTimothyEdwards/open_pdks), ``extract`` section,
  nominal variant, not-ReRAM branch: ``defaultareacap`` (aF/µm² to substrate), ``defaultperimeter`` (fringe,
  aF/µm of edge to substrate), ``defaultoverlap`` (aF/µm² between two conductors), ``defaultsideoverlap`` (fringe
  from an upper edge to a lower conductor, aF/µm) and ``defaultsidewall`` (same-layer coupling C = k / (s + offset)
  aF per µm of facing edge, s in µm). These tables are magic's fit to SkyWater's foundry capacitance tables; the
  klayout-pex sky130A tech carries the identical numbers.

Units: µm, Ω/sq, Ω per via cut, aF/µm², aF/µm. Nothing here computes anything.
"""

from __future__ import annotations

from typing import NamedTuple

#: vacuum permittivity in aF/µm (8.854e-12 F/m)
EPS0_AF_PER_UM = 8.8541878128


class Conductor(NamedTuple):
    """One conducting layer of the stack (the drawn layer name of generator/pdk/sky130/layers.py, lower case)."""

    name: str
    z_um: float  #: height of the layer's bottom above the substrate surface
    t_um: float  #: thickness
    r_sheet_ohm: float  #: sheet resistance, Ω/sq (typical)
    c_area_af_um2: float  #: area capacitance to substrate, aF/µm² (defaultareacap)
    c_fringe_af_um: float  #: fringe (perimeter) capacitance to substrate, aF/µm (defaultperimeter)
    sidewall_k_af: float  #: same-layer coupling C' = k / (s + offset) aF/µm (defaultsidewall)
    sidewall_offset_um: float


#: bottom up; poly's area/fringe apply to field poly only (the gate is the transistor model's)
CONDUCTORS: tuple[Conductor, ...] = (
    Conductor("poly", 0.3262, 0.18, 48.2, 106.13, 55.27, 16.0, 0.0),
    Conductor("li1", 0.9361, 0.10, 12.8, 36.99, 40.70, 25.5, 0.14),
    Conductor("met1", 1.3761, 0.36, 0.125, 25.78, 40.57, 44.0, 0.25),
    Conductor("met2", 2.0061, 0.36, 0.125, 17.5, 37.76, 50.0, 0.30),
    Conductor("met3", 2.7861, 0.845, 0.047, 12.37, 40.99, 74.0, 0.40),
    Conductor("met4", 4.0211, 0.845, 0.047, 8.42, 36.68, 94.0, 0.57),
    Conductor("met5", 5.3711, 1.26, 0.029, 6.32, 38.85, 155.0, 0.50),
)
BY_NAME: dict[str, Conductor] = {c.name: c for c in CONDUCTORS}

#: MIM top plate over met4 (cap_mim_m3_2): 0.1 µm thick on a 0.02 µm capacitor dielectric (k 4.52, klayout-pex)
CAPM2_Z_UM = 4.0211 + 0.845 + 0.02
CAPM2_T_UM = 0.1

#: area capacitance between an upper and a lower conductor, aF/µm² (defaultoverlap upper lower)
OVERLAP_AF_UM2: dict[tuple[str, str], float] = {
    ("li1", "poly"): 94.16,
    ("met1", "poly"): 44.81, ("met1", "li1"): 114.20,
    ("met2", "poly"): 24.50, ("met2", "li1"): 37.56, ("met2", "met1"): 133.86,
    ("met3", "poly"): 16.06, ("met3", "li1"): 20.79, ("met3", "met1"): 34.54, ("met3", "met2"): 86.19,
    ("met4", "poly"): 10.01, ("met4", "li1"): 11.67, ("met4", "met1"): 15.03, ("met4", "met2"): 20.33,
    ("met4", "met3"): 84.03,
    ("met5", "poly"): 7.21, ("met5", "li1"): 8.03, ("met5", "met1"): 9.48, ("met5", "met2"): 11.34,
    ("met5", "met3"): 19.63, ("met5", "met4"): 68.33,
}

#: fringe from an edge of the upper conductor down onto a lower conductor, aF/µm (defaultsideoverlap upper lower)
SIDEOVERLAP_AF_UM: dict[tuple[str, str], float] = {
    ("li1", "poly"): 51.85,
    ("met1", "poly"): 46.72, ("met1", "li1"): 59.50,
    ("met2", "poly"): 41.22, ("met2", "li1"): 46.28, ("met2", "met1"): 67.05,
    ("met3", "poly"): 43.53, ("met3", "li1"): 46.71, ("met3", "met1"): 54.81, ("met3", "met2"): 69.85,
    ("met4", "poly"): 38.11, ("met4", "li1"): 39.71, ("met4", "met1"): 42.56, ("met4", "met2"): 46.38,
    ("met4", "met3"): 70.52,
    ("met5", "poly"): 39.91, ("met5", "li1"): 41.15, ("met5", "met1"): 43.19, ("met5", "met2"): 45.59,
    ("met5", "met3"): 54.15, ("met5", "met4"): 82.82,
}

#: via/contact resistance per cut, Ω (typical)
VIA_R_OHM: dict[str, float] = {"licon_poly": 152.0, "mcon": 9.3, "via": 4.5, "via2": 3.41, "via3": 3.41,
                               "via4": 0.38}

#: relative permittivities of the dielectrics, bottom up (SkyWater metal-stack drawing; klayout-pex fits the
#: field oxide to 4.632 to match the foundry li1-over-substrate table, the drawing says 3.9)
DIELECTRIC_K: dict[str, float] = {
    "fox": 3.9, "psg": 3.9, "lint": 7.3, "nild2": 4.05, "nild3c": 3.5, "nild3": 4.5, "nild4c": 3.5, "nild4": 4.2,
    "capild": 4.52, "nild5": 4.1, "nild6": 4.0, "topox": 3.9, "topnit": 7.5,
}
#: the dielectric that fills the gap between a conductor and the one below it (used for the physical
#: cross-check eps*A/d of the overlap tables, not by the extractor)
DIELECTRIC_BELOW: dict[str, str] = {"li1": "psg", "met1": "nild2", "met2": "nild3", "met3": "nild4",
                                    "met4": "nild5", "met5": "nild6"}

#: lateral coupling is looked for up to this distance, µm (klayout-pex sky130A ``side_halo``)
SIDE_HALO_UM = 8.0

__all__ = [
    "BY_NAME", "CAPM2_T_UM", "CAPM2_Z_UM", "CONDUCTORS", "Conductor", "DIELECTRIC_BELOW", "DIELECTRIC_K",
    "EPS0_AF_PER_UM", "OVERLAP_AF_UM2", "SIDEOVERLAP_AF_UM", "SIDE_HALO_UM", "VIA_R_OHM",
]
