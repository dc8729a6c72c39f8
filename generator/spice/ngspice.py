"""The one ngspice runner of the project: run a rendered deck in batch mode, parse its vectors, fail loudly.

:func:`run_deck` writes ``<workdir>/<name>.spice``, runs ``ngspice -b`` in ``workdir`` (so a ``.spiceinit`` there,
e.g. from :func:`generator.pdk.sky130.write_model_library`, is read), captures stdout+stderr in ``<name>.log``
and reads the vectors from the raw file ``<name>.raw``:

* a deck **without** a ``.control`` block runs as ``ngspice -b -r <name>.raw``: every analysis is written;
* a deck **with** a ``.control`` block gets ``write <name>.raw`` inserted at the end of the block (before its
  ``quit``/``exit`` or ``.endc``), which saves every vector of the current plot (the last analysis run).
  A deck that writes its own files (``wrdata``) can still be run; its files stay in ``workdir``.

Vector names come back lower-case as ngspice writes them (``v(out)``, ``i(vd)``, ``time``, ``v(v-sweep)``)
plus aliases: ``out`` for ``v(out)``, ``vd#branch`` for ``i(vd)``, ``v-sweep`` for ``v(v-sweep)``.

Failures raise :class:`NgspiceError` (or a subclass) whose message quotes ngspice's own words and names the
kept deck and log. A floating node ("singular matrix: check node X") is an error unless ``allow_singular``:
ngspice recovers with gmin/source stepping but the value at that node is then meaningless.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.errors import EXIT_BAD_INPUT, RunError
from generator.io import atomic_write_text
from generator.procutil import kill_with_parent

INSTALL_HINT = "install it: `sudo apt-get install ngspice` (Debian/Ubuntu) or `make setup`"


class NgspiceError(RunError):
    """ngspice failed. ``message`` is ngspice's own words; ``deck_path``/``log_path`` are kept for inspection."""

    def __init__(self, summary: str, *, message: str = "", deck_path: Path | None = None, log_path: Path | None = None):
        self.summary = summary
        self.message = message
        self.deck_path = deck_path
        self.log_path = log_path
        text = summary
        if message:
            text += "\n  ngspice said: " + message.strip().replace("\n", "\n    ")
        if deck_path is not None:
            text += f"\n  deck kept at {deck_path}"
        if log_path is not None:
            text += f"\n  log kept at {log_path}"
        super().__init__(text)


class NgspiceNotFound(NgspiceError):
    """The ngspice binary is not on PATH (or IMCGEN_NGSPICE points nowhere): bad set-up, exit 2."""

    exit_code = EXIT_BAD_INPUT


class NgspiceTimeout(NgspiceError):
    """ngspice ran longer than the timeout and was killed."""


class NgspiceConvergenceError(NgspiceError):
    """Non-convergence: timestep too small, gmin/source stepping failed, singular matrix (floating node)."""


@dataclass
class SimResult:
    """Vectors of one ngspice run.

    ``vectors``: the last plot's vectors (name -> 1-D array; complex for AC), names lower-case plus aliases.
    ``plots``: every plot in the raw file, in order, as (plot name, vectors). ``scale``: name of the last plot's
    independent variable (``time``, ``v(v-sweep)``, ``frequency``...). ``warnings``: ngspice warning lines.
    """

    vectors: dict[str, np.ndarray]
    log: str
    wall_s: float
    deck_path: Path
    log_path: Path | None = None
    raw_path: Path | None = None
    scale: str = ""
    plots: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.vectors[name.lower()]
        except KeyError:
            raise KeyError(f"no vector {name!r}; available: {sorted(self.vectors)}") from None


# ---------------------------------------------------------------------------------------------- binary
def ngspice_path() -> str:
    """Absolute path of the ngspice binary (``IMCGEN_NGSPICE`` overrides PATH); raises NgspiceNotFound."""
    override = os.environ.get("IMCGEN_NGSPICE")
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        raise NgspiceNotFound(f"IMCGEN_NGSPICE={override} is not an executable file; unset it or {INSTALL_HINT}")
    found = shutil.which("ngspice")
    if not found:
        raise NgspiceNotFound(f"ngspice not found on PATH; {INSTALL_HINT}")
    return found


