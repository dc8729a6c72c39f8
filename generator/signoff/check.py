"""Layout checks for CI (``imcgen check``): does a regenerated array still equal its reviewed reference?

Per model, on a freshly generated GDS and CDL (generator/commands/check.py regenerates them; this module only
reads files, as the rest of signoff/ does):

* **xor** — the regenerated GDS against the reference GDS with klayout.db: geometry per (layer, datatype), not
  bytes (hierarchical, so cell names and the way cells are cut do not matter; labels and cell names are compared
  only when asked). Each differing layer is reported with its XOR area (µm²), bounding box and the first
  difference polygons (µm, top-cell coordinates); the difference is written as ``xor.gds`` (the XOR shapes on
  their own layers) and ``xor.lyrdb`` (a KLayout marker database: open the layout, then Tools > Marker Browser
  > File > Open).
* **drc** — the project's deck (generator/signoff/drc.py; ``deck="official"`` for open_pdks' deck).
* **lvs** — the regenerated GDS against the regenerated CDL (generator/signoff/lvs.py).
* **netlist** — a text diff of the regenerated CDL against the reference CDL, so a changed device size shows as a
  ``-``/``+`` line (``netlist.diff``).

Results are :class:`CheckResult` rows (model x check: pass / fail / not run, figures, seconds); :func:`markdown`,
:func:`junit_xml` and :func:`json_summary` render them. A reference that cannot be read is an InputError (exit 2),
never a pass.
"""

from __future__ import annotations

import difflib
import gzip
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import klayout.db as kdb

from generator.errors import InputError
from generator.io import atomic_output, atomic_write_bytes, atomic_write_text
from generator.pdk.sky130 import layers as L
from generator.signoff.gds import read_layout as read_gds

#: the checks of one model, in report order
CHECKS = ("xor", "drc", "lvs", "netlist")
#: difference polygons listed per layer in the report / marker database
MAX_LOCATIONS = 5
MAX_MARKERS_PER_LAYER = 1000
#: changed netlist lines quoted in a failure message
MAX_DIFF_LINES = 12

_LAYER_NAMES = {v: k.lower() for k, v in L.LAYERS.items()}
_GEOMETRY = kdb.Shapes.SPolygons | kdb.Shapes.SBoxes | kdb.Shapes.SPaths


def layer_name(key: tuple[int, int]) -> str:
    """``met4 (71/20)`` for a sky130 layer, ``71/99`` for one the PDK table does not name."""
    name = _LAYER_NAMES.get(tuple(key))
    return f"{name} ({key[0]}/{key[1]})" if name else f"{key[0]}/{key[1]}"


# ---------------------------------------------------------------------------------------------- reading
def read_layout(path, what: str = "layout") -> tuple[kdb.Layout, kdb.Cell]:
    """A GDS / GDS.gz / OASIS with exactly one top cell, or InputError (exit 2) naming the file and the fix."""
    p = Path(path)
    ly, _ = read_gds(p, what=what, one_top=False, fix=f"restore it (e.g. `git checkout -- {p}`) or rewrite it on "
                        "purpose with `imcgen check --update`")
    tops = ly.top_cells()
    if len(tops) != 1:
        raise InputError(f"{what} {p} has {len(tops)} top cells ({[t.name for t in tops][:5]}); expected one. "
                         "Restore it or rewrite it with `imcgen check --update`")
    if tops[0].bbox().empty():
        raise InputError(f"{what} {p}: top cell {tops[0].name!r} holds no shapes; restore it or rewrite it with "
                         "`imcgen check --update`")
    return ly, tops[0]


def read_text(path, what: str = "netlist") -> str:
    """A text file, gunzipped when it ends in ``.gz``; InputError when missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist")
    try:
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
        return data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise InputError(f"{what} {p} cannot be read ({exc}); restore it or rewrite it with `imcgen check "
                         "--update`") from None


def write_maybe_gz(path, data: bytes) -> Path:
    """Write ``data`` atomically; gzip it (no name, no timestamp: deterministic) when ``path`` ends in ``.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    return atomic_write_bytes(p, data)


