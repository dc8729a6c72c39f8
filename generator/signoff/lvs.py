"""LVS of a whole network: the GDS extracted with klayout.db against the CDL reference (``<name>.cdl``).

How (runs wherever pip klayout does; no Ruby deck):

* Extraction: :func:`generator.signoff.extract.setup_extraction` on a ``kdb.LayoutVsSchematic`` (all four MOS
  types with W/L, the MIM with area, perimeter and the sky130 C law). Hierarchical: each synapse and neuron cell is
  extracted once however often the array repeats it.
* Top-level labels that the layout repeats on purpose (``VDD VSS V0 VBDIS VBSENSE``: one rail bar / bias pin per
  layer, joined outside the die) are joined by name (``join_net_names``).
* Names: the CDL keeps the simulation netlist's net names (``in_j``, ``s<l>_<i>``, ``b<l>n_<i>_<j>``, ...: the
  ``.spice``, the testbench and the waveforms all use them), the layout's pins follow the pad convention
  (``IN<j>``, ``L<k>_OUT<i>``, ``L<k>_VBN_<i>_<j>``, ...; generator/layout/top.py). :func:`layout_name` is the
  one translation (CDL top net -> layout pin); the reference's top nets are renamed with it before comparing, so
  the KLayout browser shows one name per net on both sides.
* Hierarchy: the small device cells of the layout (MOS stacks, tap rows) and the stack subcircuits of the CDL
  (``synapse_pos``/``synapse_neg``) are flattened into their parents; the layout's synapse cells pair with the
  CDL's ``synapse_cell_pos/_neg/_off`` (classified by which memory gate is tied to its rail), its neuron cells with
  the CDL neuron of the same layer (layout layer cells in x order against the CDL's L0, L1, ...). The layer
  circuits are then flattened into the top on both sides: each is instantiated once (keeping it saves nothing),
  the layout completes a layer's rails only in the top cell (the VDD/VSS bars join its rows there) and labels its
  nets only there, and without names the comparison of a symmetric crossbar would be left to guesswork. So the
  top circuit holds the synapse and neuron instances (317,600 + 410 for MNIST) and every cell is compared once.
  A cell pair that cannot be made one-to-one is flattened on both sides.
* Parameters: MOS W and L equal within 1 nm; MIM C within 1 % (``CAP_REL_TOL``).

Result: :class:`LvsReport` (match, device counts per model, mismatches naming circuit, net or device and a
location in µm in that circuit's coordinates) and, on request, a ``.lvsdb`` for KLayout's netlist browser
(File > Open, or Tools > Netlist Browser with the GDS loaded).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import klayout.db as kdb

from generator.errors import DesignError, InputError
from generator.io import atomic_output, dump_json
from generator.pdk import sky130 as P
from generator.signoff.extract import device_counts, setup_extraction
from generator.signoff.gds import read_layout

#: relative tolerance of the MIM capacitance (the CDL's model C against C from the drawn area and perimeter)
CAP_REL_TOL = 0.01
#: absolute tolerance of MOS W and L (µm): one database unit
WL_TOL_UM = 0.001
#: top-level nets the layout labels once per layer on purpose (tied together outside the die)
SHARED_NETS = ("VDD", "VSS", "V0", "VBDIS", "VBSENSE")
#: CDL synapse cells (generator/spice/netlist.py SYNAPSE_CELLS) by the memory gates tied off in them
SYNAPSE_CELL_OF = {("p",): "SYNAPSE_CELL_POS", ("n",): "SYNAPSE_CELL_NEG", ("n", "p"): "SYNAPSE_CELL_OFF"}
MAX_MISMATCHES = 200  #: mismatches listed in the report (the count is always complete)

_RULES = (
    (re.compile(r"in_(\d+)"), lambda m: f"IN{m[1]}"),
    (re.compile(r"inb_(\d+)"), lambda m: f"IN{m[1]}_B"),
    (re.compile(r"s(\d+)_(\d+)"), lambda m: f"L{int(m[1]) - 1}_OUT{m[2]}"),
    (re.compile(r"sb(\d+)_(\d+)"), lambda m: f"L{int(m[1]) - 1}_OUT{m[2]}_B"),
    (re.compile(r"m(\d+)_(\d+)"), lambda m: f"L{int(m[1]) - 1}_MEM{m[2]}"),
    (re.compile(r"b(\d+)([np])_(\d+)_(\d+)"), lambda m: f"L{int(m[1]) - 1}_VB{m[2].upper()}_{m[3]}_{m[4]}"),
    (re.compile(r"rst(\d+)"), lambda m: f"L{int(m[1]) - 1}_RESET"),
    (re.compile(r"rstb(\d+)"), lambda m: f"L{int(m[1]) - 1}_RESET_B"),
    (re.compile(r"ph(\d+)"), lambda m: f"L{int(m[1]) - 1}_PHASE"),
    (re.compile(r"phb(\d+)"), lambda m: f"L{int(m[1]) - 1}_PHASE_B"),
    (re.compile(r"(v0|vbdis|vbsense|vdd|vss)"), lambda m: m[1].upper()),
)


class LvsError(DesignError):
    """LVS could not run (unreadable GDS or CDL, no single top cell): exit 2."""


def layout_name(cdl_net: str) -> str:
    """The layout pin name of a CDL top-level net (case-insensitive), e.g. ``b2n_0_3`` -> ``L1_VBN_0_3``,
    ``sb1_4`` -> ``L0_OUT4_B``; a name outside the convention comes back upper-cased. (Membranes ``m<l>_<i>``,
    which the layout does not label, become ``L<l-1>_MEM<i>``.)"""
    s = cdl_net.lower()
    for rx, fn in _RULES:
        m = rx.fullmatch(s)
        if m:
            return fn(m)
    return cdl_net.upper()


@dataclass
class Mismatch:
    """One difference: ``kind`` (net, device, subcircuit, pin, circuit), the circuit (layout / reference name),
    the layout and reference object names (None where one side has none), what ``status`` KLayout gave, and a
    location (x, y in µm, in the layout circuit's coordinates) where there is one."""

    kind: str
    circuit: str
    layout: str | None
    reference: str | None
    status: str
    location: tuple[float, float] | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        d = {"kind": self.kind, "circuit": self.circuit, "layout": self.layout, "reference": self.reference,
             "status": self.status}
        if self.location is not None:
            d["location_um"] = [round(self.location[0], 3), round(self.location[1], 3)]
        if self.detail:
            d["detail"] = self.detail
        return d

    def __str__(self) -> str:
        at = f" at ({self.location[0]:.3f}, {self.location[1]:.3f}) µm" if self.location else ""
        det = f" [{self.detail}]" if self.detail else ""
        return f"{self.circuit}: {self.kind} {self.layout or '-'} <> {self.reference or '-'}: {self.status}{at}{det}"


@dataclass
class LvsReport:
    """Result of :func:`run_lvs`."""

    gds: str
    cdl: str
    top: str
    match: bool
    devices: dict[str, int] = field(default_factory=dict)  #: extracted devices per model (whole hierarchy)
    reference_devices: dict[str, int] = field(default_factory=dict)  #: the CDL's, per model
    mismatches: list[Mismatch] = field(default_factory=list)
    n_mismatches: int = 0
    circuits: list[dict] = field(default_factory=list)  #: per compared circuit pair: names and status
    seconds: float = 0.0
    lvs: kdb.LayoutVsSchematic | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """The ``--json`` line: match, devices, mismatches (as dicts)."""
        return {"match": self.match, "devices": self.devices,
                "mismatches": [m.as_dict() for m in self.mismatches], "n_mismatches": self.n_mismatches}

    def as_dict(self) -> dict:
        return {**self.summary(), "gds": self.gds, "cdl": self.cdl, "top": self.top,
                "reference_devices": self.reference_devices, "circuits": self.circuits,
                "seconds": round(self.seconds, 3)}

    def write_json(self, path) -> Path:
        from generator.io import atomic_write_text

        return atomic_write_text(path, dump_json(self.as_dict()))

    def write_lvsdb(self, path) -> Path:
        """The LVS database (layout, extracted and reference netlists, cross-reference) for KLayout's browser."""
        if self.lvs is None:
            raise LvsError("no LVS database in this report")
        with atomic_output(path) as tmp:
            self.lvs.write(str(tmp))
        return Path(path)

    def text(self) -> str:
        status = "MATCH" if self.match else f"MISMATCH ({self.n_mismatches} differences)"
        lines = [f"LVS of {self.top} in {self.gds} against {self.cdl}: {status} ({self.seconds:.1f} s)"]
        for name, n in self.devices.items():
            ref = self.reference_devices.get(name)
            lines.append(f"  {name:<32} {n:>9}" + (f"  (reference {ref})" if ref != n else ""))
        for name, n in self.reference_devices.items():
            if name not in self.devices:
                lines.append(f"  {name:<32} {0:>9}  (reference {n})")
        lines += [f"  {m}" for m in self.mismatches]
        if self.n_mismatches > len(self.mismatches):
            lines.append(f"  ... {self.n_mismatches - len(self.mismatches)} more")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- inputs
def find_cdl(path) -> Path:
    """``path`` if it is a CDL file, else the single ``*.cdl`` in the folder ``path`` (InputError otherwise)."""
    p = Path(path)
    if p.is_dir():
        cdls = sorted(p.glob("*.cdl"))
        if len(cdls) != 1:
            raise InputError(f"{p}: expected one .cdl netlist in the folder, found {[c.name for c in cdls]}; pass "
                             "the .cdl file itself (write it with `imcgen netlist MODEL --out DIR`)")
        return cdls[0]
    if not p.is_file():
        raise InputError(f"{p}: no such netlist file or folder; write it with `imcgen netlist MODEL --out DIR`")
    return p


def _read_layout(gds) -> tuple[kdb.Layout, kdb.Cell]:
    return read_layout(gds, error=LvsError, what="layout file")


def _read_cdl(path: Path) -> kdb.Netlist:
    nl = kdb.Netlist()
    try:
        nl.read(str(path), kdb.NetlistSpiceReader())
    except RuntimeError as exc:
        raise LvsError(f"{path}: not a readable CDL/SPICE netlist ({exc})") from None
    nl.case_sensitive = False
    if not any(True for _ in nl.each_circuit()):
        raise LvsError(f"{path}: the netlist has no subcircuit")
    return nl


# ---------------------------------------------------------------------------------------------- hierarchy
def _top(nl: kdb.Netlist) -> kdb.Circuit:
    tops = [c for c in nl.each_circuit() if not any(True for _ in c.each_ref())]
    if len(tops) != 1:
        raise LvsError(f"netlist has {len(tops)} top circuits ({[c.name for c in tops][:5]}); expected one")
    return tops[0]


def _children(c: kdb.Circuit) -> list[kdb.Circuit]:
    seen, out = set(), []
    for sc in c.each_subcircuit():
        ch = sc.circuit_ref()
        if ch.name not in seen:
            seen.add(ch.name)
            out.append(ch)
    return out


def _has_mim(c: kdb.Circuit) -> bool:
    return any(d.device_class().name.upper() == P.MIM_CAP.upper() for d in c.each_device())


def _tied_off(c: kdb.Circuit) -> tuple[str, ...]:
    """Which memory gates of a layout synapse cell are tied to their rail: "n" when an NMOS gate is on the NMOS
    bulk net (the substrate/VSS), "p" when a PMOS gate is on the PMOS bulk net (VDD, the n-well)."""
    out = []
    for kind in ("n", "p"):
        for d in c.each_device():
            dc = d.device_class().name.lower()
            if not isinstance(d.device_class(), kdb.DeviceClassMOS4Transistor) or f"__{kind}fet" not in dc:
                continue
            g = d.net_for_terminal(kdb.DeviceClassMOS4Transistor.TERMINAL_G)
            b = d.net_for_terminal(kdb.DeviceClassMOS4Transistor.TERMINAL_B)
            if g is not None and b is not None and g.cluster_id == b.cluster_id:
                out.append(kind)
                break
    return tuple(out)


def _layer_order(top: kdb.Circuit, by_x: bool) -> list[tuple[kdb.SubCircuit, kdb.Circuit]]:
    subs = list(top.each_subcircuit())
    if by_x:
        subs.sort(key=lambda s: (s.trans.disp.x, s.trans.disp.y))
    else:
        subs.sort(key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s.name)])
    return [(s, s.circuit_ref()) for s in subs]


