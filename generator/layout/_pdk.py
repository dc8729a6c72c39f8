"""Activate a gdsfactory PDK once (gdsfactory refuses to draw without one); layers are given as GDS tuples."""

from __future__ import annotations


def ensure_pdk() -> None:
    """Activate gdsfactory's generic PDK if none is active (our cells use explicit (layer, datatype) tuples)."""
    import gdsfactory as gf

    try:
        gf.get_active_pdk()
    except ValueError:
        gf.gpdk.PDK.activate()
