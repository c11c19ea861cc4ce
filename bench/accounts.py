"""Accounts benchmark: sign-ins, token refreshes and encrypted profile reads, each beside its bare
baseline on the same machine in the same run.

    python bench/accounts.py [--quick]

Setup: the embedded FerretDB (and Kafka, which the service needs to start) as `make run` starts
them, `services.accounts` as its own process (ACCOUNTS_WORKERS=1, ACCOUNTS_HASH_WORKERS=2,
argon2id at the default parameters: t=3, 64 MiB, p=4; email verification off so accounts sign
in at once; LOG_LEVEL=WARNING), called on its own port with the gateway's signed identity
header, by CLIENTS concurrent keep-alive connections from this process.

1. sign-ins/s: POST /accounts/api/signin with the right password, round-robin over USERS
   accounts, vs the bare argon2id verify loop (argon2-cffi, the same parameters, as many threads
   as the service has hash workers). Goal >= 0.8: the hash is the cost.
2. refreshes/s: POST /accounts/api/token/refresh, each client following its own rotation chain
   (an ES256 access token signed and a use claimed per refresh), vs a bare ES256 sign loop
   (joserfc, one thread, the same claims). Goal >= 0.5.
3. encrypted profile reads/s: the account document read by id and its sealed blob opened (Tink
   envelope, local master key) vs plain reads of the same records with the personal data in
   clear instead (another collection of the same FerretDB); CLIENTS concurrent readers, three
   alternating rounds each. Goal >= 0.6.

Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from argon2 import PasswordHasher
from joserfc import jwt
from joserfc.jwk import ECKey

from bench.support import (
    free_port,
    identity_keys,
    real_servers,
    signed_identity,
    stop_group,
)

PASSWORD = "benchmark-walrus-lantern-88"  # noqa: S105 - the bench users' password
HASH_WORKERS = 2


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_service(env: dict[str, str], port: int, run: Path) -> subprocess.Popen[bytes]:
    service_env = {
        **os.environ,
        **env,
        "ACCOUNTS_PORT": str(port),
        "ACCOUNTS_HASH_WORKERS": str(HASH_WORKERS),
        "ACCOUNTS_REQUIRE_VERIFIED_EMAIL": "false",
        "ACCOUNTS_MAIL_SENDER": "log",
        "ACCOUNTS_KEYSET_FILE": str(run / "master-keys.json"),
        "ACCOUNTS_BACKOFF_FREE_FAILURES": "1000000",
        "LOG_LEVEL": "WARNING",
        "SPANS_DIR": str(run / "spans"),
        "OTEL_TRACES_SAMPLER": "surge_xray",
        "OTEL_TRACES_SAMPLER_ARG": "1,0.05",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.accounts"],
        env=service_env,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop_group(process)
    raise SystemExit("the accounts service did not become ready")


async def timed(duration: float, clients: int, work: Any) -> float:
    """Operations per second of `clients` closed loops calling `work(client)` for `duration`."""
    done = 0
    stop_at = time.perf_counter() + duration

    async def loop(client: int) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await work(client)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in range(clients)))
    return done / (time.perf_counter() - started)


def threaded_rate(duration: float, threads: int, work: Any) -> float:
    done = [0] * threads
    stop_at = time.perf_counter() + duration

    def loop(index: int) -> None:
        while time.perf_counter() < stop_at:
            work()
            done[index] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


async def service_phase(base: str, users: int, clients: int, duration: float) -> dict[str, Any]:
    headers = signed_identity("accounts")
    emails = [f"bench{n}@example.com" for n in range(users)]
    async with aiohttp.ClientSession(headers=headers) as http:
        for email in emails:
            async with http.post(
                f"{base}/accounts/api/signup", json={"email": email, "password": PASSWORD}
            ) as answer:
                assert answer.status == 202, await answer.text()
        log(f"{users} accounts signed up")

        async def signin(client: int) -> None:
            email = emails[(client + int(time.perf_counter() * 1000)) % users]
            body = {"email": email, "password": PASSWORD}
            async with http.post(f"{base}/accounts/api/signin", json=body) as answer:
                assert answer.status == 200, await answer.text()
                await answer.read()

        # The machine is shared and noisy: the baseline runs right before and right after.
        argon2 = [await asyncio.to_thread(argon2_baseline, duration)]
        signins = await timed(duration, clients, signin)
        log(f"sign-ins: {signins:.1f}/s")
        argon2.append(await asyncio.to_thread(argon2_baseline, duration))
        chains: list[str] = []
        for client in range(clients):
            body = {"email": emails[client % users], "password": PASSWORD}
            async with http.post(f"{base}/accounts/api/signin", json=body) as answer:
                chains.append((await answer.json())["refresh_token"])

        async def refresh(client: int) -> None:
            body = {"refresh_token": chains[client]}
            async with http.post(f"{base}/accounts/api/token/refresh", json=body) as answer:
                assert answer.status == 200, await answer.text()
                chains[client] = (await answer.json())["refresh_token"]

        es256 = [await asyncio.to_thread(es256_baseline, duration)]
        refreshes = await timed(duration, clients, refresh)
        log(f"refreshes: {refreshes:.1f}/s")
        es256.append(await asyncio.to_thread(es256_baseline, duration))
    return {
        "signins": signins,
        "refreshes": refreshes,
        "argon2": sum(argon2) / len(argon2),
        "es256": sum(es256) / len(es256),
    }


async def read_phase(
    env: dict[str, str], run: Path, clients: int, duration: float
) -> dict[str, float]:
    from services.accounts.crypto.blindindex import load_blind_index
    from services.accounts.crypto.envelope import Envelope
    from services.accounts.crypto.masterkeys import LocalKeyset
    from services.accounts.records.store import Accounts
    from shared.store import connect

    store = connect(env["MONGODB_URL"], env["MONGODB_DATABASE"], service="bench")
    try:
        keys = LocalKeyset.open(run / "master-keys.json")
        accounts = Accounts(store, Envelope(keys), await load_blind_index(keys, store.db["keys"]))
        ids = [doc["_id"] async for doc in accounts.coll.find({}, {"_id": 1})]
        plain = store.db["bench_plain_profiles"]
        for account_id in ids:
            account = await accounts.get(account_id)
            assert account is not None
            personal = await accounts.personal(account)
            assert personal is not None
            # The same record, the personal data in clear instead of sealed.
            doc = await accounts.coll.find_one({"_id": account_id})
            assert doc is not None
            doc.pop("sealed")
            doc["personal"] = personal.model_dump(mode="json")
            await plain.replace_one({"_id": account_id}, doc, upsert=True)

        async def encrypted(client: int) -> None:
            account = await accounts.get(ids[client % len(ids)])
            assert account is not None
            assert await accounts.personal(account) is not None

        async def clear(client: int) -> None:
            doc = await plain.find_one({"_id": ids[client % len(ids)]})
            assert doc is not None
            assert doc["personal"]["email"]

        # Alternating rounds, so drift on the shared machine hits both sides alike.
        plain_rates, encrypted_rates = [], []
        for _ in range(3):
            plain_rates.append(await timed(duration / 3, clients, clear))
            encrypted_rates.append(await timed(duration / 3, clients, encrypted))
        plain_rate = sum(plain_rates) / 3
        encrypted_rate = sum(encrypted_rates) / 3
        log(f"plain reads: {plain_rate:.0f}/s, encrypted reads: {encrypted_rate:.0f}/s")
        return {"plain": plain_rate, "encrypted": encrypted_rate}
    finally:
        await store.close()


def argon2_baseline(duration: float) -> float:
    hasher = PasswordHasher()  # the service's defaults: t=3, 64 MiB, p=4
    stored = hasher.hash(PASSWORD)
    argon2 = threaded_rate(duration, HASH_WORKERS, lambda: hasher.verify(stored, PASSWORD))
    log(f"bare argon2id verify ({HASH_WORKERS} threads): {argon2:.1f}/s")
    return argon2


def es256_baseline(duration: float) -> float:
    key = ECKey.generate_key("P-256", auto_kid=True)
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1:8080/accounts", "aud": "surge", "sub": "x" * 36, "iat": now,
        "exp": now + 600, "jti": "j" * 16, "sid": "s" * 24, "scope": "openid profile email",
        "roles": [], "channels": ["zone:*"], "amr": ["pwd"], "auth_time": now,
    }  # fmt: skip
    header = {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    es256 = threaded_rate(duration, 1, lambda: jwt.encode(header, claims, key))
    log(f"bare ES256 sign (1 thread): {es256:.0f}/s")
    return es256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (make bench)")
    opts = parser.parse_args()
    duration, users, clients = (4.0, 8, 8) if opts.quick else (15.0, 40, 16)
    with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmp:
        run = Path(tmp)
        log("starting FerretDB and Kafka...")
        with real_servers(run) as env:
            env["IDENTITY_KEYS"] = identity_keys()
            port = free_port()
            service = start_service(env, port, run)
            try:
                measured = asyncio.run(
                    service_phase(f"http://127.0.0.1:{port}", users, clients, duration)
                )
            finally:
                stop_group(service)
            reads = asyncio.run(read_phase(env, run, clients, duration))
        base = measured
    result = {
        "bench": "accounts",
        "quick": opts.quick,
        "duration_s": duration,
        "clients": clients,
        "signins_per_s": round(measured["signins"], 1),
        "argon2_verify_per_s": round(base["argon2"], 1),
        "signin_ratio": round(measured["signins"] / base["argon2"], 3),
        "signin_goal": 0.8,
        "refreshes_per_s": round(measured["refreshes"], 1),
        "es256_sign_per_s": round(base["es256"], 1),
        "refresh_ratio": round(measured["refreshes"] / base["es256"], 3),
        "refresh_goal": 0.5,
        "encrypted_reads_per_s": round(reads["encrypted"], 1),
        "plain_reads_per_s": round(reads["plain"], 1),
        "read_ratio": round(reads["encrypted"] / reads["plain"], 3),
        "read_goal": 0.6,
        # Why refreshes cannot reach half the bare signing rate here: each refresh makes three
        # store round trips (the session, the single-use claim, the end marker read after it),
        # and the store answers about `plain_reads_per_s` of them per second in all.
        "store_round_trips_per_refresh": 3,
        "refresh_bound_by_store_per_s": round(reads["plain"] / 3, 1),
        "note": "2-core machine shared with other work: figures are noisy; baselines are the "
        "mean of a run right before and right after each measured phase",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
