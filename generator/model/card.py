"""The one validator of a trained model's ``card.json`` (pure Python: no torch, no hardware imports).

Why: a card is untrusted input (a downloaded model is just a folder). Its ``name`` becomes SPICE comment text,
subcircuit names and output file names; its numbers become reversal potentials, seeds and table values. Every
reader (``generator.model.train.read_card`` for train/evaluate/verify and
``generator.circuit.mapping.read_trained_model`` for map/netlist/gds/build) calls :func:`validate_card`, so a card
is checked once, the same way, wherever it is read:

- ``name``: a plain identifier (letters, digits, ``_ - .``; not starting with ``.`` or ``-``; at most
  :data:`NAME_MAX` characters): it can never start a new SPICE line or leave an output folder;
- ``dataset``: one of :data:`DATASETS` (a string);
- E+ > 0 > E- (finite, |E| <= :data:`E_LIMIT`), E_dis absent/null or finite and > 0;
- every number anywhere in the card finite, every string free of control characters (newline, CR, ...);
- integers (steps, seed, sizes) integers in range, solvers known.

Time is in phase units (one phase = 1); E± and E_dis are dimensionless.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from generator.errors import DesignError

#: dataset names accepted by ``generator.model.data.load_dataset`` (CLI ``--dataset``)
DATASETS = ("iris", "digits", "mnist", "fashion-mnist", "cifar10")
#: other spellings of those names -> the name
DATASET_ALIASES = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10"}

#: longest model name (characters)
NAME_MAX = 128
#: a model name: letters, digits, '_', '-', '.'; first character a letter, digit or '_'
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
#: largest |E±| / E_dis a card may hold (the ideal model uses 100)
E_LIMIT = 1e4
#: largest layer size / DSTD step count a card may hold
SIZE_LIMIT = 10_000_000
STEPS_LIMIT = 100_000
SOLVERS = ("dstd", "exact")
MODELS = ("rcspike", "ttfs")
ARCH_RE = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")
ARCH_MAX = 400

#: control characters (C0, DEL, C1) and the Unicode line/paragraph separators: none may appear in card text
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CardError(DesignError):
    """A model card field that cannot be used (message names the file, the field, the value and the fix).

    A DesignError (exit status 2), so the hardware side's handlers of unreadable models catch it too."""


def check_name(name: object, where: str = "name") -> str:
    """``name`` if it is a plain identifier (see module doc), else CardError naming ``where`` and the fix."""
    if not isinstance(name, str):
        raise CardError(f"{where} must be a string (a plain identifier such as 'iris'), got {name!r}")
    if not name or len(name) > NAME_MAX or not NAME_RE.fullmatch(name):
        raise CardError(f"{where} {name!r} is not a plain identifier: use 1-{NAME_MAX} letters, digits, '_', '-' "
                        "or '.', not starting with '.' or '-' (e.g. 'iris' or 'mnist-784-400-10')")
    return name


