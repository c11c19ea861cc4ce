"""What the benchmarks share: the real servers, free ports, stopping a server's process group,
percentiles, the tracing environment.

The benchmarks run as scripts (`python bench/<name>.py`), so each puts the repository root on
`sys.path` before importing this module.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from shared.stack import ferretdb, kafka
from shared.stack.servers import free_port

__all__ = [
    "add_tracing_option",
    "free_port",
    "identity_keys",
    "percentile",
    "real_servers",
    "signed_identity",
    "stop_group",
    "tracing",
]

# As deploy/k8s/base/config.yaml sets it; --trace-all records every trace instead.
PRODUCTION_SAMPLING = {"OTEL_TRACES_SAMPLER": "surge_xray", "OTEL_TRACES_SAMPLER_ARG": "1,0.05"}
TRACE_ALL = {"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_TRACES_SAMPLER_ARG": ""}


def identity_keys() -> str:
    """The run's IDENTITY_KEYS (generated once per process and put in the environment the
    services started from here inherit), as every service of one deployment shares it."""
    from shared.security.identity import IdentityKeys

    return os.environ.setdefault("IDENTITY_KEYS", IdentityKeys.generate())


def signed_identity(audience: str) -> dict[str, str]:
    """What the gateway sends a service for a caller without credentials, for a benchmark that
    talks to a service's own port (the X-Surge-Identity header)."""
    from shared.http.identity import IDENTITY_HEADER
    from shared.security.identity import ANONYMOUS, IdentityKeys, IdentitySigner

    signer = IdentitySigner(IdentityKeys.parse(identity_keys()), "bench", ttl=3600)
    return {IDENTITY_HEADER: signer.sign(ANONYMOUS, audience)}


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


def add_tracing_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace-all",
        action="store_true",
        help="record every trace (the default without OTEL_TRACES_SAMPLER) instead of the "
        "production manifests' sampling (surge_xray: 1 per second, then 5 %%)",
    )


def tracing(opts: argparse.Namespace) -> tuple[dict[str, str], str]:
    """The services' tracing environment for this run, and how the result JSON names it."""
    if opts.trace_all:
        return TRACE_ALL, "every trace recorded"
    return PRODUCTION_SAMPLING, (
        "OTEL_TRACES_SAMPLER=surge_xray 1,0.05 (as the k8s manifests): per process the first "
        "trace of each second, then 5 %; every request still gets its span objects and "
        "traceparent"
    )


@contextmanager
def real_servers(directory: Path) -> Iterator[dict[str, str]]:
    """FerretDB and Kafka as `make run` starts them, with their data in `directory`; yields the
    environment variables that point a service at them."""
    store = ferretdb.FerretDB.start(
        ferretdb.ensure_binary(), data_dir=directory / "ferretdb", log=directory / "ferretdb.log"
    )
    try:
        broker = kafka.KafkaBroker.start(
            kafka.ensure_jars(), data_dir=directory / "kafka", log=directory / "kafka.log"
        )
        try:
            yield {
                "MONGODB_URL": store.url,
                "MONGODB_DATABASE": "bench",
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            }
        finally:
            broker.stop()
    finally:
        store.stop()
