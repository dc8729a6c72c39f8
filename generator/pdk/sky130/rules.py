"""sky130 periphery design rules as data: THE rule table. The project's DRC (generator/signoff/drc.py) checks it,
and the layout generator draws from it: every rule-derived size in generator/layout is an expression of
:func:`rule` values (and :func:`snap` / :func:`snap_up` to the 5 nm grid), never a number written out again.

Source: SkyWater sky130 design-rule documentation, "Periphery rules" (skywater-pdk docs/rules/periphery/*.csv),
cross-checked against the official KLayout deck sky130A_mr.drc (open_pdks). Rule names are the documentation's
names; values are µm (widths, spacings, enclosures, extensions, sizes) or µm² (areas).

Nothing here computes anything: the checker interprets each :class:`Rule` by its ``kind``:

==================  ===========================================================================================
kind                meaning (layers, value)
==================  ===========================================================================================
width               (L,): every part of merged L at least ``value`` wide
space               (L,): merged L shapes (and notches) at least ``value`` apart
separation          (A, B): A to B at least ``value`` apart; ``no_overlap`` also flags A & B
enclosure           (OUTER, INNER): OUTER extends ``value`` beyond INNER on every side; ``must_be_inside``
                    also flags INNER not covered by OUTER
extension           (OUTER, INNER, BASE): edges of INNER lying on edges of BASE, pushed outwards by ``value``,
                    must stay inside OUTER (poly end cap beyond diff, diff beyond gate)
adjacent_enclosure  (OUTER, INNER): OUTER encloses INNER by ``value`` on at least one of each two adjacent sides
area                (L,): merged polygons of L at least ``value`` µm²
hole_area           (L,): holes in merged L at least ``value`` µm²
exact_size          (L,): every L polygon a rectangle with all sides exactly ``value`` (contacts, vias)
edge_length         (A, B): edges of A lying on edges of B at least ``value`` long (channel width/length)
forbidden           (L,): derived layer L must be empty (overlaps that are not allowed)
inside              (A, B): A entirely covered by B
must_interact       (A, B): every polygon of A touches or overlaps B
aspect_ratio        (L,): bounding-box long/short side of every polygon at most ``value``
rectangular         (L,): every polygon a rectangle
grid                (L,): every vertex on the ``value`` µm grid
angle90 / angle45   (L,): edges only at multiples of 90° / 45°
huge_space          (L,): spacing to "huge" metal (wider than ``huge_um``) at least ``value``
==================  ===========================================================================================
"""

from __future__ import annotations

import math
from typing import NamedTuple

from generator.errors import PdkError
from generator.pdk.sky130 import layers as L


class Rule(NamedTuple):
    """One design rule: documentation name, check kind, layer names, value (µm or µm²) and documentation text."""

    name: str
    kind: str
    layers: tuple[str, ...]
    value: float
    doc: str
    metrics: str = "euclidian"  # "euclidian" | "projection" | "square"
    no_overlap: bool = False  # separation: overlap of the two layers is a violation too
    must_be_inside: bool = False  # enclosure: inner not covered by outer is a violation too
    huge_um: float = 3.0  # huge_space: width above which a metal shape is "huge" (µm)
    ignore_touching: bool = False  # separation/enclosure: edges at zero distance (abutting, coincident) are fine
    butting: str = ""  # enclosure: inner edges coinciding with this layer's edges are exempt (butting diff/tap)


#: drawn layers the checker reads, by the names the rules use (GDS layer, datatype)
DRAWN: dict[str, tuple[int, int]] = {
    "dnwell": L.DNWELL,
    "nwell": L.NWELL,
    "diff": L.DIFF,
    "tap": L.TAP,
    "poly": L.POLY,
    "licon1": L.LICON1,
    "npc": L.NPC,
    "nsdm": L.NSDM,
    "psdm": L.PSDM,
    "lvtn": L.LVTN,
    "hvtp": L.HVTP,
    "hvi": L.HVI,
    "li1": L.LI1,
    "mcon": L.MCON,
    "met1": L.MET1,
    "via": L.VIA,
    "met2": L.MET2,
    "via2": L.VIA2,
    "met3": L.MET3,
    "via3": L.VIA3,
    "met4": L.MET4,
    "via4": L.VIA4,
    "met5": L.MET5,
    "capm": L.CAPM,
    "cap2m": L.CAPM2,
    "areaid_sc": L.AREAID_SC,
    "li1_pin": L.LI1_PIN,
    "met1_pin": L.MET1_PIN,
    "met2_pin": L.MET2_PIN,
    "met3_pin": L.MET3_PIN,
    "met4_pin": L.MET4_PIN,
    "met5_pin": L.MET5_PIN,
    "poly_pin": L.POLY_PIN,
}

