"""Shared helpers at the bottom of the house: atomic writes, deterministic JSON, significant-figure rounding.

Outputs are written atomically (temporary file beside the target + rename), so a crash never leaves a
half-written GDS, netlist or report; JSON is deterministic so equal inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    For writers that need a file name (KLayout databases, GDS): a crash never leaves a half-written file. The file
    gets the usual permissions (0666 less the umask), not mkstemp's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename, see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Text (UTF-8, LF line ends) twin of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dump_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, fixed float repr) so equal inputs give identical bytes."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def round_sig(x: float, digits: int = 6) -> float:
    """Round to ``digits`` significant figures: stable JSON and byte-identical re-runs."""
    x = float(x)
    return 0.0 if x == 0 or not math.isfinite(x) else float(f"{x:.{digits}g}")
