"""The project's own sky130 DRC on ``klayout.db``: runs wherever the pip ``klayout`` module does.

The official sky130 KLayout decks are Ruby (open_pdks) and the pip module has no Ruby, so this module
interprets the rule table of :mod:`generator.pdk.sky130.rules` with ``klayout.db.Region`` operations, in deep
(hierarchical) mode by default so that large arrays of references are checked once per cell, not once per
instance. ``run_official_deck`` runs the official deck with a ``klayout`` binary where open_pdks is installed.

Units: µm for lengths and marker boxes, µm² for areas; the layout database unit is read from the GDS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import klayout.db as kdb

from generator.errors import DesignError
from generator.io import atomic_output, atomic_write_text, dump_json
from generator.pdk.sky130 import rules as T
from generator.signoff.gds import read_layout

#: markers kept per rule (the count is always complete); keeps reports of broken big arrays small
MAX_MARKERS_PER_RULE = 1000

#: largest distance of any shape from the origin the checker accepts (µm; a sky130 reticle field is 26 x 33 mm).
#: Shapes near the 32-bit database limit (±2^31 units) make KLayout's region operations overflow or run for hours.
MAX_EXTENT_UM = 100_000.0
#: ... and in database units, whatever the database unit (room for sizing and space checks)
MAX_EXTENT_DBU = 2**28

#: the official deck, relative to $PDK_ROOT
OFFICIAL_DECK_REL = Path("sky130A/libs.tech/klayout/drc/sky130A_mr.drc")


class DrcError(DesignError):
    """DRC could not run (missing file, cell, tool or deck); the message says what is missing and the fix."""


class DrcTimeout(DrcError):
    """DRC did not finish within its time limit (``imcgen drc --timeout``)."""


@dataclass(frozen=True)
class Marker:
    """One violation: rule name and bounding box (x0, y0, x1, y1) in µm, top-cell coordinates."""

    rule: str
    bbox: tuple[float, float, float, float]


@dataclass
class DrcReport:
    """Result of one DRC run: violation counts per rule and (up to MAX_MARKERS_PER_RULE per rule) markers."""

    gds: str
    top: str
    deck: str  # "project" or "official"
    by_rule: dict[str, int] = field(default_factory=dict)  # only rules with violations
    markers: list[Marker] = field(default_factory=list)
    rules_checked: list[str] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)  # rule -> documentation text
    dbu_um: float = 0.001
    not_covered: list[str] = field(default_factory=list)  # official periphery rules the deck does not check
    not_checked_layers: list[str] = field(default_factory=list)  # "layer/datatype" with shapes no rule reads

    @property
    def violations(self) -> int:
        """Total number of violations (flat count over all instances)."""
        return sum(self.by_rule.values())

    @property
    def clean(self) -> bool:
        return self.violations == 0

    def summary(self) -> dict:
        """The CLI's one-line JSON: {"violations": N, "by_rule": {...}}, plus "not_checked_layers": [...] when the
        layout holds shapes on layers no rule reads."""
        out = {"violations": self.violations, "by_rule": dict(sorted(self.by_rule.items()))}
        if self.not_checked_layers:
            out["not_checked_layers"] = list(self.not_checked_layers)
        return out

    def to_dict(self) -> dict:
        return {
            "gds": self.gds,
            "top": self.top,
            "deck": self.deck,
            "violations": self.violations,
            "by_rule": dict(sorted(self.by_rule.items())),
            "rules_checked": sorted(set(self.rules_checked)),
            "markers": [{"rule": m.rule, "bbox_um": list(m.bbox)} for m in self.markers],
            "not_covered": sorted(self.not_covered),
            "not_checked_layers": list(self.not_checked_layers),
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write the full report as deterministic JSON (atomic)."""
        return atomic_write_text(path, dump_json(self.to_dict()))

    def write_lyrdb(self, path: str | os.PathLike) -> Path:
        """Write a KLayout marker database (open it over the layout: Tools > Marker Browser). Atomic."""
        import klayout.rdb as rdb

        path = Path(path)
        db = rdb.ReportDatabase(f"imcgen DRC ({self.deck})")
        db.original_file = self.gds
        db.top_cell_name = self.top
        db.generator = "imcgen drc"
        cell = db.create_cell(self.top)
        cats = {}
        for name in sorted(set(self.rules_checked) | set(self.by_rule)):
            cat = db.create_category(name)
            cat.description = self.descriptions.get(name, name)
            cats[name] = cat
        for m in self.markers:
            item = db.create_item(cell.rdb_id(), cats[m.rule].rdb_id())
            x0, y0, x1, y1 = m.bbox
            item.add_value(kdb.DBox(x0, y0, x1, y1))
        with atomic_output(path) as tmp:
            db.save(str(tmp))
        return path


