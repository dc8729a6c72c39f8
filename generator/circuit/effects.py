"""The circuit effects the PNN models beyond the paper's RC-Spike neuron, gathered from a device profile.

Three measured facts of the sky130 circuit, each a field of a trained model's card and of the model side of the
verification loop (generator/verify.py, ``model_effects``):

* ``reversal_table``: E±(|w|) per synapse (the stacks' λ depends on their current; generator/circuit/mapping.py:
  reversal_table, from the characterised λ(I) tables);
* ``switch_step``: the membrane step of every conducting stack when its selector opens at the end of the
  accumulation phase (generator/circuit/switch_charge.py);
* ``fire_delay``: the comparator and output-logic delay of the neuron, in phases (generator/circuit/firing_delay.py).

All three depend on C_m (through the unit current and the charge-to-voltage step), so they are computed for the
circuit parameters the model will be mapped with.
"""

from __future__ import annotations

from generator.design import CircuitParams, DesignError, DeviceProfile

#: card / model-side keys of the effects, and their "absent" values (the paper's model)
NO_EFFECTS = {"reversal_table": None, "switch_step": None, "fire_delay": 0.0}


def circuit_effects(profile: DeviceProfile, params: CircuitParams) -> dict:
    """{"reversal_table", "switch_step", "fire_delay"} for the model at ``params`` from the profile's tables."""
    from generator.circuit.mapping import reversal_table
    from generator.circuit.switch_charge import step_model

    tables = profile.tables or {}
    missing = [k for k in ("switch_charge", "firing_delay", "lambda_n_vs_i", "lambda_p_vs_i") if k not in tables]
    if missing:
        raise DesignError(f"the device profile has no {', '.join(missing)} table (made before they were measured); "
                          "regenerate it with `imcgen characterize`")
    return {"reversal_table": reversal_table(profile, params),
            "switch_step": step_model(tables["switch_charge"], params, profile),
            "fire_delay": float(tables["firing_delay"]["delay_s_mean"]) / params.t_phase}
