"""Workers on a Ray cluster (`automl run --ray`): one Ray actor per worker, each running an
automl worker process on its node exactly as `LocalProcesses` runs one here.

The `automl run` process is Ray's driver and owns the actors, so they end with it, and each
worker follows its actor's pid as a local worker follows its supervisor's. A node that goes
away takes its actor and worker with it: once Ray has marked the node dead, the trial its
worker was running is failed with that reason and queued again, and the supervisor starts a
new actor, which Ray places where it can. An actor that no node can place is given up after
`PLACE_WAIT_SECONDS`, and the run stops with a reason if no worker is placed at all.

An actor outlives its worker: a worker that retires (or ends) leaves its actor, and the fork
server in it that has TensorFlow imported, to start the next worker in its place, as the local
fork server does. Only a lost actor costs a fresh one its import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import optuna
import ray
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from ray.exceptions import RayActorError, RayTaskError

from automl.errors import AutomlError, first_line
from automl.keys import RAY_NODE_KEY
from automl.run.placement import TERM_WAIT_SECONDS, WORKER_MAIN
from automl.run.processes import start_process, worker_context
from automl.run.recovery import reap_dead_workers
from automl.run.worker_args import WorkerArgs
from automl.tracking.artifacts import ARTIFACTS_ENV, artifact_dir

# How long a worker may wait for a node with its resources free, and when that is said.
PLACE_WAIT_SECONDS = 120.0
PLACE_NOTICE_SECONDS = 10.0
# The driver's settings that workers read (MLflow's credentials among them), passed to actors.
ENV_PREFIXES = ("AUTOML_", "MLFLOW_")


# A stop signal gets through while `wait` blocks.
@ray.remote(concurrency_groups={"control": 1})  # type: ignore[call-overload]
class WorkerActor:
    """On its node: starts one automl worker process and reports how it ended."""

    def __init__(self) -> None:
        self.proc: BaseProcess | None = None

    def node(self) -> str:
        """Its node's id: answered as soon as Ray has placed the actor."""
        return str(ray.get_runtime_context().get_node_id())

    def warm(self, tracking_uri: str | None) -> None:
        """Start the node's fork server, which imports TensorFlow while the driver sets up."""
        worker_context(tracking_uri)

    def start(self, args: WorkerArgs) -> None:
        """Start the worker, once the node's fork server has imported TensorFlow."""
        # Ray ends this actor with its driver; the worker follows the actor.
        actor = ray.get_runtime_context().get_actor_id()
        args = dataclasses.replace(
            args, supervisor=os.getpid(), ray_node=self.node(), ray_actor=actor
        )
        self.errors = worker_context(args.tracking_uri).Queue()
        self.proc = start_process(WORKER_MAIN, (args, self.errors), f"automl-worker-{args.index}")

    def wait(self) -> tuple[int | None, str | None]:
        """Once the worker has exited: its exit code, and a user's mistake it reported."""
        assert self.proc is not None
        self.proc.join()
        return self.proc.exitcode, None if self.errors.empty() else str(self.errors.get())

    @ray.method(concurrency_group="control")
    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.exitcode is None and self.proc.pid:
            os.kill(self.proc.pid, signum)


@dataclass
class Slot:
    """One started actor: its calls in flight, and where it runs once placed."""

    actor: Any
    placing: Any  # the reference to `node`'s answer
    done: Any  # the reference to `wait`'s answer
    since: float
    node: str | None = None
    dropped: bool = False  # ended on purpose before it was placed: not an exit to report


