"""A wheel built from the repository works outside the checkout: templates and the default profile ship inside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_renders_a_netlist_outside_the_checkout(tmp_path):
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(REPO)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("imcgen-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp_path)
    assert (site / "generator" / "templates" / "netlist" / "neuron.j2").is_file()
    assert (site / "generator" / "profiles" / "sky130_tt_27C.json").is_file()
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import generator, generator.resources as r;"
        "assert generator.__file__.startswith(sys.argv[1]), generator.__file__;"
        "print(r.templates_dir()); print(r.default_profile());"
        "from generator.cli import main; sys.argv = ['imcgen', 'netlist', sys.argv[2], '--out', 'out']; main()"
    )
    run = subprocess.run([sys.executable, "-c", script, str(site), str(REPO / "trained_models" / "iris")], cwd=work,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(str(site)) and lines[1].startswith(str(site)), lines[:2]
    spice = (work / "out" / "netlist" / "iris.spice").read_text()
    assert ".subckt neuron mem spk spkb" in spice and "sky130_fd_pr__nfet_01v8" in spice