# ---------------------------------------------------------------------------------------------- XOR
@dataclass
class LayerDiff:
    """The XOR of one (layer, datatype): area (µm²), bounding box and first difference boxes (µm, top cell)."""

    layer: tuple[int, int]
    area_um2: float
    bbox_um: tuple[float, float, float, float]
    polygons: int
    locations: list[tuple[float, float, float, float]] = field(default_factory=list)
    only_in: str = ""  #: "reference" / "candidate" when the layer exists on one side only

    @property
    def name(self) -> str:
        return layer_name(self.layer)

    def as_dict(self) -> dict:
        return {"layer": self.name, "gds_layer": list(self.layer), "xor_area_um2": round(self.area_um2, 6),
                "bbox_um": [round(v, 3) for v in self.bbox_um], "polygons": self.polygons,
                "locations_um": [[round(v, 3) for v in b] for b in self.locations],
                **({"only_in": self.only_in} if self.only_in else {})}

    def __str__(self) -> str:
        x0, y0, x1, y1 = self.bbox_um
        only = f", only in the {self.only_in}" if self.only_in else ""
        return (f"{self.name}: XOR area {self.area_um2:.6g} µm² in {self.polygons} polygon(s), within "
                f"({x0:.3f}, {y0:.3f})-({x1:.3f}, {y1:.3f}) µm{only}")


@dataclass
class XorReport:
    reference: str
    candidate: str
    top: str
    layers: list[LayerDiff] = field(default_factory=list)
    layers_compared: int = 0
    labels: list[str] = field(default_factory=list)  #: label differences ("+"/"-" text layer x y), if asked
    cells: list[str] = field(default_factory=list)  #: cell name differences ("+"/"-" name), if asked
    seconds: float = 0.0
    _regions: dict = field(default_factory=dict, repr=False)
    dbu: float = 0.001

    @property
    def clean(self) -> bool:
        return not self.layers and not self.labels and not self.cells

    @property
    def area_um2(self) -> float:
        return sum(d.area_um2 for d in self.layers)

    def as_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate, "top": self.top, "clean": self.clean,
                "layers_compared": self.layers_compared, "xor_area_um2": round(self.area_um2, 6),
                "layers": [d.as_dict() for d in self.layers], "labels": self.labels, "cells": self.cells}

    def write_gds(self, path) -> Path:
        """The XOR shapes (flat, in the reference's top-cell coordinates) on their own layers, one top cell
        ``XOR_<top>``: load it next to the layout (File > Open, "add to current panel")."""
        ly = kdb.Layout()
        ly.dbu = self.dbu
        top = ly.create_cell(f"XOR_{self.top}")
        for d in self.layers:
            region = self._regions.get(d.layer)
            if region is not None:
                top.shapes(ly.layer(*d.layer)).insert(region)
        opts = kdb.SaveLayoutOptions()
        opts.format = "GDS2"
        opts.gds2_write_timestamps = False
        with atomic_output(path) as tmp:
            ly.write(str(tmp), opts)
        return Path(path)

    def write_lyrdb(self, path) -> Path:
        """A marker database, one category per differing layer, one item per difference polygon (capped)."""
        import klayout.rdb as rdb

        db = rdb.ReportDatabase("imcgen check: XOR")
        db.original_file = self.reference
        db.top_cell_name = self.top
        db.generator = "imcgen check"
        cell = db.create_cell(self.top)
        for d in self.layers:
            cat = db.create_category(d.name)
            cat.description = f"{d}; {self.candidate} XOR {self.reference}"
            region = self._regions.get(d.layer)
            if region is None:
                continue
            for n, poly in enumerate(region.each()):
                if n >= MAX_MARKERS_PER_LAYER:
                    break
                item = db.create_item(cell.rdb_id(), cat.rdb_id())
                item.add_value(poly.to_dtype(self.dbu))
        for kind, rows in (("labels", self.labels), ("cells", self.cells)):
            if rows:
                cat = db.create_category(kind)
                for row in rows[:MAX_MARKERS_PER_LAYER]:
                    item = db.create_item(cell.rdb_id(), cat.rdb_id())
                    item.add_value(row)
        with atomic_output(path) as tmp:
            db.save(str(tmp))
        return Path(path)

    def text(self) -> str:
        if self.clean:
            return f"XOR {self.candidate} vs {self.reference}: identical geometry on {self.layers_compared} layers"
        lines = [f"XOR {self.candidate} vs {self.reference}: {len(self.layers)} layer(s) differ, total "
                 f"{self.area_um2:.6g} µm²"]
        for d in self.layers:
            lines.append(f"  {d}")
            lines += [f"    at ({b[0]:.3f}, {b[1]:.3f})-({b[2]:.3f}, {b[3]:.3f}) µm" for b in d.locations]
        lines += [f"  label {row}" for row in self.labels[:MAX_DIFF_LINES]]
        lines += [f"  cell {row}" for row in self.cells[:MAX_DIFF_LINES]]
        return "\n".join(lines)


