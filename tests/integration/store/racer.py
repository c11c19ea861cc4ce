"""One process of a store race (run by test_contract.py as `python -m`): it waits for a start
signal on stdin so every racer begins together, does its part and prints a JSON result."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from shared.store import connect
from shared.storeops import WriterCounters, claim

INC_LANES = 16


async def race(mode: str, url: str, database: str, name: str, rounds: int) -> dict[str, Any]:
    store = connect(url, database, service=f"racer-{name}")
    collection = store.db["race"]
    result: dict[str, Any] = {"name": name}
    try:
        sys.stdin.readline()  # the start signal
        if mode == "claim":
            won = [await claim(collection, f"token-{n}", {"by": name}) for n in range(rounds)]
            result["won"] = sum(won)
        elif mode == "counter":
            counters = WriterCounters(collection, writer=name)
            for n in range(1, rounds + 1):
                await counters.store({"tickets": {"count": n}})
            result["stored"] = rounds
        elif mode == "inc":  # the raw read-modify-write the platform avoids
            await claim(collection, "raw", {"n": 0})  # the counter exists before anyone adds

            async def lane(count: int) -> None:
                for _ in range(count):
                    await collection.update_one({"_id": "raw"}, {"$inc": {"n": 1}})

            # Many connections at once, as a busy service has them.
            await asyncio.gather(*(lane(rounds // INC_LANES) for _ in range(INC_LANES)))
            result["incremented"] = rounds // INC_LANES * INC_LANES
        else:
            raise ValueError(mode)
    finally:
        await store.close()
    return result


def main() -> None:
    mode, url, database, name, rounds = sys.argv[1:6]
    print(json.dumps(asyncio.run(race(mode, url, database, name, int(rounds)))), flush=True)


if __name__ == "__main__":
    main()
