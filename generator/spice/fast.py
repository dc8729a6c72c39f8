"""The fast column deck (opt-in): shared sky130 model cards for the synapse transistors and a tolerance schedule.

Why (measured, benchmarks/README.md "SPICE speed"; TOOLCHAIN.md "ngspice speed on big columns"):

* Every sky130 FET is an ``X`` instance of a wrapper subcircuit that holds its own ``.param`` lines and binned
  ``.model`` cards. ngspice 39 copies those cards (and builds their size-dependent parameter sets) once **per
  instance**: a 784-input column holds 3151 copies (2.5 GB, ~20 s of set-up, scattered loads). All synapse
  transistors have the same W/L, so one copy of each card serves them all. :func:`shared_fet_models` reads the
  wrapper subcircuit of a device from the installed model tree (``models_fet.spice``), turns its local
  parameters into top-level ``.param`` lines (renamed with a prefix, evaluated by ngspice itself so corner
  parameters and expressions stay exactly SkyWater's), keeps the binned cards whose L/W range holds the
  instance and gives the ``M`` line's instance parameters (``delvto`` included). The neuron (16 devices) keeps
  its ``X`` instances. Measured: at reltol 1e-6 the M-line deck and the X deck of a 64-input digits column fire
  0.0001 ns apart; a 400-input MNIST column takes 55 MB instead of 1.3 GB.
* Tolerances matter only where the spike time is made. :func:`tolerance_schedule` gives the ``.control`` steps:
  loose options through reset and accumulation, tight ones (reltol 1e-6, chgtol 1e-16) from shortly before the end
  of the accumulation phase (when every selector switches off at once, the switch-off charge step) through the
  firing phase, and a stop as soon as the neuron has fired. Measured against the reltol-1e-6 reference (64- and
  400-input columns, benchmarks/column_cost.py): accumulation at reltol 1e-4 or 3e-4 and a 2-20 ns lead all stay
  within 0.006 ns; reltol 1e-3 drifts 0.03-0.08 ns (too close to the 0.1 ns budget), trtol 20 another 0.01 ns.
  Today's deck (reltol 1e-4 chgtol 1e-16 throughout) is +0.09..+0.62 ns off on the same columns.
* Synapses whose input never spikes in this run only load the membrane (junction and overlap capacitance, an off
  selector's leakage). :func:`lump_inactive` draws them as a few instances with a multiplier ``m``, one per
  stack polarity and memory-gate bias bin (``FastDeck.lump_bin_v`` wide, at the bin's mean bias): K equal devices
  in parallel are one device of m = K. A real MNIST image drives 116 of 784 inputs, so this removes ~80 % of the
  column's transistors. Measured against the reference (every synapse drawn), benchmarks/column_cost.py.
* The shared synapse cards drop the body-resistance network (``rbodymod=0``, :data:`FAST_CARD_OVERRIDES`): 0.0003 ns
  at reltol 1e-6, ~30 % less CPU at 784 inputs. The reference keeps SkyWater's cards unchanged.

Nothing here is netlist text: the template ``templates/netlist/column_fast.j2`` writes the deck from these facts;
the model card bodies are SkyWater's own lines, copied.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from generator.errors import PdkError
from generator.pdk import sky130
from generator.topology import MODEL_KEYS

#: the accumulation-phase options of the fast deck (loose: the membrane is a straight integration there;
#: chgtol stays at ngspice's default 1e-14, which the LTE control on the < 1e-14 C device charges needs no tighter)
FAST_OPTIONS = "method=gear reltol=3e-4"
#: options from ``TIGHT_LEAD_S`` before the end of the accumulation phase to the end (the spike time is made there)
TIGHT_OPTIONS = "reltol=1e-6 chgtol=1e-16"
#: the tolerance of the reference runs (reltol 1e-6 throughout: converged to ~0.006 ns, TOOLCHAIN.md)
REFERENCE_OPTIONS = "method=gear reltol=1e-6 chgtol=1e-16"
#: how long before the end of the accumulation phase the tight options take over (s)
TIGHT_LEAD_S = 5e-9
#: model parameters the fast deck changes in the shared synapse cards: no body-resistance network (rbodymod=1 puts
#: 50-ohm resistors and 3 internal nodes in every FET: 22k equations at 784 inputs). Measured on the 64-input column
#: at reltol 1e-6: 0.0003 ns; the 784-input fast run 41.9 -> 29.9 CPU s, the same spike to 0.0001 ns
FAST_CARD_OVERRIDES: tuple[tuple[str, str], ...] = (("rbodymod", "0"),)
#: width of the memory-gate bias bins in which synapses whose input never spikes are lumped (V; FastDeck.lump_bin_v)
LUMP_BIN_V = 0.05
#: the fast deck stops once v(spk) exceeds this fraction of VDD (after the VDD/2 crossing the spike time is read at)
STOP_FRACTION = 0.95

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\{[^{}]*\}|[^\s{}]+)")


@dataclass(frozen=True)
class ModelCard:
    """One binned ``.model`` card: ``name`` (e.g. ``fs_nfet_01v8_nshort_model.12``), ``kind`` (nmos/pmos) and its
    parameter lines (SkyWater's text with the wrapper's local names renamed)."""

    name: str
    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SharedFet:
    """A sky130 FET flattened for one W/L: top-level ``params`` [(name, value or {expr})], binned ``cards``,
    the ``model`` base name an ``M`` line uses and the M line's ``instance`` parameters [(name, value)]."""

    device: str
    model: str
    params: tuple[tuple[str, str], ...]
    cards: tuple[ModelCard, ...]
    instance: tuple[tuple[str, str], ...]


