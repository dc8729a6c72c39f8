"""Hostile and broken inputs (issue 12): a model card never runs commands or writes outside --out; bad options,
paths and cards fail before any expensive work with ``error: ...`` (exit 2) and lose nothing; DRC input is bounded.

Every CLI case runs in-process (typer's CliRunner) from a temporary working folder, and checks the exit code, the
message and that nothing was written outside --out (and nothing existing was changed).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from generator.cli import app
from generator.commands._common import ImcgenGroup, fail
from generator.errors import InputError, RunError
from generator.model.card import NAME_RE, CardError, validate_card
from generator.resources import default_profile
from generator.spice.templates import TemplateValueError, environment

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "trained_models" / "iris"
PROFILE = default_profile()
INJECTED = "x\n.control\nshell touch PWNED\n.endc"


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_model(tmp: Path, folder: str = "model", **card_changes) -> Path:
    dst = tmp / folder
    shutil.copytree(IRIS, dst)
    card = json.loads((dst / "card.json").read_text())
    card.update(card_changes)
    (dst / "card.json").write_text(json.dumps(card))
    return dst


@pytest.fixture()
def work(tmp_path, monkeypatch) -> Path:
    """A fresh working folder (the current directory of the command)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def no_pwned(*roots: Path) -> bool:
    return not any(list(r.rglob("PWNED")) for r in roots) and not Path("PWNED").exists()


# ---------------------------------------------------------------------------------------------- security
def test_card_name_with_a_control_block_is_refused_by_netlist(work):
    model = copy_model(work, name=INJECTED)
    before = snapshot(work)
    res = run("netlist", model, "--out", work / "out")
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "'name'" in res.output and "plain identifier" in res.output
    assert "Traceback" not in res.output
    assert not (work / "out").exists() and snapshot(work) == before and no_pwned(work, REPO)


@pytest.mark.ngspice
def test_card_name_with_a_control_block_never_reaches_ngspice_in_column_verify(work):
    """The issue's reproduction: column mode renders templates/netlist/column.j2 with the design name on line 1."""
    model = copy_model(work, name=INJECTED)
    res = run("verify", model, "--mode", "column", "--samples", "1", "--scale", "1.0", "--executor", "serial",
              "--columns-per-layer", "0", "--profile", PROFILE, "--out", work / "out")
    assert res.exit_code == 2, res.output
    assert "plain identifier" in res.output and no_pwned(work, REPO)


def test_column_template_rejects_a_multiline_name_even_past_the_card_check():
    """Defence in depth: a Design whose name was never checked (e.g. a hand-written design.json) cannot put a
    .control block into a column deck: the Jinja2 finalize hook refuses the value."""
    from generator.circuit.mapping import map_model
    from generator.design import CircuitParams, DeviceProfile
    from generator.spice.netlist import render_column_testbench

    design = map_model(IRIS, DeviceProfile.load(PROFILE), CircuitParams())
    deck = render_column_testbench(design, 0, 0, [0.5] * design.layers[0].n_in)
    assert deck.splitlines()[0].startswith("*")
    bad = dataclasses.replace(design, name=INJECTED)
    with pytest.raises(TemplateValueError, match="control character"):
        render_column_testbench(bad, 0, 0, [0.5] * design.layers[0].n_in)


@pytest.mark.parametrize("name", ["../../escaped", "/ABS/escaped", "..", ".hidden", "-rf", "a/b", "x\ny"])
def test_card_names_that_are_paths_are_refused_by_map_gds_and_netlist(work, name):
    name = name.replace("/ABS", str(work / "abs"))
    model = copy_model(work, name=name)
    deep = work / "deep" / "a" / "b"
    deep.mkdir(parents=True)
    before = snapshot(work)
    for cmd in ("map", "gds", "netlist"):
        res = run(cmd, model, "--out", deep / "out", *(["--no-render"] if cmd == "gds" else []))
        assert res.exit_code == 2, (cmd, res.output)
        assert "plain identifier" in res.output, res.output
    assert snapshot(work) == before and not (deep / "out").exists()


def test_design_json_name_never_chooses_where_gds_files_go(work):
    """A design.json is not a card: its name is not validated on read, so the layout's file names are made safe."""
    res = run("map", IRIS, "--out", work / "m")
    assert res.exit_code == 0, res.output
    data = json.loads((work / "m" / "design.json").read_text())
    (work / "deep" / "a" / "b").mkdir(parents=True)
    for i, name in enumerate(["../../escaped", str(work / "abs" / "escaped")]):
        data["name"] = name
        src = work / f"design{i}.json"
        src.write_text(json.dumps(data))
        out = work / "deep" / "a" / "b" / f"out{i}"
        before = snapshot(work)
        res = run("gds", src, "--out", out, "--no-render")
        assert res.exit_code == 0, res.output
        new = set(snapshot(work)) - set(before)
        assert new and all(n.startswith(f"deep/a/b/out{i}/") for n in new), new
        assert all(n.endswith((".gds", "_layout.json")) for n in new), new
    assert not (work / "abs").exists()