#: derived layers, evaluated in order: (name, operation, operand, operand).
#: and/or/not are boolean operations; interacting/not_interacting/inside/outside select whole polygons of
#: the first operand; hulls/holes take one operand.
DERIVED: tuple[tuple[str, ...], ...] = (
    ("difftap", "or", "diff", "tap"),
    ("gate", "and", "poly", "diff"),
    ("gate_sc", "inside", "gate", "areaid_sc"),
    ("gate_nsc", "outside", "gate", "areaid_sc"),
    ("pgate", "and", "gate", "nwell"),
    ("ngate", "not", "gate", "nwell"),
    ("pgate_hvt", "interacting", "pgate", "hvtp"),
    ("pgate_svt", "not_interacting", "pgate", "hvtp"),
    ("pgate_lvt", "interacting", "pgate", "lvtn"),
    ("gate_lvt", "interacting", "gate", "lvtn"),
    ("gate_nlvt", "not_interacting", "gate", "lvtn"),
    ("ndiff", "and", "diff", "nsdm"),
    ("pdiff", "and", "diff", "psdm"),
    ("ntap", "and", "tap", "nsdm"),
    ("ptap", "and", "tap", "psdm"),
    ("ndifftap", "and", "difftap", "nsdm"),
    ("pdifftap", "and", "difftap", "psdm"),
    ("diff_nimp", "interacting", "diff", "nsdm"),
    ("diff_pimp", "interacting", "diff", "psdm"),
    ("tap_nimp", "interacting", "tap", "nsdm"),
    ("tap_pimp", "interacting", "tap", "psdm"),
    ("implant", "or", "nsdm", "psdm"),
    ("implant_both", "and", "nsdm", "psdm"),
    ("implant_clash", "and", "implant_both", "difftap"),
    ("difftap_noimp", "not", "difftap", "implant"),
    ("poly_field", "not", "poly", "diff"),
    ("poly_nonwell", "not", "poly", "nwell"),
    ("poly_on_ptap", "and", "poly_nonwell", "tap"),
    ("podifftap", "or", "poly", "difftap"),
    ("licon_diff", "interacting", "licon1", "diff"),
    ("licon_tap", "interacting", "licon1", "tap"),
    ("licon_difftap", "interacting", "licon1", "difftap"),
    ("licon_difftap_sc", "inside", "licon_difftap", "areaid_sc"),
    ("licon_difftap_nsc", "outside", "licon_difftap", "areaid_sc"),
    ("licon_poly", "interacting", "licon1", "poly"),
    ("licon_poly_difftap", "interacting", "licon_poly", "difftap"),
    ("tap_iso", "not_interacting", "tap", "diff"),
    ("licon_tap_iso", "interacting", "licon1", "tap_iso"),
    ("nwell_hull", "hulls", "nwell"),
    ("nwell_hole", "holes", "nwell"),
    ("nwell_nodnw", "not_interacting", "nwell", "dnwell"),
    ("lvtn_in_nwell", "and", "lvtn", "nwell"),
    ("met3_capm", "interacting", "met3", "capm"),
    ("met3_free", "not_interacting", "met3", "capm"),
    ("via3_on_capm", "interacting", "via3", "capm"),
    ("via3_off_capm", "not_interacting", "via3", "capm"),
    ("met4_cap2m", "interacting", "met4", "cap2m"),
    ("met4_free", "not_interacting", "met4", "cap2m"),
    ("via4_on_cap2m", "interacting", "via4", "cap2m"),
    ("via4_off_cap2m", "not_interacting", "via4", "cap2m"),
)