def ngspice_version() -> str:
    """ngspice's version banner line, e.g. ``ngspice-39``."""
    out = subprocess.run([ngspice_path(), "-v"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"ngspice-\S+", out)
    return m.group(0) if m else out.strip().splitlines()[0] if out.strip() else "unknown"


# ---------------------------------------------------------------------------------------------- raw files
def _aliases(names: list[str]) -> dict[str, str]:
    out = {}
    for n in names:
        m = re.fullmatch(r"v\((.+)\)", n)
        if m and "," not in m.group(1):
            out[m.group(1)] = n
        m = re.fullmatch(r"i\((.+)\)", n)
        if m:
            out[m.group(1) + "#branch"] = n
    return out


def read_raw(path: str | os.PathLike) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Parse an ngspice raw file (binary or ASCII, one or more plots) into [(plot name, {vector: array})].

    Names are lower-cased; aliases as in the module docstring. An analysis cut short keeps its complete points.
    """
    data = Path(path).read_bytes()
    plots: list[tuple[str, dict[str, np.ndarray]]] = []
    pos = 0
    while pos < len(data):
        # header: text lines up to "Binary:" or "Values:"
        header: dict[str, str] = {}
        names: list[str] = []
        in_vars = False
        kind = None
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                nl = len(data)
            line = data[pos:nl].decode("latin-1").rstrip("\r")
            pos = nl + 1
            if line.startswith("Binary:"):
                kind = "binary"
                break
            if line.startswith("Values:"):
                kind = "ascii"
                break
            if in_vars and line.startswith(("\t", " ")) and line.strip():
                parts = line.split()
                names.append(parts[1].lower())
                continue
            if line.startswith("Variables:"):
                in_vars = True
                continue
            if ":" in line:
                key, _, val = line.partition(":")
                header[key.strip().lower()] = val.strip()
                in_vars = False
        if kind is None:
            break
        nvar = int(header.get("no. variables", len(names)))
        npts = int(header.get("no. points", "0").split()[0] or 0)
        is_complex = "complex" in header.get("flags", "").lower()
        width = nvar * (2 if is_complex else 1)
        if kind == "binary":
            avail = (len(data) - pos) // 8
            npts = min(npts, avail // width) if width else 0
            arr = np.frombuffer(data, dtype="<f8", count=npts * width, offset=pos).reshape(npts, width)
            pos += npts * width * 8
            if is_complex:
                arr = arr[:, 0::2] + 1j * arr[:, 1::2]
        else:
            rows = []
            tokens: list[str] = []
            while len(rows) < npts and pos < len(data):
                nl = data.find(b"\n", pos)
                nl = len(data) if nl < 0 else nl
                line = data[pos:nl].decode("latin-1").strip()
                if line.startswith(("Title:", "Plotname:")):
                    break
                pos = nl + 1
                if not line:
                    continue
                parts = line.split()
                tokens.extend(parts[1:] if len(parts) == 2 else parts)
                if len(tokens) == nvar:
                    vals = [complex(*map(float, t.split(","))) if "," in t else float(t) for t in tokens]
                    rows.append(vals)
                    tokens = []
            arr = np.array(rows, dtype=complex if is_complex else float).reshape(len(rows), nvar)
        vecs = {n: np.ascontiguousarray(arr[:, i]) for i, n in enumerate(names)}
        for alias, target in _aliases(names).items():
            vecs.setdefault(alias, vecs[target])
        plots.append((header.get("plotname", ""), vecs))
        if kind == "binary":
            # plots follow each other directly; skip any newline between them
            while pos < len(data) and data[pos:pos + 1] in (b"\n", b"\r"):
                pos += 1
    return plots


# ---------------------------------------------------------------------------------------------- errors
_MODEL_PATTERNS = (
    re.compile(r"could not find (?:a valid )?model(?:name)?\W+(\S+)", re.I),
    re.compile(r"unable to find definition of model\W+(\S+)", re.I),
    re.compile(r"model\s+(\S+)\s+not found", re.I),
)
_HARD_CONVERGENCE = re.compile(
    r"timestep too small|iteration limit reached|no convergence|transient op failed|dc solution failed|"
    r"gmin stepping failed|source stepping failed",
    re.I,
)
_ERROR = re.compile(r"^\s*(error\b|.*\berror:|.*fatal|doanalyses:|.*simulation\(s\) aborted)", re.I)


def _unique(lines: list[str]) -> str:
    return "\n".join(dict.fromkeys(l.strip() for l in lines if l.strip()))


def _error_lines(log: str) -> list[str]:
    lines = []
    for line in log.splitlines():
        s = line.strip()
        if s and (_ERROR.match(s) or "not available or has zero length" in s or "no simulations run" in s):
            lines.append(s)
    return lines


def _classify(log: str, rc: int, allow_singular: bool) -> tuple[type[NgspiceError], str, str] | None:
    """Return (exception class, summary, ngspice's words) for a failed run, or None for a good one."""
    errors = _error_lines(log)
    for line in errors:
        m = re.search(r"unknown subckt:\s*(.*)$", line, re.I)
        if m:  # "unknown subckt: xm1 d g s b <name> w=1 l=0.15": the subcircuit is the last token without '='
            tokens = [t for t in m.group(1).split() if "=" not in t]
            model = tokens[-1] if tokens else m.group(1)
            return NgspiceError, (f"missing model or subcircuit {model!r}: is the model library included "
                                  "(.lib line) and the device name spelled right?"), line
        for pat in _MODEL_PATTERNS:
            m = pat.search(line)
            if m:
                return NgspiceError, (f"missing model {m.group(1)!r}: is the model library included (.lib line) "
                                      "and the device name spelled right?"), line
    lower = log.lower()
    # gmin/source stepping failures followed by a successful transient op are recoveries, not failures
    recovered = "transient op finished successfully" in lower
    hard = [l for l in log.splitlines() if _HARD_CONVERGENCE.search(l)]
    if recovered:
        hard = [l for l in hard if "stepping failed" not in l.lower()]
    if hard:
        msg = [re.sub(r"^.*?(?=(error|warning|doanalyses))", "", l, flags=re.I) for l in hard]
        return NgspiceConvergenceError, "ngspice did not converge", _unique(msg + [e for e in errors if e not in hard])
    sing = sorted(set(re.findall(r"singular matrix:\s*check node (\S+)", log, re.I)))
    if sing and not allow_singular:
        return (NgspiceConvergenceError,
                f"singular matrix at node(s) {sing}: a floating node or a loop of voltage sources/inductors "
                "(pass allow_singular=True to accept ngspice's gmin-stepped answer)",
                _unique([f"Warning: singular matrix:  check node {n}" for n in sing]))
    if errors:
        return NgspiceError, "ngspice reported an error", _unique(errors)
    if rc != 0:
        return NgspiceError, f"ngspice exited with status {rc}", _unique(log.strip().splitlines()[-15:])
    return None


# ---------------------------------------------------------------------------------------------- runner
_CONTROL_START = re.compile(r"^\s*\.control\b", re.I)
_CONTROL_END = re.compile(r"^\s*\.endc\b", re.I)
_QUIT = re.compile(r"^\s*(quit|exit)\b", re.I)
_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]+$")


def _with_raw_write(deck_text: str, raw_name: str) -> tuple[str, bool]:
    """Insert ``write <raw_name>`` at the end of the first .control block; returns (text, had_control)."""
    lines = deck_text.splitlines()
    start = next((i for i, l in enumerate(lines) if _CONTROL_START.match(l)), None)
    if start is None:
        return deck_text, False
    end = next((i for i in range(start + 1, len(lines)) if _CONTROL_END.match(lines[i])), None)
    if end is None:
        return deck_text, True  # ngspice will complain; let it
    at = next((i for i in range(start + 1, end) if _QUIT.match(lines[i])), end)
    lines.insert(at, f"write {raw_name}")
    if not any(_QUIT.match(lines[i]) for i in range(start + 1, end + 1)):
        lines.insert(at + 1, "quit 0")  # batch mode: without quit the exit code can be 1 after a good run
    return "\n".join(lines) + ("\n" if deck_text.endswith("\n") else ""), True


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_deck(
    deck_text: str,
    workdir: str | os.PathLike,
    *,
    name: str = "deck",
    timeout_s: float = 120.0,
    vectors: list[str] | None = None,
    allow_singular: bool = False,
) -> SimResult:
    """Run ``deck_text`` with ``ngspice -b`` in ``workdir`` and return its vectors.

    ``vectors``: names that must be present (``v(out)``, ``out``, ``i(vd)``...); a missing one is an
    NgspiceError listing what exists. ``timeout_s`` (s): the run is killed after it (NgspiceTimeout).
    Deck, log and raw file stay in ``workdir`` (``<name>.spice/.log/.raw``) after success and failure.
    """
    if not _NAME_OK.match(name):
        raise ValueError(f"deck name {name!r} must be letters, digits, '_', '-', '.' only")
    binary = ngspice_path()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    deck_path = workdir / f"{name}.spice"
    log_path = workdir / f"{name}.log"
    raw_path = workdir / f"{name}.raw"
    text, has_control = _with_raw_write(deck_text, raw_path.name)
    if not re.search(r"^\s*\.end\s*$", text, re.I | re.M):
        text = text.rstrip("\n") + "\n.end\n"
    atomic_write_text(deck_path, text)
    if raw_path.exists():
        raw_path.unlink()
    cmd = [binary, "-b"] + ([] if has_control else ["-r", raw_path.name]) + [deck_path.name]
    t0 = time.monotonic()
    # own process group (the timeout kills the whole group); killed with the calling process (procutil)
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=kill_with_parent)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        log = out.decode("utf-8", "replace")
        atomic_write_text(log_path, log)
        raise NgspiceTimeout(f"ngspice ran past the {timeout_s:g} s timeout and was killed (raise timeout_s, "
                             "shorten the analysis or coarsen its step)",
                             message="\n".join(log.strip().splitlines()[-5:]), deck_path=deck_path,
                             log_path=log_path) from None
    wall = time.monotonic() - t0
    log = out.decode("utf-8", "replace")
    atomic_write_text(log_path, log)
    bad = _classify(log, proc.returncode, allow_singular)
    if bad:
        cls, summary, words = bad
        raise cls(summary, message=words, deck_path=deck_path, log_path=log_path)
    if not raw_path.is_file():
        raise NgspiceError("ngspice wrote no results (no analysis ran, or the .control block has no `run`)",
                           message="\n".join(log.strip().splitlines()[-5:]), deck_path=deck_path, log_path=log_path)
    plots = read_raw(raw_path)
    if not plots or not plots[-1][1]:
        raise NgspiceError("ngspice's raw file holds no vectors", message="\n".join(log.strip().splitlines()[-5:]),
                           deck_path=deck_path, log_path=log_path)
    vecs = plots[-1][1]
    if vectors:
        missing = [v for v in vectors if v.lower() not in vecs]
        if missing:
            raise NgspiceError(f"vector(s) {missing} not in ngspice's results; available: {sorted(vecs)}",
                               deck_path=deck_path, log_path=log_path)
    warnings = [l.strip() for l in log.splitlines() if l.strip().lower().startswith("warning")]
    scale = next(iter(vecs))
    return SimResult(vectors=vecs, log=log, wall_s=wall, deck_path=deck_path, log_path=log_path, raw_path=raw_path,
                     scale=scale, plots=plots, warnings=warnings)
