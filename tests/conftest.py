"""Shared test set-up.

Tests that need ngspice are marked ``@pytest.mark.ngspice`` (klayout binary: ``klayout_bin``). They never skip: on a
machine without the tool they FAIL with the command that installs it, because a skipped test would hide a missing
tool (the README's `make test` installs everything).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_INSTALL = {
    "ngspice": "ngspice is required: run `make setup` (apt-get install ngspice libngspice0-dev)",
    "klayout_bin": "the klayout binary is required: run `make setup` (apt-get install klayout)",
}
_BINARY = {"ngspice": "ngspice", "klayout_bin": "klayout"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, binary in _BINARY.items():
        if item.get_closest_marker(marker) is not None and shutil.which(binary) is None:
            pytest.fail(_INSTALL[marker], pytrace=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared dataset folder (IMCGEN_DATA); the Makefile sets it when ../shared/datasets exists."""
    path = Path(os.environ.get("IMCGEN_DATA", REPO.parent / "shared" / "datasets"))
    return path
