"""The neuron cell (PAPER.md 5.3): exactly the devices, sizes and nets of ``templates/netlist/neuron.j2``.

Devices (one layout device per netlist device; W x L from ``NeuronSizes``, the discharger from CircuitParams):
  CM   cap_mim_m3_2   top plate (met5) = mem, bottom plate (met4) = vss (shield, as the paper)
  PR/NR               reset transmission gate mem <-> v0 (gates reset_b / reset)
  NB, ND              discharger: mem - NB (vbdis) - dx - ND (phase) - vss, one diffusion (dx has no contact)
  PE, PB, PI(hvt)     vdd - PE (phase_b) - sa - PB (vbsense, long L) - sb - PI (mem) - inv, one diffusion
  NI(lvt), NC         inv - NI (mem) - vss; inv - NC (phase_b) - vss (clamp)
  PA1, PA2, NA1, NA2  NAND: spkb = NAND(inv, phase); NA1 (inv) - na - NA2 (phase) - vss on one diffusion
  PO, NO              output inverter spk = INV(spkb)

Floor plan (bottom to top; x in [0, pitch]): MIM capacitor | met4 membrane landing (via4 to the met5 plate)
with a met3 ``mem`` track | NMOS row over a p+ tap row (met1 ``vss`` rail) | channel M of met3 tracks |
PMOS row under an n+ tap row (met1 ``vdd`` rail) in one n-well | a met3 ``mem`` track.
Routing: every device terminal that is not a rail connection drops a met2 vertical (its *column*) from its met1
pad to the met3 track of its net; NMOS terminals go up into channel M, PMOS terminals down. Control tracks
(reset, reset_b, phase, phase_b, v0, vbdis, vbsense) and the rails run edge to edge, so abutting neurons share
them. The dendrite (met2, ``mem``, x = pitch/2) runs from the top edge down to the landing and ties the ``mem``
tracks together; ``spk``/``spkb`` leave through met2 risers at the bottom edge. A device order that would make
two columns collide raises an error when the cell is built (the router checks every column pair).
"""

from __future__ import annotations

import graphlib
import heapq
import itertools
from dataclasses import dataclass

import gdsfactory as gf

from generator import topology
from generator.design import DEFAULT_NEURON_PITCH_UM, NEURON_SIZES, NeuronSizes
from generator.errors import DesignError
from generator.layout._pdk import ensure_pdk
from generator.layout.devices import (LICON, TAP_H, add_port, check_mos_size, contact_positions, mim_cap,
                                      mim_geometry, mos_stack, rect, stack_geometry, tap_row)
from generator.layout.routing import WIRE_W, column_pitch_m2, hwire, pad_half, via, vwire
from generator.pdk.sky130 import layers as L
from generator.pdk.sky130.rules import ceil_to, rule, snap, snap_up

ensure_pdk()

NEURON_PITCH_UM = DEFAULT_NEURON_PITCH_UM  #: µm, default neuron (= column) pitch (generator.design)
_LANDING = rule("m5.1")  #: µm, met5/met4 landing for the membrane via4 (m5.1)
TRACK_PITCH = snap(WIRE_W[L.MET3] + rule("m3.2"))  #: µm, met3 track pitch (0.5 track + m3.2)
DEV_GAP = 0.4  #: µm, minimum gap between device footprints in a row
#: µm, two met2 columns whose via pads never share a y (pad/2 + m2.2 + wire/2 = 0.395, on a 10 nm step)
COL_SEP = ceil_to(pad_half(L.MET2) + rule("m2.2") + WIRE_W[L.MET2] / 2, 0.01)
#: µm, a column to a 0.3 µm reserved line (spine, risers): pad/2 + m2.2 + line/2 = 0.475, on a 10 nm step
RES_SEP = ceil_to(pad_half(L.MET2) + rule("m2.2") + 0.3 / 2, 0.01)
EDGE_GAP = 0.25  #: µm, device footprints stay this far inside the cell edges (0.5 µm between neighbours)
RISER_X = 0.5  #: µm, distance of the spk/spkb met2 risers from the cell's left/right edge
PIN_NAMES = topology.NEURON_PINS
CONTROL_NETS = ("reset", "reset_b", "phase", "phase_b", "v0", "vbdis", "vbsense")


def neuron_sizes() -> NeuronSizes:
    """The neuron device sizes (µm) shared with the netlist (generator.design: one description of the circuit)."""
    return NEURON_SIZES