def _pair_and_flatten(a: kdb.Netlist, b: kdb.Netlist, comparer: kdb.NetlistComparer, notes: list[Mismatch]) -> None:
    """Flatten the device-level helper cells, pair the layout's cells with the reference's (module doc)."""
    ta, tb = _top(a), _top(b)
    # 1. layout: everything below the cells of the layers is device geometry: flatten into the cells
    keep_a = {ta.name}
    layers_a = _layer_order(ta, by_x=True)
    for _, lc in layers_a:
        keep_a.add(lc.name)
        keep_a.update(ch.name for ch in _children(lc))
    a.flatten_circuits([c for c in a.each_circuit() if c.name not in keep_a])
    # reference: the stack subcircuits flatten into the synapse cells
    layers_b = _layer_order(tb, by_x=False)
    keep_b = {tb.name}
    for _, lc in layers_b:
        keep_b.add(lc.name)
        keep_b.update(ch.name for ch in _children(lc))
    b.flatten_circuits([c for c in b.each_circuit() if c.name not in keep_b])
    comparer.same_circuits(ta, tb)
    # 2. layers in x order against L0, L1, ...
    flat_a, flat_b = set(), set()
    if len(layers_a) != len(layers_b) or len({lc.name for _, lc in layers_a}) != len(layers_a):
        notes.append(Mismatch("circuit", ta.name, str(len(layers_a)), str(len(layers_b)), "LayerCountMismatch",
                              detail="layout and reference have different numbers of layer instances; "
                                     "compared flat"))
        a.flatten_circuits([c for c in a.each_circuit() if c.name != ta.name])
        b.flatten_circuits([c for c in b.each_circuit() if c.name != tb.name])
        return
    partners: dict[str, set[str]] = {}  # reference circuit -> layout circuits
    partners_a: dict[str, set[str]] = {}
    for (ia, la), (ib, lb) in zip(layers_a, layers_b):
        del ia, ib
        kids_b = _children(lb)
        neuron_b = [c for c in kids_b if not c.name.upper().startswith("SYNAPSE_CELL")]
        for ca in _children(la):
            if _has_mim(ca):
                target = neuron_b[0].name if len(neuron_b) == 1 else None
            else:
                target = SYNAPSE_CELL_OF.get(_tied_off(ca))
                if target is None or b.circuit_by_name(target) is None:
                    target = None
            if target is None:
                flat_a.add(ca.name)
                continue
            partners.setdefault(target, set()).add(ca.name)
            partners_a.setdefault(ca.name, set()).add(target)
    for rb, las in partners.items():
        one_to_one = len(las) == 1 and all(len(partners_a[x]) == 1 for x in las)
        if one_to_one:
            comparer.same_circuits(a.circuit_by_name(next(iter(las))), b.circuit_by_name(rb))
        else:
            flat_a.update(las)
            flat_b.add(rb)
    # 3. the layer circuits flatten into the top: each is instantiated once (nothing to save), and the layout
    # completes a layer's nets only in the top cell (rail bars joining its rows' VDD/VSS, the pin labels)
    flat_a.update(lc.name for _, lc in layers_a)
    flat_b.update(lc.name for _, lc in layers_b)
    if flat_a:
        a.flatten_circuits([a.circuit_by_name(n) for n in sorted(flat_a)])
    if flat_b:
        b.flatten_circuits([b.circuit_by_name(n) for n in sorted(flat_b)])