def _logical_lines(lines: list[str]) -> list[str]:
    """SPICE lines with comments dropped and ``+`` continuations joined."""
    out: list[str] = []
    for raw in lines:
        s = raw.rstrip()
        if not s.strip() or s.lstrip().startswith("*"):
            continue
        s = s.split("$", 1)[0].rstrip() if " $" in s else s
        if s.lstrip().startswith("+"):
            if out:
                out[-1] += " " + s.lstrip()[1:].strip()
            continue
        out.append(s.strip())
    return out


@functools.lru_cache(maxsize=8)
def _wrapper(device: str, models_file: str) -> tuple[list[str], list[str]]:
    """(logical lines of the wrapper subcircuit ``device``, raw lines) from the model file."""
    text = Path(models_file).read_text().splitlines()
    start = next((i for i, l in enumerate(text) if re.match(rf"\.subckt\s+{re.escape(device)}\s", l, re.I)), None)
    if start is None:
        raise PdkError(f"subcircuit {device} not found in {models_file}; the sky130 model tree changed")
    end = next((i for i in range(start + 1, len(text)) if re.match(r"\.ends\b", text[i], re.I)), None)
    if end is None:
        raise PdkError(f"subcircuit {device} in {models_file} has no .ends")
    raw = text[start:end]
    return _logical_lines(raw), raw


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def shared_fet_models(device: str, w_um: float, l_um: float, *, prefix: str, nf: int = 1,
                      card_overrides: tuple[tuple[str, str], ...] = ()) -> SharedFet:
    """Flatten sky130 FET ``device`` (e.g. ``sky130_fd_pr__nfet_01v8``) for instances of W = ``w_um``, L = ``l_um``.

    ``prefix``: a SPICE identifier that makes every top-level name unique in the deck (``fs_n`` -> params
    ``fs_n_w``..., model ``fs_n_nshort_model``). ``card_overrides``: model parameters replaced in every card
    (e.g. ``(("rbodymod", "0"),)``; empty = SkyWater's cards as they are). Raises PdkError when the wrapper has an
    unexpected form.
    """
    models_file = sky130.continuous_models_dir() / "models_fet.spice"
    logical, raw = _wrapper(device, str(models_file))
    params: dict[str, str] = dict(_ASSIGN.findall(logical[0]))  # the .subckt line's defaults (mult=1)
    m_line = None
    for line in logical[1:]:
        low = line.lower()
        if low.startswith(".param"):
            params.update(_ASSIGN.findall(line[len(".param"):]))
        elif low.startswith("m") and m_line is None:
            m_line = line
    if m_line is None:
        raise PdkError(f"no M line in the wrapper subcircuit {device}; the sky130 model tree changed")
    # the instance's own values override the wrapper's defaults
    params.update({"w": _fmt(w_um), "l": _fmt(l_um), "nf": str(int(nf))})
    local = set(params)

    def rename(value: str) -> str:
        if not value.startswith("{"):
            return f"{prefix}_{value}" if value in local else value
        return _IDENT.sub(lambda m: f"{prefix}_{m.group(0)}" if m.group(0) in local else m.group(0), value)

    toks = m_line.split()
    base = toks[5]
    inst = _ASSIGN.findall(" ".join(toks[6:]))
    # binned cards: keep those whose L/W range holds the instance (metres; the library's scale=1u applies to W/L)
    cards = []
    for line in logical:
        if not line.lower().startswith(".model"):
            continue
        head = line.split(None, 3)
        name, kind = head[1], head[2].lower()
        if name != base and not name.startswith(base + "."):
            continue
        body = head[3] if len(head) > 3 else ""
        vals = dict(_ASSIGN.findall(body))
        cards.append((name, kind, body, vals))
    if not cards:
        raise PdkError(f"no .model card {base} in the wrapper subcircuit {device}")

    def holds(vals: dict) -> bool:
        try:
            lmin, lmax = float(vals["lmin"]), float(vals["lmax"])
            wmin, wmax = float(vals["wmin"]), float(vals["wmax"])
        except (KeyError, ValueError):
            return True
        l_m, w_m = l_um * 1e-6, w_um * 1e-6 / max(nf, 1)
        eps = 1e-9
        return lmin * (1 - eps) <= l_m <= lmax * (1 + eps) and wmin * (1 - eps) <= w_m <= wmax * (1 + eps)

    kept = [c for c in cards if holds(c[3])] or cards
    out_cards = []
    for name, kind, body, _ in kept:
        new_name = f"{prefix}_{name}"
        body = re.sub(r"\{[^{}]*\}", lambda m: rename(m.group(0)), body)
        # three parameters per line, as SkyWater writes them
        over = dict(card_overrides)
        pairs = [f"{k} = {over.get(k.lower(), v)}" for k, v in _ASSIGN.findall(body)]
        lines = tuple(" ".join(pairs[i:i + 3]) for i in range(0, len(pairs), 3))
        out_cards.append(ModelCard(new_name, kind, lines))
    ordered = [(f"{prefix}_{k}", rename(v)) for k, v in params.items()]
    # parameters that reference others must come after them: order by dependency (simple repeated pass)
    done: list[tuple[str, str]] = []
    pending = list(ordered)
    names = {n for n, _ in ordered}
    while pending:
        progressed = False
        for item in list(pending):
            refs = {m.group(0) for m in _IDENT.finditer(item[1])} & names
            if refs <= {n for n, _ in done}:
                done.append(item)
                pending.remove(item)
                progressed = True
        if not progressed:
            raise PdkError(f"circular parameters in the wrapper subcircuit {device}: {pending}")
    instance = tuple((k, rename(v)) for k, v in inst)
    return SharedFet(device=device, model=f"{prefix}_{base}", params=tuple(done), cards=tuple(out_cards),
                     instance=instance)


