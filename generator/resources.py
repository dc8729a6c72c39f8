"""Where the files that ship with imcgen live: the SPICE templates and the default device profile.

In a checkout (or an editable install) they are the repository's top-level ``templates/`` and ``profiles/``;
in a wheel, setuptools maps those folders into the package as ``generator/templates`` and ``generator/profiles``
(pyproject.toml ``package-dir``). Everything that needs them asks here, so a command finds them from any
working folder. ``IMCGEN_TEMPLATES`` overrides the templates folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from generator.errors import InputError

_PACKAGE = Path(__file__).resolve().parent
#: file name of the default device profile (tt corner, 27 °C), made by `imcgen characterize`
DEFAULT_PROFILE_NAME = "sky130_tt_27C.json"


def _shipped(folder: str) -> Path:
    candidates = [_PACKAGE / folder, _PACKAGE.parent / folder]  # wheel, then checkout
    for c in candidates:
        if c.is_dir():
            return c
    raise InputError(f"imcgen's {folder}/ folder is missing (looked in {[str(c) for c in candidates]}); "
                     "reinstall imcgen (`make setup`, or `pip install` a wheel built from the repository)")


def templates_dir() -> Path:
    """The Jinja2 SPICE templates folder (``IMCGEN_TEMPLATES`` overrides it)."""
    override = os.environ.get("IMCGEN_TEMPLATES")
    if override:
        if not Path(override).is_dir():
            raise InputError(f"IMCGEN_TEMPLATES={override} is not a folder; unset it to use imcgen's own templates")
        return Path(override)
    return _shipped("templates")


def default_profile() -> Path:
    """The committed default DeviceProfile (sky130 tt, 27 °C), wherever the command runs from."""
    return _shipped("profiles") / DEFAULT_PROFILE_NAME