@dataclass(frozen=True)
class Dev:
    """One diffusion stack of the neuron: netlist device names and gate nets bottom to top, the nets of the
    bottom and top S/D rows, and the drawing options of :func:`generator.layout.devices.mos_stack`."""

    names: tuple[str, ...]
    kind: str  # "n" | "p"
    w: float
    ls: tuple[float, ...]
    gates: tuple[str, ...]
    bot: str
    top: str
    pads: str
    vts: str = ""
    gap: float = 0.0
    jog: tuple[float, ...] = ()  # per gate: x offset (µm) of its met2 column from its pad (met1 jog)


#: device name -> sky130 device (without ``sky130_fd_pr__``) of the neuron: generator/topology.py's list
NEURON_DEVICES = {d.name: topology.MODEL_KEYS[d.model].removeprefix("sky130_fd_pr__") for d in topology.NEURON}
device_counts = topology.device_counts


def _chain(names, ws, ls, gates, vts, nodes, kind: str) -> list[Dev]:
    """Series devices bottom to top between ``nodes`` (len(names) + 1 nets): consecutive devices of equal width
    share one diffusion (the node between them has no contact); a width change starts a new stack."""
    out, k = [], 0
    while k < len(names):
        j = k
        while j + 1 < len(names) and ws[j + 1] == ws[k]:
            j += 1
        n = j - k + 1
        pads = "".join(("RL" if kind == "n" else "LR")[i % 2] for i in range(n)) if n > 1 else "R"
        # a gate whose pad is on the same side as the pad two gates down would run its column over that pad
        jog = tuple((-0.55 if pads[i] == "L" else 0.55) if i >= 2 else 0.0 for i in range(n))
        out.append(Dev(tuple(names[k:j + 1]), kind, ws[k], tuple(ls[k:j + 1]), tuple(gates[k:j + 1]), nodes[k],
                       nodes[j + 1], pads, "".join(vts[k:j + 1]),
                       0.4 if "h" in vts[k:j + 1] or "l" in vts[k:j + 1] else 0.0,
                       jog if any(jog) else ()))
        k = j + 1
    return out


def neuron_devices(dis_w: float, dis_l: float) -> tuple[list[list[Dev]], list[list[Dev]]]:
    """(NMOS rows, PMOS rows), each row left to right; NMOS rows bottom up (the first is next to the membrane
    landing), PMOS rows bottom up (the first is next to channel M). Sizes: NeuronSizes and CircuitParams."""
    z = neuron_sizes()
    nr = Dev(("NR",), "n", z.reset_w, (z.reset_l,), ("reset",), "mem", "v0", "R")
    dis = _chain(("ND", "NB"), (dis_w, dis_w), (dis_l, dis_l), ("phase", "vbdis"), "ss", ("vss", "dx", "mem"), "n")
    ni = Dev(("NI",), "n", z.sn_w, (z.sn_l,), ("mem",), "vss", "inv", "R", vts="l")
    nc = Dev(("NC",), "n", z.logic_n_w, (z.logic_l,), ("phase_b",), "vss", "inv", "R")
    nand = _chain(("NA2", "NA1"), (z.logic_n_w,) * 2, (z.logic_l,) * 2, ("phase", "inv"), "ss",
                  ("vss", "na", "spkb"), "n")
    no = Dev(("NO",), "n", z.out_n_w, (z.logic_l,), ("spkb",), "vss", "spk", "R")
    pr = Dev(("PR",), "p", z.reset_w, (z.reset_l,), ("reset_b",), "v0", "mem", "R")
    sense = _chain(("PI", "PB", "PE"), (z.sp_w, z.sbias_w, z.sen_w), (z.sp_l, z.sbias_l, z.sen_l),
                   ("mem", "vbsense", "phase_b"), "hss", ("inv", "sb", "sa", "vdd"), "p")
    pa1 = Dev(("PA1",), "p", z.logic_p_w, (z.logic_l,), ("inv",), "spkb", "vdd", "R")
    pa2 = Dev(("PA2",), "p", z.logic_p_w, (z.logic_l,), ("phase",), "spkb", "vdd", "R")
    po = Dev(("PO",), "p", z.out_p_w, (z.logic_l,), ("spkb",), "spk", "vdd", "R")
    n_rows = [[nr] + dis + [ni], [nc] + nand + [no]]
    p_rows = [[pr] + sense, [pa1, pa2, po]]
    for rows in (n_rows, p_rows):
        for row in rows:
            for d in row:
                for lk in d.ls:
                    check_mos_size(d.kind, d.w, lk, f"neuron device {'/'.join(d.names)}")
    return n_rows, p_rows