_R = Rule

#: front end: wells, diffusion, implants, threshold adjust, poly, local interconnect contacts
FEOL: tuple[Rule, ...] = (
    _R("dnwell.2", "width", ("dnwell",), 3.0, "Min width of deep nwell"),
    _R("nwell.1", "width", ("nwell",), 0.84, "Width of nwell"),
    _R("nwell.2a", "space", ("nwell",), 1.27, "Spacing between two n-wells"),
    _R("nwell.4", "must_interact", ("nwell", "licon_tap"), 0.0,
       "All n-wells will contain metal-contacted tap (rule checks only for licon on tap)"),
    _R("nwell.5", "enclosure", ("nwell_hull", "dnwell"), 0.4, "Deep nwell must be enclosed by nwell by at least",
       must_be_inside=True),
    _R("nwell.6", "enclosure", ("dnwell", "nwell_hole"), 1.03, "Min enclosure of nwell hole by deep nwell"),
    _R("nwell.7", "separation", ("nwell_nodnw", "dnwell"), 4.5,
       "Min spacing between nwell and deep nwell on separate nets (nwell not touching the deep nwell)"),
    _R("hvtp.1", "width", ("hvtp",), 0.38, "Min width of hvtp"),
    _R("hvtp.2", "space", ("hvtp",), 0.38, "Min spacing between hvtp to hvtp"),
    _R("hvtp.3", "enclosure", ("hvtp", "pgate_hvt"), 0.18, "Min enclosure of pfet by hvtp", must_be_inside=True),
    _R("hvtp.4", "separation", ("pgate_svt", "hvtp"), 0.18, "Min spacing between pfet and hvtp"),
    _R("hvtp.5", "area", ("hvtp",), 0.265, "Min area of hvtp (um^2)"),
    _R("hvtp.6", "hole_area", ("hvtp",), 0.265, "Min area of hvtp Holes (um^2)"),
    _R("lvtn.1a", "width", ("lvtn",), 0.38, "Min width of lvtn"),
    _R("lvtn.2", "space", ("lvtn",), 0.38, "Min space lvtn to lvtn"),
    _R("lvtn.3a", "separation", ("gate_nlvt", "lvtn"), 0.18, "Min spacing of lvtn to gate"),
    _R("lvtn.4b", "enclosure", ("lvtn", "gate_lvt"), 0.18, "Min enclosure of gate by lvtn", must_be_inside=True),
    _R("lvtn.9", "separation", ("lvtn", "hvtp"), 0.38, "Min spacing, no overlap, between lvtn and hvtp",
       no_overlap=True),
    _R("lvtn.10", "enclosure", ("nwell", "lvtn_in_nwell"), 0.38,
       "Min enclosure of lvtn by nwell (exclude coincident edges)", ignore_touching=True),
    _R("lvtn.13", "area", ("lvtn",), 0.265, "Min area of lvtn (um^2)"),
    _R("lvtn.14", "hole_area", ("lvtn",), 0.265, "Min area of lvtn Holes (um^2)"),
    _R("difftap.1", "width", ("diff",), 0.15, "Width of diff or tap"),
    _R("difftap.1", "width", ("tap",), 0.15, "Width of diff or tap"),
    _R("difftap.2", "edge_length", ("gate_nsc", "poly"), 0.42,
       "Minimum channel width (Diff And Poly) except for FETs inside areaid.sc"),
    _R("difftap.2b", "edge_length", ("gate_sc", "poly"), 0.36,
       "Minimum channel width (Diff And Poly) for FETs inside areaid.sc"),
    _R("difftap.3", "space", ("difftap",), 0.27, "Spacing of diff to diff, tap to tap, or non-abutting diff to tap"),
    _R("difftap.8", "enclosure", ("nwell", "pdiff"), 0.18, "Enclosure of (p+) diffusion by N-well",
       must_be_inside=True),
    _R("difftap.9", "separation", ("ndiff", "nwell"), 0.34, "Spacing of (n+) diffusion to N-well", no_overlap=True),
    _R("difftap.10", "enclosure", ("nwell", "ntap"), 0.18, "Enclosure of (n+) tap by N-well", must_be_inside=True),
    _R("difftap.11", "separation", ("ptap", "nwell"), 0.13, "Spacing of (p+) tap to N-well", no_overlap=True),
    _R("poly.1a", "width", ("poly",), 0.15, "Width of poly"),
    _R("poly.1b", "edge_length", ("pgate_lvt", "diff"), 0.35,
       "Min channel length (poly width) for pfet overlapping lvtn"),
    _R("poly.2", "space", ("poly",), 0.21, "Spacing of poly to poly"),
    _R("poly.4", "separation", ("poly_field", "diff"), 0.075, "Spacing of poly on field to diff (parallel edges only)",
       metrics="projection", ignore_touching=True),
    _R("poly.5", "separation", ("poly_field", "tap"), 0.055, "Spacing of poly on field to tap", ignore_touching=True),
    _R("poly.6", "separation", ("gate", "tap"), 0.30, "Spacing of poly on diff to abutting tap (min source)"),
    _R("poly.7", "extension", ("diff", "gate", "poly"), 0.25, "Extension of diff beyond poly (min drain)"),
    _R("poly.8", "extension", ("poly", "gate", "diff"), 0.13, "Extension of poly beyond diffusion (endcap)"),
    _R("poly.11", "rectangular", ("gate",), 0.0,
       "No 90 deg turns of poly on diff (checked as: every gate is a rectangle; also catches poly.10)"),
    _R("poly.12", "forbidden", ("poly_on_ptap",), 0.0, "(Poly NOT (nwell NOT hvi)) may not overlap tap"),
    _R("npc.1", "width", ("npc",), 0.27, "Min width of NPC"),
    _R("npc.2", "space", ("npc",), 0.27, "Min spacing of NPC to NPC"),
    _R("npc.4", "separation", ("npc", "gate"), 0.09, "Spacing (no overlap) of NPC to Gate", no_overlap=True),
    _R("nsd.1", "width", ("nsdm",), 0.38, "Width of nsdm"),
    _R("nsd.2", "space", ("nsdm",), 0.38, "Spacing of nsdm to nsdm"),
    _R("nsd.5a", "enclosure", ("nsdm", "diff_nimp"), 0.125, "Enclosure of diff by nsdm, except for butting edge",
       butting="tap"),
    _R("nsd.5b", "enclosure", ("nsdm", "tap_nimp"), 0.125, "Enclosure of tap by nsdm, except for butting edge",
       butting="diff"),
    _R("nsd.7", "separation", ("nsdm", "pdifftap"), 0.13,
       "Spacing of NSDM to opposite implant diff or tap (for non-abutting diff/tap edges)", ignore_touching=True),
    _R("nsd.8", "forbidden", ("implant_clash",), 0.0, "Nsdm and psdm cannot overlap diff/tap regions"),
    _R("nsd.9", "forbidden", ("difftap_noimp",), 0.0,
       "Diff and tap must be enclosed by their corresponding implant layers"),
    _R("nsd.10a", "area", ("nsdm",), 0.265, "Min area of Nsdm (um^2)"),
    _R("psd.1", "width", ("psdm",), 0.38, "Width of psdm"),
    _R("psd.2", "space", ("psdm",), 0.38, "Spacing of psdm to psdm"),
    _R("psd.5a", "enclosure", ("psdm", "diff_pimp"), 0.125, "Enclosure of diff by psdm, except for butting edge",
       butting="tap"),
    _R("psd.5b", "enclosure", ("psdm", "tap_pimp"), 0.125, "Enclosure of tap by psdm, except for butting edge",
       butting="diff"),
    _R("psd.7", "separation", ("psdm", "ndifftap"), 0.13,
       "Spacing of PSDM to opposite implant diff or tap (for non-abutting diff/tap edges)", ignore_touching=True),
    _R("psd.10b", "area", ("psdm",), 0.255, "Min area of Psdm (um^2)"),
    _R("licon.1", "exact_size", ("licon1",), 0.17, "Min and max L and W of licon"),
    _R("licon.2", "space", ("licon1",), 0.17, "Spacing of licon to licon"),
    _R("licon.4", "inside", ("licon1", "li1"), 0.0, "Licon1 must overlap li1 and (poly or diff or tap)"),
    _R("licon.4", "inside", ("licon1", "podifftap"), 0.0, "Licon1 must overlap li1 and (poly or diff or tap)"),
    _R("licon.5a", "enclosure", ("diff", "licon_diff"), 0.04, "Enclosure of licon by diff", must_be_inside=True),
    _R("licon.5c", "adjacent_enclosure", ("diff", "licon_diff"), 0.06,
       "Enclosure of licon by diff on one of two adjacent sides"),
    _R("licon.6", "inside", ("licon_tap", "tap"), 0.0, "Licon cannot straddle tap"),
    _R("licon.7", "adjacent_enclosure", ("tap_iso", "licon_tap_iso"), 0.12,
       "Enclosure of licon by one of two adjacent edges of isolated tap"),
    _R("licon.8", "enclosure", ("poly", "licon_poly"), 0.05, "Enclosure of poly_licon by poly", must_be_inside=True),
    _R("licon.8a", "adjacent_enclosure", ("poly", "licon_poly"), 0.08,
       "Enclosure of poly_licon by poly on one of two adjacent sides"),
    _R("licon.9", "separation", ("licon_poly", "psdm"), 0.11, "Spacing, no overlap, between poly_licon and psdm",
       no_overlap=True),
    _R("licon.11", "separation", ("licon_difftap_nsc", "gate"), 0.055,
       "Spacing of licon on diff or tap to poly on diff (except for FETs inside areaid.sc)"),
    _R("licon.11a", "separation", ("licon_difftap_sc", "gate"), 0.05,
       "Spacing of licon on diff or tap to poly on diff (for FETs inside areaid.sc)"),
    _R("licon.13", "separation", ("licon_difftap", "npc"), 0.09, "Spacing (no overlap) of NPC to licon on diff or tap",
       no_overlap=True),
    _R("licon.14", "separation", ("licon_poly", "difftap"), 0.19, "Spacing of poly_licon to diff or tap"),
    _R("licon.15", "enclosure", ("npc", "licon_poly"), 0.10, "poly_licon must be enclosed by npc by"),
    _R("licon.16", "must_interact", ("difftap", "licon1"), 0.0,
       "Every source_diff and every tap must enclose at least one licon1 (checked per merged diff/tap shape)"),
    _R("licon.17", "forbidden", ("licon_poly_difftap",), 0.0, "Licons may not overlap both poly and (diff or tap)"),
    _R("licon.18", "inside", ("licon_poly", "npc"), 0.0, "Npc must enclose poly_licon"),
    _R("capm.1", "width", ("capm",), 1.0, "Min width of capm"),
    _R("capm.2a", "space", ("capm",), 0.84, "Min spacing of capm to capm"),
    _R("capm.2b", "space", ("met3_capm",), 1.2, "Minimum spacing of capacitor bottom_plate to bottom plate"),
    _R("capm.3", "enclosure", ("met3", "capm"), 0.14, "Minimum enclosure of capm (top_plate) by met3",
       must_be_inside=True),
    _R("capm.4", "enclosure", ("capm", "via3_on_capm"), 0.14, "Min enclosure of via3 by capm", must_be_inside=True),
    _R("capm.5", "separation", ("capm", "via3_off_capm"), 0.14, "Min spacing between capm and via3"),
    _R("capm.6", "aspect_ratio", ("capm",), 20.0, "Maximum Aspect Ratio (Length/Width)"),
    _R("capm.7", "rectangular", ("capm",), 0.0,
       "Only rectangular or L-shaped capacitors allowed (checked stricter: rectangles only)"),
    _R("capm.8", "separation", ("capm", "via2"), 0.14, "Min space, no overlap, between via2 and capm", no_overlap=True),
    _R("capm.11", "separation", ("capm", "met3_free"), 0.5, "Min spacing between capm to (met3 not overlapping capm)"),
    _R("cap2m.1", "width", ("cap2m",), 1.0, "Min width of cap2m"),
    _R("cap2m.2a", "space", ("cap2m",), 0.84, "Min spacing of cap2m to cap2m"),
    _R("cap2m.2b", "space", ("met4_cap2m",), 1.2, "Minimum spacing of capacitor bottom_plate to bottom plate"),
    _R("cap2m.3", "enclosure", ("met4", "cap2m"), 0.14, "Minimum enclosure of cap2m (top_plate) by met4",
       must_be_inside=True),
    _R("cap2m.4", "enclosure", ("cap2m", "via4_on_cap2m"), 0.2, "Min enclosure of via4 by cap2m",
       must_be_inside=True),
    _R("cap2m.5", "separation", ("cap2m", "via4_off_cap2m"), 0.2, "Min spacing between cap2m and via4"),
    _R("cap2m.6", "aspect_ratio", ("cap2m",), 20.0, "Maximum Aspect Ratio (Length/Width)"),
    _R("cap2m.7", "rectangular", ("cap2m",), 0.0,
       "Only rectangular or L-shaped capacitors allowed (checked stricter: rectangles only)"),
    _R("cap2m.8", "separation", ("cap2m", "via3"), 0.14, "Min space, no overlap, between via3 and cap2m",
       no_overlap=True),
    _R("cap2m.11", "separation", ("cap2m", "met4_free"), 0.5,
       "Min spacing between cap2m to (met4 not overlapping cap2m)"),
)

