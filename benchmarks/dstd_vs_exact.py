"""DSTD vs exact closed form: wall time and peak memory of one training epoch of one layer (PAPER.md §3.4).

Set-up (paper, on a V100): one layer of 1000 neurons, 1000 input spikes uniform on [0, 1], 1000 samples in
batches of 100, forward + backward; RC-Spike with M = 10, TTFS with M = 20. Here on the CPU with
torch.set_num_threads(2). Backward is w.r.t. the layer's weights (a single-layer network's inputs are data).

Each configuration runs in its own subprocess so peaks do not mix. Peak memory = the process's peak resident
set size (getrusage ru_maxrss) above its baseline just before the first batch (data and weights already
allocated), i.e. all tensors, autograd buffers and allocator slack the computation needed. The bare-matmul
row times exactly the matmul DSTD consists of (S @ [W; beta W]^T forward, and its weight gradient backward).

    python benchmarks/dstd_vs_exact.py            # full size (a few minutes)
    python benchmarks/dstd_vs_exact.py --quick    # small sizes, seconds
    python benchmarks/dstd_vs_exact.py --json     # last stdout line: JSON of the RC-Spike ratios
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = ("rc_exact", "rc_dstd", "rc_matmul", "ttfs_exact", "ttfs_dstd")


def _worker(cfg: dict) -> dict:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from generator.model import functional as Fn

    torch.set_num_threads(cfg["threads"])
    g = torch.Generator().manual_seed(0)
    n_in, n_out, batch = cfg["n_in"], cfg["n_out"], cfg["batch"]
    n_batches = cfg["batches"]
    t_all = torch.rand(n_batches * batch, n_in, generator=g)
    kind = cfg["kind"]
    e_pos, e_neg = 2.0, -2.0
    if kind.startswith("ttfs"):
        w0 = torch.rand(n_out, n_in, generator=g) * (8.0 / n_in)  # fires within ~[0, 1]
    else:
        w0 = torch.randn(n_out, n_in, generator=g) * (0.5 / n_in**0.5) + 1.0 / n_in
    weight = w0.clone().requires_grad_(True)
    steps = cfg["steps"]

    def step(t: torch.Tensor) -> None:
        if kind == "rc_exact":
            out = Fn.spike_time(Fn.rcspike_exact(t, weight, e_pos, e_neg))
        elif kind == "rc_dstd":
            out = Fn.spike_time(Fn.rcspike_dstd(t, weight, e_pos, e_neg, steps))
        elif kind == "rc_matmul":
            out = F.linear(s_fixed, torch.cat([weight, weight], 0))  # same shapes as DSTD's one matmul
        elif kind == "ttfs_exact":
            out = Fn.ttfs_exact(t, weight, e_pos, e_neg, no_spike=2.0)
        elif kind == "ttfs_dstd":
            out = Fn.ttfs_dstd(t, weight, e_pos, e_neg, steps, no_spike=2.0)
        else:
            raise ValueError(kind)
        out.sum().backward()
        weight.grad = None

    m_cols = steps + (1 if kind.startswith("ttfs") else 0)
    s_fixed = torch.rand(batch, m_cols, n_in, generator=g) if kind == "rc_matmul" else None
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(t_all[:batch])  # warm-up batch (allocator, thread pool); included in the peak, not in the time
    t0 = time.perf_counter()
    for k in range(n_batches):
        step(t_all[k * batch : (k + 1) * batch])
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples = n_batches * batch
    return {
        "kind": kind,
        "samples_run": samples,
        "epoch_s": wall * cfg["samples"] / samples,  # per `samples` (extrapolated if fewer were run)
        "peak_mib": (peak_kb - base_kb) / 1024.0,
    }


def _run(cfg: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {cfg['kind']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (200 neurons, 200 inputs, 2 batches)")
    ap.add_argument("--json", action="store_true", help="print the RC-Spike ratios as JSON on the last line")
    ap.add_argument("--n-in", type=int, default=None, help="input spikes per sample (default 1000)")
    ap.add_argument("--n-out", type=int, default=None, help="neurons in the layer (default 1000)")
    ap.add_argument("--batch", type=int, default=100, help="mini-batch size (default 100)")
    ap.add_argument("--samples", type=int, default=1000, help="samples per epoch (default 1000)")
    ap.add_argument("--ttfs-exact-batches", type=int, default=2,
                    help="batches actually run for TTFS exact; its time is extrapolated to --samples (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--only", default=",".join(CONFIGS), help=f"comma list of {CONFIGS}")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    n_in = args.n_in or (200 if args.quick else 1000)
    n_out = args.n_out or (200 if args.quick else 1000)
    samples = 2 * args.batch if args.quick else args.samples
    batches = max(1, samples // args.batch)
    rows = []
    for kind in [k for k in args.only.split(",") if k]:
        if kind not in CONFIGS:
            raise SystemExit(f"unknown configuration {kind!r}; choose from {CONFIGS}")
        steps = 20 if kind.startswith("ttfs") else 10
        nb = min(batches, args.ttfs_exact_batches) if kind == "ttfs_exact" else batches
        cfg = dict(kind=kind, n_in=n_in, n_out=n_out, batch=args.batch, batches=nb, samples=samples,
                   steps=steps, threads=args.threads)
        res = _run(cfg)
        res["steps"] = steps if "exact" not in kind else None
        rows.append(res)
        print(f"  done {kind}: {res['epoch_s']:.3f} s, {res['peak_mib']:.1f} MiB", file=sys.stderr, flush=True)

    by = {r["kind"]: r for r in rows}
    print(f"One layer {n_in} inputs -> {n_out} neurons, batch {args.batch}, {samples} samples per epoch, "
          f"forward+backward (grad w.r.t. weights), {args.threads} CPU threads.")
    print("Peak memory = process peak RSS above its pre-run baseline (MiB).")
    print(f"{'configuration':<26}{'M':>4}{'epoch time (s)':>16}{'peak mem (MiB)':>16}  note")
    for r in rows:
        note = ""
        if r["samples_run"] < samples:
            note = f"time extrapolated from {r['samples_run']} samples"
        m = "-" if r["steps"] is None else str(r["steps"])
        print(f"{r['kind']:<26}{m:>4}{r['epoch_s']:>16.3f}{r['peak_mib']:>16.1f}  {note}")
    summary = {}
    if "rc_exact" in by and "rc_dstd" in by:
        summary["time_ratio"] = by["rc_exact"]["epoch_s"] / by["rc_dstd"]["epoch_s"]
        summary["memory_ratio"] = by["rc_exact"]["peak_mib"] / max(by["rc_dstd"]["peak_mib"], 1e-3)
        print(f"RC-Spike (M=10): exact/DSTD time x{summary['time_ratio']:.1f}, memory x{summary['memory_ratio']:.1f}")
    if "rc_dstd" in by and "rc_matmul" in by:
        summary["dstd_vs_matmul"] = by["rc_dstd"]["epoch_s"] / by["rc_matmul"]["epoch_s"]
        print(f"RC-Spike DSTD / its bare matmul: time x{summary['dstd_vs_matmul']:.2f}")
    if "ttfs_exact" in by and "ttfs_dstd" in by:
        summary["ttfs_time_ratio"] = by["ttfs_exact"]["epoch_s"] / by["ttfs_dstd"]["epoch_s"]
        summary["ttfs_memory_ratio"] = by["ttfs_exact"]["peak_mib"] / max(by["ttfs_dstd"]["peak_mib"], 1e-3)
        print(f"TTFS (M=20): exact/DSTD time x{summary['ttfs_time_ratio']:.1f}, memory x{summary['ttfs_memory_ratio']:.1f}")
    summary.update({"n_in": n_in, "n_out": n_out, "batch": args.batch, "samples": samples, "threads": args.threads,
                    "memory_measure": "peak RSS above baseline",
                    "rows": {r["kind"]: {"epoch_s": round(r["epoch_s"], 4), "peak_mib": round(r["peak_mib"], 1)} for r in rows}})
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