def _layer_keys(ly: kdb.Layout) -> dict[tuple[int, int], int]:
    return {(ly.get_info(li).layer, ly.get_info(li).datatype): li for li in ly.layer_indexes()}


def _has_geometry(ly: kdb.Layout, top: kdb.Cell, li: int) -> bool:
    it = ly.begin_shapes(top, li)
    it.shape_flags = _GEOMETRY
    return not it.at_end()


def _labels(ly: kdb.Layout, top: kdb.Cell) -> set[str]:
    out = set()
    for (lay, dt), li in _layer_keys(ly).items():
        it = ly.begin_shapes(top, li)
        it.shape_flags = kdb.Shapes.STexts
        while not it.at_end():
            t = it.shape().text.transformed(it.trans())
            out.add(f"{t.string} {lay}/{dt} ({t.x * ly.dbu:.3f}, {t.y * ly.dbu:.3f})")
            it.next()
    return out


def _cell_names(ly: kdb.Layout, top: kdb.Cell) -> set[str]:
    return {ly.cell(ci).name for ci in [top.cell_index(), *top.called_cells()]}


def xor_layouts(reference, candidate, *, labels: bool = False, cell_names: bool = False) -> XorReport:
    """XOR of ``candidate`` against ``reference`` (paths; one top cell each; top-cell names may differ).

    Hierarchical (KLayout deep regions: identical cells cost nothing, so MNIST-size arrays finish on 2 cores).
    ``labels``/``cell_names``: also compare text labels (string, layer, position) / the sets of cell names."""
    t0 = time.perf_counter()
    ra, ta = read_layout(reference, "reference GDS")
    rb, tb = read_layout(candidate, "regenerated GDS")
    rep = XorReport(reference=str(reference), candidate=str(candidate), top=ta.name, dbu=ra.dbu)
    if abs(ra.dbu - rb.dbu) > 1e-12:
        raise InputError(f"reference {reference} has a database unit of {ra.dbu} µm, the regenerated layout "
                         f"{rb.dbu} µm; regenerate the reference with `imcgen check --update`")
    ka, kb = _layer_keys(ra), _layer_keys(rb)
    keys = sorted(k for k in set(ka) | set(kb)
                  if (k in ka and _has_geometry(ra, ta, ka[k])) or (k in kb and _has_geometry(rb, tb, kb[k])))
    dss = kdb.DeepShapeStore()
    for key in keys:
        regions = []
        for ly, top, km in ((ra, ta, ka), (rb, tb, kb)):
            if key not in km:
                regions.append(kdb.Region())
                continue
            it = ly.begin_shapes(top, km[key])
            it.shape_flags = _GEOMETRY
            regions.append(kdb.Region(it, dss))
        x = regions[0] ^ regions[1]
        if x.is_empty():
            continue
        x.flatten()
        flat = kdb.Region()  # a plain region: it outlives the deep shape store
        flat.insert(x)
        flat.merge()
        dbu = ra.dbu
        bb = flat.bbox()
        boxes = sorted(((p.bbox().left, p.bbox().bottom, p.bbox().right, p.bbox().top)
                        for n, p in zip(range(MAX_MARKERS_PER_LAYER), flat.each())))
        only = "" if (key in ka and key in kb) else ("reference" if key in ka else "candidate")
        rep.layers.append(LayerDiff(
            layer=key, area_um2=flat.area() * dbu * dbu, bbox_um=(bb.left * dbu, bb.bottom * dbu, bb.right * dbu,
                                                                   bb.top * dbu),
            polygons=flat.count(), locations=[tuple(v * dbu for v in b) for b in boxes[:MAX_LOCATIONS]],
            only_in=only))
        rep._regions[key] = flat
    rep.layers_compared = len(keys)
    if labels:
        la, lb = _labels(ra, ta), _labels(rb, tb)
        rep.labels = [f"- {s}" for s in sorted(la - lb)] + [f"+ {s}" for s in sorted(lb - la)]
    if cell_names:
        ca, cb = _cell_names(ra, ta), _cell_names(rb, tb)
        rep.cells = [f"- {s}" for s in sorted(ca - cb)] + [f"+ {s}" for s in sorted(cb - ca)]
    rep.seconds = time.perf_counter() - t0
    return rep


