"""What every command shares: the one ``fail()``, the one place errors become exit codes, the shared options
(one meaning per option name) and the checks that run before any expensive work.

Exit status (generator/errors.py): 0 success; 2 bad input (a file, an option, a value, a missing tool); 1 a check
or a run that failed (DRC violations, a simulation that did not converge, training that diverged).

Errors: commands raise :class:`~generator.errors.ImcgenError` (or call :func:`fail`); :class:`ImcgenGroup`, the
app's click group, catches every ImcgenError of every command in one place and prints ``error: <message>`` in
red on stderr (with ``--json``, also ``{"ok": false, "error": ..., "exit_code": ...}`` as the last stdout line)
and exits with the error's ``exit_code``. No command prints its own tracebacks for ordinary mistakes.

Options that mean the same thing in every command (build them with the functions below; help text here only):

``--corner``  the sky130 FET process corner (tt ff ss sf fs) of the SPICE models the circuit is simulated with
              (characterize: the corner characterised). Default: the device profile's corner (characterize: tt).
              Synapse and discharger biases always come from the profile; to re-bias for another corner,
              characterise it (``imcgen characterize --corner X``) and pass that profile.
``--temp``    simulation temperature in °C, finite and within [TEMP_MIN_C, TEMP_MAX_C]. Default: the profile's
              (characterize: 27).
``--profile`` DeviceProfile JSON written by ``imcgen characterize``. Default: imcgen's own sky130 tt 27 °C
              profile, found wherever the command runs from (generator.resources.default_profile()).
``--out``     where the command writes (a folder; characterize: a JSON file). Checked before any work: an
              existing file where a folder is expected, a folder where a file is expected, or a place that
              cannot be written is an error (exit 2) naming the path and the fix.
``--json``    also print one JSON object as the last stdout line.
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import NoReturn, Optional

import typer
from typer.core import TyperGroup

from generator.errors import EXIT_BAD_INPUT, ImcgenError, InputError

#: simulation temperatures (°C) accepted by --temp (sky130 models are characterised from -40 to 125 °C)
TEMP_MIN_C = -55.0
TEMP_MAX_C = 175.0

CORNER_HELP = ("sky130 process corner of the simulation models: tt ff ss sf fs (default: the profile's); biases "
               "come from the profile")
TEMP_HELP = f"simulation temperature in °C, {TEMP_MIN_C:g} to {TEMP_MAX_C:g} (default: the profile's)"
PROFILE_HELP = "DeviceProfile JSON (imcgen characterize; default: imcgen's sky130 tt 27 °C profile)"


# ---------------------------------------------------------------------------------------------- errors
def fail(msg: str, code: int = EXIT_BAD_INPUT, *, as_json: bool = False) -> NoReturn:
    """Print ``error: msg`` in red on stderr (and, with ``as_json``, a JSON object as the last stdout line);
    exit with ``code`` (2 bad input, 1 a failed check or run)."""
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": msg, "exit_code": code}))
    raise typer.Exit(code)


def _report(exc: ImcgenError, as_json: bool = False) -> NoReturn:
    """:func:`fail` with an ImcgenError's message (plus any ``add_note`` notes) and its exit code."""
    notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", []))
    fail(f"{exc}{notes}", exc.exit_code, as_json=as_json)


def warn(msg: str) -> None:
    """Print ``warning: msg`` in yellow on stderr (the command goes on)."""
    typer.secho(f"warning: {msg}", fg=typer.colors.YELLOW, err=True)


def warn_if_no_synapses(design) -> None:
    """Warn when a Design has synapses but none is on (all-zero weights, or all below the device's range)."""
    n_syn = sum(layer.n_in * layer.n_out for layer in design.layers)
    n_on = sum(1 for layer in design.layers for row in layer.gate_bias for b in row if b is not None)
    if n_syn and n_on == 0:
        warn(f"0 of {n_syn} synapses are on: every weight of {design.name!r} is 0 or maps below the device's "
             "smallest current, so the circuit computes nothing; check the model's weights (retrain) or --scale")


def _guard(command) -> None:
    """Make ``command.invoke`` turn any ImcgenError into :func:`fail` with the error's exit code."""
    if getattr(command, "_imcgen_guarded", False):
        return
    invoke = command.invoke

    def guarded_invoke(ctx):
        try:
            return invoke(ctx)
        except ImcgenError as exc:
            _report(exc, bool(ctx.params.get("as_json")))

    command.invoke = guarded_invoke
    command._imcgen_guarded = True


