"""Micro-benchmarks that compare two ways of one thing in interleaved rounds (bench.marker,
bench.inbox): each round runs every mode once, so the machine's other load falls on all alike;
the medians over the rounds are the figures."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bench.flow import machine


async def timed(work: Awaitable[Any], count: int) -> tuple[float, float]:
    """`count` operations done by `work`: per second, and this process's CPU ms per operation."""
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, 1000 * cpu / count


async def interleaved(
    args: argparse.Namespace, modes: Iterable[str], one_round: Callable[[str], Awaitable[tuple[float, float]]]
) -> dict[str, Any]:
    modes = list(modes)
    results: dict[str, dict[str, list[float]]] = {m: {"per_s": [], "cpu_ms": []} for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            per_s, cpu_ms = await one_round(mode)
            results[mode]["per_s"].append(round(per_s, 1))
            results[mode]["cpu_ms"].append(round(cpu_ms, 3))
    return {
        "params": vars(args) | {"json": str(args.json)},
        "machine": machine(),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
        "modes": {
            m: {
                **r,
                "per_s_median": statistics.median(r["per_s"]),
                "cpu_ms_median": round(statistics.median(r["cpu_ms"]), 3),
            }
            for m, r in results.items()
        },
    }


def report(args: argparse.Namespace, result: dict[str, Any], what: str) -> None:
    """Prints each mode's medians and rounds; writes the result to `args.json`."""
    width = max(len(m) for m in result["modes"]) + 2
    for mode, r in result["modes"].items():
        print(
            f"{mode:<{width}} {r['per_s_median']:>8} {what}s/s  {r['cpu_ms_median']:>7} ms CPU per {what} "
            f"(this process)   rounds: {r['per_s']} / {r['cpu_ms']}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
