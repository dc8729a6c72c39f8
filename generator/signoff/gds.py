"""Reading a layout file for the checks (DRC, LVS, PEX, CI checks): one reader, one set of messages.

A GDS, gzipped GDS or OASIS file; a folder, a missing file or a file KLayout cannot read is an input error (exit 2)
that names the path and the fix. Each check passes its own error class so its callers can tell them apart.
"""

from __future__ import annotations

import os
from pathlib import Path

import klayout.db as kdb

from generator.errors import InputError


def read_layout(path: str | os.PathLike, *, error: type[InputError] = InputError, what: str = "GDS file",
                one_top: bool = True, fix: str = "write it first (imcgen gds ...) or fix the path"
                ) -> tuple[kdb.Layout, kdb.Cell | None]:
    """(layout, its single top cell) — or (layout, None) with ``one_top=False``; raises ``error`` naming ``path``."""
    p = Path(path)
    if p.is_dir():
        raise error(f"{str(p)!r} is a folder, not a GDS file; pass the GDS inside it (e.g. {str(p / 'NAME.gds')!r})")
    if not p.is_file():
        raise error(f"{what} {str(p)!r} does not exist; {fix}")
    layout = kdb.Layout()
    try:
        layout.read(str(p))
    except RuntimeError as exc:  # KLayout's reader says what is wrong
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"cannot read {what} {str(p)!r} as GDS/OASIS: {msg}; {fix}") from None
    if not one_top:
        return layout, None
    tops = layout.top_cells()
    if len(tops) != 1:
        raise error(f"{str(p)!r}: expected one top cell, found {[t.name for t in tops][:5] or 'none'}; {fix}")
    return layout, tops[0]