def _parameters(nl: kdb.Netlist) -> None:
    for dc in nl.each_device_class():
        if isinstance(dc, kdb.DeviceClassCapacitor):
            dc.equal_parameters = kdb.EqualDeviceParameters(kdb.DeviceClassCapacitor.PARAM_C, 0.0, CAP_REL_TOL)
        elif isinstance(dc, kdb.DeviceClassMOS4Transistor):
            eq = kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_W, WL_TOL_UM, 0.0)
            eq += kdb.EqualDeviceParameters(kdb.DeviceClassMOS4Transistor.PARAM_L, WL_TOL_UM, 0.0)
            dc.equal_parameters = eq


# ---------------------------------------------------------------------------------------------- report
_STATUS = {kdb.NetlistCrossReference.Match: "Match", kdb.NetlistCrossReference.NoMatch: "NoMatch",
           kdb.NetlistCrossReference.Skipped: "Skipped", kdb.NetlistCrossReference.MatchWithWarning: "MatchWithWarning",
           kdb.NetlistCrossReference.Mismatch: "Mismatch", kdb.NetlistCrossReference.None_: "None"}
_BAD = (kdb.NetlistCrossReference.NoMatch, kdb.NetlistCrossReference.Mismatch, kdb.NetlistCrossReference.Skipped)