def _stack(d: Dev) -> gf.Component:
    return mos_stack(kind=d.kind, w=d.w, l=d.ls[0], n=len(d.ls), pad_sides=d.pads, vts=d.vts, gap=d.gap,
                     sd_met1="sd", well=False, ls=tuple(d.ls) if len(set(d.ls)) > 1 else ())


def _geo(d: Dev):
    return stack_geometry(d.w, d.ls, len(d.ls), d.pads, d.gap or None)


@dataclass
class _Term:
    net: str
    x: float  # column x (µm)
    y: float  # pad y (µm)
    pad_x: float  # met1 pad x (jog start)
    row: str  # "n" | "p"
    up: bool  # column goes up from the pad


def _sd_jog(d: Dev, top: bool) -> float:
    """x offset (µm) of the column of an S/D row that must run past its own stack: away from the nearest pad."""
    side = d.pads[-1] if top else d.pads[0]
    return snap((1 if side == "L" else -1) * max(0.55, d.w / 2 + 0.35))


def _terminals(d: Dev, x0: float, y0: float) -> list[_Term]:
    """Routed terminals of a stack placed at (x0, y0); rail connections (li1 to the tap row) are not listed.

    NMOS: top row and gates go up into channel M; a bottom row goes down (``mem``: to the landing track) or, for
    any other net, jogs sideways and goes up past its stack. PMOS mirrored (``mem`` goes up to the top track).
    """
    g = _geo(d)
    sd = snap(x0 + (g.sd_x[0] + g.sd_x[-1]) / 2)
    rail = "vss" if d.kind == "n" else "vdd"
    toward_m = d.kind == "n"  # direction of channel M from the stack (True: up)
    out = []
    for net, yy, is_top in ((d.bot, g.s_y, False), (d.top, g.d_y, True)):
        if net == rail:
            continue
        faces_m = is_top == toward_m
        if faces_m or net == "mem":
            out.append(_Term(net, sd, snap(y0 + yy), sd, d.kind, is_top))
        else:
            out.append(_Term(net, snap(sd + _sd_jog(d, is_top)), snap(y0 + yy), sd, d.kind, toward_m))
    jog = d.jog or (0.0,) * len(d.ls)
    for k, net in enumerate(d.gates):
        px = snap(x0 + g.pad_x[k])
        out.append(_Term(net, snap(px + jog[k]), snap(y0 + g.gate_y[k]), px, d.kind, toward_m))
    return out


def _footprint(d: Dev) -> tuple[float, float]:
    """(left, right) x extent (µm) of a stack's drawing and its jogged columns, relative to its diffusion."""
    bb = _stack(d).dbbox()
    xs = [t.x for t in _terminals(d, 0.0, 0.0)]
    h = pad_half(L.MET2)
    return min(bb.left, min(xs) - h), max(bb.right, max(xs) + h)


def _place_rows(rows: list[list[Dev]], reserved: list[float], pitch: float,
                others: list[_Term] = (), shared: frozenset = frozenset()) -> list[list[float]]:
    """Diffusion left x of each stack, row by row, left to right with DEV_GAP; a stack moves right until its
    columns clear the reserved columns, every column already placed in these rows (one polarity) and the
    ``others`` (the NMOS columns) whose channel-M tracks it would otherwise cross: both nets ``shared`` and
    different (NMOS-only tracks lie below and PMOS-only tracks above the shared ones)."""
    taken = [(r, RES_SEP, "") for r in reserved]
    taken += [(t.x, COL_SEP, t.net) for t in others if t.up and t.net in shared]
    order: set = set()  # (NMOS net, PMOS net): the PMOS net's track must lie above the NMOS net's
    out = []
    for row in rows:
        xs, x = [], EDGE_GAP
        for d in row:
            left, right = _footprint(d)
            x0 = snap(x - left)
            rel = [(t.x, t.net if (not t.up) == (d.kind == "p") else "") for t in _terminals(d, 0.0, 0.0)]
            for _ in range(2000):
                near = [(rn, net) for cx, net in rel for r, sep, rn in taken if abs(x0 + cx - r) < sep - 1e-9
                        and not (rn and net not in shared) and not (rn and net == rn and abs(x0 + cx - r) < 0.05)]
                new = {(a, b) for a, b in near if a and a != b}
                if all(a for a, _ in near) and _acyclic(order | new):
                    order |= new
                    break
                x0 = snap(x0 + 0.05)
            taken += [(snap(x0 + cx), COL_SEP, "") for cx, _ in rel]
            xs.append(x0)
            x = x0 + right + DEV_GAP
            if x - DEV_GAP > pitch - EDGE_GAP + 1e-9:
                raise DesignError(f"neuron: device row {[e.names for e in row]} does not fit the neuron pitch "
                                  f"{pitch} µm; raise the neuron pitch (--neuron-pitch)")
        out.append(xs)
    return out