def test_committed_name_keeps_its_file_names():
    from generator.layout.export import file_stem

    for name in ("iris", "iris-ideal", "digits", "mnist", "mnist-784-400-10", "v1.2_x"):
        assert file_stem(name) == name
    for name in ("../../x", "/abs/x", "..", ".", "", "a\nb", "-x"):
        stem = file_stem(name)
        assert stem and "/" not in stem and stem not in (".", "..") and stem[0] not in ".-"
        assert NAME_RE.fullmatch(stem)


# ---------------------------------------------------------------------------------------------- fuzz
_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["iris", "a.b", "../x", "/etc/x", "x\n.control", "x\r.endc", ".x", "-x", "a b", "n\u2028m", "ok_1-2.3"])
_num = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**30, 10**30) | st.sampled_from([1e308, -0.0])
        | st.text(max_size=5) | st.none() | st.booleans())


_valid = {
    "name": st.from_regex(NAME_RE, fullmatch=True).filter(lambda n: len(n) <= 128),
    "e_pos": st.floats(0.01, 1000.0), "e_neg": st.floats(-1000.0, -0.01), "e_dis": st.none() | st.floats(0.5, 50.0),
    "dataset": st.sampled_from(["iris", "digits", "MNIST", "fashion_mnist", "cifar-10"]),
    "noise_sigma": st.floats(0.0, 1.0), "steps": st.integers(1, 100),
}
#: each field: absent (the committed card's value), a valid value or a hostile one
_fields = st.fixed_dictionaries({}, optional={k: v | (_text if k in ("name", "dataset") else _num)
                                              for k, v in _valid.items()})


@settings(max_examples=400, deadline=None)
@given(changes=_fields)
def test_fuzzed_cards_are_rejected_or_safe(changes):
    card = json.loads((IRIS / "card.json").read_text())
    card.update(changes)
    try:
        ok = validate_card(card, "fuzz/card.json")
    except CardError as exc:
        event("rejected")
        assert str(exc).startswith("fuzz/card.json: bad model card field(s)")
        return
    event("accepted")
    # accepted: every field is what the hardware side may rely on
    assert NAME_RE.fullmatch(ok["name"]) and len(ok["name"]) <= 128
    assert isinstance(ok["e_pos"], (int, float)) and math.isfinite(ok["e_pos"]) and ok["e_pos"] > 0
    assert isinstance(ok["e_neg"], (int, float)) and math.isfinite(ok["e_neg"]) and ok["e_neg"] < 0
    assert ok["e_dis"] is None or (math.isfinite(ok["e_dis"]) and ok["e_dis"] > 0)
    assert ok["dataset"] in ("iris", "digits", "mnist", "fashion-mnist", "cifar10")
    assert isinstance(ok["steps"], int) and not isinstance(ok["steps"], bool) and ok["steps"] >= 1
    # ... and reaches a template as one line
    line = environment().from_string("* {{ name }} {{ e_pos }} {{ e_neg }} {{ dataset }}\n").render(**ok)
    assert line.count("\n") == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_text, e_pos=_num)
def test_fuzzed_cards_through_the_mapping_reader(tmp_path, name, e_pos):
    """The hardware side's reader (map/netlist/gds/build) uses the same validator."""
    from generator.circuit.mapping import read_trained_model
    from generator.errors import DesignError

    model = tmp_path / "m"
    if not model.exists():
        shutil.copytree(IRIS, model)
    card = json.loads((IRIS / "card.json").read_text())
    card.update(name=name, e_pos=e_pos)
    (model / "card.json").write_text(json.dumps(card))
    try:
        _, ok = read_trained_model(model)
    except DesignError:
        return
    assert NAME_RE.fullmatch(ok["name"]) and math.isfinite(ok["e_pos"]) and ok["e_pos"] > 0


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=30) | st.floats() | st.integers())
def test_finalize_never_lets_a_value_start_a_line(value):
    from generator.spice.templates import UNSAFE_RE

    try:
        out = environment().from_string("R1 a b {{ v }}").render(v=value)
    except TemplateValueError:
        assert (isinstance(value, str) and UNSAFE_RE.search(value)) or (
            isinstance(value, float) and not math.isfinite(value))
        return
    assert "\n" not in out and "\r" not in out