# ----------------------------------------------------------------------------------------------------------------
# project deck


_METRICS = {"euclidian": kdb.Region.Euclidian, "projection": kdb.Region.Projection, "square": kdb.Region.Square}


def _select_rules(rules: Iterable[T.Rule | str] | None) -> list[T.Rule]:
    if rules is None:
        return list(T.RULES)
    out: list[T.Rule] = []
    known = {r.name for r in T.RULES}
    for r in rules:
        if isinstance(r, T.Rule):
            out.append(r)
        elif isinstance(r, str):
            if r not in known:
                raise DrcError(f"unknown DRC rule {r!r}; known rules are listed in generator/pdk/sky130/rules.py")
            out.extend(x for x in T.RULES if x.name == r)
        else:
            raise DrcError(f"rules must be Rule objects or rule names, got {r!r}")
    return out


class _Layers:
    """Lazily built drawn and derived regions of one top cell (deep or flat)."""

    def __init__(self, layout: kdb.Layout, top: kdb.Cell, deep: bool):
        self.layout, self.top = layout, top
        self.dss = kdb.DeepShapeStore() if deep else None
        if self.dss is not None:
            # worker threads cost ~50 ms per operation on small cells and the machines are shared: run inline
            self.dss.threads = 0
        self.cache: dict[str, kdb.Region] = {}
        self.empty: set[str] = set()  # layers known to be empty: their checks are skipped
        self.derived = {d[0]: d[1:] for d in T.DERIVED}

    def is_empty(self, name: str) -> bool:
        self[name]
        return name in self.empty

    def __getitem__(self, name: str) -> kdb.Region:
        if name in self.cache:
            return self.cache[name]
        if name in T.DRAWN:
            ln, dt = T.DRAWN[name]
            idx = self.layout.find_layer(ln, dt)
            if idx is None:
                idx = self.layout.layer(ln, dt)  # empty layer: keeps deep and flat regions uniform
            it = self.top.begin_shapes_rec(idx)
            if it.at_end():
                self.empty.add(name)
            reg = kdb.Region(it, self.dss) if self.dss is not None else kdb.Region(it)
        elif name in self.derived:
            op, *args = self.derived[name]
            a = self[args[0]]
            ea = self.is_empty(args[0])
            eb = len(args) > 1 and self.is_empty(args[1])
            if op == "or" and ea:
                reg = self[args[1]]
                if eb:
                    self.empty.add(name)
            elif ea or (eb and op in ("and", "interacting", "inside")):
                self.empty.add(name)  # the result is empty: no need to compute it
                reg = kdb.Region()
            elif eb and op in ("or", "not", "not_interacting", "outside"):
                reg = a
            elif op == "hulls":
                reg = a.hulls()
            elif op == "holes":
                reg = a.holes()
            else:
                b = self[args[1]]
                reg = {
                    "and": lambda: a & b,
                    "or": lambda: a + b,
                    "not": lambda: a - b,
                    "interacting": lambda: a.interacting(b),
                    "not_interacting": lambda: a.not_interacting(b),
                    "inside": lambda: a.inside(b),
                    "outside": lambda: a.outside(b),
                }[op]()
        else:
            raise DrcError(f"DRC rule table names an unknown layer {name!r} (fix generator/pdk/sky130/rules.py)")
        self.cache[name] = reg
        return reg


def _um(layout: kdb.Layout, v: float) -> int:
    """µm -> database units (rounded)."""
    return int(round(v / layout.dbu))