def tolerance_schedule(acc_end_s: float, stop_v: float, *, lead_s: float = TIGHT_LEAD_S,
                       tight: str = TIGHT_OPTIONS, stop_on_spike: bool = True) -> dict:
    """The ``.control`` steps of the fast deck: run loose until ``acc_end_s - lead_s``, set ``tight`` options,
    then resume until the end (or until ``v(spk) > stop_v`` when ``stop_on_spike``)."""
    return {"t_tight": acc_end_s - lead_s, "tight": tight, "stop_v": stop_v if stop_on_spike else None}


@dataclass(frozen=True)
class FastDeck:
    """How a column deck is made fast (``render_column_testbench(..., fast=FastDeck(...))``; ``fast=True`` is the
    default below). ``shared_models``: synapse FETs as ``M`` lines on shared cards. ``schedule``: ``options``
    until ``TIGHT_LEAD_S`` before the end of accumulation, then ``tight``; without it ``options`` hold throughout.
    ``stop_on_spike``: end the run once v(spk) > STOP_FRACTION * VDD."""

    shared_models: bool = True
    schedule: bool = True
    options: str = FAST_OPTIONS
    tight: str = TIGHT_OPTIONS
    lead_s: float = TIGHT_LEAD_S
    stop_on_spike: bool = True
    card_overrides: tuple[tuple[str, str], ...] = FAST_CARD_OVERRIDES
    lump_bin_v: float | None = LUMP_BIN_V

    def __post_init__(self) -> None:
        if self.lump_bin_v is not None and not (self.lump_bin_v > 0 and self.shared_models):
            raise ValueError(f"lump_bin_v must be > 0 V (or None) and needs shared_models; got {self.lump_bin_v!r}")

    @classmethod
    def reference(cls, shared_models: bool = True) -> "FastDeck":
        """The tight-tolerance reference: reltol 1e-6 chgtol 1e-16 throughout, run to the end, every synapse drawn."""
        return cls(shared_models=shared_models, schedule=False, options=REFERENCE_OPTIONS, stop_on_spike=False,
                   card_overrides=(), lump_bin_v=None)