def canonical_dataset(name: object, where: str = "dataset") -> str:
    """The dataset's canonical name (one of :data:`DATASETS`), else CardError listing the choices."""
    if not isinstance(name, str):
        raise CardError(f"{where} must be a string naming a dataset ({', '.join(DATASETS)}), got {name!r}")
    key = name.strip().lower().replace("_", "-")
    key = DATASET_ALIASES.get(key, key)
    if key not in DATASETS:
        raise CardError(f"{where} {name!r} is not a known dataset; choose one of {', '.join(DATASETS)}")
    return key


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _walk(value: object, where: str, bad: list[str]) -> None:
    """Every float finite, every string free of control characters, only JSON types (lists, dicts, ...)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            bad.append(f"{where} = {value!r} (must be a finite number)")
    elif isinstance(value, str):
        if CONTROL_RE.search(value):
            bad.append(f"{where} = {value[:40]!r}... holds a control character (newline, CR, ...)")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{where}[{i}]", bad)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or CONTROL_RE.search(k):
                bad.append(f"{where}: key {k!r} (must be a string without control characters)")
            _walk(v, f"{where}.{k}", bad)
    else:
        bad.append(f"{where} has type {type(value).__name__}")


def _int(card: dict, key: str, lo: int, hi: int, bad: list[str], required: bool = True) -> None:
    if key not in card:
        if required:
            bad.append(f"'{key}' is missing")
        return
    v = card[key]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        bad.append(f"'{key}' = {card[key]!r} (must be an integer in [{lo}, {hi}])")


def _real(card: dict, key: str, lo: float, hi: float, bad: list[str], *, required: bool = False,
          nullable: bool = True, lo_open: bool = False, hi_open: bool = False, hint: str = "") -> None:
    if key not in card or (nullable and card[key] is None):
        if required and key not in card:
            bad.append(f"'{key}' is missing")
        return
    v = card[key]
    ok = _number(v) and math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        bad.append(f"'{key}' = {v!r} (must be a finite number in {rng}{hint})")


#: top-level fields with their own check in :func:`validate_card` (every other field: finite numbers, no control
#: characters)
_CHECKED = frozenset({"name", "e_pos", "e_neg", "e_dis", "noise_sigma", "fire_delay", "test_accuracy",
                      "val_accuracy", "steps", "eval_steps", "seed", "n_classes", "circuit"})
#: the optional ``circuit`` object: the circuit a model is built as unless a command says otherwise
#: (C_m in fF; the layout's neuron pitch in µm): field -> (low, high)
CIRCUIT_FIELDS = {"c_m_ff": (1.0, 1e6), "neuron_pitch_um": (1.0, 1000.0)}


def validate_card(card: object, path: str | Path = "card.json") -> dict:
    """Check every field of a model card (see the module doc); return the card with ``dataset`` canonical.

    Raises :class:`CardError` listing every bad field with its value and the fix. The card is not modified.
    """
    if not isinstance(card, dict):
        raise CardError(f"{path} must hold a JSON object (a model card written by `imcgen train`)")
    bad: list[str] = []
    _walk({k: v for k, v in card.items() if k not in _CHECKED}, "card", bad)  # those: checked one by one below
    if "name" in card and card["name"] is not None:
        try:
            check_name(card["name"], "'name'")
        except CardError as exc:
            bad.append(str(exc))
    out = dict(card)
    if "dataset" in card:
        try:
            out["dataset"] = canonical_dataset(card["dataset"], "'dataset'")
        except CardError as exc:
            bad.append(str(exc))
    arch = card.get("arch")
    if "arch" in card and (not isinstance(arch, str) or len(arch) > ARCH_MAX or not ARCH_RE.fullmatch(arch)):
        bad.append(f"'arch' = {arch!r} (must be a layer spec such as '5-5-5' or 'c64-c64-p-512-10')")
    _real(card, "e_pos", 0.0, E_LIMIT, bad, required=True, nullable=False, lo_open=True, hint="; E+ > 0")
    _real(card, "e_neg", -E_LIMIT, 0.0, bad, required=True, nullable=False, hi_open=True, hint="; E- < 0")
    _real(card, "e_dis", 0.0, E_LIMIT, bad, lo_open=True, hint="; or null for the ideal firing ramp")
    circuit = card.get("circuit")
    if circuit is not None:
        if not isinstance(circuit, dict) or set(circuit) - set(CIRCUIT_FIELDS):
            bad.append(f"'circuit' = {circuit!r} (must be an object with {', '.join(CIRCUIT_FIELDS)})")
        else:
            for key, (lo, hi) in CIRCUIT_FIELDS.items():
                _real(circuit, key, lo, hi, bad)
    _real(card, "noise_sigma", 0.0, 10.0, bad)
    # the model's own bound (generator/model/layers.py): a measured delay may be slightly negative (the inverter
    # switches before the model's threshold crossing at some C_m)
    _real(card, "fire_delay", -0.5, 0.5, bad, lo_open=True, hi_open=True)
    for key in ("test_accuracy", "val_accuracy"):
        _real(card, key, 0.0, 1.0, bad)
    for key in ("solver", "eval_solver"):
        if key in card and card[key] not in SOLVERS:
            bad.append(f"'{key}' = {card[key]!r} (must be one of {', '.join(SOLVERS)})")
    if "model" in card and card["model"] not in MODELS:
        bad.append(f"'model' = {card['model']!r} (must be one of {', '.join(MODELS)})")
    for key in ("steps", "eval_steps"):
        _int(card, key, 1, STEPS_LIMIT, bad, required=False)
    _int(card, "seed", 0, 2**63 - 1, bad, required=False)
    _int(card, "n_classes", 1, SIZE_LIMIT, bad, required=False)
    if "ideal" in card and not isinstance(card["ideal"], bool):
        bad.append(f"'ideal' = {card['ideal']!r} (must be true or false)")
    for key in ("sizes", "in_shape"):
        v = card.get(key)
        if v is None:
            continue
        if (not isinstance(v, list) or not v
                or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= SIZE_LIMIT for s in v)):
            bad.append(f"'{key}' = {v!r} (must be a list of integers in [1, {SIZE_LIMIT}])")
    for key in ("switch_step", "reversal_table", "driven_step"):
        if card.get(key) is not None and not isinstance(card[key], dict):
            bad.append(f"'{key}' must be a JSON object or null, got {type(card[key]).__name__}")
    if bad:
        raise CardError(f"{path}: bad model card field(s): " + "; ".join(dict.fromkeys(bad))
                        + ". Fix card.json or retrain with `imcgen train`")
    for key in ("steps", "eval_steps", "seed", "n_classes"):  # integral floats (1.0) become ints (checked above)
        if isinstance(out.get(key), float):
            out[key] = int(out[key])
    return out


__all__ = ["CardError", "DATASETS", "NAME_MAX", "canonical_dataset", "check_name", "validate_card"]