def _check(rule: T.Rule, lay: _Layers) -> list:
    """Run one rule; returns a list of EdgePairs / Edges / Region results whose elements are violations."""
    ly = lay.layout
    k = rule.kind
    if lay.is_empty(rule.layers[0]):
        return []  # every kind needs shapes on its first layer to produce a violation
    if k in ("separation", "enclosure", "extension", "adjacent_enclosure", "edge_length") and any(
        lay.is_empty(x) for x in rule.layers[1:]
    ):
        return []
    a = lay[rule.layers[0]]
    b = lay[rule.layers[1]] if len(rule.layers) > 1 else None
    d = _um(ly, rule.value)
    metrics = _METRICS[rule.metrics]
    if k == "width":
        return [a.width_check(d, False, metrics)]
    if k == "space":
        return [a.space_check(d, False, metrics)]
    zd = kdb.ZeroDistanceMode.NeverIncludeZeroDistance if rule.ignore_touching else \
        kdb.ZeroDistanceMode.IncludeZeroDistanceWhenTouching
    if k == "separation":
        out = [a.separation_check(b, d, False, metrics, zero_distance_mode=zd)]
        if rule.no_overlap:
            out.append(a & b)
        return out
    if k == "enclosure":
        # a encloses b: edges of b closer than d to an edge of a (coincident edges count as distance 0)
        ep = a.enclosing_check(b, d, False, metrics, zero_distance_mode=zd)
        if rule.butting:
            # report the offending inner edges, less those on the butting boundary with the other layer
            out = [ep.second_edges() - (b.edges() & lay[rule.butting].edges())]
        else:
            out = [ep]
        if rule.must_be_inside:
            out.append(b - a)
        return out
    if k == "extension":
        # edges of the inner layer that lie on the base layer's edges, pushed out by d, must stay in the outer layer
        base = lay[rule.layers[2]]
        return [(b.edges() & base.edges()).extended_out(d) - a]
    if k == "adjacent_enclosure":
        # b edges enclosed by less than d (projection), then b shapes where two such edges meet at a corner
        weak = a.enclosing_check(b, d, False, kdb.Region.Projection).second_edges()
        corners = weak.width_check(1, False, kdb.Region.Euclidian, 100.0)
        return [b.interacting(corners.polygons(1))]
    if k == "area":
        return [a.with_area(0, int(round(rule.value / ly.dbu**2)), False)]
    if k == "hole_area":
        return [a.holes().with_area(0, int(round(rule.value / ly.dbu**2)), False)]
    if k == "exact_size":
        return [a.non_rectangles(), a.edges().with_length(d, True)]
    if k == "edge_length":
        return [(a.edges() & b.edges()).with_length(0, d, False)]
    if k == "forbidden":
        return [a]
    if k == "inside":
        return [a - b]
    if k == "must_interact":
        return [a.not_interacting(b)]
    if k == "aspect_ratio":
        return [a.with_bbox_aspect_ratio(rule.value * (1 + 1e-9), None, False)]
    if k == "rectangular":
        return [a.non_rectangles()]
    if k == "grid":
        return [a.grid_check(d, d)]
    if k == "angle90":
        return [a.edges().with_angle(kdb.Edges.OrthoEdges, True)]
    if k == "angle45":
        return [a.edges().with_angle(kdb.Edges.OrthoDiagonalEdges, True)]
    if k == "huge_space":
        h = _um(ly, rule.huge_um / 2)
        huge = a.sized(-h).sized(h) & a
        if huge.is_empty():
            return []
        errs = a.space_check(d, False, metrics)
        return [errs.polygons(1).interacting(huge.sized(1))]
    raise DrcError(f"rule {rule.name}: unknown kind {k!r} (fix generator/pdk/sky130/rules.py)")


def _describe(rule: T.Rule) -> str:
    """Marker-browser text: name, documentation text and value with its unit."""
    unit = {"area": "µm²", "hole_area": "µm²", "aspect_ratio": "", "angle90": "°", "angle45": "°"}.get(rule.kind, "µm")
    value = f" : {rule.value:g} {unit}".rstrip() if rule.value else ""
    return f"{rule.name} : {rule.doc}{value}"


def _bbox_um(box: kdb.Box, dbu: float) -> tuple[float, float, float, float]:
    return (round(box.left * dbu, 4), round(box.bottom * dbu, 4), round(box.right * dbu, 4), round(box.top * dbu, 4))