def _sorter(edges: set, nodes=()) -> graphlib.TopologicalSorter:
    """A prepared sorter of the directed graph ``edges`` ((a, b): a below b) over ``nodes`` and the edges' ends;
    raises graphlib.CycleError when the graph has a cycle."""
    ts: graphlib.TopologicalSorter = graphlib.TopologicalSorter({n: () for n in nodes})
    for a, b in edges:
        ts.add(b, a)
    ts.prepare()
    return ts


def _acyclic(edges: set) -> bool:
    """True when the directed graph ``edges`` ((a, b): a below b) has no cycle."""
    try:
        _sorter(edges)
    except graphlib.CycleError:
        return False
    return True


def _track_order(n_terms: list[_Term], p_terms: list[_Term]) -> list[str]:
    """Channel-M track nets bottom to top: NMOS-only nets, the shared nets in an order where no PMOS column
    dips below an NMOS column at the same x, then PMOS-only nets (``mem`` appears as mem_n / mem_p)."""
    nm = [t for t in n_terms if t.up]
    pm = [t for t in p_terms if not t.up]
    nn, pn = {t.net for t in nm}, {t.net for t in pm}
    shared = sorted((nn & pn) - {"mem"})
    n_only = sorted(nn - set(shared) - {"mem"}) + (["mem"] if "mem" in nn else [])
    p_only = (["mem"] if "mem" in pn else []) + sorted(pn - set(shared) - {"mem"})
    clash = sorted({(a.net, b.net) for a in nm for b in pm if abs(a.x - b.x) < COL_SEP - 1e-9})
    edges = {(na, pb) for na, pb in clash if na != pb and na in shared and pb in shared}
    try:
        ts = _sorter(edges, shared)
    except graphlib.CycleError:
        raise DesignError(f"neuron: no channel track order avoids the column clashes {clash}; "
                          "change the device order") from None
    perm: list[str] = []
    free: list[str] = []
    while ts.is_active():  # alphabetical among the free nets: the smallest order (deterministic)
        for n in ts.get_ready():
            heapq.heappush(free, n)
        perm.append(heapq.heappop(free))
        ts.done(perm[-1])
    return [f"{n}_n" if n == "mem" else n for n in n_only] + perm + \
           [f"{n}_p" if n == "mem" else n for n in p_only]


def _row_height(row: list[Dev]) -> float:
    return max(_geo(d).height for d in row)


def _floorplan(side: float, n_rows: list[list[Dev]], p_rows: list[list[Dev]], n_tracks: int) -> dict:
    """y coordinates (µm) of the floor plan, bottom up: rows are (tap y, device y, device top y)."""
    e4 = rule("cap2m.3")
    d3 = rule("difftap.3")
    f: dict = {"cap_y": snap(e4 + 0.5)}
    f["cap_top"] = snap(f["cap_y"] + side)
    f["land0"] = snap(f["cap_top"] + rule("cap2m.11") + 0.05)
    f["land"] = snap(f["land0"] + _LANDING / 2)  # met3 mem track of the landing at this y
    y = snap(f["land0"] + _LANDING + 0.6)
    f["n_rows"] = []
    for row in n_rows:
        yd = snap(y + TAP_H + d3)
        f["n_rows"].append((y, yd, snap(yd + _row_height(row))))
        y = snap(yd + _row_height(row) + d3)
    f["m0"] = snap(y - d3 + 0.3 + WIRE_W[L.MET3] / 2)  # first channel-M track (centre)
    y = snap(f["m0"] + (n_tracks - 1) * TRACK_PITCH + WIRE_W[L.MET3] / 2 + 0.4 + rule("difftap.8"))
    f["p_rows"] = []
    for row in p_rows:
        top = snap(y + _row_height(row))
        f["p_rows"].append((snap(top + d3), y, top))
        y = snap(top + d3 + TAP_H + d3)
    f["well"] = (snap(f["p_rows"][0][1] - rule("difftap.8")), snap(f["p_rows"][-1][0] + TAP_H + rule("difftap.10")))
    f["t_track"] = snap(f["well"][1] + 0.5)
    f["height"] = snap(f["t_track"] + 1.2)
    return f