# ---------------------------------------------------------------------------------------------- fail() and exit codes
def _mini_app() -> typer.Typer:
    mini = typer.Typer(cls=ImcgenGroup)

    @mini.command("bad-input")
    def bad_input(as_json: bool = typer.Option(False, "--json")) -> None:
        raise InputError("--x 3: give 1 or 2")

    @mini.command("failed-run")
    def failed_run() -> None:
        raise RunError("simulation did not converge")

    @mini.command("direct")
    def direct() -> None:
        fail("told directly", 1)

    return mini


def test_one_place_turns_errors_into_exit_codes():
    runner = CliRunner()
    res = runner.invoke(_mini_app(), ["bad-input"])
    assert res.exit_code == 2 and res.output.startswith("error: --x 3: give 1 or 2") and res.exception is not None
    res = runner.invoke(_mini_app(), ["bad-input", "--json"])
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"ok": False, "error": "--x 3: give 1 or 2",
                                                                 "exit_code": 2}
    res = runner.invoke(_mini_app(), ["failed-run"])
    assert res.exit_code == 1 and "error: simulation did not converge" in res.output
    res = runner.invoke(_mini_app(), ["direct"])
    assert res.exit_code == 1 and "error: told directly" in res.output
    assert "Traceback" not in res.output


# ---------------------------------------------------------------------------------------------- validate first
@pytest.mark.parametrize("cmd", ["map", "gds", "netlist", "train"])
def test_out_that_is_an_existing_file(work, cmd, monkeypatch):
    import generator.model.train as T

    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("training started"))
    target = work / "keep.txt"
    target.write_text("precious")
    args = {"train": ["train", "--dataset", "iris", "--arch", "5-5-5", "--epochs", "1"]}.get(cmd, [cmd, IRIS])
    t0 = time.monotonic()
    res = run(*args, "--out", target)
    assert res.exit_code == 2, res.output
    assert f"--out {target} is an existing file" in res.output and "Traceback" not in res.output
    assert target.read_text() == "precious" and sorted(p.name for p in work.iterdir()) == ["keep.txt"]
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("args,message", [
    (["--name", "../x"], "name (--name) '../x' is not a plain identifier"),
    (["--name", "a\nb"], "is not a plain identifier"),
    (["--dataset", "nope"], "dataset 'nope' is not a known dataset"),
    (["--noise", "nan"], "noise_sigma=nan"),
    (["--c-m", "-1"], "--c-m -1 fF"),
])
def test_train_settings_are_checked_before_training(work, monkeypatch, args, message):
    import generator.model.train as T

    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("training started"))
    base = {"--dataset": "iris", "--arch": "5-5-5", "--epochs": "1", "--out": str(work / "m")}
    base.update(zip(args[::2], args[1::2]))
    res = run("train", *[x for kv in base.items() for x in kv])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (work / "m").exists()


def _unwritable(work: Path) -> Path:
    """A folder this process cannot write into (as root, permission bits do not stop us: use /sys)."""
    if os.geteuid() == 0:
        return Path("/sys/imcgen-test-out")
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "out"


@pytest.mark.parametrize("cmd", ["map", "gds", "netlist"])
def test_out_in_a_read_only_place(work, cmd):
    out = _unwritable(work)
    res = run(cmd, IRIS, "--out", out)
    assert res.exit_code == 2, res.output
    assert "is not writable" in res.output and str(out) in res.output and not out.exists()


