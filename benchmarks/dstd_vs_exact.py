"""DSTD vs exact closed form: wall time and peak memory of one training epoch of one layer (PAPER.md §3.4).

Set-up (paper, on a V100): one layer of 1000 neurons, 1000 input spikes uniform on [0, 1], 1000 samples in
batches of 100, forward + backward; RC-Spike with M = 10, TTFS with M = 20. Here on the CPU, by default with
ONE torch thread (see README: on a shared, loaded machine a 2-thread pool waits for a descheduled thread at
every parallel op, which measures the OS scheduler, not the algorithm). Backward is w.r.t. the layer's weights
(a single-layer network's inputs are data).

Each configuration runs in its own subprocess so peaks do not mix. Two memory measures, both reported:

* tensor MiB: the peak of live tensor bytes during one forward+backward step, from the torch CPU allocator's
  running total (torch.profiler with profile_memory=True; only allocations made during the step count, so the
  data and weights that exist before it are excluded). Deterministic; the primary measure (`memory_ratio`).
* RSS MiB: the process's peak resident set (VmHWM) during the timed batches, above its resident set after a
  full-size warm-up step and malloc_trim (so one-off library/thread-pool set-up is excluded). The HWM is reset
  through /proc/self/clear_refs; where that is refused the peak since start above the pre-warm-up RSS is used
  and the output says so.

Time: per epoch of `--samples` samples, after one untimed warm-up batch: wall time (`time_ratio`) and the
process's CPU time (`cpu_time_ratio`; with one thread it is the wall time minus the time the OS gave other
jobs, so it is the fairer ratio when the machine's load changes between configurations). The bare-matmul row times exactly the
matmuls DSTD consists of (S @ W^T and S @ (beta W)^T forward, their weight gradients backward), nothing else.

    python benchmarks/dstd_vs_exact.py            # full size (~5-10 minutes on one thread)
    python benchmarks/dstd_vs_exact.py --quick    # small sizes, seconds
    python benchmarks/dstd_vs_exact.py --json     # last stdout line: JSON of the ratios
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = ("rc_exact", "rc_dstd", "rc_matmul", "ttfs_exact", "ttfs_dstd")
_MIB = 1024.0 * 1024.0


def _status_kib(field: str) -> int:
    """A kB field of /proc/self/status (VmRSS, VmHWM) in KiB; -1 where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _reset_hwm() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, '5' > clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") <= _status_kib("VmRSS") + 1024  # reset took effect (1 MiB slack)


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so the post-warm-up baseline holds no freed buffers."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_tensor_bytes(fn) -> int:
    """Peak live bytes allocated by the torch CPU allocator while fn() runs, above what existed before."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    peak, stack = 0, list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        ev = stack.pop()
        stack.extend(ev.children)
        extra = ev.extra_fields
        if type(extra).__name__ == "_ExtraFields_Allocation" and extra.device.type == "cpu":
            peak = max(peak, int(extra.total_allocated))
    del torch
    return peak


def _worker(cfg: dict) -> dict:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from generator.model import functional as Fn

    rss_start_kib = _status_kib("VmRSS")
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
    s_fixed = torch.rand(batch, steps, n_in, generator=g) if kind == "rc_matmul" else None

    def step(t: torch.Tensor) -> None:
        if kind == "rc_exact":
            out = Fn.spike_time(Fn.rcspike_exact(t, weight, e_pos, e_neg))
        elif kind == "rc_dstd":
            out = Fn.spike_time(Fn.rcspike_dstd(t, weight, e_pos, e_neg, steps))
        elif kind == "rc_matmul":  # the two matmuls of rcspike_dstd, same shapes, nothing else
            out = F.linear(s_fixed, weight).sum() + F.linear(s_fixed, weight).sum()
        elif kind == "ttfs_exact":
            out = Fn.ttfs_exact(t, weight, e_pos, e_neg, no_spike=2.0)
        elif kind == "ttfs_dstd":
            out = Fn.ttfs_dstd(t, weight, e_pos, e_neg, steps, no_spike=2.0)
        else:
            raise ValueError(kind)
        out.sum().backward()
        weight.grad = None

    t0 = time.perf_counter()
    step(t_all[:batch])  # warm-up: allocator, thread pool, BLAS buffers; not timed, not in the RSS baseline
    warm_s = time.perf_counter() - t0
    gc.collect()
    _malloc_trim()
    base_kib = _status_kib("VmRSS")
    hwm_reset = _reset_hwm()
    if not hwm_reset:  # fall back: peak since start above the RSS before the warm-up step
        base_kib = rss_start_kib
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(n_batches):
        step(t_all[k * batch : (k + 1) * batch])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()[0]
    peak_kib = _status_kib("VmHWM") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tensor_bytes = _peak_tensor_bytes(lambda: step(t_all[:batch]))
    samples = n_batches * batch
    return {
        "kind": kind,
        "samples_run": samples,
        "epoch_s": wall * cfg["samples"] / samples,  # per `samples` (extrapolated if fewer were run)
        "batch_s": wall / n_batches,
        "epoch_cpu_s": cpu * cfg["samples"] / samples,  # process CPU time: insensitive to time-slicing by load
        "warmup_s": warm_s,
        "rss_mib": (peak_kib - base_kib) / 1024.0,
        "rss_measure": "VmHWM above post-warm-up RSS" if hwm_reset else "ru_maxrss above pre-warm-up RSS",
        "tensor_mib": tensor_bytes / _MIB,
        "load": [round(load0, 2), round(load1, 2)],
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


def _ratio(by: dict, a: str, b: str, key: str) -> float:
    return by[a][key] / max(by[b][key], 1e-9)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (200 neurons, 200 inputs, 2 batches)")
    ap.add_argument("--json", action="store_true", help="print the ratios as JSON on the last line")
    ap.add_argument("--n-in", type=int, default=None, help="input spikes per sample (default 1000)")
    ap.add_argument("--n-out", type=int, default=None, help="neurons in the layer (default 1000)")
    ap.add_argument("--batch", type=int, default=100, help="mini-batch size (default 100)")
    ap.add_argument("--samples", type=int, default=1000, help="samples per epoch (default 1000)")
    ap.add_argument("--ttfs-exact-batches", type=int, default=2,
                    help="batches actually run for TTFS exact; its time is extrapolated to --samples (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, see the README)")
    ap.add_argument("--only", default=",".join(CONFIGS), help=f"comma list of {CONFIGS}")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    import torch

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
        print(f"  done {kind}: {res['epoch_s']:.3f} s/epoch, tensors {res['tensor_mib']:.1f} MiB, "
              f"RSS {res['rss_mib']:.1f} MiB, load {res['load']}", file=sys.stderr, flush=True)

    by = {r["kind"]: r for r in rows}
    print(f"One layer {n_in} inputs -> {n_out} neurons, batch {args.batch}, {samples} samples per epoch, "
          f"forward+backward (grad w.r.t. weights), {args.threads} CPU thread(s), torch {torch.__version__}.")
    print("tensor MiB = peak live tensor bytes of one step (torch CPU allocator, profiler); "
          f"RSS MiB = {rows[0]['rss_measure'] if rows else ''} (MiB).")
    print(f"{'configuration':<14}{'M':>4}{'epoch (s)':>12}{'CPU (s)':>10}{'tensor MiB':>12}{'RSS MiB':>10}"
          f"{'load avg':>14}  note")
    for r in rows:
        note = f"time extrapolated from {r['samples_run']} samples" if r["samples_run"] < samples else ""
        m = "-" if r["steps"] is None else str(r["steps"])
        load = f"{r['load'][0]:.1f}-{r['load'][1]:.1f}"
        print(f"{r['kind']:<14}{m:>4}{r['epoch_s']:>12.3f}{r['epoch_cpu_s']:>10.3f}{r['tensor_mib']:>12.1f}"
              f"{r['rss_mib']:>10.1f}{load:>14}  {note}")
    summary = {}
    if "rc_exact" in by and "rc_dstd" in by:
        summary["time_ratio"] = _ratio(by, "rc_exact", "rc_dstd", "epoch_s")
        summary["cpu_time_ratio"] = _ratio(by, "rc_exact", "rc_dstd", "epoch_cpu_s")
        summary["memory_ratio"] = _ratio(by, "rc_exact", "rc_dstd", "tensor_mib")
        summary["memory_ratio_rss"] = _ratio(by, "rc_exact", "rc_dstd", "rss_mib")
        print(f"RC-Spike (M=10): exact/DSTD time x{summary['time_ratio']:.1f} (wall), "
              f"x{summary['cpu_time_ratio']:.1f} (CPU), memory x{summary['memory_ratio']:.1f}"
              f" (tensor bytes), x{summary['memory_ratio_rss']:.1f} (RSS)")
    if "rc_dstd" in by and "rc_matmul" in by:
        summary["dstd_vs_matmul"] = _ratio(by, "rc_dstd", "rc_matmul", "epoch_s")
        summary["dstd_vs_matmul_cpu"] = _ratio(by, "rc_dstd", "rc_matmul", "epoch_cpu_s")
        print(f"RC-Spike DSTD / its bare matmuls: time x{summary['dstd_vs_matmul']:.2f} (wall), "
              f"x{summary['dstd_vs_matmul_cpu']:.2f} (CPU)")
    if "ttfs_exact" in by and "ttfs_dstd" in by:
        summary["ttfs_time_ratio"] = _ratio(by, "ttfs_exact", "ttfs_dstd", "epoch_s")
        summary["ttfs_cpu_time_ratio"] = _ratio(by, "ttfs_exact", "ttfs_dstd", "epoch_cpu_s")
        summary["ttfs_memory_ratio"] = _ratio(by, "ttfs_exact", "ttfs_dstd", "tensor_mib")
        summary["ttfs_memory_ratio_rss"] = _ratio(by, "ttfs_exact", "ttfs_dstd", "rss_mib")
        print(f"TTFS (M=20): exact/DSTD time x{summary['ttfs_time_ratio']:.1f} (wall), "
              f"x{summary['ttfs_cpu_time_ratio']:.1f} (CPU), memory "
              f"x{summary['ttfs_memory_ratio']:.1f} (tensor bytes), x{summary['ttfs_memory_ratio_rss']:.1f} (RSS)")
    summary = {k: round(v, 3) for k, v in summary.items()}
    summary.update({
        "n_in": n_in, "n_out": n_out, "batch": args.batch, "samples": samples, "threads": args.threads,
        "memory_measure": "peak live tensor bytes of one step (torch CPU allocator via torch.profiler)",
        "memory_measure_rss": rows[0]["rss_measure"] if rows else None,
        "rows": {r["kind"]: {"epoch_s": round(r["epoch_s"], 4), "epoch_cpu_s": round(r["epoch_cpu_s"], 4),
                             "tensor_mib": round(r["tensor_mib"], 1),
                             "rss_mib": round(r["rss_mib"], 1), "samples_run": r["samples_run"],
                             "load": r["load"]} for r in rows},
    })
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
