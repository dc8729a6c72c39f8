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

import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Protocol

from generator.pdk import sky130
from generator.spice.ngspice import NgspiceError, SimResult, read_raw, run_deck
from generator.spice.templates import render


class Backend(Protocol):
    """A SPICE simulator: runs one deck in ``workdir`` and returns its vectors (raises NgspiceError on failure)."""

    def run(self, deck_text: str, workdir: Path, *, name: str, timeout_s: float, vectors: list[str] | None,
            allow_singular: bool) -> SimResult: ...


#: ngspice's words when a ``stop when`` breakpoint pauses a run (the fast deck's tolerance schedule and its stop
#: once the neuron fired): reported like errors, they are not failures
_PAUSE_LINES = re.compile(r"^(doanalyses:\s*pause requested|(run )?simulation interrupted)$", re.I)


def _only_pauses(err: NgspiceError) -> bool:
    """True when a plain NgspiceError's ngspice words are only breakpoint pauses (a good run with `stop when`)."""
    lines = [l.strip() for l in err.message.splitlines() if l.strip()]
    return (type(err) is NgspiceError and err.summary == "ngspice reported an error" and bool(lines)
            and all(_PAUSE_LINES.match(l) for l in lines))


def _result_after_pauses(err: NgspiceError, vectors: list[str] | None) -> SimResult:
    """The SimResult of a good run that run_deck rejected for its breakpoint pauses (raw file read here)."""
    deck_path = err.deck_path
    raw_path = deck_path.with_suffix(".raw") if deck_path is not None else None
    if raw_path is None or not raw_path.is_file():
        raise err
    plots = read_raw(raw_path)
    if not plots or not plots[-1][1]:
        raise err
    vecs = plots[-1][1]
    missing = [v for v in (vectors or []) if v.lower() not in vecs]
    if missing:
        raise NgspiceError(f"vector(s) {missing} not in ngspice's results; available: {sorted(vecs)}",
                           deck_path=deck_path, log_path=err.log_path)
    log = err.log_path.read_text() if err.log_path is not None and err.log_path.is_file() else ""
    warnings = [l.strip() for l in log.splitlines() if l.strip().lower().startswith("warning")]
    return SimResult(vectors=vecs, log=log, wall_s=math.nan, deck_path=deck_path, log_path=err.log_path,
                     raw_path=raw_path, scale=next(iter(vecs)), plots=plots, warnings=warnings)


class BatchNgspice:
    """``ngspice -b`` as a child process per deck (generator/spice/ngspice.py:run_deck).

    A deck that pauses at ``stop when`` breakpoints (the fast column deck) makes ngspice print "doAnalyses: pause
    requested", which run_deck takes for an error: such a run is accepted here and its raw file read."""

    def run(self, deck_text: str, workdir: Path, *, name: str, timeout_s: float, vectors: list[str] | None = None,
            allow_singular: bool = False) -> SimResult:
        t0 = time.monotonic()
        try:
            return run_deck(deck_text, workdir, name=name, timeout_s=timeout_s, vectors=vectors,
                            allow_singular=allow_singular)
        except NgspiceError as err:
            if not _only_pauses(err):
                raise
            res = _result_after_pauses(err, vectors)
            res.wall_s = time.monotonic() - t0
            return res


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
