"""sky130 GDS layer map (layer, datatype) for every layer the generator draws or checks, and the grid.

Source: SkyWater sky130 layer table; tests/test_06_pdk.py checks every entry against the pinned ``sky130`` pip
package's own map (gdsfactory PDK ``sky130.PDK.layers``). PDK facts live in generator/pdk only: every other
module imports these names.
"""

from __future__ import annotations

# drawing layers
NWELL = (64, 20)
DNWELL = (64, 18)
DIFF = (65, 20)
TAP = (65, 44)
POLY = (66, 20)
LICON1 = (66, 44)
NPC = (95, 20)
NSDM = (93, 44)
PSDM = (94, 20)
LVTN = (125, 44)
HVTP = (78, 44)
HVI = (75, 20)
LI1 = (67, 20)
MCON = (67, 44)
MET1 = (68, 20)
VIA = (68, 44)
MET2 = (69, 20)
VIA2 = (69, 44)
MET3 = (70, 20)
VIA3 = (70, 44)
MET4 = (71, 20)
VIA4 = (71, 44)
MET5 = (72, 20)
CAPM = (89, 44)
CAPM2 = (97, 44)
AREAID_SC = (81, 4)
PR_BOUNDARY = (235, 4)

# pin (port) and label layers
NWELL_PIN = (64, 16)
POLY_PIN = (66, 16)
LI1_PIN = (67, 16)
MET1_PIN = (68, 16)
MET2_PIN = (69, 16)
MET3_PIN = (70, 16)
MET4_PIN = (71, 16)
MET5_PIN = (72, 16)
LI1_LABEL = (67, 5)
MET1_LABEL = (68, 5)
MET2_LABEL = (69, 5)
MET3_LABEL = (70, 5)
MET4_LABEL = (71, 5)
MET5_LABEL = (72, 5)

#: every layer above by its name here (what tests compare against the sky130 package)
LAYERS: dict[str, tuple[int, int]] = {
    name: value for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, tuple) and len(value) == 2
}

#: pin layer of each routing layer (labels for LVS go on the pin layer)
PIN_OF = {LI1: LI1_PIN, MET1: MET1_PIN, MET2: MET2_PIN, MET3: MET3_PIN, MET4: MET4_PIN, MET5: MET5_PIN, POLY: POLY_PIN}

#: label (text-only) layer of each routing layer: where sky130's official KLayout/magic decks read net names
LABEL_OF = {LI1: LI1_LABEL, MET1: MET1_LABEL, MET2: MET2_LABEL, MET3: MET3_LABEL, MET4: MET4_LABEL, MET5: MET5_LABEL}

#: database unit: 1 nm; manufacturing grid 5 nm (rule x.1b)
DBU_UM = 0.001
GRID_UM = 0.005
