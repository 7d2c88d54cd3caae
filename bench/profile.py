"""py-spy profiles of the services while a benchmark phase runs, and what they say in text.

    python -m bench.profile FILE.txt [--top 30]     # summarise a recorded profile

`Profiler` records each watched process with `py-spy record --format raw` (collapsed stacks, on-CPU
samples only, functions without line numbers) from `start` until `stop`; needs root or
CAP_SYS_PTRACE. The summary gives, per process, where the CPU went: the functions that were on the
CPU themselves (self), and those with most time under them (inclusive), by package too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


class Profiler:
    def __init__(self, out_dir: Path | None, rate: int = 100) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.running: list[tuple[subprocess.Popen, Path]] = []
        self.py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    def start(self, label: str, pids: dict[str, int | None]) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            if not pid:
                continue
            path = self.out_dir / f"{label}-{name}.txt"
            process = subprocess.Popen(
                [
                    self.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--nolineno",
                    "--nonblocking",
                    "--rate",
                    str(self.rate),
                    "--output",
                    str(path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.running.append((process, path))

    async def stop(self) -> list[Path]:
        done = []
        for process, _path in self.running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
        for process, path in self.running:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
            if path.exists():
                done.append(path)
        self.running = []
        return done


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def _package(frame: str) -> str:
    m = _FRAME.match(frame)
    file = m.group("file") if m else frame
    if file.startswith(("chassis/", "services/", "bench/", "contracts/", "moha_contracts/")):
        return "/".join(file.split("/")[:2]) if file.startswith("services/") else file.split("/")[0]
    return file.split("/")[0].split(".")[0]


def summarise(path: Path, top: int = 25) -> str:
    stacks = parse(path)
    total = sum(c for _, c in stacks)
    if not total:
        return f"{path.name}: no samples"
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    for frames, count in stacks:
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        own[frames[-1]] += count
        by_package[_package(frames[-1])] += count
        for frame in set(frames):
            under[frame] += count
    lines = [f"{path.name}: {total} samples"]
    lines.append("  self time by package:")
    lines += [f"    {100 * c / total:5.1f}%  {name}" for name, c in by_package.most_common(15)]
    lines.append("  self time by function:")
    lines += [f"    {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    lines.append("  inclusive, platform and library entry points:")
    lines += [
        f"    {100 * c / total:5.1f}%  {name}"
        for name, c in under.most_common(top * 3)
        if _package(name) not in ("asyncio", "<frozen runpy>", "runpy", "__main__")
    ][:top]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
