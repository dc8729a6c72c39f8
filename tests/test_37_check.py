"""`imcgen check`: regenerated netlist + GDS against the references (XOR, DRC, LVS, netlist diff) for CI.

Generator changes are made on purpose in-process (monkeypatch), never by editing sources; references are copies
in tmp_path (``--golden``), so the committed layouts/ are never rewritten by a test.
"""

from __future__ import annotations

import functools
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import klayout.db as kdb
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.pdk.sky130 import layers as L
from generator.signoff import check as C

REPO = Path(__file__).resolve().parents[1]
MODEL = "iris"


@pytest.fixture(scope="module")
def written_golden(tmp_path_factory) -> Path:
    """References written by `imcgen check --update` from the code as it is (the committed layouts/ are checked
    against the code by `make test` and tests/test_33_committed_layouts.py; here the code under test must not
    depend on whether they are current)."""
    g = tmp_path_factory.mktemp("written") / "golden"
    res = _run(MODEL, "--golden", str(g), "--update")
    assert res.exit_code == 0, res.output
    assert {p.name for p in (g / MODEL).iterdir()} == {f"{MODEL}.gds", f"{MODEL}.cdl"}
    return g


@pytest.fixture
def golden(tmp_path, written_golden) -> Path:
    """A fresh copy of the references for one test (the test may damage or rewrite it)."""
    g = tmp_path / "golden"
    shutil.copytree(written_golden, g)
    return g


def _run(*args: str):
    res = CliRunner().invoke(app, ["check", *args, "--models-dir", str(REPO / "trained_models")])
    return res


def _json(res) -> dict:
    return json.loads(res.stdout.strip().splitlines()[-1])


def _by(out: dict) -> dict:
    return {(c["model"], c["check"]): c for c in out["checks"]}


@pytest.fixture
def wider_synapse(monkeypatch):
    """Every newly mapped Design gets synapse transistors 10 nm wider (CircuitParams.syn_w 1.00 -> 1.01 µm)."""
    import generator.circuit.mapping as mapping
    from generator.design import CircuitParams

    monkeypatch.setattr(mapping, "CircuitParams", functools.partial(CircuitParams, syn_w=1.01))


@pytest.fixture
def moved_spike_line(monkeypatch):
    """The spike lines routed into the second layer's synapse rows move up by 0.2 µm."""
    import generator.layout.top as top

    spike_y, digest = top.synapse_spike_y, top._digest
    monkeypatch.setattr(top, "synapse_spike_y", lambda p: {k: v + 0.2 for k, v in spike_y(p).items()})
    monkeypatch.setattr(top, "_digest", lambda d, n: "moved" + digest(d, n)[5:])  # not the cached layout


def _run_with_reports(folder: Path, golden: Path):
    """`imcgen check MODEL` against ``golden`` with --json, JUnit and Markdown reports under ``folder``:
    (result, junit path, markdown path)."""
    junit, md = folder / "r" / "junit.xml", folder / "r" / "summary.md"
    res = _run(MODEL, "--golden", str(golden), "--out", str(folder / "o"), "--json", "--junit", str(junit),
               "--markdown", str(md))
    return res, junit, md


def test_unchanged_code_passes_with_reports(tmp_path, golden):
    res, junit, md = _run_with_reports(tmp_path, golden)
    assert res.exit_code == 0, res.output
    out = _json(res)
    assert out["passed"] is True
    by = _by(out)
    for check in ("xor", "drc", "lvs", "netlist"):
        assert by[(MODEL, check)]["status"] == "pass", by[(MODEL, check)]
    assert by[(MODEL, "xor")]["details"]["layers_compared"] > 10
    # JUnit: one testcase per model x check, no failures
    root = ET.parse(junit).getroot()
    cases = {(tc.get("classname"), tc.get("name")) for tc in root.iter("testcase")}
    assert cases == {(f"imcgen.check.{MODEL}", c) for c in ("generate", "xor", "drc", "lvs", "netlist")}
    assert root.find("testsuite").get("failures") == "0"
    text = md.read_text()
    assert "imcgen check: passed" in text and f"| {MODEL} |" in text
    assert not (tmp_path / "o" / MODEL / "xor.gds").exists()  # nothing to review


def test_wider_synapse_fails_and_names_layer_area_and_place(tmp_path, golden, wider_synapse):
    res, junit, md = _run_with_reports(tmp_path, golden)
    assert res.exit_code == 1, res.output
    out = _json(res)
    assert out["passed"] is False
    by = _by(out)
    xor = by[(MODEL, "xor")]
    assert xor["status"] == "fail"
    layers = {d["layer"]: d for d in xor["details"]["layers"]}
    diff = layers[C.layer_name(L.DIFF)]  # the wider channel
    assert diff["xor_area_um2"] > 0 and diff["polygons"] > 0
    x0, y0, x1, y1 = diff["bbox_um"]
    assert x1 > x0 and y1 > y0 and diff["locations_um"]
    assert "diff (65/20)" in xor["message"] and "µm²" in xor["message"] and "within (" in xor["message"]
    # the difference is a file a reviewer opens over the layout
    x = kdb.Layout()
    x.read(xor["artifacts"]["xor_gds"])
    assert not x.top_cells()[0].bbox().empty()
    assert Path(xor["artifacts"]["xor_lyrdb"]).is_file()
    # the netlist diff shows the changed device size as a line; LVS (new GDS vs new CDL) still matches
    net = by[(MODEL, "netlist")]
    assert net["status"] == "fail"
    assert any(ln.startswith("+") and "W=1.01e-06" in ln for ln in net["details"]["changed"])
    assert any(ln.startswith("-") and "W=1e-06 L=2.5e-07" in ln for ln in net["details"]["changed"])
    assert by[(MODEL, "lvs")]["status"] == "pass"
    # the reports carry it
    assert "**FAIL**" in md.read_text() and "diff (65/20)" in md.read_text()
    fails = {tc.get("name"): tc.find("failure") for tc in ET.parse(junit).getroot().iter("testcase")}
    assert fails["xor"] is not None and "diff (65/20)" in fails["xor"].text
    assert fails["netlist"] is not None and "W=1.01e-06" in fails["netlist"].text
    assert fails["lvs"] is None and fails["drc"] is None


