"""The order the parallel workers take the tests in, so that none is left alone with a long test at
the end while the others wait.

pytest-xdist's `worksteal` hands each worker a contiguous block of the collection (worker i the
i-th third, with three), and an idle worker steals from the end of the longest queue. In the
alphabetical order the longest tests (a browser walk of 80 s, replicas, late services) fell late in
their blocks: a run ended with one worker on them and two idle. Here each block starts with its
share of the long tests, balanced by weight, and ends with unit tests that are quick to steal.

A test's weight: `@pytest.mark.slow(seconds)` where measured, else a browser test 15, another
end-to-end test 3, an integration test 1, a unit test 0. Modules stay whole (their module-scoped
fixtures are set up once); unit tests are dealt one by one to even out the blocks' sizes."""

from __future__ import annotations

from itertools import groupby

import pytest


def weight(item: pytest.Item) -> float:
    slow = item.get_closest_marker("slow")
    if slow is not None:
        return float(slow.args[0])
    if item.get_closest_marker("browser"):
        return 15.0
    if item.get_closest_marker("e2e"):
        return 3.0
    if item.get_closest_marker("integration") or "/integration/" in item.nodeid:
        return 1.0
    return 0.0


def blocks(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    # The sizes worksteal cuts the collection into (xdist/scheduler/worksteal.py: check_schedule).
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    modules = [list(group) for _, group in groupby(items, key=lambda item: item.nodeid.split("::")[0])]
    heavy = sorted((m for m in modules if sum(map(weight, m)) > 0), key=lambda m: -sum(map(weight, m)))
    light = [item for m in modules if sum(map(weight, m)) == 0 for item in m]
    cut: list[list[pytest.Item]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for module in heavy:  # the heaviest module to the least loaded block that still has room
        room = [i for i in range(workers) if len(cut[i]) + len(module) <= sizes[i]]
        if not room:
            return items  # cannot keep the blocks' sizes: leave the order alone
        i = min(room, key=lambda i: load[i])
        cut[i].extend(module)
        load[i] += sum(map(weight, module))
    for i in range(workers):
        need = sizes[i] - len(cut[i])
        cut[i].extend(light[:need])
        del light[:need]
    return [item for block in cut for item in block]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only in an xdist worker (`workerinput`; its own `dist` option reads "no"): every worker orders
    # the same collection the same way, as xdist requires.
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and int(workerinput["workercount"]) > 1:
        items[:] = blocks(list(items), int(workerinput["workercount"]))
