"""The circuit effects the PNN models beyond the paper's RC-Spike neuron, gathered from a device profile.

Three measured facts of the sky130 circuit, each a field of a trained model's card and of the model side of the
verification loop (generator/verify/, ``model_effects``):

* ``reversal_table``: E±(|w|) per synapse (the stacks' λ depends on their current; generator/circuit/mapping.py:
  reversal_table, from the characterised λ(I) tables);
* ``switch_step``: the membrane step of every conducting stack when its selector opens at the end of the
  accumulation phase (generator/circuit/switch_charge.py);
* ``fire_delay``: the comparator and output-logic delay of the neuron, in phases (generator/circuit/firing_delay.py);
* ``driven_step``: the extra switch-off step when a neuron's output logic, not an ideal edge, drives the selectors
  (layers after the first), by fan-out (generator/circuit/driven_edge.py).

All three depend on C_m (through the unit current and the charge-to-voltage step), so they are computed for the
circuit parameters the model will be mapped with.
"""

from __future__ import annotations

from generator.design import CircuitParams, DeviceProfile
from generator.errors import DesignError
from generator.circuit.mapping import reversal_table
from generator.circuit.switch_charge import step_model

#: card / model-side keys of the effects, and their "absent" values (the paper's model)
NO_EFFECTS = {"reversal_table": None, "switch_step": None, "fire_delay": 0.0, "driven_step": None}


def circuit_effects(profile: DeviceProfile, params: CircuitParams) -> dict:
    """{"reversal_table", "switch_step", "fire_delay", "driven_step"} for the model at ``params`` from the profile's
    tables (``driven_step``: {"fanout": [...], "pos": [...], "neg": [...]}, model units)."""

    tables = profile.tables or {}
    missing = [k for k in ("switch_charge", "firing_delay", "driven_edge", "lambda_n_vs_i", "lambda_p_vs_i")
               if k not in tables]
    if missing:
        raise DesignError(f"the device profile has no {', '.join(missing)} table (made before they were measured); "
                          "regenerate it with `imcgen characterize`")
    return {"reversal_table": reversal_table(profile, params),
            "switch_step": step_model(tables["switch_charge"], params, profile),
            "fire_delay": float(tables["firing_delay"]["delay_s_mean"]) / params.t_phase,
            "driven_step": _driven_step(tables["driven_edge"], params)}


def _driven_step(rel: dict, params: CircuitParams) -> dict:
    """Extra step per conducting stack (model units) by fan-out: extra conduction time at the unit current / T,
    scaled to ``params`` through the charge (q = t I_u(profile)); the profile was measured at its own C_m."""
    return {"fanout": [float(f) for f in rel["fanout"]],
            "pos": [float(x) * rel.get("unit_current", params.unit_current) / (params.c_m * params.v_th)
                    for x in rel["pos_s"]],
            "neg": [float(x) * rel.get("unit_current", params.unit_current) / (params.c_m * params.v_th)
                    for x in rel["neg_s"]]}
