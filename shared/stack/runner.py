"""`make run`: the embedded servers and every registered service, each its own process.

Unless `MONGODB_URL` / `KAFKA_BOOTSTRAP_SERVERS` point at running servers, it starts FerretDB
(the document store, on SQLite) and Apache Kafka (KRaft), both keeping their data under
`<run dir>/data/`, so a stop and start keeps every account, key, zone and event. Generated
secrets are kept in `<run dir>/secrets.env` and printed only when created. Streams logs
prefixed by service, and on Ctrl-C or SIGTERM stops the services first (they finish in-flight
work and commit offsets), then the broker and the store, and exits 0 with no process left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.security.identity import IdentityKeys
from shared.stack import secretsfile
from shared.stack.embedded import prepare
from shared.stack.ferretdb import FerretDB
from shared.stack.kafka import KafkaBroker
from shared.stack.procs import Child, ChildExitedError, start_child, wait_healthy
from shared.stack.registry import SERVICES, ServiceEntry
from shared.stack.servers import MissingToolError
from shared.stack.settings import StackSettings
from shared.telemetry.filexport import RotatingFile

SECRETS = ("AUTH_JWT_SECRET", "ADMIN_TOKEN", "IDENTITY_KEYS")
# Each service's lines also go to <run dir>/logs/<service>.log (the trace console shows the
# lines of a trace), rotated so a day of `make run` stays within a few tens of MiB.
LOG_FILE_MAX_BYTES = 16 * 1024 * 1024
LOG_FILES_KEPT = 2
# `make run` records every trace (the deployments keep X-Ray's 1 per second and 5 %); the file
# is the user's to edit while the stack runs (applied within 5 s).
DEFAULT_SAMPLING_RULES = {
    "rules": [
        {
            "rule_name": "Default",
            "description": "make run: every trace",
            "reservoir_size": 1,
            "fixed_rate": 1.0,
        }
    ]
}
# Generated like the others but never printed: only the services use them.
INTERNAL = {"IDENTITY_KEYS": IdentityKeys.generate}


@dataclass
class Servers:
    """The embedded servers this run started (None: the environment points at one)."""

    store: FerretDB | None = None
    broker: KafkaBroker | None = None

    async def start(self, settings: StackSettings) -> None:
        run = Path(settings.run_dir)
        want_store = not os.environ.get("MONGODB_URL")
        want_broker = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        prepared = await prepare(store=want_store, broker=want_broker)
        if prepared.ferretdb_binary is not None:
            self.store = await asyncio.to_thread(
                FerretDB.start,
                prepared.ferretdb_binary,
                data_dir=run / "data" / "ferretdb",
                port=settings.ferretdb_port or None,
                log=run / "logs" / "ferretdb.log",
            )
        if prepared.kafka_libs is not None:
            self.broker = await asyncio.to_thread(
                KafkaBroker.start,
                prepared.kafka_libs,
                data_dir=run / "data" / "kafka",
                port=settings.kafka_port or None,
                controller_port=settings.kafka_controller_port or None,
                log=run / "logs" / "kafka.log",
            )

    def environment(self) -> dict[str, str]:
        env = {}
        if self.store is not None:
            env["MONGODB_URL"] = self.store.url
        if self.broker is not None:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap
        return env

    async def stop(self) -> None:
        # The broker first: services are gone, and Kafka's controlled shutdown takes a moment.
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        if self.store is not None:
            await asyncio.to_thread(self.store.stop)


def _environment(settings: StackSettings, servers: Servers) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    env.update(servers.environment())
    env.setdefault("SPANS_DIR", str(Path(settings.run_dir, "spans").resolve()))
    if "OTEL_SAMPLING_RULES_FILE" not in env:
        env["OTEL_SAMPLING_RULES_FILE"] = str(_sampling_rules(Path(settings.run_dir)).resolve())
    env.setdefault("LOG_FORMAT", "text" if sys.stdout.isatty() else "json")
    wanted = [name for name in SECRETS if not env.get(name)]
    stored, generated = secretsfile.load_or_create(Path(settings.run_dir), wanted, INTERNAL)
    env.update({name: stored[name] for name in wanted})
    for entry in SERVICES:
        env.setdefault(entry.port_env, str(entry.port))
        if entry.admin_port_env and entry.admin_port is not None:
            env.setdefault(entry.admin_port_env, str(entry.admin_port))
        for name, port in entry.extra_ports.items():
            env.setdefault(name, str(port))
        for url, port_env in entry.urls().items():
            env.setdefault(url, f"http://127.0.0.1:{env[port_env]}")
        data = str((Path(settings.run_dir) / "data").resolve())
        env.update({k: v.format(data=data) for k, v in entry.env.items() if k not in env})
    _accounts_defaults(env, Path(settings.run_dir))
    return env, generated


def _sampling_rules(run_dir: Path) -> Path:
    """The run dir's sampling rules, written with the default (every trace) the first time."""
    path = run_dir / "sampling-rules.json"
    if not path.exists():
        path.write_text(json.dumps(DEFAULT_SAMPLING_RULES, indent=2) + "\n", encoding="utf-8")
    return path