def _dev_desc(d: kdb.Device | None) -> str | None:
    if d is None:
        return None
    dc = d.device_class()
    ps = []
    for pd in dc.parameter_definitions():
        if pd.is_primary:
            v = d.parameter(pd.id())
            ps.append(f"{pd.name}={v:.4g}")
    return f"{d.expanded_name()} ({dc.name} {' '.join(ps)})"


def _dev_loc(d: kdb.Device | None):
    if d is None:
        return None
    t = d.trans.disp
    return (t.x, t.y)


def _net_loc(n: kdb.Net | None):
    if n is None:
        return None
    for t in n.each_terminal():
        return _dev_loc(t.device())
    for sp in n.each_subcircuit_pin():
        t = sp.subcircuit().trans.disp
        return (t.x, t.y)
    return None


def _mismatches(xref: kdb.NetlistCrossReference) -> tuple[list[Mismatch], list[dict]]:
    out, circuits = [], []
    for cp in xref.each_circuit_pair():
        ca, cb = cp.first(), cp.second()
        cname = ca.name if ca is not None else (cb.name if cb is not None else "?")
        st = cp.status()
        circuits.append({"layout": ca.name if ca else None, "reference": cb.name if cb else None,
                         "status": _STATUS.get(st, str(st))})
        if ca is None or cb is None:
            out.append(Mismatch("circuit", cname, ca.name if ca else None, cb.name if cb else None,
                                _STATUS.get(st, str(st)), detail="circuit without a counterpart"))
            continue
        if st not in _BAD:
            continue
        n0 = len(out)
        for dp in xref.each_device_pair(cp):
            # a device pair "MatchWithWarning" is one whose connections match but whose parameters do not
            if dp.status() in _BAD or dp.status() == kdb.NetlistCrossReference.MatchWithWarning:
                a, b = dp.first(), dp.second()
                st_d = "ParameterMismatch" if dp.status() == kdb.NetlistCrossReference.MatchWithWarning else \
                    _STATUS.get(dp.status(), "?")
                out.append(Mismatch("device", cname, _dev_desc(a), _dev_desc(b), st_d, _dev_loc(a)))
        for np_ in xref.each_net_pair(cp):
            if np_.status() in _BAD:
                a, b = np_.first(), np_.second()
                out.append(Mismatch("net", cname, a.expanded_name() if a else None,
                                    b.expanded_name() if b else None, _STATUS.get(np_.status(), "?"), _net_loc(a)))
        for sp in xref.each_subcircuit_pair(cp):
            if sp.status() in _BAD:
                a, b = sp.first(), sp.second()
                out.append(Mismatch("subcircuit", cname,
                                    f"{a.expanded_name()} ({a.circuit_ref().name})" if a else None,
                                    f"{b.expanded_name()} ({b.circuit_ref().name})" if b else None,
                                    _STATUS.get(sp.status(), "?"), (a.trans.disp.x, a.trans.disp.y) if a else None))
        for pp in xref.each_pin_pair(cp):
            if pp.status() in _BAD:
                a, b = pp.first(), pp.second()
                out.append(Mismatch("pin", cname, a.expanded_name() if a else None, b.expanded_name() if b else None,
                                    _STATUS.get(pp.status(), "?")))
        if len(out) == n0:
            out.append(Mismatch("circuit", cname, ca.name, cb.name, _STATUS.get(st, str(st)),
                                detail="circuits differ (see the .lvsdb)"))
    return out, circuits