def split_2d_arrays(layout: kdb.Layout) -> int:
    """Rewrite every regular na x nb instance array (na, nb > 1) as an nb-long array of a row cell that holds
    the na-long array. Same geometry; returns the number of arrays rewritten.

    Why: KLayout's hierarchical checks cost a few µs per array member per operation, so a flat 784 x 400
    array takes minutes, while 400 rows of 784 (two levels) take well under a second.
    """
    rows: dict[tuple, int] = {}
    done = 0
    for ci in list(layout.each_cell_top_down()):
        cell = layout.cell(ci)
        todo = [inst for inst in cell.each_inst() if inst.is_regular_array() and inst.na > 1 and inst.nb > 1]
        for inst in todo:
            ca = inst.cell_inst
            key = (ca.cell_index, str(ca.cplx_trans), str(ca.a), ca.na)
            if key not in rows:
                row = layout.create_cell(f"{layout.cell(ca.cell_index).name}$drc_row{len(rows)}")
                member = ca.dup()
                member.b = kdb.Vector(0, 0)
                member.nb = 1
                row.insert(member)
                rows[key] = row.cell_index()
            cell.insert(kdb.CellInstArray(rows[key], kdb.Trans(), ca.b, kdb.Vector(0, 0), ca.nb, 1))
            inst.delete()
            done += 1
    return done


def _layer_key(info: kdb.LayerInfo) -> tuple[int, int]:
    return (info.layer, info.datatype)


def check_input(layout: kdb.Layout, cell: kdb.Cell, source: str) -> list[str]:
    """Checks before any rule runs: the extent of ``cell`` (DrcError beyond :data:`MAX_EXTENT_UM` /
    :data:`MAX_EXTENT_DBU`: such shapes overflow or hang the region operations) and the layers with shapes
    (texts aside) that no rule reads, returned as sorted "layer/datatype" strings (reported as not checked)."""
    box = cell.bbox()
    if not box.empty():
        far = max(abs(box.left), abs(box.right), abs(box.bottom), abs(box.top))
        if far > MAX_EXTENT_DBU or far * layout.dbu > MAX_EXTENT_UM:
            raise DrcError(
                f"{source}: cell {cell.name} reaches {far * layout.dbu:.6g} µm ({far} database units of "
                f"{layout.dbu:g} µm) from the origin; the checker accepts up to ±{MAX_EXTENT_UM:g} µm and "
                f"±{MAX_EXTENT_DBU} units (a sky130 reticle is 26 x 33 mm): a shape is misplaced or the database "
                "unit is wrong - fix the GDS")
    known = set(T.DRAWN.values())
    unknown = []
    for li in layout.layer_indexes():
        info = layout.get_info(li)
        if _layer_key(info) in known:
            continue
        it = cell.begin_shapes_rec(li)
        it.shape_flags = kdb.Shapes.SAll & ~kdb.Shapes.STexts
        if not it.at_end():
            unknown.append(_layer_key(info))
    return [f"{ln}/{dt}" for ln, dt in sorted(unknown)]


def check_layout(
    layout: kdb.Layout, top: str | None = None, *, rules: Iterable[T.Rule | str] | None = None, deep: bool = True,
    source: str = "<layout>", _owned: bool = False,
) -> DrcReport:
    """DRC of an in-memory layout (e.g. built by the layout generator) under the project's rule table.

    The layout is not modified (2-D arrays are split into rows on a copy, see :func:`split_2d_arrays`).
    """
    if deep and any(i.is_regular_array() and i.na > 1 and i.nb > 1 for c in layout.each_cell() for i in c.each_inst()):
        if not _owned:
            layout = layout.dup()
        split_2d_arrays(layout)
    if top is None:
        tops = layout.top_cells()
        if len(tops) != 1:
            names = sorted(c.name for c in tops)
            raise DrcError(f"{source}: {len(tops)} top cells {names[:10]}; choose one with --top CELL")
        cell = tops[0]
    else:
        cell = layout.cell(top)
        if cell is None:
            raise DrcError(f"{source}: no cell named {top!r}; pass an existing cell to --top")
    not_checked = check_input(layout, cell, source)
    selected = _select_rules(rules)
    lay = _Layers(layout, cell, deep)
    rep = DrcReport(gds=source, top=cell.name, deck="project", dbu_um=layout.dbu,
                    not_covered=[f"{k}: {v}" for k, v in sorted(T.NOT_COVERED.items())],
                    not_checked_layers=not_checked)
    counts: dict[str, int] = {}
    markers: dict[str, list[Marker]] = {}
    for rule in selected:
        rep.rules_checked.append(rule.name)
        rep.descriptions.setdefault(rule.name, _describe(rule))
        try:
            results = _check(rule, lay)
        except RuntimeError as exc:  # KLayout's own errors (e.g. coordinate overflow)
            raise DrcError(f"{source}: rule {rule.name} could not be checked (KLayout: {exc}); check the GDS "
                           "for degenerate or far-away shapes") from None
        for res in results:
            n = res.count()
            if n == 0:
                continue
            counts[rule.name] = counts.get(rule.name, 0) + n
            ms = markers.setdefault(rule.name, [])
            for i, obj in enumerate(res.each()):
                if len(ms) >= MAX_MARKERS_PER_RULE:
                    break
                ms.append(Marker(rule.name, _bbox_um(obj.bbox(), layout.dbu)))
    rep.rules_checked = sorted(set(rep.rules_checked))
    rep.by_rule = dict(sorted(counts.items()))
    rep.markers = [m for name in sorted(markers) for m in sorted(markers[name], key=lambda m: m.bbox)]
    return rep


