"""Helper processes of the cluster tests: each one a real OS process with its own Redis
connections, talking to the test through lines on stdout (and stdin).

    ct_procs.py claims URL KEY N          N store claims of KEY; prints each epoch
    ct_procs.py owner URL MACHINE KEY     joins as MACHINE (lease 1 s), claims KEY, prints
                                          "claimed E", then saves every 50 ms: prints "fenced C"
                                          (and exits) once a save is fenced
    ct_procs.py broker URL TOPIC          a RedisBroker subscribed to TOPIC: prints "ready",
                                          then each message received as "got <data>"; each
                                          stdin line is published on TOPIC ("ok" or
                                          "unavailable <why>" printed after it)
"""

from __future__ import annotations

import asyncio
import sys

from livetag.errors import Fenced, StoreUnavailable
from livetag.server.cluster.directory import Directory
from livetag.server.cluster.store import RedisStore


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def claims(url: str, key: str, count: int) -> None:
    store = RedisStore(url)
    for _ in range(count):
        say(str(await store.claim(key)))
    await store.close()


async def owner(url: str, machine: str, key: str) -> None:
    directory = Directory(url, machine_id=machine, lease=1.0)
    store = RedisStore(directory.redis)
    await directory.join()
    claim = await directory.claim(key)
    assert claim.granted, claim
    say(f"claimed {claim.epoch}")
    n = 0
    while True:
        n += 1
        try:
            await store.save(key, f"{machine} {n}".encode(), epoch=claim.epoch, ttl=60)
        except Fenced as exc:
            say(f"fenced {exc.current} holds={directory.holds(claim)} owns={await directory.owns(claim)}")
            return
        except StoreUnavailable as exc:
            say(f"unavailable {exc}")
        await asyncio.sleep(0.05)


async def broker(url: str, topic: str) -> None:
    from livetag.server.cluster.broker import RedisBroker

    bus = RedisBroker(url, heartbeat=0.5)
    await bus.start()
    bus.subscribe(topic, lambda data: say(f"got {data.decode()}"))
    await bus.connected()
    await bus.subscribed(topic)
    say("ready")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        try:
            bus.publish(topic, line.encode())
            say("ok")
        except StoreUnavailable as exc:
            say(f"unavailable {exc}")
    await bus.close()


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "claims":
        asyncio.run(claims(args[0], args[1], int(args[2])))
    elif command == "owner":
        asyncio.run(owner(*args))
    elif command == "broker":
        asyncio.run(broker(*args))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