def test_characterize_checks_out_and_temp_before_ngspice(work, monkeypatch):
    import generator.circuit.characterize as C

    monkeypatch.setattr(C, "characterize", lambda *a, **k: pytest.fail("ngspice started"))
    folder = work / "existing"
    folder.mkdir()
    cases = [
        (["--out", folder], "is a folder; pass a file path"),
        (["--out", _unwritable(work).parent / "p.json"], "is not writable"),
        (["--out", work / "p.json", "--temp", "nan"], "--temp nan"),
        (["--out", work / "p.json", "--temp", "-300"], "--temp -300"),
        (["--out", work / "p.json", "--corner", "xx"], "--corner 'xx'"),
        (["--out", work / "p.json", "--w", "inf"], "--w inf"),
    ]
    for args, message in cases:
        res = run("characterize", *args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    assert not (work / "p.json").exists()


def test_gds_neuron_pitch_nan(work):
    res = run("gds", IRIS, "--out", work / "g", "--neuron-pitch", "nan", "--no-render")
    assert res.exit_code == 2 and "--neuron-pitch nan" in res.output and not (work / "g").exists()


@pytest.mark.parametrize("field,value,message", [
    ("e_dis", "abc", "'e_dis' = 'abc'"),
    ("dataset", "nope", "'dataset' 'nope' is not a known dataset"),
    ("dataset", 5, "'dataset' must be a string"),
    ("e_pos", -2.0, "'e_pos' = -2.0"),
    ("e_neg", 1.5, "'e_neg' = 1.5"),
    ("steps", 1e9, "'steps'"),
])
def test_bad_card_fields_are_refused_by_every_reader(work, field, value, message):
    model = copy_model(work, **{field: value})
    before = snapshot(work)
    for args in (["map", model, "--out", work / "o"], ["netlist", model, "--out", work / "o"],
                 ["gds", model, "--out", work / "o", "--no-render"], ["evaluate", model, "--limit", "2"]):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output, (args, res.output)
    assert snapshot(work) == before


def test_all_zero_weights_map_with_a_warning(work):
    from safetensors.numpy import load_file, save_file

    model = copy_model(work)
    weights = load_file(str(model / "weights.safetensors"))
    save_file({k: np.zeros_like(v) for k, v in weights.items()}, str(model / "weights.safetensors"))
    res = run("map", model, "--out", work / "o")
    assert res.exit_code == 0, res.output
    assert "warning: 0 of 50 synapses are on" in res.output


def test_default_profile_from_any_folder_and_gds_profile(work):
    res = run("map", IRIS, "--out", work / "o")  # cwd is a temporary folder, not the repository
    assert res.exit_code == 0, res.output
    assert json.loads((work / "o" / "design.json").read_text())["source"]["profile_path"] == PROFILE.as_posix()
    res = run("gds", IRIS, "--out", work / "g", "--profile", PROFILE, "--no-render")
    assert res.exit_code == 0 and (work / "g" / "iris.gds").is_file(), res.output
    res = run("gds", IRIS, "--out", work / "g2", "--profile", work / "missing.json", "--no-render")
    assert res.exit_code == 2 and "--profile" in res.output and "imcgen characterize" in res.output
    assert not (work / "g2").exists()


def test_corner_means_the_same_in_map_and_netlist(work):
    for cmd in ("map", "netlist"):
        res = run(cmd, IRIS, "--out", work / cmd, "--corner", "xx")
        assert res.exit_code == 2 and "--corner 'xx' is not a sky130 process corner" in res.output, res.output
    res = run("map", IRIS, "--out", work / "ff", "--corner", "ff")  # simulated at ff, biased by the tt profile
    assert res.exit_code == 0 and "warning: --corner ff" in res.output, res.output
    assert json.loads((work / "ff" / "design.json").read_text())["params"]["corner"] == "ff"


# ---------------------------------------------------------------------------------------------- DRC input
def _gds(path: Path, boxes: dict[tuple[int, int], list[tuple[int, int, int, int]]]) -> Path:
    import klayout.db as kdb

    ly = kdb.Layout()
    ly.dbu = 0.001
    top = ly.create_cell("TOP")
    for (ln, dt), bs in boxes.items():
        li = ly.layer(ln, dt)
        for b in bs:
            top.shapes(li).insert(kdb.Box(*b))
    ly.write(str(path))
    return path


MET1 = (68, 20)


def test_drc_rejects_absurd_extents_quickly(work):
    gds = _gds(work / "huge.gds", {MET1: [(0, 0, 1000, 1000), (2**31 - 1000, 0, 2**31 - 10, 1000)]})
    t0 = time.monotonic()
    res = run("drc", gds, "--report", work / "r.json")
    assert res.exit_code == 2 and "from the origin" in res.output and "fix the GDS" in res.output, res.output
    assert time.monotonic() - t0 < 10 and not (work / "r.json").exists()


def test_drc_reports_unknown_layers_as_not_checked(work):
    gds = _gds(work / "u.gds", {MET1: [(0, 0, 1000, 1000)], (999, 7): [(0, 0, 100, 100)]})
    res = run("drc", gds, "--json", "--report", work / "r.json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["not_checked_layers"] == ["999/7"]
    assert json.loads((work / "r.json").read_text())["not_checked_layers"] == ["999/7"]
    res = run("drc", gds)
    assert "NOT CHECKED: layers 999/7" in res.output and "warning:" in res.output
    clean = _gds(work / "c.gds", {MET1: [(0, 0, 1000, 1000)]})
    res = run("drc", clean, "--json")
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"violations": 0, "by_rule": {}}


def test_drc_folder_report_folder_and_timeout(work):
    res = run("drc", work)
    assert res.exit_code == 2 and "is a folder, not a GDS file" in res.output
    gds = REPO / "layouts" / "iris" / "iris.gds"
    res = run("drc", gds, "--report", work)
    assert res.exit_code == 2 and f"--report {work} is a folder" in res.output
    t0 = time.monotonic()
    res = run("drc", REPO / "layouts" / "digits" / "digits.gds", "--timeout", "0.05")
    assert res.exit_code == 2 and "did not finish within --timeout 0.05 s" in res.output, res.output
    assert time.monotonic() - t0 < 10
    res = run("drc", gds, "--timeout", "120", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout.strip().splitlines()[-1])["violations"] == 0
