"""The one root of every error imcgen raises on purpose (the bottom of the house: imports nothing of ours).

Every error message says what is wrong, where (file, option, value) and the fix. The command line prints
``error: <message>`` and exits with the error's :attr:`ImcgenError.exit_code`: 2 for bad input (a file, an
option, a missing tool), 1 for a check or a run that failed (DRC violations, a simulation that did not converge).
"""

from __future__ import annotations

#: exit status of a command whose input was bad (file, option, value, missing tool)
EXIT_BAD_INPUT = 2
#: exit status of a command whose check failed or whose work could not be done
EXIT_FAILED = 1


class ImcgenError(Exception):
    """Root of imcgen's errors; ``exit_code`` is what the command line exits with."""

    exit_code = EXIT_BAD_INPUT


class InputError(ImcgenError, ValueError):
    """A command-line option, file or value that cannot be used (message names it and the fix)."""


class DesignError(InputError):
    """A Design, CircuitParams or DeviceProfile that cannot be built or read (message says the fix)."""


class PdkError(DesignError):
    """The sky130 model tree is missing or a corner/device is unknown (message says the fix)."""


class RunError(ImcgenError, RuntimeError):
    """Work that was asked for could not be done or failed its check (simulation, training, verification)."""

    exit_code = EXIT_FAILED
