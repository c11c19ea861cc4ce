"""Child processes of the local stack: started in their own session (so a terminal's Ctrl-C
reaches only the runner, which stops them in order), told to die with the runner (Linux
PR_SET_PDEATHSIG, so a killed runner leaves no orphans), logs streamed with a name prefix."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass

import aiohttp

from shared.stack.orphans import die_with_parent
from shared.telemetry.filexport import RotatingFile

_COLOURS = ("36", "35", "33", "32", "34", "31")


class ChildExitedError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]

    async def exited(self) -> str:
        code = await self.process.wait()
        await self.pump
        return f"{self.name} exited with code {code}"

    async def stop(self, grace: float) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await self.process.wait()
            except TimeoutError:
                print(f"[stack] {self.name} did not stop in {grace:.0f}s; killing it", flush=True)
                self.process.kill()
                await self.process.wait()
        await self.pump


async def _pump(
    name: str, stream: asyncio.StreamReader, colour: str, log_file: RotatingFile | None
) -> None:
    prefix = f"\x1b[{colour}m{name:>10} |\x1b[0m " if sys.stdout.isatty() else f"{name:>10} | "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()
        if log_file is not None:  # what the trace console shows next to a trace
            log_file.write(line)


_started = 0


async def start_child(
    name: str, module: str, env: dict[str, str], log_file: RotatingFile | None = None
) -> Child:
    global _started
    colour = _COLOURS[_started % len(_COLOURS)]
    _started += 1
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    assert process.stdout is not None
    pump = _pump(name, process.stdout, colour, log_file)
    return Child(name, process, asyncio.create_task(pump))


async def wait_healthy(child: Child, url: str, within: float = 60.0) -> None:
    """Poll readiness until it answers 200; fail fast if the child exits first."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if child.process.returncode is not None:
                raise ChildExitedError(f"{child.name} exited with code {child.process.returncode}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise ChildExitedError(f"{child.name} was not ready at {url} within {within:.0f}s")