def _reference_counts(b: kdb.Netlist) -> dict[str, int]:
    return {k.lower(): v for k, v in device_counts(b).items()}


# ---------------------------------------------------------------------------------------------- entry point
def run_lvs(gds, cdl, *, threads: int = 1) -> LvsReport:
    """LVS of ``gds`` (one top cell; .gds, .gds.gz or .oas) against ``cdl`` (a ``.cdl`` file or a folder holding
    exactly one). Raises InputError / LvsError (exit 2) when either cannot be read; a mismatch is a report."""
    t0 = time.perf_counter()
    cdl_path = find_cdl(cdl)
    ly, top = _read_layout(gds)
    lvs = kdb.LayoutVsSchematic(kdb.RecursiveShapeIterator(ly, top, []))
    lvs.reference = _read_cdl(cdl_path)
    ref = lvs.reference  # the LVS object's own copy: the comparer's circuit pairs must point into it
    lvs.threads = threads
    for name in SHARED_NETS:
        lvs.join_net_names(name)
    setup_extraction(lvs, ly)
    a = lvs.netlist()  # (stays case-sensitive: a case-folded netlist loses the comparer's circuit pairs)
    a.make_top_level_pins()
    a.purge()  # drops empty helper circuits; keeps the top
    devices = {k.lower(): v for k, v in device_counts(a).items()}
    ref_devices = _reference_counts(ref)
    # reference top nets carry the layout's pin names
    tb = _top(ref)
    for net in tb.each_net():
        if net.name:
            net.name = layout_name(net.name)
    for pin in tb.each_pin():
        n = tb.net_for_pin(pin.id())
        if n is not None and n.name:
            tb.rename_pin(pin.id(), n.name)
    comparer = kdb.NetlistComparer()
    comparer.max_branch_complexity = 500
    comparer.max_depth = 16
    notes: list[Mismatch] = []
    _pair_and_flatten(a, ref, comparer, notes)
    a.purge_nets()
    _parameters(a)
    _parameters(ref)
    ok = lvs.compare(comparer)
    mism, circuits = _mismatches(lvs.xref())
    mism = notes + mism
    ok = ok and not notes
    rep = LvsReport(gds=str(gds), cdl=str(cdl_path), top=top.name, match=bool(ok), devices=devices,
                    reference_devices=ref_devices, mismatches=mism[:MAX_MISMATCHES], n_mismatches=len(mism),
                    circuits=circuits, seconds=time.perf_counter() - t0, lvs=lvs)
    return rep


def summary_line(rep: LvsReport) -> str:
    """One JSON line: {"match": bool, "devices": {...}, "mismatches": [...]} (``imcgen lvs --json``)."""
    import json

    return json.dumps(rep.summary(), sort_keys=False)