def _layout_plan(c_m: float, dis_w: float, dis_l: float, pitch_x: float, cap_side: float) -> dict:
    """Everything :func:`neuron` draws, as coordinates (µm): placements, terminals, tracks, floor plan."""
    side = snap_up(cap_side) if cap_side else mim_geometry(c_m)["side"]
    side = max(side, rule("cap2m.1"))
    px = snap(pitch_x)
    plate = side + 2 * rule("cap2m.3")
    need = snap_up(plate + 2 * (RISER_X + column_pitch_m2()))
    if need > px + 1e-9:
        raise DesignError(
            f"neuron: C_m={c_m:.3g} F needs a {side:.2f} µm MIM capacitor and a {need:.2f} µm wide neuron, "
            f"more than the neuron pitch {pitch_x} µm; lower C_m or raise the neuron pitch (--neuron-pitch)")
    xc = snap(px / 2)
    x_spk, x_spkb = snap(RISER_X), snap(px - RISER_X)
    reserved = [xc, x_spk, x_spkb]
    n_rows, p_rows = neuron_devices(dis_w, dis_l)
    n_x = _place_rows(n_rows, reserved, px)
    n_terms = [t for row, xs in zip(n_rows, n_x) for d, x0 in zip(row, xs) for t in _terminals(d, x0, 0.0)]
    p_nets = {t.net for row in p_rows for d in row for t in _terminals(d, 0.0, 0.0) if not t.up}
    shared = frozenset(({t.net for t in n_terms if t.up} & p_nets) - {"mem"})
    err = None
    for combo in itertools.product(*(list(itertools.permutations(row)) for row in p_rows)):
        try:  # the greedy packer depends on the order: try each PMOS row order (deterministic sequence)
            p_x = _place_rows([list(r) for r in combo], reserved, px, n_terms, shared)
            p_rows = [list(r) for r in combo]
            break
        except DesignError as exc:
            err = exc
    else:
        raise err
    # track order from x only (y does not matter for the clash test)
    t0 = [t for row, xs in ((r, x) for rows, xss in ((n_rows, n_x), (p_rows, p_x)) for r, x in zip(rows, xss))
          for d, x0 in zip(row, xs) for t in _terminals(d, x0, 0.0)]
    order = _track_order([t for t in t0 if t.row == "n"], [t for t in t0 if t.row == "p"])
    f = _floorplan(side, n_rows, p_rows, len(order))
    placed, terms = [], []
    for rows, xss, ys in ((n_rows, n_x, f["n_rows"]), (p_rows, p_x, f["p_rows"])):
        for row, xs, (ytap, yd, _) in zip(rows, xss, ys):
            for d, x0 in zip(row, xs):
                placed.append((d, x0, yd, ytap))
                terms += _terminals(d, x0, yd)
    tracks = {net: snap(f["m0"] + k * TRACK_PITCH) for k, net in enumerate(order)}
    tracks.update(mem_b=f["land"], mem_t=f["t_track"])
    return {"side": side, "px": px, "xc": xc, "x_spk": x_spk, "x_spkb": x_spkb, "f": f, "placed": placed,
            "terms": terms, "tracks": tracks}


def neuron_size(c_m: float, dis_w: float, dis_l: float, cap_side: float = 0.0,
                pitch_x: float = NEURON_PITCH_UM) -> tuple[float, float, float]:
    """(width, height, cap side) in µm of the neuron for membrane capacitance ``c_m`` (F) at ``pitch_x``;
    raises DesignError (naming the value and the fix) when it does not fit the pitch."""
    plan = _layout_plan(c_m, dis_w, dis_l, pitch_x, cap_side)
    return plan["px"], plan["f"]["height"], plan["side"]


def _track_key(t: _Term) -> str:
    if t.net != "mem":
        return t.net
    if t.row == "n":
        return "mem_n" if t.up else "mem_b"
    return "mem_t" if t.up else "mem_p"


