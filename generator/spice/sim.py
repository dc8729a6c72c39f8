"""One simulation context for every caller: run folder + model library + ``.spiceinit`` + render + run + parse.

Characterisation sweeps, the circuit-effect measurements and the verification jobs all need the same set-up: a
folder, the sky130 model library and ngspice's start-up file written into it, decks rendered from templates with
the library line of the right corner, ngspice run on them, the results parsed, and the folder removed afterwards
(kept when something failed, so the error's deck and log paths stay valid). :class:`Simulation` does that once.

The simulator is a :class:`Backend` (``run(deck_text, workdir, ...) -> SimResult``): the batch ngspice runner
(:class:`BatchNgspice`, ``ngspice -b`` in its own process group, the default) or ngspice as a shared library
(:class:`SharedNgspice`, PySpice's ``NgSpiceShared`` in one long-lived child process per back-end object; slower
per small deck than the batch runner here, benchmarks/README.md). Decks include the library by its file name,
relative to the run folder, so a run folder whose path has spaces works.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

import numpy as np

from generator.pdk import sky130
from generator.io import atomic_write_text
from generator.procutil import kill_with_parent
from generator.spice.ngspice import (NgspiceError, NgspiceTimeout, SimResult, _aliases, _classify, read_raw,
                                     run_deck)
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


# ---------------------------------------------------------------------------------------------- shared library
def _split_control(deck_text: str) -> tuple[str, list[str]]:
    """(the deck without its .control block, the block's commands without quit/exit)."""
    lines = deck_text.splitlines()
    circuit, control, inside = [], [], False
    for line in lines:
        s = line.strip()
        low = s.lower()
        if low.startswith(".control"):
            inside = True
            continue
        if inside and low.startswith(".endc"):
            inside = False
            continue
        if inside:
            if s and not s.startswith("*") and not re.match(r"^(quit|exit)\b", low):
                control.append(s)
        else:
            circuit.append(line)
    return "\n".join(circuit) + "\n", control


def _shared_vector_name(name: str, is_voltage: bool, is_current: bool) -> str:
    """ngspice's in-memory vector name -> the name its raw file (hence BatchNgspice) uses."""
    low = name.lower()
    if is_current and low.endswith("#branch"):
        return f"i({low[:-len('#branch')]})"
    if is_voltage and "(" not in low and low not in ("time", "frequency"):
        return f"v({low})"
    return low


def _shared_worker(conn) -> None:  # pragma: no cover - runs in the child process (tested through SharedNgspice)
    """Child process: one NgSpiceShared instance serving decks sent over ``conn`` until it is closed.

    Message in: (deck_text, workdir, name). Reply: {"log", "plots": [(plot, {name: array})], "failed": str}."""
    import logging

    logging.getLogger("PySpice").setLevel(logging.CRITICAL + 1)  # "Unsupported Ngspice version 39": harmless
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    class _Ng(NgSpiceShared):
        log: list[str] = []

        def send_char(self, message, ngspice_id):
            prefix, _, content = message.partition(" ")
            self.log.append(content if prefix in ("stdout", "stderr") else message)
            return 0

    ng = _Ng.new_instance()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        deck_text, workdir, _name = msg
        _Ng.log = ng.log = []
        failed = ""
        plots: list = []
        try:
            os.chdir(workdir)
            for cmd in ("destroy all", "remcirc"):
                try:
                    ng.exec_command(cmd)
                except Exception:  # noqa: BLE001 - nothing loaded yet
                    pass
            init = Path(workdir) / ".spiceinit"
            if init.is_file():  # the run folder's start-up settings, as ngspice -b reads them
                for line in init.read_text().splitlines():
                    if line.strip().lower().startswith("set "):
                        ng.exec_command(line.strip())
            circuit, control = _split_control(deck_text)
            before = set(ng.plot_names)
            try:
                ng.load_circuit(circuit)
            except Exception as e:  # noqa: BLE001 - ngspice's words are in the log
                failed = f"circuit not loaded ({type(e).__name__})"
            if not failed:
                for cmd in control or ["run"]:
                    try:
                        ng.exec_command(cmd)
                    except Exception:  # noqa: BLE001 - PySpice raises on any "error" text; the log is classified
                        pass
                names = [p for p in ng.plot_names if p not in before and p != "const"]
                for pname in reversed(names):  # ngspice lists the newest first
                    plot = ng.plot(None, pname)
                    vecs = {}
                    for vname, vec in plot.items():
                        vecs[_shared_vector_name(vname, vec.is_voltage_node, vec.is_branch_current)] = \
                            np.ascontiguousarray(vec._data)
                    plots.append((pname, vecs))
        except Exception as e:  # noqa: BLE001 - reported to the parent
            failed = f"{type(e).__name__}: {e}"
        try:
            conn.send({"log": "\n".join(ng.log), "plots": plots, "failed": failed})
        except (EOFError, OSError, BrokenPipeError):
            return


def _shared_main(fd: int) -> None:  # pragma: no cover - the child's entry point
    _shared_worker(Connection(fd))


def _scale_of(vecs: dict) -> str:
    for name in ("time", "frequency"):
        if name in vecs:
            return name
    return next((n for n in vecs if "sweep" in n), next(iter(vecs)))


class SharedNgspice:
    """ngspice as a shared library (PySpice 1.5 ``NgSpiceShared``) in a child process of its own.

    Why a child: a crash (segfault) or a hang of the shared library must not take the run down; the child is
    killed on a timeout and a fresh one starts at the next run. One child per back-end object (one per executor
    worker), started at the first run and reused: the library loads once, so a small deck costs no process start.
    Decks are the ones BatchNgspice runs: the ``.control`` block's commands are executed one by one (``quit`` left
    out), the workdir's ``.spiceinit`` ``set`` lines first. Vectors come back under the raw file's names
    (``v(mem)``, ``i(vcol)``, ``time`` + the same aliases); no raw file is written (``raw_path`` None); the deck
    and the log are written to ``workdir`` as ``<name>.spice``/``.log``. Needs libngspice (``libngspice0-dev`` or
    ``NGSPICE_LIBRARY_PATH``)."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._conn = None

    def _start(self) -> None:
        """Start the child: a fresh interpreter (no fork of this process, no re-import of its __main__) that
        talks over a socket pair; own session, killed with this process (procutil)."""
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        code = f"from generator.spice.sim import _shared_main; _shared_main({theirs.fileno()})"
        self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(theirs.fileno(),), env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True, preexec_fn=kill_with_parent)
        theirs.close()
        self._conn = Connection(ours.detach())

    def close(self) -> None:
        """Stop the child (it also ends when this process does)."""
        if self._proc is None:
            return
        try:
            self._conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._conn.close()
        self._proc = self._conn = None

    def _kill(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self._proc.kill()
            self._proc.wait()
            self._conn.close()
        self._proc = self._conn = None

    def run(self, deck_text: str, workdir: Path, *, name: str, timeout_s: float, vectors: list[str] | None = None,
            allow_singular: bool = False) -> SimResult:
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            raise ValueError(f"deck name {name!r} must be letters, digits, '_', '-', '.' only")
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        deck_path, log_path = workdir / f"{name}.spice", workdir / f"{name}.log"
        atomic_write_text(deck_path, deck_text)
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        t0 = time.monotonic()
        try:
            self._conn.send((deck_text, str(workdir), name))
            ready = self._conn.poll(timeout_s)
        except (OSError, BrokenPipeError):
            ready = True  # the child is gone: recv below says so
        if not ready:
            self._kill()
            atomic_write_text(log_path, "")
            raise NgspiceTimeout(f"shared-library ngspice ran past the {timeout_s:g} s timeout; its process was "
                                 "killed (raise timeout_s, shorten the analysis or coarsen its step)",
                                 deck_path=deck_path, log_path=log_path)
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.poll() if self._proc is not None else None
            self._kill()
            raise NgspiceError(f"the shared-library ngspice process died (exit code {code}); the run continues with "
                               "a fresh one", deck_path=deck_path) from None
        wall = time.monotonic() - t0
        log = reply["log"]
        atomic_write_text(log_path, log)
        judged = "\n".join(l for l in log.splitlines() if not _PAUSE_LINES.match(l.strip()))
        bad = _classify(judged, 0, allow_singular)
        if bad:
            cls, summary, words = bad
            raise cls(summary, message=words, deck_path=deck_path, log_path=log_path)
        plots = reply["plots"]
        if reply["failed"] or not plots or not plots[-1][1]:
            raise NgspiceError(f"shared-library ngspice gave no results ({reply['failed'] or 'no analysis ran'})",
                               message="\n".join(log.strip().splitlines()[-5:]), deck_path=deck_path,
                               log_path=log_path)
        out_plots = []
        for pname, vecs in plots:
            vecs = {("time" if k == "time" else k): v for k, v in vecs.items()}
            scale = _scale_of(vecs)
            ordered = {scale: vecs[scale], **{k: v for k, v in vecs.items() if k != scale}}
            for alias, target in _aliases(list(ordered)).items():
                ordered.setdefault(alias, ordered[target])
            out_plots.append((pname, ordered))
        vecs = out_plots[-1][1]
        missing = [v for v in (vectors or []) if v.lower() not in vecs]
        if missing:
            raise NgspiceError(f"vector(s) {missing} not in ngspice's results; available: {sorted(vecs)}",
                               deck_path=deck_path, log_path=log_path)
        warnings = [l.strip() for l in log.splitlines() if l.strip().lower().startswith("warning")]
        return SimResult(vectors=vecs, log=log, wall_s=wall, deck_path=deck_path, log_path=log_path, raw_path=None,
                         scale=next(iter(vecs)), plots=out_plots, warnings=warnings)

    def __del__(self):  # best effort: the daemon child also ends with this process
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
