"""`make run`: the embedded tansu broker and every registered service, each its own process.

Prints the URLs and any generated credentials once, streams logs prefixed by service, and on
Ctrl-C or SIGTERM stops the services first (they finish in-flight work and commit offsets), then
the broker, and exits 0 with no process left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from shared.security.secrets import generate_secret
from shared.stack.procs import Child, ChildExitedError, start_child, wait_healthy
from shared.stack.registry import SERVICES, ServiceEntry
from shared.stack.settings import StackSettings
from shared.stack.tansu import Tansu


def _environment(settings: StackSettings, bootstrap: str) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    env["KAFKA_ENABLE_IDEMPOTENCE"] = "false"  # tansu rejects InitProducerId v0
    env.setdefault("SPANS_FILE", str(Path(settings.run_dir, "spans.jsonl").resolve()))
    env.setdefault("LOG_FORMAT", "text" if sys.stdout.isatty() else "json")
    generated = []
    for name in ("AUTH_JWT_SECRET", "ADMIN_TOKEN"):
        if not env.get(name):
            env[name] = generate_secret()
            generated.append(name)
    for entry in SERVICES:
        env.setdefault(entry.port_env, str(entry.port))
        if entry.admin_port_env and entry.admin_port is not None:
            env.setdefault(entry.admin_port_env, str(entry.admin_port))
        for name, port in entry.extra_ports.items():
            env.setdefault(name, str(port))
        env.update({k: v for k, v in entry.env.items() if k not in env})
    return env, generated


def _banner(env: dict[str, str], generated: list[str], bootstrap: str) -> str:
    lines = ["", "Surge is up:", f"  kafka (tansu)    {bootstrap}"]
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
        lines.append(f"  {name}={env[name]}   (generated for this run; set it to keep it)")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines) + "\n"


async def _run(settings: StackSettings) -> int:
    await asyncio.to_thread(Path(settings.run_dir).mkdir, parents=True, exist_ok=True)
    broker = Tansu.start(port=settings.kafka_port, log=Path(settings.run_dir, "tansu.log"))
    env, generated = _environment(settings, broker.bootstrap)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    children: list[Child] = []
    code = 0
    try:
        for entry in SERVICES:
            children.append(await start_child(entry.name, entry.module, env))
        await _await_healthy(children, env, stop, settings.ready_timeout_seconds)
        if not stop.is_set():
            print(_banner(env, generated, broker.bootstrap), flush=True)
        code = await _until_stopped(children, stop)
    except ChildExitedError as exited:
        print(f"[stack] {exited}; stopping the stack", file=sys.stderr, flush=True)
        code = 1
    finally:
        grace = float(env.get("SHUTDOWN_GRACE_SECONDS", "10")) + 5
        await asyncio.gather(*(child.stop(grace) for child in reversed(children)))
        await broker.astop()
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
