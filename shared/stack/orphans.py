"""Children of the local stack die with it, even when the runner itself is SIGKILLed."""

from __future__ import annotations

import ctypes
import signal
from typing import Any

_PR_SET_PDEATHSIG = 1
# Resolved in the parent: the child calls it between fork and exec, where loading a library
# could deadlock on a lock another thread held at fork time.
_PRCTL: Any
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children are stopped explicitly only
    _PRCTL = None


def die_with_parent() -> None:
    """`preexec_fn` for a child: Linux sends it SIGTERM when the spawning thread dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
