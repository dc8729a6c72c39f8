"""One executor interface for independent jobs: serial, local processes, or a Dask cluster.

This module is the only place that knows how work is spread (DESIGN.md "Scale-out"). Callers write
``get_executor(kind, workers, address).map(fn, items)`` and get one entry per item, in item order: the
function's return value, or a :class:`Failed` record holding the captured exception. A failing item never
loses the others (a crashed worker process is retried once in a fresh pool, then reported as failed).

``fn`` and ``items`` must be picklable for the ``process`` and ``dask`` kinds (top-level functions,
``functools.partial`` of them, plain data).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from generator.procutil import die_with_parent

KINDS = ("serial", "process", "dask")


@dataclass
class Failed:
    """A captured failure of one item (returned by :meth:`Executor.map` in that item's place).

    ``attrs`` keeps the plain-data attributes of the exception (for an NgspiceError: ``deck_path``,
    ``log_path``, ``message``) so they survive pickling between processes even when the exception
    object itself does not.
    """

    index: int
    error_type: str
    message: str
    traceback: str = ""
    attrs: dict = field(default_factory=dict)
    exception: BaseException | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "error_type": self.error_type, "message": self.message, "attrs": self.attrs}


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity / cgroup-pinned sets where the OS reports them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _plain_attrs(exc: BaseException) -> dict:
    out: dict[str, Any] = {}
    for key, value in sorted(vars(exc).items()) if hasattr(exc, "__dict__") else []:
        if isinstance(value, (str, int, float, bool, type(None))):
            out[key] = value
        elif isinstance(value, os.PathLike):
            out[key] = os.fspath(value)
    return out


def _failure(index: int, exc: BaseException, *, keep_object: bool) -> Failed:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    obj: BaseException | None = exc
    if keep_object:
        try:  # an exception that cannot cross a process boundary is dropped; its text and attrs remain
            pickle.loads(pickle.dumps(exc))
        except Exception:
            obj = None
    return Failed(index, type(exc).__name__, str(exc), tb, _plain_attrs(exc), obj)


def _call(fn: Callable[[Any], Any], index: int, item: Any, remote: bool) -> Any:
    """Run one item, turning an exception into a :class:`Failed` record (runs inside the worker)."""
    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001 - the point is to capture any per-item failure
        return _failure(index, exc, keep_object=remote)


class _Progress:
    """A progress bar on stderr (stdout stays clean for ``--json``); silent when disabled."""

    def __init__(self, total: int, enabled: bool, label: str):
        self._bar = None
        if enabled and total > 1:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

                console = Console(stderr=True)
                self._bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=console, transient=True,
                                     disable=not console.is_terminal)
                self._bar.start()
                self._task = self._bar.add_task(label, total=total)
            except Exception:  # pragma: no cover - progress display is a convenience only
                self._bar = None

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class Executor:
    """Base class: ``map`` runs ``fn`` over ``items`` and returns results in item order."""

    kind = "base"
    workers = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], progress: bool = True,
            label: str = "jobs") -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (a no-op for the serial executor)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.workers}


class SerialExecutor(Executor):
    """Runs items one after another in this process: the reference the others must agree with."""

    kind = "serial"

    def map(self, fn, items, progress=True, label="jobs"):
        items = list(items)
        bar = _Progress(len(items), progress, label)
        out = []
        try:
            for i, item in enumerate(items):
                out.append(_call(fn, i, item, False))
                bar.advance()
        finally:
            bar.close()
        return out


class ProcessExecutor(Executor):
    """A local pool of worker processes (default: one per core), started with ``spawn`` so that no
    thread state of the parent (torch, BLAS) is forked into the workers. The pool is kept between
    ``map`` calls (calibration maps many times) and closed by :meth:`close` or at exit."""

    kind = "process"

    def __init__(self, workers: int | None = None):
        self.workers = int(workers) if workers else cpu_count()
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # workers (and their ngspice children) stop when this process stops (generator/procutil.py)
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=die_with_parent)
        return self._pool

    def _run(self, fn, indexed: Sequence[tuple[int, Any]], bar: _Progress) -> tuple[dict, list[int]]:
        """Submit, collect; return results by index and the indices lost to a broken pool."""
        pool = self._get_pool()
        futures = {pool.submit(_call, fn, i, item, True): i for i, item in indexed}
        done: dict[int, Any] = {}
        broken: list[int] = []
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                done[i] = fut.result()
            except cf.process.BrokenProcessPool:
                broken.append(i)
            except Exception as exc:  # e.g. an unpicklable return value
                done[i] = _failure(i, exc, keep_object=False)
            bar.advance()
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        return done, sorted(broken)

    def map(self, fn, items, progress=True, label="jobs"):
        items = list(items)
        bar = _Progress(len(items), progress, label)
        try:
            done, broken = self._run(fn, list(enumerate(items)), bar)
            # A worker that died (segfault, OOM kill) takes the pool down with it: retry each lost item
            # alone in a fresh pool, so one bad item cannot take its neighbours' results with it.
            for i in broken:
                again, still = self._run(fn, [(i, items[i])], _Progress(0, False, label))
                if still:
                    done[i] = Failed(i, "WorkerCrashed", f"worker process died while running item {i} "
                                     "(crashed twice: segfault or out of memory?)")
                else:
                    done[i] = again[i]
        finally:
            bar.close()
        return [done[i] for i in range(len(items))]

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Dask distributed: a running scheduler at ``address`` (e.g. ``tcp://scheduler:8786``; on HPC,
    dask-jobqueue starts the workers under Slurm/PBS), or a local cluster of ``workers`` processes."""

    kind = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError(
                "the dask executor needs Dask distributed, which is not installed: "
                "run `pip install imcgen[dask]` (or `pip install 'dask[distributed]'`)") from exc
        self.address = address
        if address:
            self._cluster = None
            self._client = Client(address)
            self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        else:
            self.workers = int(workers) if workers else cpu_count()
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)

    def map(self, fn, items, progress=True, label="jobs"):
        from dask.distributed import as_completed

        items = list(items)
        bar = _Progress(len(items), progress, label)
        futures = [self._client.submit(_call, fn, i, item, True, pure=False) for i, item in enumerate(items)]
        index = {fut.key: i for i, fut in enumerate(futures)}
        out: list[Any] = [None] * len(items)
        try:
            for fut in as_completed(futures):
                i = index[fut.key]
                try:
                    out[i] = fut.result()
                except Exception as exc:  # a lost worker, a deserialisation error
                    out[i] = _failure(i, exc, keep_object=False)
                bar.advance()
        finally:
            bar.close()
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.workers, "address": self.address}

    def close(self):
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def get_executor(kind: str = "serial", workers: int | None = None, address: str | None = None) -> Executor:
    """The executor for ``kind`` ("serial" | "process" | "dask").

    ``workers``: worker processes (default: the cores this process may use). ``address``: a Dask scheduler
    (``tcp://host:8786``); giving an address implies ``kind="dask"``.
    """
    if address and kind in ("serial", "process"):
        kind = "dask"
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, address)
    raise ValueError(f"unknown executor kind {kind!r}; choose one of {', '.join(KINDS)}")


def failures(results: Sequence[Any]) -> list[Failed]:
    """The :class:`Failed` entries of a ``map`` result."""
    return [r for r in results if isinstance(r, Failed)]


if __name__ == "__main__":  # pragma: no cover
    print(get_executor(sys.argv[1] if len(sys.argv) > 1 else "process").describe())
