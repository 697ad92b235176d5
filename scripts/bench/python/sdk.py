# scripts/bench/python/sdk.py - the Python side of the SDK benchmarks: the
# workloads of scripts/bench/sdk.lua through the official Python SDK
# (package `opencomputer`, read from the folder PYTHONPATH names; it is a
# benchmark peer only, never part of the build or the tests). Prints one
# JSON line of the same shape as sdk.lua and node/sdk.mjs.
#
#   python3 scripts/bench/python/sdk.py run N | tti N seq|par |
#                                       stream MIB | fanout N KIB
#
# The SDK is asyncio-only (httpx.AsyncClient, websockets), so "at once"
# is asyncio.gather on one event loop: one process, one thread, as the
# Lua and Node clients. Run it with Debian's /usr/bin/python3 (its
# python3-httpx and python3-websockets). OPENCOMPUTER_API_URL and
# OPENCOMPUTER_API_KEY name the server.

import asyncio
import json
import math
import sys
import time

from opencomputer import Sandbox


def now():
    return time.perf_counter()


def stats(ms):
    """Median, P95, P99, min, max, mean of ms (milliseconds), as sdk.lua."""
    ms.sort()
    n = len(ms)
    if n == 0:
        return {"n": 0}

    def pct(p):
        return ms[max(0, math.ceil(n * p) - 1)]

    return {"n": n, "median": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
            "min": ms[0], "max": ms[-1], "mean": sum(ms) / n}


async def finish(sb):
    """Deletes the sandbox and closes its HTTP client (each Sandbox owns
    an httpx.AsyncClient of its own)."""
    try:
        await sb.kill()
    finally:
        await sb.close()


async def run(n):
    sb = await Sandbox.create()
    try:
        await sb.exec.run("true")	# warm: connection, sandbox
        ms, t0 = [], now()
        for _ in range(n):
            t = now()
            r = await sb.exec.run("true")
            if r.exit_code != 0:
                raise RuntimeError(f"exit {r.exit_code}")
            ms.append((now() - t) * 1000)
        r = stats(ms)
        r["total_s"] = now() - t0
        return r
    finally:
        await finish(sb)


async def tti_one():
    t = now()
    sb = await Sandbox.create()
    try:
        r = await sb.exec.run('echo "benchmark"')
        if r.stdout != "benchmark\n":
            raise RuntimeError(f"got {r.stdout!r}")
        return (now() - t) * 1000	# teardown not counted
    finally:
        await finish(sb)


async def tti(n, mode):
    if mode == "par":
        got = await asyncio.gather(*(tti_one() for _ in range(n)),
                                   return_exceptions=True)
    else:
        got = []
        for _ in range(n):
            try:
                got.append(await tti_one())
            except Exception as e:	# counted as a failure
                got.append(e)
    ms = [v for v in got if not isinstance(v, BaseException)]
    for e in got:
        if isinstance(e, BaseException):
            print(f"tti: {e!r}", file=sys.stderr)
            break
    r = stats(ms)
    r["success"] = len(ms) / n
    return r


async def stream(mib):
    sb = await Sandbox.create()
    try:
        n, got = mib * 1048576, 0

        def on_stdout(d):
            nonlocal got
            got += len(d)

        t = now()
        s = await sb.exec.start("head", args=["-c", str(n), "/dev/zero"],
                                on_stdout=on_stdout)
        code = await s.done
        if code != 0 or got != n:
            raise RuntimeError(f"exit {code}, got {got}")
        secs = now() - t
        await s.close()
        return {"mib": mib, "seconds": secs, "mib_per_s": mib / secs}
    finally:
        await finish(sb)


async def fanout(n, kib):
    """Session i prints "i\\n" over and over; every chunk is checked
    against where it falls in that pattern, so a lost or repeated byte
    shows (as sdk.lua and node/sdk.mjs)."""
    size, per = kib * 1024, 10
    sbs = [await Sandbox.create() for _ in range(math.ceil(n / per))]
    total, wrong = 0, 0

    async def one(k):
        nonlocal total, wrong
        i = k + 1
        pat = f"{i}\n".encode()
        got = 0

        def on_stdout(d):
            nonlocal got, wrong
            phase = got % len(pat)
            want = (pat * ((len(d) + phase) // len(pat) + 1))[phase:phase + len(d)]
            if want != d:
                wrong += 1
            got += len(d)

        s = await sbs[k % len(sbs)].exec.start(
            "sh", args=["-c", f"yes {i} | head -c {size}"], on_stdout=on_stdout)
        if await s.done != 0:
            raise RuntimeError(f"session {i} failed")
        await s.close()
        total += got

    t = now()
    try:
        await asyncio.gather(*(one(k) for k in range(n)))
        secs = now() - t
    finally:
        for sb in sbs:
            await finish(sb)
    return {"sessions": n, "bytes": total, "expected": n * size,
            "wrong_chunks": wrong, "seconds": secs}


WORKLOADS = {"run": run, "tti": tti, "stream": stream, "fanout": fanout}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in WORKLOADS:
        print("usage: python3 scripts/bench/python/sdk.py run|tti|stream|fanout ...",
              file=sys.stderr)
        sys.exit(2)
    name, a = sys.argv[1], int(sys.argv[2])
    b = sys.argv[3] if len(sys.argv) > 3 else None
    if name == "fanout":
        b = int(b)
    args = (a,) if b is None else (a, b)
    print(json.dumps(asyncio.run(WORKLOADS[name](*args))))


main()