# ---------------------------------------------------------------------------------------------- netlist diff
@dataclass
class NetlistDiff:
    reference: str
    candidate: str
    diff: list[str]  #: unified diff lines (with headers)
    removed: int
    added: int

    @property
    def clean(self) -> bool:
        return not self.diff

    def changed_lines(self) -> list[str]:
        return [ln for ln in self.diff if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]

    def text(self) -> str:
        if self.clean:
            return f"netlist {self.candidate} equals {self.reference}"
        shown = self.changed_lines()[:MAX_DIFF_LINES]
        more = self.removed + self.added - len(shown)
        return "\n".join([f"netlist {self.candidate} vs {self.reference}: {self.removed} line(s) removed, "
                          f"{self.added} added", *[f"  {ln}" for ln in shown]]
                         + ([f"  ... {more} more changed line(s)"] if more > 0 else []))


def diff_netlists(reference, candidate) -> NetlistDiff:
    """Line diff of two CDL files (``.gz`` read as gzip)."""
    a = read_text(reference, "reference netlist").splitlines(keepends=False)
    b = read_text(candidate, "regenerated netlist").splitlines(keepends=False)
    diff = list(difflib.unified_diff(a, b, fromfile=str(reference), tofile=str(candidate), lineterm="", n=1))
    body = [ln for ln in diff if not ln.startswith(("+++", "---", "@@"))]
    return NetlistDiff(str(reference), str(candidate), diff, removed=sum(ln.startswith("-") for ln in body),
                       added=sum(ln.startswith("+") for ln in body))


# ---------------------------------------------------------------------------------------------- results
@dataclass
class CheckResult:
    """One row of the report: ``model`` x ``check`` -> ``status`` (pass / fail / not run / updated)."""

    model: str
    check: str
    status: str
    figures: str = ""  #: short text for the table (e.g. "0 violations", "met4 0.52 µm²")
    message: str = ""  #: why it failed / was not run (multi-line detail)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)  #: name -> path (xor.gds, xor.lyrdb, drc.lyrdb, ...)

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict:
        return {"model": self.model, "check": self.check, "status": self.status, "passed": self.status == "pass",
                "figures": self.figures, "message": self.message, "seconds": round(self.seconds, 3),
                "details": self.details, "artifacts": self.artifacts}


