"""Parasitic extraction of a sky130 GDS on klayout.db: per-net capacitance to substrate, coupling, and line R.

Why: the post-layout netlist (the drawn devices plus the wiring's R and C) is what the paper's headline figure
simulates. No parasitic extractor runs here out of the box (see /work/shared/TOOLCHAIN.md: magic is too old,
klayout-pex needs Python 3.12 and a newer KLayout binary), so this is a 2.5-D rule-based extractor in the style of
magic's ``extresist``-less ``extract``: the same constants (generator/pdk/sky130/stack.py, from open_pdks' magic
tech file) and the same kind of formulas, computed with klayout.db Region/EdgePairs operations.

Model (all per extracted net; nets come from :func:`generator.signoff.extract.extract`, flattened, so one net is
one SPICE node; nets that share a label name, e.g. the VDD rail of each layer block, are one node):

* Conductors: field poly (the gate area under the poly is the transistor model's and is not in the net shapes),
  li1, met1..met5; the MIM top plate (capm2) only shields (its capacitance is the MIM device's).
* Area: the part of a net's shape on layer L that lies over a shape on a lower conductor K (the nearest one below
  wins: what lies over K is not over anything lower) couples to K's net with the overlap constant C_ov(L, K)
  (aF/µm², magic ``defaultoverlap``); over its own net it adds nothing (self-shielded); over no conductor it goes
  to the substrate with C_area(L). Lower conductors searched, nearest first: met5 sees capm2, met4, met3, ...
  (capm2 to met5 uses C_ov(met5, met4)).
* Fringe: the net's edges on L give C_fringe(L) aF/µm to substrate where they are over no lower conductor; the
  length of its edges over lower conductors couples with C_sideoverlap(L, K), split among the nets below in
  proportion to the overlap areas with them (an approximation: the edge lengths are not attributed one by one).
  Fringe is not reduced by same-layer neighbours (magic shields it): slightly high for dense wiring.
* Lateral coupling on one layer: facing parallel edges of two different nets within HALO_UM (2 µm), found
  with ``Region.space_check`` (projection metrics, shielded by shapes in between): C = l * k / (s + offset) with
  magic's ``defaultsidewall`` k and offset (l: facing length, s: spacing). Why not eps*t/s: the pure
  parallel-plate sidewall term ignores the fringe between the two lines' top and bottom faces, which dominates at
  sky130 spacings (met1 at 0.3 µm: eps*t/s = 19 aF/µm, the foundry-fitted k/(s+off) = 80 aF/µm) and diverges at
  s -> 0; the fitted form stays finite and is what magic and klayout-pex use for sky130.
* Coupling to upper layers is counted once, from the upper shape (its area over this net).
* Resistance (no RC mesh): per net and layer, each merged polygon is read as its equivalent rectangle (same area A
  and perimeter P: length l = P/4 + sqrt((P/4)^2 - A), width w = A/l) and gives R_sheet * l / w; a net's R is the
  sum over its polygons, i.e. an end-to-end series estimate: right for a line, an upper bound for a branching net
  or a mesh; via resistance is not added.

Scaling: every geometric step is a whole-layer klayout.db operation on flat regions (O(n log n) in the shapes);
Python only walks the result polygons and edge pairs once. Flattening makes memory grow with the flat shape count
(digits: ~270k polygons, seconds); the 784x400 MNIST layer would need a hierarchical variant (per cell, then
summed over instances), which this does not do.

Units: µm, F, Ω. The results serialise to pex.json and a SPICE file (the extracted devices as KLayout writes them
plus one C element per net to substrate and per coupled pair).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import klayout.db as kdb

from generator.errors import InputError
from generator.io import atomic_output, atomic_write_text, dump_json, round_sig
from generator.pdk.sky130 import devices as D
from generator.pdk.sky130 import stack as S
from generator.signoff.extract import extract
from generator.signoff.gds import read_layout

AF = 1e-18
#: property key the flat net regions carry (value: the net's name)
_NET = 0
#: lateral coupling search distance (µm). klayout-pex uses 8 µm (stack.SIDE_HALO_UM); the shielded space check
#: costs ~ halo², 8 µm took 44 s on Iris against 1 s for 2 µm, and k/(s+offset) at 2 µm is already a quarter of
#: its value at minimum spacing (and most such far edges are shielded by a nearer shape)
HALO_UM = 2.0
#: shapes whose coupling is below this (F) are not written as separate C elements
MIN_COUPLING_F = 1e-19


class PexError(InputError):
    """A GDS that cannot be extracted (missing, a folder, unreadable, more than one top cell)."""


@dataclass
class NetParasitics:
    """One net (one SPICE node): capacitance to substrate, its split by layer, coupling total, series R."""

    name: str
    c_ground_f: float = 0.0
    c_by_layer: dict = field(default_factory=dict)  #: layer -> F to substrate (area + fringe)
    c_coupling_f: float = 0.0  #: sum of its couplings to other nets
    r_ohm: float = 0.0
    r_by_layer: dict = field(default_factory=dict)
    area_um2: dict = field(default_factory=dict)  #: layer -> drawn area of the net
    perimeter_um: dict = field(default_factory=dict)

    @property
    def c_total_f(self) -> float:
        return self.c_ground_f + self.c_coupling_f

    def to_dict(self) -> dict:
        return {
            "name": self.name, "c_ground_f": round_sig(self.c_ground_f), "c_coupling_f": round_sig(self.c_coupling_f),
            "c_total_f": round_sig(self.c_total_f), "r_ohm": round_sig(self.r_ohm),
            "c_by_layer": {k: round_sig(v) for k, v in sorted(self.c_by_layer.items())},
            "r_by_layer": {k: round_sig(v) for k, v in sorted(self.r_by_layer.items())},
            "area_um2": {k: round_sig(v) for k, v in sorted(self.area_um2.items())},
            "perimeter_um": {k: round_sig(v) for k, v in sorted(self.perimeter_um.items())},
        }


@dataclass
class Parasitics:
    """Result of :func:`extract_parasitics`."""

    source: str
    top: str
    nets: dict  #: name -> NetParasitics
    couplings: list  #: [(net_a, net_b, c_f)] with net_a < net_b, sorted
    substrate_net: str  #: the net the substrate caps go to ("0" when the layout has no substrate net)
    devices: dict = field(default_factory=dict)  #: model -> count
    mim_caps: list = field(default_factory=list)  #: [{device, top_net, bottom_net, c_f, x_um, y_um, block}]
    unattributed: int = 0  #: overlap pieces / edge pairs that could not be given both nets (should be 0)
    runtime_s: float = 0.0
    netlist: kdb.Netlist | None = None  #: the extracted (flattened) device netlist, for write_spice

    @property
    def c_ground_total_f(self) -> float:
        return sum(n.c_ground_f for n in self.nets.values())

    @property
    def c_coupling_total_f(self) -> float:
        return sum(c for _, _, c in self.couplings)

    def net(self, name: str) -> NetParasitics:
        if name not in self.nets:
            raise KeyError(f"no net {name!r} in the extraction of {self.source}")
        return self.nets[name]

    def coupling_between(self, a: str, b: str) -> float:
        return sum(c for x, y, c in self.couplings if {x, y} == {a, b})

    def to_dict(self) -> dict:
        return {
            "source": self.source, "top": self.top, "substrate_net": self.substrate_net,
            "devices": dict(sorted(self.devices.items())),
            "nets": {k: self.nets[k].to_dict() for k in sorted(self.nets)},
            "couplings": [[a, b, round_sig(c)] for a, b, c in self.couplings],
            "mim_caps": self.mim_caps,
            "totals": {"nets": len(self.nets), "c_ground_f": round_sig(self.c_ground_total_f),
                       "c_coupling_f": round_sig(self.c_coupling_total_f), "n_couplings": len(self.couplings)},
            "unattributed": self.unattributed,
            "model": "2.5-D rule-based (generator/signoff/pex.py); constants: generator/pdk/sky130/stack.py",
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, dump_json(self.to_dict()))

    def write_spice(self, path: str | os.PathLike) -> Path:
        """The extracted devices plus one C per net to substrate and per coupled pair (SPICE-safe node names)."""
        return write_spice(self, path)


# --------------------------------------------------------------------------------------------------- input
def _read(src) -> tuple[kdb.Layout, kdb.Cell, str]:
    if isinstance(src, (str, os.PathLike)):
        ly, top = read_layout(src, error=PexError, fix="extract a layout with a single top cell")
        return ly, top, str(src)
    ly, cell = src
    return ly, cell, cell.name


def _extract(ly: kdb.Layout, cell: kdb.Cell, source: str):
    """(l2n, flattened netlist, device counts) from generator.signoff.extract; a layout of wires only (no device,
    which extract() purges) is extracted with the same layer set-up, unpurged."""
    from generator.signoff import extract as X

    try:
        ex = extract((ly, cell), flat=True)
        return ex.l2n, ex.netlist, dict(ex.devices)
    except StopIteration:
        if not hasattr(X, "setup_extraction"):
            raise PexError(f"{source}: nothing to extract (no devices)") from None
    l2n = kdb.LayoutToNetlist(kdb.RecursiveShapeIterator(ly, cell, []))
    l2n.threads = 1
    X.setup_extraction(l2n, ly)
    nl = l2n.netlist()
    nl.flatten()
    nl.make_top_level_pins()
    if next(nl.each_circuit_top_down(), None) is None:
        raise PexError(f"{source}: nothing to extract (no shapes on the sky130 conductor layers)")
    return l2n, nl, {}


def _flat_net_region(layer: kdb.Region, l2n: kdb.LayoutToNetlist) -> kdb.Region:
    """Flat, per-net merged region of ``layer`` whose polygons carry {_NET: net name}."""
    deep = layer.nets(l2n, 1)
    out = kdb.Region()
    for p in deep.each():
        v = p.property(1)
        name = v[0] if isinstance(v, (list, tuple)) else str(v)
        out.insert(kdb.PolygonWithProperties(kdb.Polygon(p), {_NET: name}))
    out.merge()
    return out


def _bbox_key(p) -> tuple:
    b = p.bbox()
    return (b.left, b.bottom, b.right, b.top, p.area())


def _pair_pieces(upper: kdb.Region, lower: kdb.Region) -> tuple[list[tuple[str, str, float]], int]:
    """Overlap pieces of two net-labelled regions as (upper net, lower net, area dbu²).

    Each AND keeps only the first operand's net label, so it is done both ways and the identical pieces are paired
    by bounding box and area (pieces are disjoint: two nets on one layer never touch)."""
    r1 = upper.and_(lower, kdb.Region.NoPropertyConstraint)
    if r1.is_empty():
        return [], 0
    r2 = lower.and_(upper, kdb.Region.NoPropertyConstraint)
    ups: dict[tuple, list[str]] = defaultdict(list)
    for p in r1.each():
        ups[_bbox_key(p)].append(p.property(_NET))
    out, missing = [], 0
    for p in r2.each():
        key = _bbox_key(p)
        lst = ups.get(key)
        if lst:
            out.append((lst.pop(), p.property(_NET), float(p.area())))
        else:
            missing += 1
    return out, missing


def _equivalent_squares(area: float, perim: float) -> float:
    """L/W of the rectangle with this area and perimeter (any units, consistent)."""
    q = perim / 4.0
    disc = max(q * q - area, 0.0)
    length = q + math.sqrt(disc)
    width = area / length if length > 0 else 0.0
    return length / width if width > 0 else 0.0


# --------------------------------------------------------------------------------------------------- extraction
def extract_parasitics(gds_or_layout, *, coupling: bool = True, resistance: bool = True,
                       halo_um: float = HALO_UM) -> Parasitics:
    """Extract the parasitics of a GDS path (one top cell) or a (kdb.Layout, kdb.Cell) pair; see the module doc."""
    t0 = time.perf_counter()
    ly, cell, source = _read(gds_or_layout)
    l2n, nl, dev_counts = _extract(ly, cell, source)
    top = next(nl.each_circuit_top_down(), None)
    dbu = ly.dbu
    a_um2, l_um = dbu * dbu, dbu

    nets: dict[str, NetParasitics] = {}

    def net(name: str) -> NetParasitics:
        if name not in nets:
            nets[name] = NetParasitics(name)
        return nets[name]

    if top is not None:
        for n in top.each_net():
            net(n.expanded_name())

    names = [c.name for c in S.CONDUCTORS]
    R = {name: _flat_net_region(l2n.layer_by_name(name), l2n) for name in names}
    capm2 = _flat_net_region(l2n.layer_by_name("capm2"), l2n)
    coup: dict[tuple[str, str], float] = defaultdict(float)  # F
    unattributed = 0

    def add_coupling(a: str, b: str, c_f: float) -> None:
        if a == b or c_f <= 0:
            return
        coup[(a, b) if a < b else (b, a)] += c_f

    for i, cond in enumerate(S.CONDUCTORS):
        L = cond.name
        reg = R[L]
        if reg.is_empty():
            continue
        # drawn area, perimeter and series resistance per net
        for p in reg.each():
            nm = p.property(_NET)
            np_ = net(nm)
            a, per = p.area() * a_um2, p.perimeter() * l_um
            np_.area_um2[L] = np_.area_um2.get(L, 0.0) + a
            np_.perimeter_um[L] = np_.perimeter_um.get(L, 0.0) + per
            if resistance:
                r = cond.r_sheet_ohm * _equivalent_squares(a, per)
                np_.r_by_layer[L] = np_.r_by_layer.get(L, 0.0) + r
                np_.r_ohm += r
        # vertical: the nearest lower conductor under each part of the net takes its area and edges
        lower = [("capm2", capm2, "met4")] if L == "met5" else []
        lower += [(k.name, R[k.name], k.name) for k in reversed(S.CONDUCTORS[:i])]
        rem = reg
        edges = reg.edges()
        for k_name, k_reg, k_const in lower:
            if rem.is_empty() or k_reg.is_empty():
                continue
            pieces, missing = _pair_pieces(rem, k_reg)
            unattributed += missing
            if not pieces:
                continue
            c_ov = S.OVERLAP_AF_UM2[(L, k_const)] * AF
            c_so = S.SIDEOVERLAP_AF_UM[(L, k_const)] * AF
            over: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            for a, b, ar in pieces:
                over[a][b] += ar
                if a != b:
                    add_coupling(a, b, ar * a_um2 * c_ov)
            # edge length of each upper net lying over K: split among K's nets by overlap area
            k_flat = k_reg.dup()
            k_flat.remove_properties()
            inside = edges.inside_part(k_flat)
            _, shielded = _relabel(inside, edges)
            for a, length in shielded.items():
                tot = sum(over[a].values())
                for b, ar in over[a].items():
                    if a != b and tot > 0:
                        add_coupling(a, b, length * l_um * c_so * ar / tot)
            edges, _ = _relabel(edges.not_(inside), edges)  # boundary-coincident edges stay unshielded
            rem = rem.not_(k_flat, kdb.Region.NoPropertyConstraint)
        # what is over no conductor goes to the substrate
        for p in rem.each():
            np_ = net(p.property(_NET))
            c = p.area() * a_um2 * cond.c_area_af_um2 * AF
            np_.c_by_layer[L] = np_.c_by_layer.get(L, 0.0) + c
            np_.c_ground_f += c
        for e in edges.each():
            np_ = net(e.property(_NET))
            c = e.length() * l_um * cond.c_fringe_af_um * AF
            np_.c_by_layer[L] = np_.c_by_layer.get(L, 0.0) + c
            np_.c_ground_f += c
        # lateral coupling between different nets on L: facing edges within the halo (any shape in between
        # shields), each edge given the net of the shape it bounds
        if coupling:
            flat = reg.dup()
            flat.remove_properties()
            pairs = flat.space_check(int(round(halo_um / dbu)), False, kdb.Region.Projection, None, None, None,
                                     True)
            lab = _label_lookup(reg.edges())
            for ep in pairs.each():
                a, b = lab(ep.first), lab(ep.second)
                if a is None or b is None:
                    unattributed += 1
                    continue
                if a == b:
                    continue
                length = 0.5 * (ep.first.length() + ep.second.length()) * l_um
                s = ep.distance() * l_um
                add_coupling(a, b, length * cond.sidewall_k_af / (s + cond.sidewall_offset_um) * AF)

    couplings = sorted((a, b, c) for (a, b), c in coup.items() if c >= MIN_COUPLING_F)
    for a, b, c in couplings:
        net(a).c_coupling_f += c
        net(b).c_coupling_f += c

    sub = _substrate_net(top)
    mims = _mim_caps(top, ly, cell) if top is not None else []
    return Parasitics(source=source, top=cell.name, nets=nets, couplings=couplings, substrate_net=sub,
                      devices=dev_counts, mim_caps=mims, unattributed=unattributed,
                      runtime_s=time.perf_counter() - t0, netlist=nl.dup())


def _relabel(parts: kdb.Edges, labelled: kdb.Edges) -> tuple[kdb.Edges, dict[str, float]]:
    """Give each edge of ``parts`` (pieces of ``labelled``'s edges; Edges booleans drop properties) the net label
    of the edge it came from; returns the labelled edges and the length (dbu) per net."""
    out, length = kdb.Edges(), defaultdict(float)
    if parts.is_empty():
        return out, length
    lab = _label_lookup(labelled)
    for e in parts.each():
        name = lab(e)
        if name is not None:
            out.insert(kdb.EdgeWithProperties(kdb.Edge(e.p1, e.p2), {_NET: name}))
            length[name] += e.length()
    return out, length


def _line_key(e) -> tuple[tuple, int, int]:
    dx, dy = e.dx(), e.dy()
    g = math.gcd(abs(dx), abs(dy)) or 1
    ux, uy = dx // g, dy // g
    if ux < 0 or (ux == 0 and uy < 0):
        ux, uy = -ux, -uy
    c = ux * e.p1.y - uy * e.p1.x
    t1, t2 = ux * e.p1.x + uy * e.p1.y, ux * e.p2.x + uy * e.p2.y
    return (ux, uy, c), min(t1, t2), max(t1, t2)


def _label_lookup(edges: kdb.Edges):
    """Function: edge segment -> net label of the labelled edge of ``edges`` that contains it (None if none)."""
    table: dict[tuple, list] = defaultdict(list)
    for e in edges.each():
        key, t1, t2 = _line_key(e)
        table[key].append((t1, t2, e.property(_NET)))

    def find(seg):
        key, t1, t2 = _line_key(seg)
        for a, b, name in table.get(key, ()):
            if a <= t1 and t2 <= b:
                return name
        return None

    return find


def _substrate_net(top) -> str:
    """Name of the net the NMOS bulk terminals connect to (the p-substrate), or "0"."""
    if top is None:
        return "0"
    for d in top.each_device():
        dc = d.device_class()
        if isinstance(dc, kdb.DeviceClassMOS4Transistor) and "nfet" in dc.name:
            n = d.net_for_terminal(kdb.DeviceClassMOS4Transistor.TERMINAL_B)
            if n is not None:
                return n.expanded_name()
    return "0"


def _mim_caps(top, ly: kdb.Layout, cell: kdb.Cell) -> list[dict]:
    """Every MIM capacitor: its top-plate net (terminal A, capm2: the neuron membrane) and bottom-plate net,
    model C, position (µm) and the top-level instance (block) it sits in."""
    blocks = []
    for inst in cell.each_inst():
        blocks.append((inst.dbbox(), inst.cell.name))
    out = []
    for d in top.each_device():
        if d.device_class().name not in (D.MIM_CAP, D.MIM_CAP_M3):
            continue
        pos = d.trans.disp
        block = next((name for box, name in blocks if box.contains(kdb.DPoint(pos.x, pos.y))), "")
        out.append({
            "device": d.expanded_name(), "model": d.device_class().name,
            "top_net": d.net_for_terminal(0).expanded_name(), "bottom_net": d.net_for_terminal(1).expanded_name(),
            "c_f": round_sig(d.parameter("C")), "x_um": round_sig(pos.x), "y_um": round_sig(pos.y), "block": block,
        })
    out.sort(key=lambda m: (m["block"], m["x_um"], m["y_um"]))
    return out


# --------------------------------------------------------------------------------------------------- SPICE
_SAFE = re.compile(r"[^A-Za-z0-9_]")


def spice_names(names) -> dict[str, str]:
    """Map net names to SPICE-safe, case-insensitively unique node names (``$I5`` -> ``n_I5``, ``0`` stays)."""
    out: dict[str, str] = {}
    used: set[str] = {"0"}
    for name in sorted(set(names)):
        if name == "0":
            out[name] = "0"
            continue
        s = _SAFE.sub("_", name.replace("$", "n_", 1) if name.startswith("$") else name) or "n"
        if not (s[0].isalpha() or s[0] == "_"):
            s = "n_" + s
        base, k = s, 1
        while s.lower() in used:
            k += 1
            s = f"{base}_{k}"
        used.add(s.lower())
        out[name] = s
    return out


def write_spice(par: Parasitics, path: str | os.PathLike) -> Path:
    """Write the post-layout netlist: the extracted devices (KLayout's SPICE writer) plus the parasitic C elements.

    The parasitic capacitors are added as devices of a capacitor class ``C`` to a copy of the extracted netlist and
    written by the same writer, so no netlist text is assembled here."""
    nl = par.netlist.dup() if par.netlist is not None else kdb.Netlist()  # the caller's stays as it was
    top = next(nl.each_circuit_top_down(), None)
    if top is None:
        top = kdb.Circuit()
        top.name = par.top
        nl.add(top)
    by_name: dict[str, kdb.Net] = {}
    for n in top.each_net():
        by_name.setdefault(n.expanded_name(), n)

    def node(name: str) -> kdb.Net:
        if name not in by_name:
            n = top.create_net(name)
            by_name[name] = n
        return by_name[name]

    cls = kdb.DeviceClassCapacitor()  # unnamed: written as a plain "C<name> a b value" (no model)
    nl.add(cls)
    k = 0

    def cap(a: str, b: str, c_f: float, tag: str) -> None:
        nonlocal k
        k += 1
        d = top.create_device(cls, f"PEX_{tag}{k}")
        d.connect_terminal(kdb.DeviceClassCapacitor.TERMINAL_A, node(a))
        d.connect_terminal(kdb.DeviceClassCapacitor.TERMINAL_B, node(b))
        d.set_parameter(kdb.DeviceClassCapacitor.PARAM_C, round_sig(c_f))

    sub = par.substrate_net
    for name in sorted(par.nets):
        c = par.nets[name].c_ground_f
        if c > 0 and name != sub:
            cap(name, sub, c, "G")
    for a, b, c in par.couplings:
        cap(a, b, c, "X")
    # SPICE-safe names in place (the writer would escape "$I5" as "\\$I5", which ngspice does not read)
    mapping = spice_names(list(by_name) + [sub])
    # nets that share a label (e.g. each layer block's V0 rail) stay separate pins: V0, V0_2, ...; the parasitics
    # of a shared name were summed and sit on the first of them
    used = {v.lower() for v in mapping.values()}
    first: set[str] = set()
    for n in list(top.each_net()):
        name = mapping[n.expanded_name()]
        if name in first:
            k = 2
            while f"{name}_{k}".lower() in used:
                k += 1
            used.add(f"{name}_{k}".lower())
            name = f"{name}_{k}"
        first.add(name)
        n.name = name
    for i, d in enumerate(sorted(top.each_device(), key=lambda d: d.id()), 1):
        d.name = _SAFE.sub("_", d.expanded_name().lstrip("$")) or str(i)
    writer = kdb.NetlistSpiceWriter()
    writer.use_net_names = True
    with atomic_output(path) as tmp:
        nl.write(str(tmp), writer, f"post-layout netlist of {par.top}: extracted devices + parasitic C "
                 "(imcgen pex; generator/signoff/pex.py)")
    return Path(path)


__all__ = ["NetParasitics", "Parasitics", "PexError", "extract_parasitics", "spice_names", "write_spice"]
