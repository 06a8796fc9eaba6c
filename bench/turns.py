"""Sides of a benchmark, each in its own process (its own peak RSS, nothing shared), taking turns a round at a time.

On these 2 shared cores a round's time drifts by up to 2x from minute to minute; sides that take turns round by
round see the same drift, where sides timed one after another minutes apart do not. A side is a child process
(`python -m MODULE --side S ARGS`) that builds itself, replies once it is ready, then runs one round per `round`
line read and replies with its seconds, and at the end replies with whatever it reports (JSON lines on stdout).
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Sequence


def reply(message: dict) -> None:
    """A child's answer to its parent: one JSON line."""
    print(json.dumps(message), flush=True)


class SideProcess:
    """One side in a child process (`python -m module --side side *args`), driven a line at a time."""

    def __init__(self, module: str, side: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", module, "--side", side, *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, command: str | None = None) -> dict:
        if command:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"bench side exited with {self.process.wait()} (its stderr is above)")

    def finish(self) -> dict:
        result = self.ask("done")
        self.process.stdin.close()
        self.process.wait()
        return result


def turn_order(sides: Sequence[str], round_: int) -> tuple[str, ...]:
    """The sides in the order they run in round `round_`: each round starts with the next side, so that whatever a
    round leaves behind (memory being freed, a busy core) does not always fall on the same side."""
    shift = round_ % len(sides)
    return (*sides[shift:], *sides[:shift])


def run_in_turns(module: str, sides: Sequence[str], rounds: int, *args: str) -> dict[str, dict]:
    """side -> its final reply and `seconds`, the time of each of its rounds: every side built one after another
    (two builds never hold their peaks at once), then `rounds` rounds in turns."""
    processes = {}
    for side in sides:
        processes[side] = SideProcess(module, side, *args)
        processes[side].ask()
    seconds = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in turn_order(sides, round_):
            seconds[side].append(processes[side].ask("round")["seconds"])
    return {side: {**process.finish(), "seconds": seconds[side]} for side, process in processes.items()}
