"""What the benchmarks share: free ports, stopping a server's process group, percentiles.

The benchmarks run as scripts (`python bench/<name>.py`), so each puts the repository root on
`sys.path` before importing this module.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

from shared.stack.tansu import free_port

__all__ = ["free_port", "percentile", "stop_group"]


def stop_group(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process's group (nginx or gateway workers with it), SIGKILL after `grace`."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list; NaN when empty."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]