@dataclass(frozen=True)
class LumpedStack:
    """``count`` synapse stacks of one polarity (``stack``: "pos" NMOS, "neg" PMOS) whose input never spikes, drawn
    as one instance of multiplier ``count`` with memory gate at ``gate_v`` (V; None = tied to its off rail)."""

    stack: str
    gate_v: float | None
    count: int


def lump_inactive(gates: list[tuple[float | None, float | None]], bin_v: float) -> list[LumpedStack]:
    """Group the stacks of synapses whose input never spikes: ``gates`` holds, per such synapse, its (NMOS, PMOS)
    memory-gate bias in V (None where that stack is unused and tied off). Stacks of one polarity whose biases fall
    in one ``bin_v``-wide bin (bins start at 0 V) become one :class:`LumpedStack` at their mean bias; the tied-off
    ones one per polarity. Order: polarity, then bias (None first), so the deck is deterministic."""
    groups: dict[tuple[str, int | None], list[float]] = {}
    for vn, vp in gates:
        for stack, v in (("pos", vn), ("neg", vp)):
            key = (stack, None if v is None else int(math.floor(v / bin_v)))
            groups.setdefault(key, []).append(0.0 if v is None else v)
    out = []
    for (stack, b), vs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "pos", kv[0][1] is not None,
                                                                   kv[0][1] or 0)):
        out.append(LumpedStack(stack, None if b is None else sum(vs) / len(vs), len(vs)))
    return out


def shared_synapse_fets(topo: dict, sz: dict, card_overrides: tuple[tuple[str, str], ...] = FAST_CARD_OVERRIDES
                        ) -> dict[str, SharedFet]:
    """Model key -> SharedFet for the synapse devices of ``topo`` at their sizes ``sz`` (the ``fets`` that
    ``templates/netlist/synapse.j2`` writes as M lines on shared cards). Raises PdkError when two synapse devices
    of one model differ in size (one card set serves one W/L)."""
    fets: dict[str, SharedFet] = {}
    sizes: dict[str, tuple[float, float]] = {}
    for dv in tuple(topo["synapse_pos"]) + tuple(topo["synapse_neg"]):
        size = (float(sz[dv.w]), float(sz[dv.l]))
        if dv.model in sizes:
            if sizes[dv.model] != size:
                raise PdkError(f"synapse {dv.model} devices of different sizes {sizes[dv.model]} and {size}: "
                               "the fast deck shares one card set per device")
            continue
        sizes[dv.model] = size
        fets[dv.model] = shared_fet_models(MODEL_KEYS[dv.model], size[0], size[1], prefix=f"fs_{dv.model}",
                                           card_overrides=card_overrides)
    return fets


def fast_context(fast: "FastDeck", topo: dict, sz: dict, acc_end_s: float, vdd: float) -> dict:
    """Template context of ``column_fast.j2``: ``fets`` (model key -> SharedFet for the synapse devices), the
    tolerance schedule and the stop level."""
    fets = shared_synapse_fets(topo, sz, fast.card_overrides) if fast.shared_models else {}
    sched = (tolerance_schedule(acc_end_s, STOP_FRACTION * vdd, lead_s=fast.lead_s, tight=fast.tight,
                                stop_on_spike=fast.stop_on_spike) if fast.schedule
             else {"t_tight": None, "tight": "", "stop_v": STOP_FRACTION * vdd if fast.stop_on_spike else None})
    return {"fets": fets, "sched": sched, "fast_options": fast.options, "shared": fast.shared_models}
