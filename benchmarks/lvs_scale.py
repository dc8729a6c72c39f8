"""LVS at scale: time and peak memory of `run_lvs` on the committed MNIST layout (784-400-10, 317,600 synapses).

The CDL is made the way layouts/README.md makes the layout: the mnist model mapped with C_m = 1 pF (default
profile). Runs in a fresh child process so peak memory (ru_maxrss) is the LVS's own. Prints one JSON line.
Usage: python benchmarks/lvs_scale.py [--gds layouts/mnist/mnist.gds.gz] [--model trained_models/mnist]
[--c-m-ff 1000] [--lvsdb FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import dataclasses, json, resource, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from generator.circuit.mapping import map_model
from generator.design import CircuitParams, DeviceProfile
from generator.resources import default_profile
from generator.spice.netlist import render_cdl
from generator.signoff.lvs import run_lvs
gds, model, c_m_ff, lvsdb = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
prof = DeviceProfile.load(default_profile())
params = dataclasses.replace(CircuitParams(corner=prof.corner, temp=prof.temp), c_m=c_m_ff * 1e-15)
design = map_model(model, prof, params)
with tempfile.TemporaryDirectory() as tmp:
    cdl = Path(tmp) / "net.cdl"
    cdl.write_text(render_cdl(design))
    t1 = time.perf_counter()
    rep = run_lvs(gds, cdl)
    t2 = time.perf_counter()
    if lvsdb:
        rep.write_lvsdb(lvsdb)
print(json.dumps({"gds": gds, "match": rep.match, "devices": rep.devices, "n_mismatches": rep.n_mismatches,
                  "cdl_s": round(t1 - t0, 2), "lvs_s": round(t2 - t1, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gds", default="layouts/mnist/mnist.gds.gz")
    ap.add_argument("--model", default="trained_models/mnist")
    ap.add_argument("--c-m-ff", default="1000")
    ap.add_argument("--lvsdb", default="")
    a = ap.parse_args()
    out = subprocess.run([sys.executable, "-c", _CHILD, a.gds, a.model, a.c_m_ff, a.lvsdb], capture_output=True,
                         text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(out.returncode)
    print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