def test_moved_spike_line_fails_on_met4_with_its_place(tmp_path, golden, moved_spike_line):
    g = golden
    res = _run(MODEL, "--golden", str(g), "--out", str(tmp_path / "o"), "--json", "--no-lvs")
    assert res.exit_code == 1, res.output
    by = _by(_json(res))
    assert by[(MODEL, "lvs")]["status"] == "not run"
    assert by[(MODEL, "netlist")]["status"] == "pass"  # the netlist did not change: only the drawing
    xor = by[(MODEL, "xor")]
    layers = {d["layer"]: d for d in xor["details"]["layers"]}
    met4 = layers[C.layer_name(L.MET4)]
    assert met4["xor_area_um2"] > 0
    # the moved lines lie between the layers, in the rows of the second layer's inputs (y >= 0)
    x0, y0, x1, y1 = met4["bbox_um"]
    assert y1 > 0 and x0 > 20, met4


def test_update_then_rerun_passes_and_leaves_layouts_alone(tmp_path, golden, wider_synapse):
    committed = {p: p.read_bytes() for p in (REPO / "layouts" / MODEL).glob(f"{MODEL}.*")}
    g = golden
    res = _run(MODEL, "--golden", str(g), "--out", str(tmp_path / "o"), "--update", "--json")
    assert res.exit_code == 0, res.output
    by = _by(_json(res))
    assert by[(MODEL, "xor")]["status"] == "updated" and "diff (65/20)" in by[(MODEL, "xor")]["message"]
    assert by[(MODEL, "netlist")]["status"] == "updated" and "W=1.01e-06" in by[(MODEL, "netlist")]["message"]
    assert "W=1.01e-06" in (g / MODEL / f"{MODEL}.cdl").read_text()
    res = _run(MODEL, "--golden", str(g), "--out", str(tmp_path / "o2"), "--json")
    assert res.exit_code == 0, res.output
    assert _json(res)["passed"] is True
    assert {p: p.read_bytes() for p in committed} == committed


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_reference_is_a_clear_error(tmp_path, golden, damage):
    g = golden
    ref = g / MODEL / f"{MODEL}.gds"
    data = ref.read_bytes()
    ref.write_bytes({"garbage": b"not a gds file at all" * 10, "truncated": data[: len(data) // 2],
                     "empty": b""}[damage])
    res = _run(MODEL, "--golden", str(g), "--out", str(tmp_path / "o"), "--json")
    assert res.exit_code == 2, res.output
    assert "reference GDS" in res.output and str(ref) in res.output
    last = _json(res)
    assert last.get("ok") is False and "passed" not in last


def test_missing_reference_and_unknown_model_are_bad_input(tmp_path, golden):
    g = golden
    (g / MODEL / f"{MODEL}.cdl").unlink()
    res = _run(MODEL, "--golden", str(g))
    assert res.exit_code == 2 and "no reference netlist" in res.output and "--update" in res.output
    res = _run("no-such-model", "--golden", str(g))
    assert res.exit_code == 2 and "unknown model 'no-such-model'" in res.output


def test_xor_reports_an_added_shape_exactly(tmp_path):
    ref = REPO / "layouts" / MODEL / f"{MODEL}.gds"
    ly = kdb.Layout()
    ly.read(str(ref))
    top = ly.top_cells()[0]
    top.shapes(ly.layer(*L.VIA4)).insert(kdb.DBox(-40.0, -30.0, -38.0, -29.0))  # 2 µm², off the array
    bad = tmp_path / "bad.gds"
    ly.write(str(bad))
    rep = C.xor_layouts(ref, bad)
    assert not rep.clean and [d.layer for d in rep.layers] == [L.VIA4]
    d = rep.layers[0]
    assert d.area_um2 == pytest.approx(2.0) and d.bbox_um == pytest.approx((-40.0, -30.0, -38.0, -29.0))
    assert C.xor_layouts(ref, ref).clean
    # labels and cell names only when asked
    ly2 = kdb.Layout()
    ly2.read(str(ref))
    t2 = ly2.top_cells()[0]
    t2.name = "renamed"
    t2.shapes(ly2.layer(*L.MET4_LABEL)).insert(kdb.Text("EXTRA", 0, 0))
    other = tmp_path / "other.gds"
    ly2.write(str(other))
    assert C.xor_layouts(ref, other).clean
    rep = C.xor_layouts(ref, other, labels=True, cell_names=True)
    assert any("EXTRA" in s for s in rep.labels) and "+ renamed" in rep.cells


def test_workflow_parses_and_runs_the_check():
    import yaml  # a regular dependency (pyproject.toml; `make setup`)
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "layout-checks.yml").read_text())
    steps = wf["jobs"]["layout-checks"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make setup" in runs and "imcgen check" in runs and "--junit" in runs and "GITHUB_STEP_SUMMARY" in runs
    upload = [s for s in steps if "upload-artifact" in s.get("uses", "")]
    assert upload and upload[0]["if"] == "failure()"
    assert "xor.lyrdb" in upload[0]["with"]["path"] and "drc.lyrdb" in upload[0]["with"]["path"]


def test_make_test_runs_the_check():
    text = (REPO / "Makefile").read_text()
    body = text.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "imcgen check" in body
