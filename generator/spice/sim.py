"""One simulation context for every caller: run folder + model library + ``.spiceinit`` + render + run + parse.

Characterisation sweeps, the circuit-effect measurements and the verification jobs all need the same set-up: a
folder, the sky130 model library and ngspice's start-up file written into it, decks rendered from templates with
the library line of the right corner, ngspice run on them, the results parsed, and the folder removed afterwards
(kept when something failed, so the error's deck and log paths stay valid). :class:`Simulation` does that once.

The simulator is a :class:`Backend` (``run(deck_text, workdir, ...) -> SimResult``): today the batch ngspice
runner (:class:`BatchNgspice`, ``ngspice -b`` in its own process group); an in-process shared-library back-end
fits behind the same interface. Decks include the library by its file name, relative to the run folder, so a run
folder whose path has spaces works.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from generator.pdk import sky130
from generator.spice.ngspice import SimResult, run_deck
from generator.spice.templates import render


class Backend(Protocol):
    """A SPICE simulator: runs one deck in ``workdir`` and returns its vectors (raises NgspiceError on failure)."""

    def run(self, deck_text: str, workdir: Path, *, name: str, timeout_s: float, vectors: list[str] | None,
            allow_singular: bool) -> SimResult: ...


class BatchNgspice:
    """``ngspice -b`` as a child process per deck (generator/spice/ngspice.py:run_deck)."""

    def run(self, deck_text: str, workdir: Path, *, name: str, timeout_s: float, vectors: list[str] | None = None,
            allow_singular: bool = False) -> SimResult:
        return run_deck(deck_text, workdir, name=name, timeout_s=timeout_s, vectors=vectors,
                        allow_singular=allow_singular)


class Simulation:
    """A run folder set up for ngspice with the sky130 models of ``corner``.

    ``workdir=None``: a fresh temporary folder (``prefix``), removed on a clean exit and kept after an error.
    A given ``workdir`` is created if needed and never removed. Use as a context manager::

        with Simulation("tt") as sim:
            res = sim.run(sim.render("characterize/nmos_stack.spice.j2", **ctx), name="char_nmos")
    """

    def __init__(self, corner: str = "tt", workdir: str | os.PathLike | None = None, *, prefix: str = "imcgen-",
                 backend: Backend | None = None):
        self.corner = sky130.check_corner(corner)
        self._own = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix)) if self._own else Path(workdir)
        self.backend = backend or BatchNgspice()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.library = sky130.write_model_library(self.workdir, self.corner)

    @property
    def lib_line(self) -> str:
        """The deck line selecting this corner from the run folder's model library (relative file name)."""
        return sky130.lib_line(self.library.name, self.corner)

    def render(self, template: str, **ctx) -> str:
        """Render ``templates/<template>`` with ``lib_line``, ``lib`` (file name) and ``corner`` filled in."""
        ctx.setdefault("lib_line", self.lib_line)
        ctx.setdefault("lib", self.library.name)
        ctx.setdefault("corner", self.corner)
        return render(template, **ctx)

    def run(self, deck_text: str, *, name: str = "deck", timeout_s: float = 120.0, vectors: list[str] | None = None,
            allow_singular: bool = False, workdir: str | os.PathLike | None = None) -> SimResult:
        """Run one deck in the run folder (or in ``workdir``, which then gets its own model library)."""
        where = self.workdir
        if workdir is not None:
            where = Path(workdir)
            where.mkdir(parents=True, exist_ok=True)
            sky130.write_model_library(where, self.corner)
        return self.backend.run(deck_text, where, name=name, timeout_s=timeout_s, vectors=vectors,
                                allow_singular=allow_singular)

    def close(self, *, failed: bool = False) -> None:
        """Remove a temporary run folder, unless the run failed (its decks and logs are then kept)."""
        if self._own and not failed:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)
