"""Child processes that do not outlive their parent.

Why: the verification loop runs ngspice in worker processes; when a user stops a long run (Ctrl-C, ``kill``), the
workers and their ngspice children must stop too, or they keep both cores busy for many minutes. On Linux the
kernel sends a chosen signal to a process when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere this is a
no-op and the ngspice timeouts still bound the damage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux; no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # no libc/prctl: keep the portable behaviour
        pass


def kill_with_parent() -> None:
    """``preexec_fn`` for simulator subprocesses: SIGKILL when the process that started them exits."""
    die_with_parent(signal.SIGKILL)
