"""Where gradings run: a Dask cluster, either the instructor's (``--scheduler tcp://HOST:PORT``) or one made
on this machine (``--workers N``: a ``distributed.LocalCluster`` of N single-threaded worker processes).

A grading takes one unit of the worker resource ``grader``: a worker started with ``--resources grader=1``
grades one notebook at a time, and a worker without it (a GPU-only worker, say) is never sent one. Dask
retries a task whose worker died (up to ``distributed.scheduler.allowed-failures`` times, 3 by default)
and then reports it as lost (``KilledWorker``).
"""

import logging
from contextlib import ExitStack, contextmanager

import dask
from distributed import Client, LocalCluster, Nanny, Worker

from course.tools.db import local_worker_credentials
from course.tools.nbgrader_cmd import grading_environment
from course.tools.warm_nbgrader import prestart, shared_server

GRADER = "grader"  # the worker resource one grading takes
GRADING = {GRADER: 1}
# A grading task only waits for nbgrader, so whatever else a Dask process does costs the core that grading
# needs. Dask's defaults wake every process many times a second: the statistical profiler samples threads every
# 10 ms, the event loop's tick fires every 20 ms, the system monitor reads psutil every 0.5 s and the nanny's
# memory monitor every 0.1 s; an idle local cluster of two workers then burns 8.5 % of a core, 1.1 % with the
# settings below (scheduler and workers made here; give `dask scheduler` and `dask worker` the same, README).
QUIET_WORKERS = {"distributed.worker.profile.enabled": False,
                 "distributed.admin.tick.interval": "1s",
                 "distributed.admin.system-monitor.interval": "5s",
                 "distributed.worker.memory.monitor-interval": "1s"}


def quiet_environment() -> dict[str, str]:
    """:data:`QUIET_WORKERS` as the ``DASK_*`` variables Dask reads its configuration from, for a scheduler and
    workers started by hand (``course dask-env`` prints them as ``export`` lines)."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value) for key, value in QUIET_WORKERS.items()}


class NoGrader(RuntimeError):
    """The cluster has no worker that offers the ``grader`` resource."""


def graders(client: Client) -> int:
    """How many gradings the cluster's workers can run at once."""
    return int(sum(w.get("resources", {}).get(GRADER, 0) for w in client.scheduler_info()["workers"].values()))


def _warm_up() -> None:
    prestart(grading_environment())


class SharedWarmNbgrader:
    """The warm nbgrader that the grading nannies of this process share (:func:`shared_server`): one process of
    ``dask worker --nworkers N`` runs N nannies, the local cluster's run in the instructor's process. Started
    with the first nanny, stopped after the last, so the machine imports nbgrader, torch and the graders once
    and holds them once (0.7 GB), however many workers it runs."""

    def __init__(self):
        self.nannies: set[int] = set()
        self.server = ExitStack()  # holds shared_server's context while nannies use it
        self.env: dict[str, str] = {}  # what sends a worker's commands to it

    def join(self, nanny: Nanny) -> None:
        if not self.nannies:
            self.env = self.server.enter_context(shared_server(grading_environment()))
        self.nannies.add(id(nanny))
        nanny.env.update(self.env)  # the worker processes it starts, and restarts, find the server

    def leave(self, nanny: Nanny) -> None:
        if id(nanny) in self.nannies:
            self.nannies.discard(id(nanny))
            if not self.nannies:
                self.server.close()
                self.env = {}


_machine = SharedWarmNbgrader()


def grades(resources: dict | None) -> bool:
    """Whether a worker of ``resources`` (as given to a worker or a nanny, values maybe strings) grades."""
    return float((resources or {}).get(GRADER, 0)) > 0


def dask_setup(server: Nanny | Worker) -> None:
    """Dask's preload hook, run in a new nanny's or worker's event-loop thread (which lives as long as it does):
    the nannies of grading workers share a warm nbgrader, started with the first of them; a grading worker
    connects to it (or, without a nanny that shares one, starts its own) as it starts, so the imports run while
    the cluster comes up and the instructor's process prepares the run, not in front of the first grading. The
    cluster made here preloads this module in both; give ``dask worker`` ``--preload-nanny course.tools.cluster
    --preload course.tools.cluster`` (README)."""
    if isinstance(server, Nanny):
        if grades(server.resources or dask.config.get("distributed.worker.resources", {})):
            _machine.join(server)
    elif grades(server.state.total_resources):
        _warm_up()


def dask_teardown(server: Nanny | Worker) -> None:
    """Dask's preload hook as a nanny or worker closes: the last nanny of this process stops the shared warm
    nbgrader."""
    if isinstance(server, Nanny):
        _machine.leave(server)


def warm_up(client: Client) -> None:
    """Start the warm nbgrader of every grading worker that has none yet (a worker started without the
    preload, :func:`dask_setup`), in the worker's event-loop thread: its imports then run while this process
    prepares the run, not after the first task arrived. A worker that joins later starts its own with its first
    task."""
    workers = [address for address, w in client.scheduler_info()["workers"].items() if grades(w.get("resources"))]
    if workers:
        client.run(_warm_up, workers=workers)


@contextmanager
def connect(scheduler: str | None, workers: int, db_url: str, dashboard: bool):
    """A Dask client of the scheduler at ``scheduler``, else of a cluster of ``workers`` worker processes made
    here (that share one warm nbgrader, log in to the gradebook ``db_url`` with its password file, and with a
    dashboard if asked for), closed at the end.

    Raises:
        NoGrader: the scheduler's workers offer no ``grader`` resource (the message says how to start them).
    """
    if scheduler:
        with Client(scheduler) as client:
            if not graders(client):
                raise NoGrader(f"No worker of the cluster at {scheduler} grades: start workers with "
                               f"`dask worker {scheduler} --nthreads 1 --resources {GRADER}=1`.")
            yield client
        return
    with local_worker_credentials(db_url) as credentials, dask.config.set(QUIET_WORKERS), \
            LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True, resources=GRADING,
                         env=credentials, dashboard_address=":0" if dashboard else None, preload=[__name__],
                         preload_nanny=[__name__], silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client