def _read_gds(gds_path: str | os.PathLike) -> kdb.Layout:
    return read_layout(gds_path, error=DrcError, one_top=False)[0]


def _within(timeout_s: float, fn, what: str):
    """``fn()`` in a forked child, killed after ``timeout_s`` (KLayout's C++ calls cannot be interrupted
    in-process); its result or its exception comes back through a pipe."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            result = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the parent as is
            result = ("error", exc if isinstance(exc, DrcError) else DrcError(f"{what} failed: {exc!r}"))
        sender.send(result)

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise DrcTimeout(f"{what} did not finish within --timeout {timeout_s:g} s; raise --timeout, or check "
                             "the GDS for far-away or huge shapes")
        try:
            kind, value = receiver.recv()
        except EOFError:
            raise DrcError(f"{what} stopped without a result (exit status {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    if kind == "error":
        raise value
    return value


def run_drc(
    gds_path: str | os.PathLike, *, top: str | None = None, rules: Iterable[T.Rule | str] | None = None,
    deep: bool = True, timeout_s: float | None = None,
) -> DrcReport:
    """DRC of a GDS file under the project's sky130 rule table (default: all of sky130.rules.RULES).

    ``top``: cell to check (default: the single top cell); ``rules``: Rule objects or rule names to restrict
    the check; ``deep``: hierarchical (default) or flat processing; ``timeout_s``: stop the check after this many
    seconds (:class:`DrcTimeout`; None or 0: no limit).
    """
    layout = _read_gds(gds_path)
    if timeout_s:
        return _within(timeout_s, lambda: check_layout(layout, top, rules=rules, deep=deep, source=str(gds_path),
                                                       _owned=True), f"DRC of {str(gds_path)!r}")
    return check_layout(layout, top, rules=rules, deep=deep, source=str(gds_path), _owned=True)


# ----------------------------------------------------------------------------------------------------------------
# official deck


def official_deck_path() -> Path:
    """Path of the official deck under $PDK_ROOT, or DrcError saying what is missing."""
    root = os.environ.get("PDK_ROOT")
    if not root:
        raise DrcError(
            "--deck official needs open_pdks: set PDK_ROOT so that $PDK_ROOT/" f"{OFFICIAL_DECK_REL} exists "
            "(PDK_ROOT is not set; open_pdks is not installable from a registry on these machines)"
        )
    deck = Path(root) / OFFICIAL_DECK_REL
    if not deck.is_file():
        raise DrcError(f"--deck official: {deck} does not exist; install open_pdks (sky130A) under PDK_ROOT={root}")
    return deck


def _occurrences(layout: kdb.Layout, top: kdb.Cell) -> dict[str, int]:
    """How many times each cell under ``top`` is placed in it (array members counted), by cell name."""
    n = {top.cell_index(): 1}
    for ci in layout.each_cell_top_down():
        k = n.get(ci, 0)
        if not k:
            continue
        for inst in layout.cell(ci).each_inst():
            n[inst.cell_index] = n.get(inst.cell_index, 0) + k * inst.size()
    return {layout.cell(ci).name: k for ci, k in n.items()}


def parse_lyrdb(
    path: str | os.PathLike, *, gds: str = "", top: str = "", deck: str = "official", layout: kdb.Layout | None = None,
) -> DrcReport:
    """Read a KLayout marker database (e.g. the official deck's report) into a DrcReport.

    A deep-mode deck reports a violation once per cell; with ``layout`` (the checked layout) each item counts
    once per placement of its cell, as the project deck counts (flat). Marker boxes are moved to the top cell
    through the database's first reference of each cell.
    """
    import klayout.rdb as rdb

    db = rdb.ReportDatabase("")
    db.load(str(path))
    rep = DrcReport(gds=gds or db.original_file, top=top or db.top_cell_name, deck=deck)
    occ: dict[str, int] = {}
    if layout is not None:
        tcell = layout.cell(rep.top) if rep.top else (layout.top_cells()[0] if len(layout.top_cells()) == 1 else None)
        if tcell is not None:
            occ = _occurrences(layout, tcell)
            rep.top = tcell.name
    names = {}
    for cat in db.each_category():
        names[cat.rdb_id()] = cat.name()
        rep.descriptions[cat.name()] = cat.description or cat.name()
        rep.rules_checked.append(cat.name())
    counts: dict[str, int] = {}
    kept: dict[str, int] = {}
    for item in db.each_item():
        name = names.get(item.category_id(), str(item.category_id()))
        cell = db.cell_by_id(item.cell_id())
        counts[name] = counts.get(name, 0) + (occ.get(cell.name(), 1) if cell is not None else 1)
        box = kdb.DBox()
        for v in item.each_value():
            for getter in ("box", "polygon", "edge_pair", "edge"):
                if getattr(v, f"is_{getter}")():
                    box += getattr(v, getter)().bbox()
                    break
        seen = set()
        while cell is not None and cell.rdb_id() not in seen:  # to top-cell coordinates
            seen.add(cell.rdb_id())
            ref = next(iter(cell.each_reference()), None)
            if ref is None:
                break
            box = ref.trans * box
            cell = db.cell_by_id(ref.parent_cell_id)
        kept[name] = kept.get(name, 0) + 1
        if kept[name] <= MAX_MARKERS_PER_RULE:
            rep.markers.append(
                Marker(name, (round(box.left, 4), round(box.bottom, 4), round(box.right, 4), round(box.top, 4)))
            )
    rep.by_rule = dict(sorted(counts.items()))
    rep.rules_checked = sorted(set(rep.rules_checked))
    rep.markers.sort(key=lambda m: (m.rule, m.bbox))
    return rep


def run_official_deck(gds_path: str | os.PathLike, *, top: str | None = None, timeout_s: float = 3600) -> DrcReport:
    """Run open_pdks' sky130A_mr.drc (feol, beol, offgrid) with the klayout binary and read its report."""
    deck = official_deck_path()
    exe = shutil.which("klayout")
    if exe is None:
        raise DrcError("--deck official needs the klayout binary on PATH (Debian/Ubuntu: apt-get install klayout)")
    gds = Path(gds_path).resolve()
    if gds.is_dir():
        raise DrcError(f"{str(gds)!r} is a folder, not a GDS file; pass the GDS inside it")
    if not gds.is_file():
        raise DrcError(f"GDS file {str(gds)!r} does not exist")
    with tempfile.TemporaryDirectory(prefix="imcgen_drc_") as tmp:
        report = Path(tmp) / "official.lyrdb"
        cmd = [exe, "-b", "-r", str(deck), "-rd", f"input={gds}", "-rd", f"report={report}",
               "-rd", "feol=true", "-rd", "beol=true", "-rd", "offgrid=true"]
        if top:
            cmd += ["-rd", f"top_cell={top}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise DrcTimeout(f"official deck did not finish within {timeout_s:g} s; raise --timeout") from None
        if proc.returncode != 0 or not report.is_file():
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise DrcError(f"official deck failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
        return parse_lyrdb(report, gds=str(gds_path), top=top or "", deck="official", layout=_read_gds(gds))


def run(gds_path: str | os.PathLike, *, top: str | None = None, deck: str = "project",
        timeout_s: float | None = None) -> DrcReport:
    """Dispatch on ``deck`` ("project" or "official"); ``timeout_s``: None or 0 for no limit."""
    if deck == "project":
        return run_drc(gds_path, top=top, timeout_s=timeout_s)
    if deck == "official":
        return run_official_deck(gds_path, top=top, **({"timeout_s": timeout_s} if timeout_s else {}))
    raise DrcError(f"unknown deck {deck!r}; use 'project' or 'official'")


def summary_line(rep: DrcReport) -> str:
    """The single JSON line the CLI prints last with --json."""
    return json.dumps(rep.summary(), sort_keys=True)


__all__: Sequence[str] = (
    "DrcError", "DrcReport", "DrcTimeout", "check_input", "MAX_EXTENT_UM", "Marker", "check_layout", "run_drc", "run_official_deck", "parse_lyrdb", "run",
    "official_deck_path", "summary_line", "MAX_MARKERS_PER_RULE",
)