#: back end: local interconnect, contacts, metals and vias
BEOL: tuple[Rule, ...] = (
    _R("li.1", "width", ("li1",), 0.17, "Width of LI"),
    _R("li.3", "space", ("li1",), 0.17, "Spacing of LI to LI"),
    _R("li.5", "adjacent_enclosure", ("li1", "licon1"), 0.08, "Enclosure of licon by one of two adjacent LI sides"),
    _R("li.6", "area", ("li1",), 0.0561, "Min area of LI"),
    _R("ct.1", "exact_size", ("mcon",), 0.17, "Min and max L and W of mcon"),
    _R("ct.2", "space", ("mcon",), 0.19, "Spacing of mcon to mcon"),
    _R("ct.4", "inside", ("mcon", "li1"), 0.0, "Mcon must be enclosed by LI by at least 0"),
    _R("m1.1", "width", ("met1",), 0.14, "Width of metal1"),
    _R("m1.2", "space", ("met1",), 0.14, "Spacing of metal1 to metal1"),
    _R("m1.3ab", "huge_space", ("met1",), 0.28, "Min. spacing of huge_met1 (wider than 3 um) to metal1"),
    _R("m1.4", "enclosure", ("met1", "mcon"), 0.03, "Mcon must be enclosed by Met1 by at least",
       must_be_inside=True),
    _R("m1.5", "adjacent_enclosure", ("met1", "mcon"), 0.06,
       "Mcon must be enclosed by Met1 on one of two adjacent sides by at least"),
    _R("m1.6", "area", ("met1",), 0.083, "Min metal 1 area [um2]"),
    _R("m1.7", "hole_area", ("met1",), 0.14, "Min area of metal1 holes [um2]"),
    _R("via.1a", "exact_size", ("via",), 0.15, "Min and max L and W of via"),
    _R("via.2", "space", ("via",), 0.17, "Spacing of via to via"),
    _R("via.4a", "enclosure", ("met1", "via"), 0.055, "0.150 um Via must be enclosed by Met1 by at least",
       must_be_inside=True),
    _R("via.5a", "adjacent_enclosure", ("met1", "via"), 0.085,
       "0.150 um Via must be enclosed by Met1 on one of two adjacent sides by at least"),
    _R("m2.1", "width", ("met2",), 0.14, "Width of metal 2"),
    _R("m2.2", "space", ("met2",), 0.14, "Spacing of metal 2 to metal 2"),
    _R("m2.3ab", "huge_space", ("met2",), 0.28, "Min. spacing of huge_met2 (wider than 3 um) to metal2"),
    _R("m2.4", "enclosure", ("met2", "via"), 0.055, "Via must be enclosed by Met2 by at least", must_be_inside=True),
    _R("m2.5", "adjacent_enclosure", ("met2", "via"), 0.085,
       "Via must be enclosed by Met2 on one of two adjacent sides by at least"),
    _R("m2.6", "area", ("met2",), 0.0676, "Min metal2 area [um2]"),
    _R("m2.7", "hole_area", ("met2",), 0.14, "Min area of metal2 holes [um2]"),
    _R("via2.1a", "exact_size", ("via2",), 0.2, "Min and max L and W of via2"),
    _R("via2.2", "space", ("via2",), 0.2, "Spacing of via2 to via2"),
    _R("via2.4", "enclosure", ("met2", "via2"), 0.04, "Via2 must be enclosed by Met2 by at least",
       must_be_inside=True),
    _R("via2.5", "adjacent_enclosure", ("met2", "via2"), 0.085,
       "Via2 must be enclosed by Met2 on one of two adjacent sides by at least"),
    _R("m3.1", "width", ("met3",), 0.3, "Width of metal 3"),
    _R("m3.2", "space", ("met3",), 0.3, "Spacing of metal 3 to metal 3"),
    _R("m3.3cd", "huge_space", ("met3",), 0.4, "Min. spacing of huge_met3 (wider than 3 um) to metal3"),
    _R("m3.4", "enclosure", ("met3", "via2"), 0.065, "Via2 must be enclosed by Met3 by at least",
       must_be_inside=True),
    _R("m3.6", "area", ("met3",), 0.24, "Min area of metal3"),
    _R("via3.1", "exact_size", ("via3",), 0.2, "Min and max L and W of via3"),
    _R("via3.2", "space", ("via3",), 0.2, "Spacing of via3 to via3"),
    _R("via3.4", "enclosure", ("met3", "via3"), 0.06, "Via3 must be enclosed by Met3 by at least",
       must_be_inside=True),
    _R("via3.5", "adjacent_enclosure", ("met3", "via3"), 0.09,
       "Via3 must be enclosed by Met3 on one of two adjacent sides by at least"),
    _R("m4.1", "width", ("met4",), 0.3, "Min width of met4"),
    _R("m4.2", "space", ("met4",), 0.3, "Min spacing between two met4"),
    _R("m4.3", "enclosure", ("met4", "via3"), 0.065, "via3 must be enclosed by met4 by atleast", must_be_inside=True),
    _R("m4.4a", "area", ("met4",), 0.24, "Min area of met4"),
    _R("m4.5ab", "huge_space", ("met4",), 0.4, "Min. spacing of huge_met4 (wider than 3 um) to metal4"),
    _R("via4.1", "exact_size", ("via4",), 0.8, "Min and max L and W of via4"),
    _R("via4.2", "space", ("via4",), 0.8, "Spacing of via4 to via4"),
    _R("via4.4", "enclosure", ("met4", "via4"), 0.19, "Via4 must be enclosed by Met4 by at least",
       must_be_inside=True),
    _R("m5.1", "width", ("met5",), 1.6, "Min width of met5"),
    _R("m5.2", "space", ("met5",), 1.6, "Min spacing between two met5"),
    _R("m5.3", "enclosure", ("met5", "via4"), 0.31, "via4 must be enclosed by met5 by atleast", must_be_inside=True),
    _R("m5.4", "area", ("met5",), 4.0, "Min area of met5"),
    _R("x.5", "inside", ("li1_pin", "li1"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("met1_pin", "met1"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("met2_pin", "met2"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("met3_pin", "met3"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("met4_pin", "met4"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("met5_pin", "met5"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
    _R("x.5", "inside", ("poly_pin", "poly"), 0.0, "All pin polygons must be within the drawing polygons of the layer"),
)

#: manufacturing grid (x.1b, 5 nm) on every drawn layer, and permitted angles (x.2: n x 90°, x.3a: n x 45°)
GRID_UM = L.GRID_UM
_ANGLE90 = ("diff", "tap", "poly", "licon1", "mcon", "via", "via2", "via3", "via4", "capm", "cap2m")
_ANGLE45 = ("dnwell", "nwell", "npc", "nsdm", "psdm", "lvtn", "hvtp", "hvi", "li1", "met1", "met2", "met3", "met4",
            "met5")
OFFGRID: tuple[Rule, ...] = tuple(
    _R(f"x.1b.{name}", "grid", (name,), GRID_UM, f"Data on {name} must be on a grid of {GRID_UM:g} um")
    for name in _ANGLE90 + _ANGLE45
) + tuple(
    _R(f"x.2.{name}", "angle90", (name,), 90.0, f"Angles permitted on {name}: n x 90 deg") for name in _ANGLE90
) + tuple(
    _R(f"x.3a.{name}", "angle45", (name,), 45.0, f"Angles permitted on {name}: n x 45 deg") for name in _ANGLE45
)

#: the whole table, in check order
RULES: tuple[Rule, ...] = FEOL + BEOL + OFFGRID

#: rules of the official periphery set that the table does not check (name: why); reported by the DRC
NOT_COVERED: dict[str, str] = {
    "difftap.4": "min tap bound by one diffusion (0.29): needs abutment-edge geometry",
    "difftap.5": "min tap bound by two diffusions (0.40): needs abutment-edge geometry",
    "difftap.6": "diff/tap extending beyond their abutting edge",
    "difftap.7": "spacing of diff/tap abutting edge to a non-coinciding diff/tap edge (0.13)",
    "poly.3/poly.9/poly.15": "poly resistors (rpm/urpm, poly_rs): the generator draws none",
    "poly.10": "poly over inner diff corners: only caught when it makes a gate non-rectangular (poly.11)",
    "licon.5b": "spacing tap_licon to diff-abutting tap edge (0.06)",
    "licon.10": "licon on tap to varactor channel: no varactors drawn",
    "licon.12": "max S/D width without licon (NC guideline)",
    "licon.16": "checked per merged diff/tap shape, not per source terminal",
    "lvtn.3b": "lvtn to pfet along S/D (0.235): LVT pfets are not drawn",
    "lvtn.12": "lvtn to nwell inside areaid.ce: no core areas",
    "nsd.6/psd.6": "butting-edge enclosure 0 (implied by nsd.9/psd.9 coverage)",
    "npc.5": "slotted licons: not drawn",
    "m1.3ab..m4.5ab": "huge-metal spacing approximated: spacing violations < value touching metal wider than 3 um",
    "m3.5/m3.5a": "N/A in the documentation",
    "capm.7/cap2m.7": "L-shaped capacitors are flagged (rectangles only)",
    "capm.2b_a/cap2m.2b_a": "official deck's sized bottom-plate variant",
    "x.2a": "areaid.analog rectangular diff/tap",
    "hvi.*/hvntm.*/tunm.*/ncm.*/rpm.*/pad.*": "layers the generator never draws",
    "m*.pd / density": "pattern density rules (chip level)",
}


# ---------------------------------------------------------------------------------- reading the table
#: rule name -> value of the first rule of that name (rules listed twice, e.g. difftap.1 on diff and on tap,
#: carry one value)
_VALUES: dict[str, float] = {}
for _r in RULES:
    _VALUES.setdefault(_r.name, float(_r.value))
del _r


def rule(name: str) -> float:
    """Value (µm, or µm² for areas) of design rule ``name`` (the documentation's name) from :data:`RULES`."""
    try:
        return _VALUES[name]
    except KeyError:
        raise PdkError(f"no sky130 rule {name!r} in the rule table generator/pdk/sky130/rules.py") from None


def snap(x: float) -> float:
    """Round ``x`` (µm) to the 5 nm manufacturing grid (x.1b)."""
    return round(round(x / GRID_UM) * GRID_UM, 4)


def snap_up(x: float) -> float:
    """Round ``x`` (µm) up to the 5 nm grid (for sizes that must not shrink below a rule)."""
    return round(math.ceil(round(x / GRID_UM, 6)) * GRID_UM, 4)


def ceil_to(x: float, step: float) -> float:
    """Round ``x`` (µm) up to a multiple of ``step`` (µm, a multiple of the grid): a rule minimum drawn on a
    coarser step (e.g. via landing pads on 0.1 µm)."""
    return snap(math.ceil(round(x / step, 6)) * step)
