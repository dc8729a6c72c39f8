"""A run that did nothing must say so (issue 12): `imcgen verify` / `imcgen build` check their options, output folder
and simulator before any work (exit 2), exit 1 when fewer samples than asked were simulated (unless
--allow-failures), and replace --out as a whole: no old plots or stray files, no old report looking current.

Budget: about a minute on 2 cores. Every simulation here is forced to fail at once (``--timeout 0``) or is never
reached; the real comparison is tested in test_40_verify.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import generator.verify.loop as loop
from generator import report as R
from generator.cli import app
from generator.verify import VerifyError

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "trained_models" / "iris"
#: the cheapest run that reaches ngspice: one sample, no calibration, one process
FAST = ["--samples", "1", "--scale", "1", "--executor", "serial"]


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with its bytes (None for folders)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def no_calibration(monkeypatch):
    """Fail the test if a command gets as far as calibrating or verifying: the checks must come first."""
    def boom(*a, **k):
        raise AssertionError("the command started work before rejecting its options")

    monkeypatch.setattr(loop, "calibrate", boom)
    monkeypatch.setattr(loop, "verify", boom)


# ============================================================================================ bad options: exit 2
BAD_OPTIONS = [
    (["--samples", "0"], "samples 0"),
    (["--columns-per-layer", "-2"], "columns-per-layer -2"),
    (["--sim-check", "-1"], "sim-check -1"),
    (["--column-seed", "-3"], "column-seed -3"),
    (["--model-e-dis", "0.5"], "model-e-dis 0.5"),
    (["--corner", "xx"], "xx"),
    (["--calib-samples", "0"], "calib-samples 0"),
    (["--timeout", "-1"], "timeout -1"),
    (["--samples", "100000"], "--samples 100000"),
    (["--workers", "0"], "--workers 0"),
]


@pytest.mark.parametrize("command", ["verify", "build"])
@pytest.mark.parametrize("extra, named", BAD_OPTIONS, ids=[b[1] for b in BAD_OPTIONS])
def test_bad_option_is_rejected_before_any_work(tmp_path, no_calibration, command, extra, named):
    before = _tree(tmp_path)
    res = _invoke(command, IRIS, "--out", tmp_path / "out", "--executor", "serial", *extra)
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and named in res.output, res.output
    assert _tree(tmp_path) == before  # nothing written, not even --out


def _existing_file(tmp: Path) -> Path:
    (tmp / "f.txt").write_text("keep me")
    return tmp / "f.txt"


def _under_a_file(tmp: Path) -> Path:
    return _existing_file(tmp) / "out"


def _foreign_folder(tmp: Path) -> Path:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("not a bundle")
    return tmp / "mine"


BAD_OUTS = [(_existing_file, "is an existing file"), (_under_a_file, "cannot be created"),
            (_foreign_folder, "not an imcgen results bundle")]


@pytest.mark.parametrize("command", ["verify", "build"])
@pytest.mark.parametrize("make, named", BAD_OUTS, ids=[b[1] for b in BAD_OUTS])
def test_bad_out_is_rejected_before_any_work(tmp_path, no_calibration, command, make, named):
    out = make(tmp_path)
    before = _tree(tmp_path)
    res = _invoke(command, IRIS, "--out", out, *FAST)
    assert res.exit_code == 2, res.output
    assert "error: --out" in res.output and named in res.output, res.output
    assert _tree(tmp_path) == before  # nothing written, nothing lost


def test_out_with_a_space_works(tmp_path):
    """Decks include the model library and the netlist by file name from their own folder: spaces are fine."""
    out = tmp_path / "with space" / "out"
    res = _invoke("verify", IRIS, "--out", out, *FAST, "--mode", "column", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["n_samples"] == 1 and report["summary"]["class_agreement"] == 1.0


def test_unwritable_out_is_rejected_before_any_work(tmp_path, no_calibration):
    if os.geteuid() == 0:  # root writes through permission bits: use a folder no one can create files in
        out = Path("/proc/imcgen-no-such-folder/out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out = locked / "out"
    res = _invoke("verify", IRIS, "--out", out, *FAST)
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and str(out.parent) in res.output, res.output
    assert not out.exists()


def test_missing_ngspice_says_how_to_install_it(tmp_path, monkeypatch, no_calibration):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("IMCGEN_NGSPICE", raising=False)
    for command in ("verify", "build"):
        res = _invoke(command, IRIS, "--out", tmp_path / "out", *FAST)
        assert res.exit_code == 2, res.output
        assert "ngspice not found" in res.output and "apt-get install ngspice" in res.output, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


# ============================================================================================ failed runs: exit 1
@pytest.mark.ngspice
def test_verify_that_simulated_nothing_exits_1_with_ngspice_words(tmp_path):
    out = tmp_path / "v"
    res = _invoke("verify", IRIS, "--out", out, "--timeout", "0", *FAST)
    assert res.exit_code == 1, res.output
    assert "only 0 of 1 requested samples were simulated" in res.output, res.output
    assert "NgspiceTimeout" in res.output and "deck kept at" in res.output, res.output
    rep = json.loads((out / "report.json").read_text())  # the report that says what failed is kept
    assert rep["metrics"]["n_simulated"] == 0 and Path(rep["failures"][0]["deck"]).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no staging or previous folder left beside it
    # the same run with --allow-failures: a partial report is accepted
    ok = _invoke("verify", IRIS, "--out", out, "--timeout", "0", "--allow-failures", *FAST)
    assert ok.exit_code == 0, ok.output
    assert "verified 0/1 samples" in ok.output


@pytest.mark.ngspice
def test_calibration_that_simulated_nothing_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "v"
    res = _invoke("verify", IRIS, "--out", out, "--samples", "1", "--calib-samples", "1", "--timeout", "0",
                  "--executor", "serial")
    assert res.exit_code == 1, res.output
    assert "calibration failed" in res.output and "NgspiceTimeout" in res.output, res.output
    assert list(tmp_path.iterdir()) == []


# ============================================================================================ bundles
@pytest.mark.ngspice
def test_rerun_replaces_the_bundle_as_a_whole(tmp_path):
    out = tmp_path / "v"
    out.mkdir()
    (out / "report.json").write_text('{"old": true}')  # an earlier bundle with a plot this run will not make
    (out / "membrane_worst.png").write_bytes(b"old plot")
    res = _invoke("verify", IRIS, "--out", out, "--timeout", "0", "--allow-failures", *FAST)
    assert res.exit_code == 0, res.output
    assert not (out / "membrane_worst.png").exists()
    assert "old" not in json.loads((out / "report.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's private 0700


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_interrupted_run_leaves_no_old_report_looking_current(tmp_path, monkeypatch):
    out = tmp_path / "v"
    out.mkdir()
    (out / "report.json").write_text('{"old": true}')

    def interrupted(*a, **k):
        raise VerifyError("simulated interruption")

    monkeypatch.setattr(loop, "find_scales", interrupted)
    res = _invoke("verify", IRIS, "--out", out, *FAST)
    assert res.exit_code == 1, res.output
    assert "simulated interruption" in res.output and "set aside" in res.output, res.output
    assert not out.exists()  # the old report is not at --out, so it cannot pass for this run's
    kept = R.previous_path(out)
    assert json.loads((kept / "report.json").read_text()) == {"old": True}  # nothing lost
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]  # no staging folder left


@pytest.mark.ngspice
def test_build_bundle_has_the_marker_database_and_lists_only_its_files(tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # an earlier bundle with a stray file
    (out / "stray.txt").write_text("from an earlier run")
    res = _invoke("build", IRIS, "--out", out, "--timeout", "0", *FAST)
    assert res.exit_code == 1, res.output  # nothing simulated: the bundle is written, the run is not a success
    assert "only 0 of 1 requested samples were simulated" in res.output, res.output
    assert (out / "signoff" / "drc.lyrdb").stat().st_size > 0 and (out / "signoff" / "drc.json").is_file()
    assert not (out / "stray.txt").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()  # dot-files are not hashed
             and not any(part.startswith(".") for part in p.relative_to(out).parts)} - {"manifest.json"}
    assert set(manifest["outputs"]) == files
    drc = json.loads((out / "signoff" / "drc.json").read_text())
    assert Path(drc["gds"]) == out / manifest["layout"]["gds"]  # names the GDS where it is, not the staging folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
