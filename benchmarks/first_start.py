"""Why a first `automl run` sometimes takes 20-40 s to its first trial instead of 7-9 s.

Each round starts a fresh interpreter that does what `overhead` does first (queue a few
trials, then `automl run` them with MLflow on) while a watcher thread notes every Optuna
journal lock file that lives longer than half a second and, if no trial has started after
WAIT seconds, dumps the stack of every automl process with py-spy. Prints one line per round
(seconds to the first trial, the whole command) and the dumps of slow rounds.

    python -m benchmarks.first_start [--rounds 4] [--wait 14]

Run it right after another benchmark, and again after the machine has idled for minutes:
the slow starts seen so far were the first automl run after other work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import workload
from benchmarks.harness.automl_cli import (
    enqueue,
    env_with_repo,
    load_trials,
    run_automl,
    start_time,
)
from benchmarks.harness.machine import describe
from benchmarks.harness.profiler import py_spy


def _stacks() -> str:
    """`ps` of the automl processes (supervisor, fork server, workers), then py-spy dumps."""
    listing = subprocess.run(
        ["ps", "-eo", "pid,etimes,pcpu,args"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    ours = [line for line in listing if "automl" in line]  # its command, fork server, workers
    dumps = []
    for line in ours:
        pid = line.split()[0]
        dump = subprocess.run(
            [py_spy(), "dump", "--pid", pid], capture_output=True, text=True, check=False
        )
        dumps.append(f"--- pid {pid}\n{dump.stdout or dump.stderr}")
    return "\n".join(["pid elapsed_s cpu% command", *ours, *dumps])


def one_round(wait: float) -> None:
    """In this interpreter: queue 3 trials of 2 epochs and run them, watched."""
    configs = workload.random_configs(3, 0)
    spec = workload.study_file("first-start", 0, epochs=2, trials=3, pruner="none")
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        folder = Path(tmp) / "run"
        enqueue(spec, folder, configs)
        done = threading.Event()
        notes: list[str] = []

        def watch() -> None:
            born: dict[str, float] = {}
            started = time.time()
            looked = False  # one look at the WAIT mark: reading the storage costs the run
            while not done.wait(0.05):
                now = time.time()
                present = {p.name for p in folder.glob("*.lock*")}
                for name in present:
                    born.setdefault(name, now)
                for name in set(born) - present:
                    if now - born[name] > 0.5:
                        notes.append(f"journal lock {name} lived {now - born[name]:.1f} s")
                    del born[name]
                if not looked and now - started > wait:
                    looked = True
                    if not _trial_started(folder):
                        notes.append(f"no trial after {wait:.0f} s:\n{_stacks()}")

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        run = run_automl(spec, folder)
        done.set()
        watcher.join()
    first = min(start_time(t) for t in run.trials) - run.started
    print(f"first trial after {first:.1f} s, command {run.seconds:.1f} s", flush=True)
    for note in notes:
        print(note, flush=True)


def _trial_started(folder: Path) -> bool:
    """Whether a queued trial has left WAITING (a worker took it)."""
    return any(t.state.name != "WAITING" for t in load_trials("first-start", folder))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--wait", type=float, default=14.0, help="seconds before the dumps")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        one_round(args.wait)
        return
    print(describe(), "\n")
    for n in range(1, args.rounds + 1):
        print(f"round {n}: ", end="", flush=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.first_start", "--one", "--wait", str(args.wait)],
            check=True,
            env=env_with_repo(),
        )


if __name__ == "__main__":
    main()