def _accounts_defaults(env: dict[str, str], run: Path) -> None:
    """The platform's default sign-in: every service verifies user tokens with the accounts
    service's JWKS (AUTH_JWT_SECRET stays accepted as well); the issuer is its public URL
    through the gateway; its key file and local mail stay in the run dir."""
    accounts = env.get("ACCOUNTS_URL", "http://127.0.0.1:8087")
    env.setdefault("AUTH_JWKS_URL", f"{accounts}/accounts/.well-known/jwks.json")
    env.setdefault("ACCOUNTS_ISSUER", f"http://127.0.0.1:{env['GATEWAY_PORT']}/accounts")
    env.setdefault("ACCOUNTS_KEYSET_FILE", str((run / "accounts" / "master-keys.json").resolve()))
    env.setdefault("ACCOUNTS_MAIL_DIR", str((run / "mail").resolve()))


def _banner(env: dict[str, str], generated: list[str], servers: Servers) -> str:
    store = "ferretdb" if servers.store is not None else "external"
    broker = "embedded" if servers.broker is not None else "external"
    lines = [
        "",
        "Surge is up:",
        f"  {'kafka (' + broker + ')':<16} {env['KAFKA_BOOTSTRAP_SERVERS']}",
        f"  {'mongodb (' + store + ')':<16} {_without_credentials(env['MONGODB_URL'])}",
    ]
    for entry in SERVICES:
        lines.append(f"  {entry.name:<16} http://127.0.0.1:{env[entry.port_env]}")
        if entry.admin_port_env:
            lines.append(
                f"  {entry.name + ' admin':<16} http://127.0.0.1:{env[entry.admin_port_env]}"
            )
        for name in entry.extra_ports:
            kind = name.removeprefix(entry.prefix).removesuffix("_PORT").lower()
            label = f"{entry.name} {kind}"
            lines.append(f"  {label:<16} 127.0.0.1:{env[name]}")
    for name in generated:
        shown = "(not shown)" if name in INTERNAL else env[name]
        lines.append(f"  {name}={shown}   (generated once, kept in the run dir's secrets.env)")
    lines.append("Ctrl-C stops everything; data stays under the run dir's data/.")
    return "\n".join(lines) + "\n"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def _run(settings: StackSettings) -> int:
    await asyncio.to_thread(Path(settings.run_dir).mkdir, parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers = Servers()
    children: list[Child] = []
    code = 0
    try:
        await servers.start(settings)
        env, generated = _environment(settings, servers)
        for entry in SERVICES:
            log_file = RotatingFile(
                Path(settings.run_dir, "logs", f"{entry.name}.log"),
                max_bytes=LOG_FILE_MAX_BYTES,
                keep=LOG_FILES_KEPT,
            )
            children.append(await start_child(entry.name, entry.module, env, log_file))
        await _await_healthy(children, env, stop, settings.ready_timeout_seconds)
        if not stop.is_set():
            print(_banner(env, generated, servers), flush=True)
        code = await _until_stopped(children, stop)
    except MissingToolError as missing:
        print(f"[stack] {missing}", file=sys.stderr, flush=True)
        code = 2
    except (ChildExitedError, RuntimeError, TimeoutError) as failed:
        print(f"[stack] {failed}; stopping the stack", file=sys.stderr, flush=True)
        code = 1
    finally:
        grace = float(os.environ.get("SHUTDOWN_GRACE_SECONDS", "10")) + 5
        await asyncio.gather(*(child.stop(grace) for child in reversed(children)))
        await servers.stop()
    print("[stack] stopped", flush=True)
    return code


async def _await_healthy(
    children: list[Child], env: dict[str, str], stop: asyncio.Event, within: float
) -> None:
    entries: dict[str, ServiceEntry] = {entry.name: entry for entry in SERVICES}

    async def all_ready() -> None:
        await asyncio.gather(
            *(
                wait_healthy(
                    child, f"http://127.0.0.1:{env[entries[child.name].port_env]}/readyz", within
                )
                for child in children
            )
        )

    waiting = asyncio.ensure_future(all_ready())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
    else:
        stopped.cancel()
        waiting.result()


async def _until_stopped(children: list[Child], stop: asyncio.Event) -> int:
    stopped = asyncio.ensure_future(stop.wait())
    exits = [asyncio.ensure_future(child.exited()) for child in children]
    done, _ = await asyncio.wait({stopped, *exits}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopped, *exits):
        if task not in done:
            task.cancel()
    if stopped in done:
        return 0
    for task in exits:
        if task in done:
            raise ChildExitedError(task.result())
    return 0


def main() -> None:
    sys.exit(asyncio.run(_run(StackSettings())))


if __name__ == "__main__":
    main()