class RayActors:
    """Workers as Ray actors, placed by Ray with `cpus` and `gpus` each.

    `ready` actors start at once, each importing TensorFlow in its fork server while the driver
    opens the study and its MLflow run, for the first workers to start in.
    """

    def __init__(
        self,
        address: str,
        cpus: float,
        gpus: float,
        storage: str,
        tracking_uri: str | None = None,
        ready: int = 0,
    ) -> None:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise AutomlError(
                f"--ray {address}: no Ray cluster answers ({first_line(exc)}); start one with "
                "`ray start --head`, or pass its address"
            ) from None
        self.cpus, self.gpus = cpus, gpus
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
        # Optuna's artifacts (learning curves) in the driver's folder: shared, or per node.
        self.env = {**env, ARTIFACTS_ENV: str(artifact_dir(storage))}
        self._slots: dict[int, Slot] = {}
        self._errors: list[str] = []
        self._told: set[tuple[int, str]] = set()
        self.tracking_uri = tracking_uri
        # Alive with no worker (its worker gone, or none yet): each starts its index's next one.
        self._spare = {index: self._new_slot() for index in range(ready)}

    def start(self, index: int, args: WorkerArgs) -> None:
        """Worker `index` in its spare actor (its last worker's, or one made ready), else in a
        new actor."""
        # Ray picks the GPU (CUDA_VISIBLE_DEVICES) and the cores the worker's threads use.
        args = dataclasses.replace(args, gpu=None, threads=max(1, int(self.cpus)))
        slot = self._spare.pop(index, None) or self._new_slot()
        slot.actor.start.remote(args)  # an actor runs its calls in order: `wait` after `start`
        self._slots[index] = dataclasses.replace(slot, done=slot.actor.wait.remote())

    def _new_slot(self) -> Slot:
        actor = WorkerActor.options(  # type: ignore[attr-defined]
            num_cpus=self.cpus,
            num_gpus=self.gpus,
            runtime_env={"env_vars": self.env},
        ).remote()
        actor.warm.remote(self.tracking_uri)
        return Slot(actor, actor.node.remote(), None, time.time())

    def running(self) -> set[int]:
        return set(self._slots)

    def exited(self) -> dict[int, int | None]:
        """The workers that have exited since the last call; None for an actor Ray lost."""
        done: dict[int, int | None] = {}
        for index, slot in list(self._slots.items()):
            ready, _ = ray.wait([slot.done], timeout=0)
            if ready:
                del self._slots[index]
                if not slot.dropped:
                    done[index] = self._exit_code(slot)
                    if done[index] is not None:  # the actor lives
                        self._spare[index] = slot
            elif slot.node is None:
                self._check_placed(index, slot)
        return done

    def _exit_code(self, slot: Slot) -> int | None:
        try:
            code, error = ray.get(slot.done)
        except RayActorError:
            return None  # its node went away, or the actor died: `reap` retries its trial
        except RayTaskError as exc:
            self._errors.append(f"--ray: a worker could not start: {first_line(exc.cause)}")
            return None
        if error is not None:
            self._errors.append(error)
        return int(code) if code is not None else None

    def _check_placed(self, index: int, slot: Slot) -> None:
        """Note where the actor runs once Ray has placed it; give up on it after the wait."""
        ready, _ = ray.wait([slot.placing], timeout=0)
        if ready:
            with contextlib.suppress(RayActorError):  # lost at once: `wait` says so
                slot.node = str(ray.get(slot.placing))
            return
        waited = time.time() - slot.since
        if waited >= PLACE_NOTICE_SECONDS:
            self._tell(
                index,
                "waiting",
                f"worker {index}: waiting for a Ray node with {self.needs()} free "
                f"(at most {PLACE_WAIT_SECONDS:.0f} s)",
            )
        if waited < PLACE_WAIT_SECONDS:
            return
        self._drop(slot)
        if not any(s.node for s in self._slots.values()):
            self._errors.append(
                f"--ray: no Ray node could place a worker with {self.needs()} within "
                f"{PLACE_WAIT_SECONDS:.0f} s (the cluster has {self.cluster()}); the study's "
                "trials are saved: run the same command again once the cluster has room"
            )
        else:
            self._tell(
                index,
                "gave up",
                f"worker {index}: no Ray node could place it within {PLACE_WAIT_SECONDS:.0f} s; "
                "the study goes on with the workers placed",
            )

    def _tell(self, index: int, what: str, line: str) -> None:
        if (index, what) not in self._told:
            self._told.add((index, what))
            print(line, file=sys.stderr, flush=True)

    def _drop(self, slot: Slot) -> None:
        slot.dropped = True
        ray.kill(slot.actor)

    def needs(self) -> str:
        gpus = f" and {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.cpus:g} CPU{gpus}"

    def cluster(self) -> str:
        total = ray.cluster_resources()
        return f"{total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs"

    def error(self) -> str | None:
        return self._errors.pop(0) if self._errors else None

    def reap(self, study: optuna.Study, storage: BaseStorage) -> list[FrozenTrial]:
        """Retry the RUNNING trials whose worker ran on a node Ray has marked dead (the
        workers of live nodes stop their own trials, or their heartbeat does)."""
        dead = {n["NodeID"] for n in ray.nodes() if not n["Alive"]}

        def lost(worker: dict[str, Any]) -> str | None:
            node = worker.get(RAY_NODE_KEY)
            return f"worker on Ray node {node} was lost" if node in dead else None

        return reap_dead_workers(study, storage, lost) if dead else []

    def drop_spare(self) -> None:
        """No more trials to start: the actors still waiting for a node, and those with no
        worker (ended, or none started), are not needed; their resources go back to the
        cluster."""
        for slot in self._slots.values():
            if slot.node is None and not slot.dropped:
                self._drop(slot)
        for slot in self._spare.values():
            ray.kill(slot.actor)
        self._spare.clear()

    def signal(self, signum: int) -> None:
        """Passed on to each worker by its actor; SIGKILL ends the actors themselves."""
        for slot in self._slots.values():
            if signum == signal.SIGKILL:
                ray.kill(slot.actor)
            elif slot.node is None:
                self._drop(slot)  # not started: nothing to stop but the actor
            else:
                slot.actor.signal.remote(signum)

    def wait(self, seconds: float) -> None:
        """Wait (signals keep arriving meanwhile) until the stopping workers have exited."""
        end = time.time() + seconds
        refs = [s.done for s in self._slots.values()]
        while refs and time.time() < end:
            _, refs = ray.wait(refs, num_returns=len(refs), timeout=min(0.5, end - time.time()))

    def idle(self, seconds: float) -> None:
        """Wait `seconds`, or less when a worker's actor ends meanwhile."""
        refs = [s.done for s in self._slots.values()]
        if refs:
            ray.wait(refs, num_returns=1, timeout=seconds)
        else:
            time.sleep(seconds)

    def kill(self) -> None:
        """End every worker still running: SIGTERM first, then the actors for those that stay
        (each worker follows its actor)."""
        self.signal(signal.SIGTERM)
        self.wait(TERM_WAIT_SECONDS)
        for slot in self._slots.values():
            ray.kill(slot.actor)
        self.wait(TERM_WAIT_SECONDS)
        self.exited()
        self.drop_spare()