def handle_errors(func):
    """Decorator for a command function: an ImcgenError it raises becomes :func:`fail` with the error's exit code.

    :class:`ImcgenGroup` does the same for every command of imcgen's app; the decorator keeps a command right when
    it is registered on another app (tests build their own)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ImcgenError as exc:
            _report(exc, bool(kwargs.get("as_json")))

    return wrapper


class ImcgenGroup(TyperGroup):
    """The app's click group: every command it dispatches to reports ImcgenErrors through :func:`fail`."""

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _guard(command)
        return command


# ---------------------------------------------------------------------------------------------- shared options
def corner_option(default: Optional[str] = None, help: str = CORNER_HELP):
    return typer.Option(default, "--corner", help=help)


def temp_option(default: Optional[float] = None, help: str = TEMP_HELP):
    return typer.Option(default, "--temp", help=help)


def profile_option(help: str = PROFILE_HELP):
    return typer.Option(None, "--profile", help=help)


def resolve_profile(profile: Optional[Path]) -> Path:
    """``--profile`` as given (it must be a file), or imcgen's default profile when not given."""
    from generator.resources import default_profile

    path = default_profile() if profile is None else Path(profile)
    if path.is_dir():
        raise InputError(f"--profile {path} is a folder; pass a DeviceProfile JSON file written by "
                         "`imcgen characterize --out FILE.json`")
    if not path.is_file():
        raise InputError(f"--profile {path} not found; create it with `imcgen characterize --out {path}` "
                         "(or omit --profile for imcgen's sky130 tt 27 °C profile)")
    return path


# ---------------------------------------------------------------------------------------------- checks
def check_corner(corner: Optional[str], option: str = "--corner") -> Optional[str]:
    """``corner`` if None or a known sky130 corner, else InputError listing the corners."""
    if corner is None:
        return None
    from generator.pdk import sky130

    if corner not in sky130.CORNERS:
        raise InputError(f"{option} {corner!r} is not a sky130 process corner; use one of {', '.join(sky130.CORNERS)}")
    return corner


def check_temp(temp: Optional[float], option: str = "--temp") -> Optional[float]:
    """``temp`` (°C) if None or finite within [TEMP_MIN_C, TEMP_MAX_C], else InputError."""
    if temp is None:
        return None
    if not math.isfinite(temp) or not TEMP_MIN_C <= temp <= TEMP_MAX_C:
        raise InputError(f"{option} {temp:g} °C is out of range; give a temperature from {TEMP_MIN_C:g} to "
                         f"{TEMP_MAX_C:g} °C (the sky130 models are characterised from -40 to 125 °C)")
    return float(temp)


def check_number(value: Optional[float], option: str, *, lo: float = -math.inf, hi: float = math.inf,
                 lo_open: bool = False, unit: str = "", hint: str = "") -> Optional[float]:
    """``value`` if None or a finite number in [lo, hi] ((lo, hi] with ``lo_open``), else InputError."""
    if value is None:
        return None
    ok = math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        rng = ("> " if lo_open else ">= ") + f"{lo:g}" if math.isinf(hi) else \
            f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise InputError(f"{option} {value:g}{unit} is not allowed; give a finite number {rng}{unit}"
                         + (f" ({hint})" if hint else ""))
    return float(value)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable_folder(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (probed: os.access is wrong for root and some mounts)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".imcgen-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_out_dir(path: Path, option: str = "--out") -> Path:
    """``path`` if it is (or can become) a writable folder; else InputError naming the path and the fix.

    Nothing is created: a missing folder is checked through its nearest existing parent."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is an existing file, not a folder; pass a folder path (it is created "
                         "if missing), or move the file away")
    _check_creatable(path, path, option, "the folder cannot be created there", "a folder")
    return path


def check_out_file(path: Path, option: str = "--out", example: str = "report.json") -> Path:
    """``path`` if a file can be written there (atomically: temp file + rename in its folder); else InputError
    (``example``: a file name the message suggests inside a folder given by mistake)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; pass a file path, e.g. {path / example}")
    _check_creatable(path, path.parent, option, f"{path.parent} cannot be a folder", "a place")
    return path


def _check_creatable(path: Path, folder: Path, option: str, blocked: str, where: str) -> None:
    """``folder`` (or its nearest existing parent) can hold what ``option`` writes at ``path``; else InputError."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise InputError(f"{option} {path}: {base} is a file, so {blocked}; choose another path")
    if not _writable_folder(base):
        raise InputError(f"{option} {path}: {base} is not writable; choose {where} you can write to "
                         "(or fix its permissions)")


__all__ = [
    "CORNER_HELP", "ImcgenGroup", "PROFILE_HELP", "TEMP_HELP", "TEMP_MAX_C", "TEMP_MIN_C", "check_corner",
    "check_number", "check_out_dir", "check_out_file", "check_temp", "corner_option", "fail", "handle_errors",
    "profile_option", "resolve_profile", "temp_option", "warn", "warn_if_no_synapses",
]