@gf.cell
def neuron(c_m: float = 140e-15, dis_w: float = 1.0, dis_l: float = 0.25, pitch_x: float = NEURON_PITCH_UM,
           cap_side: float = 0.0) -> gf.Component:
    """Neuron of width ``pitch_x`` µm; MIM capacitor of side ``cap_side`` µm (0: sized for ``c_m``, F).

    Ports: ``mem`` (met2, top edge: the dendrite; alias ``dend``), ``spk``/``spkb`` (met2, bottom edge), the
    control tracks ``reset reset_b phase phase_b v0 vbdis vbsense`` (met3, west edge), ``vdd``/``vss`` (met1
    rails, west edge), ``vss_cap`` (met4 plate). ``c.info``: pitch_x, height, cap_side, tracks (net -> y).
    """
    check_mos_size("n", dis_w, dis_l, "neuron discharger")
    plan = _layout_plan(c_m, dis_w, dis_l, pitch_x, cap_side)
    px, xc, f, side, tracks = plan["px"], plan["xc"], plan["f"], plan["side"], plan["tracks"]
    c = gf.Component()
    # ---- devices, taps, wells, implants (edge to edge: abutting neurons share rails and wells)
    for d, x0, yd, ytap in plan["placed"]:
        r = c.add_ref(_stack(d), name="_".join(d.names))
        r.move((x0, yd))
        _rail_strap(c, d, x0, yd, ytap)
    for kind, rows in (("p", f["n_rows"]), ("n", f["p_rows"])):
        for ytap, yd, ytop in rows:
            t = c.add_ref(tap_row(kind=kind, length=px))
            t.move((0, ytap))
    ew = rule("difftap.10")
    rect(c, L.NWELL, -ew, f["well"][0], px + ew, f["well"][1])
    add_port(c, "vss", 0, f["n_rows"][0][0] + TAP_H / 2, L.MET1, TAP_H, 180)
    add_port(c, "vdd", 0, f["p_rows"][-1][0] + TAP_H / 2, L.MET1, TAP_H, 180)
    _join_rails(c, f, px, plan)

    # ---- columns: terminal pad -> (met1 jog) -> met2 -> track
    span: dict[str, list[float]] = {}
    for t in sorted(plan["terms"], key=lambda t: (t.x, t.y)):
        key = _track_key(t)
        yt = tracks[key]
        if t.x != t.pad_x:
            hwire(c, L.MET1, t.pad_x, t.x, t.y, 0.26)
        via(c, t.x, t.y, L.MET1, L.MET2, flat=True)
        vwire(c, L.MET2, t.x, t.y, yt)
        near = [x for x in span.get(key, []) if abs(x - t.x) < COL_SEP]
        if near:  # a column of the same net lands next to this one: join on met2 instead of a second via2
            if abs(near[0] - t.x) > 1e-9:
                hwire(c, L.MET2, near[0], t.x, yt, 0.37)
        else:
            via(c, t.x, yt, L.MET2, L.MET3)
        span.setdefault(key, []).append(t.x)
    for key in ("mem_n", "mem_p", "mem_b", "mem_t"):
        span.setdefault(key, []).append(xc)
    span.setdefault("spk", []).append(plan["x_spk"])
    span.setdefault("spkb", []).append(plan["x_spkb"])
    h3 = pad_half(L.MET3)
    for key, xs in sorted(span.items()):
        if key in CONTROL_NETS:
            hwire(c, L.MET3, 0, px, tracks[key])
        else:
            hwire(c, L.MET3, min(xs) - h3, max(xs) + h3, tracks[key])
    for net in CONTROL_NETS:
        if net not in span:
            raise DesignError(f"neuron: control net {net} has no device terminal (template changed?)")
        add_port(c, net, 0, tracks[net], L.MET3, WIRE_W[L.MET3], 180)

    # ---- MIM capacitor, membrane landing, dendrite spine
    e4 = rule("cap2m.3")
    cap = c.add_ref(mim_cap(side=side), name="CM")
    x_cap = snap((px - side) / 2)
    cap.move((x_cap, f["cap_y"]))
    half = _LANDING / 2
    rect(c, L.MET5, xc - half, f["cap_top"] - 1.0, xc + half, f["land0"] + _LANDING)
    rect(c, L.MET4, xc - half, f["land0"], xc + half, f["land0"] + _LANDING)
    v4 = rule("via4.1") / 2
    rect(c, L.VIA4, xc - v4, f["land"] - v4, xc + v4, f["land"] + v4)
    via(c, xc, f["land"], L.MET2, L.MET4)
    vwire(c, L.MET2, xc, f["land"], f["height"], 0.3)
    for key in ("mem_n", "mem_p", "mem_t"):
        via(c, xc, tracks[key], L.MET2, L.MET3)
    add_port(c, "mem", xc, f["height"], L.MET2, 0.3, 90)
    add_port(c, "dend", xc, f["height"], L.MET2, 0.3, 90)
    # bottom plate to vss: met4 strap from the plate up to a met1..met4 via stack on the first vss rail
    x_vs = snap(min(plan["x_spkb"] - RES_SEP - 0.1, x_cap + side + e4 - 0.3))
    y_vs = snap(f["n_rows"][0][0] + TAP_H / 2)
    via(c, x_vs, y_vs, L.MET1, L.MET4)
    rect(c, L.MET4, x_vs - 0.25, f["cap_y"] + side, x_vs + 0.25, y_vs + 0.25)
    if x_vs + 0.25 > x_cap + side + e4 or x_vs - 0.25 < xc + half + rule("m4.2") + 0.1:
        raise DesignError("neuron: no room for the capacitor's vss strap; raise the neuron pitch")
    add_port(c, "vss_cap", x_cap - e4 / 2, f["cap_y"] + side / 2, L.MET4, 0.14, 180)

    # ---- spk / spkb risers to the bottom edge
    for net, x in (("spk", plan["x_spk"]), ("spkb", plan["x_spkb"])):
        via(c, x, tracks[net], L.MET2, L.MET3)
        vwire(c, L.MET2, x, 0, tracks[net], 0.3)
        add_port(c, net, x, 0, L.MET2, 0.3, 270)

    _pin_labels(c)
    c.info["pitch_x"] = px
    c.info["height"] = f["height"]
    c.info["cap_side"] = side
    c.info["tracks"] = {k: v for k, v in sorted(tracks.items())}
    return c