def _timed(model: str, check: str, fn: Callable[[], CheckResult]) -> CheckResult:
    t0 = time.perf_counter()
    res = fn()
    res.seconds = time.perf_counter() - t0
    return res


def xor_result(model: str, reference, candidate, out_dir: Path, *, labels=False, cell_names=False) -> CheckResult:
    def run() -> CheckResult:
        rep = xor_layouts(reference, candidate, labels=labels, cell_names=cell_names)
        res = CheckResult(model, "xor", "pass" if rep.clean else "fail", details=rep.as_dict())
        if rep.clean:
            res.figures = f"identical ({rep.layers_compared} layers)"
            return res
        worst = max(rep.layers, key=lambda d: d.area_um2, default=None)
        parts = [f"{len(rep.layers)} layer(s), {rep.area_um2:.4g} µm²"]
        if worst is not None:
            b = worst.bbox_um
            parts.append(f"largest {worst.name} {worst.area_um2:.4g} µm² at ({b[0]:.2f}, {b[1]:.2f})-"
                         f"({b[2]:.2f}, {b[3]:.2f}) µm")
        if rep.labels:
            parts.append(f"{len(rep.labels)} label change(s)")
        if rep.cells:
            parts.append(f"{len(rep.cells)} cell name change(s)")
        res.figures = "; ".join(parts)
        res.message = rep.text()
        res.artifacts = {"xor_gds": str(rep.write_gds(out_dir / "xor.gds")),
                         "xor_lyrdb": str(rep.write_lyrdb(out_dir / "xor.lyrdb"))}
        return res

    return _timed(model, "xor", run)


def drc_result(model: str, gds, out_dir: Path, *, deck: str = "project") -> CheckResult:
    from generator.signoff import drc

    def run() -> CheckResult:
        rep = drc.run(gds, deck=deck)
        res = CheckResult(model, "drc", "pass" if rep.clean else "fail", details=rep.summary())
        res.figures = f"{rep.violations} violations ({deck} deck)"
        res.artifacts = {"drc_json": str(rep.write_json(out_dir / "drc.json")),
                         "drc_lyrdb": str(rep.write_lyrdb(out_dir / "drc.lyrdb"))}
        if not rep.clean:
            worst = sorted(rep.by_rule.items(), key=lambda kv: -kv[1])
            res.message = f"{rep.violations} DRC violations: " + ", ".join(f"{k} {v}" for k, v in worst[:10])
            firsts = {}
            for m in rep.markers:
                firsts.setdefault(m.rule, m.bbox)
            res.message += "".join(f"\n  {r} at ({b[0]:.3f}, {b[1]:.3f})-({b[2]:.3f}, {b[3]:.3f}) µm"
                                   for r, b in list(firsts.items())[:10])
        return res

    return _timed(model, "drc", run)


def lvs_result(model: str, gds, cdl, out_dir: Path, *, skip_reason: str = "") -> CheckResult:
    if skip_reason:
        return CheckResult(model, "lvs", "not run", figures=skip_reason, message=skip_reason)
    from generator.signoff.lvs import run_lvs

    def run() -> CheckResult:
        rep = run_lvs(gds, cdl)
        n_dev = sum(rep.devices.values())
        res = CheckResult(model, "lvs", "pass" if rep.match else "fail", details=rep.summary())
        res.figures = f"match, {n_dev} devices" if rep.match else f"{rep.n_mismatches} mismatches"
        res.artifacts = {"lvs_json": str(rep.write_json(out_dir / "lvs.json"))}
        if not rep.match:
            res.message = rep.text()
            res.artifacts["lvsdb"] = str(rep.write_lvsdb(out_dir / "lvs.lvsdb"))
        return res

    return _timed(model, "lvs", run)


