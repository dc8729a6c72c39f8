"""sky130 device names, minimum device sizes and the MIM capacitor law.

Units: device sizes in µm (the models set ``.option scale=1.0u``), capacitance in F.
"""

from __future__ import annotations

from generator.errors import PdkError
from generator.pdk.sky130.rules import rule

NFET = "sky130_fd_pr__nfet_01v8"  #: 1.8 V NMOS (synapse NS/NM, discharger)
PFET = "sky130_fd_pr__pfet_01v8"  #: 1.8 V PMOS (synapse PS/PM, sense bias)
NFET_LVT = "sky130_fd_pr__nfet_01v8_lvt"  #: low-Vt NMOS (sensing-inverter input)
PFET_HVT = "sky130_fd_pr__pfet_01v8_hvt"  #: high-Vt PMOS (sensing-inverter pull-up)
MIM_CAP = "sky130_fd_pr__cap_mim_m3_2"  #: MIM capacitor between met4 (bottom) and met5 (top), as the paper
MIM_CAP_M3 = "sky130_fd_pr__cap_mim_m3_1"  #: MIM capacitor between met3 and met4 (same model law)

#: every MOSFET model the project instantiates (all are subcircuits: ``X`` lines, W/L in µm)
MOSFETS = (NFET, PFET, NFET_LVT, PFET_HVT)

#: minimum drawn gate length / width (µm) of the 1.8 V devices above: min poly width poly.1a, min channel width
#: difftap.2 (outside standard cells) of the rule table
MIN_L_UM = rule("poly.1a")
MIN_W_UM = rule("difftap.2")
MIN_SIZE_UM: dict[str, tuple[float, float]] = {name: (MIN_W_UM, MIN_L_UM) for name in MOSFETS}  # (W, L)

#: MIM capacitor law of ``models_capacitors.spice`` / ``parameters_cap_nom.spice``:
#: C = sw_cap_mim_ca * (w + sw_cap_mim_dw) * (l + sw_cap_mim_dw), w and l in µm.
MIM_CAP_DENSITY_F_PER_UM2 = 2e-15  #: F/µm², sw_cap_mim_ca (nominal)
MIM_CAP_DW_UM = 0.15  #: µm, sw_cap_mim_dw (1.5e-7 m): added to each drawn side
#: F/µm of drawn perimeter: expanding (w+dw)(l+dw) = wl + dw(w+l) + dw² gives ca*dw/2 per µm of 2(w+l)
MIM_CAP_PERIMETER_F_PER_UM = MIM_CAP_DENSITY_F_PER_UM2 * MIM_CAP_DW_UM / 2


def mim_cap_value(w_um: float, l_um: float) -> float:
    """Capacitance (F) of a ``cap_mim_m3_*`` of drawn size w x l (µm), nominal corner, as the model computes it."""
    return MIM_CAP_DENSITY_F_PER_UM2 * (w_um + MIM_CAP_DW_UM) * (l_um + MIM_CAP_DW_UM)


def mim_cap_side_for(c_farad: float) -> float:
    """Side (µm) of the square MIM capacitor whose model capacitance is ``c_farad`` (inverse of mim_cap_value)."""
    if not c_farad > 0:
        raise PdkError(f"MIM capacitance must be positive, got {c_farad!r} F")
    return (c_farad / MIM_CAP_DENSITY_F_PER_UM2) ** 0.5 - MIM_CAP_DW_UM