def _join_rails(c: gf.Component, f: dict, px: float, plan: dict) -> None:
    """Tie the tap rows of one polarity together: met2 straps at the spine-free columns near the edges."""
    cp = column_pitch_m2()
    taken = [(t.x, COL_SEP) for t in plan["terms"]] + [(x, RES_SEP) for x in (plan["xc"], plan["x_spk"], plan["x_spkb"])]
    for rows in (f["n_rows"], f["p_rows"]):
        if len(rows) < 2:
            continue
        ys = [snap(r[0] + TAP_H / 2) for r in rows]
        y0, y1 = min(ys), max(ys)
        for x in [snap(plan["x_spk"] + cp + 0.05 * k) for k in range(int(px / 0.05))]:
            if all(abs(x - t) >= sep for t, sep in taken):
                break
        else:  # pragma: no cover
            raise DesignError("neuron: no free column to join the tap rows")
        for y in ys:
            via(c, x, y, L.MET1, L.MET2)
        vwire(c, L.MET2, x, y0, y1)


def _rail_strap(c: gf.Component, d: Dev, x0: float, yd: float, ytap: float) -> None:
    """li1 strap from a stack's rail-side S/D row to its tap row (NMOS bottom row -> vss, PMOS top row -> vdd)."""
    g = _geo(d)
    row = contact_positions(d.w, LICON, rule("licon.2"), rule("licon.5c"))
    xa, xb = x0 + row[0], x0 + row[-1] + LICON
    if d.kind == "n" and d.bot == "vss":
        rect(c, L.LI1, xa, ytap + rule("licon.7"), xb, yd + g.s_y)
    if d.kind == "p" and d.top == "vdd":
        rect(c, L.LI1, xa, yd + g.d_y, xb, ytap + rule("licon.7") + LICON)


def _pin_labels(c: gf.Component) -> None:
    """Text labels of the neuron's pins (the netlist's pin names) on the pin layer of each port's metal."""
    import klayout.db as kdb

    for name in PIN_NAMES:
        p = c.ports[name]
        layer = (p.layer_info.layer, p.layer_info.datatype)
        x, y = p.center
        if name in ("spk", "spkb"):
            y += 0.2  # inside the riser
        elif name == "mem":
            y -= 0.2
        else:
            x += 0.2
        c.kdb_cell.shapes(c.kcl.layout.layer(*L.PIN_OF[layer])).insert(kdb.DText(name, kdb.DTrans(x, y)))