def netlist_result(model: str, reference, candidate, out_dir: Path) -> CheckResult:
    def run() -> CheckResult:
        d = diff_netlists(reference, candidate)
        res = CheckResult(model, "netlist", "pass" if d.clean else "fail",
                          details={"removed": d.removed, "added": d.added, "changed": d.changed_lines()[:200]})
        if d.clean:
            res.figures = "identical"
        else:
            res.figures = f"-{d.removed} +{d.added} lines"
            res.message = d.text()
            res.artifacts = {"netlist_diff": str(atomic_write_text(out_dir / "netlist.diff", "\n".join(d.diff) + "\n"))}
        return res

    return _timed(model, "netlist", run)


# ---------------------------------------------------------------------------------------------- reports
def passed(results: Iterable[CheckResult]) -> bool:
    return not any(r.failed for r in results)


def json_summary(results: list[CheckResult], **extra) -> dict:
    return {"passed": passed(results), "checks": [r.as_dict() for r in results], **extra}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_ICON = {"pass": "pass", "fail": "**FAIL**", "not run": "not run", "updated": "updated"}


def markdown(results: list[CheckResult], *, title: str = "imcgen check", times: dict | None = None) -> str:
    """A summary table (model x check -> status, figures, seconds), then each failure's message."""
    models = list(dict.fromkeys(r.model for r in results))
    present = {r.check for r in results}
    checks = [c for c in dict.fromkeys(("generate", *CHECKS, *(r.check for r in results))) if c in present]
    by = {(r.model, r.check): r for r in results}
    verdict = "passed" if passed(results) else "FAILED"
    lines = [f"### {title}: {verdict}", "",
             "| model | " + " | ".join(checks) + " | time (s) |",
             "|---|" + "---|" * len(checks) + "---:|"]
    for m in models:
        cells = []
        for c in checks:
            r = by.get((m, c))
            cells.append("" if r is None else _cell(f"{_ICON.get(r.status, r.status)}: {r.figures}"
                                                    f" ({r.seconds:.1f} s)"))
        total = (times or {}).get(m, sum(r.seconds for r in results if r.model == m))
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {total:.1f} |")
    notes = [r for r in results if r.status in ("fail", "not run") and r.message]
    if notes:
        lines.append("")
        for r in notes:
            lines += [f"<details><summary>{r.model} / {r.check}: {r.status}</summary>", "", "```",
                      r.message.rstrip(), "```", ""]
            if r.artifacts:
                lines += ["files: " + ", ".join(f"`{p}`" for p in r.artifacts.values()), ""]
            lines.append("</details>")
    return "\n".join(lines) + "\n"


def junit_xml(results: list[CheckResult], *, suite: str = "imcgen check") -> str:
    """JUnit XML: one testsuite, one testcase per model x check (classname = model, name = check)."""
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                       failures=str(sum(r.failed for r in results)),
                       skipped=str(sum(r.status == "not run" for r in results)), errors="0",
                       time=f"{sum(r.seconds for r in results):.3f}")
    root.set("tests", ts.get("tests"))
    root.set("failures", ts.get("failures"))
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=f"imcgen.check.{r.model}", name=r.check,
                           time=f"{r.seconds:.3f}")
        if r.failed:
            el = ET.SubElement(tc, "failure", message=f"{r.model} {r.check}: {r.figures}", type=r.check)
            el.text = r.message
        elif r.status == "not run":
            ET.SubElement(tc, "skipped", message=r.message or r.figures)
        out = [r.figures] + [f"{k}: {v}" for k, v in r.artifacts.items()]
        ET.SubElement(tc, "system-out").text = "\n".join(out)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


__all__ = [
    "CHECKS", "CheckResult", "LayerDiff", "NetlistDiff", "XorReport", "diff_netlists", "drc_result", "json_summary",
    "junit_xml", "layer_name", "lvs_result", "markdown", "netlist_result", "passed", "read_layout", "read_text",
    "write_maybe_gz", "xor_layouts", "xor_result",
]
