"""Where the read-and-check tasks run: a pool of threads here (the default), or an existing Dask
cluster (PBSTATS_TASK_RUNNER=dask, PBSTATS_DASK_ADDRESS=tcp://scheduler:8786) through prefect-dask.

The flow, its stages and the warehouse are the same either way: only where a batch is read changes.
With Dask, the inbox, the archive and the warehouse (PostgreSQL) must be reachable under the same
names from every worker; see the README's "A country's year".
"""

from __future__ import annotations

from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from .settings import Settings, current


def task_runner(settings: Settings) -> TaskRunner:
    """The task runner the settings name."""
    if settings.task_runner == "dask":
        if not settings.dask_address:
            raise ValueError("PBSTATS_TASK_RUNNER=dask needs PBSTATS_DASK_ADDRESS (tcp://scheduler:8786)")
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.dask_address)
    return ThreadPoolTaskRunner(max_workers=settings.read_workers)


class ChosenAtStart(TaskRunner):
    """The task runner the settings name, chosen as a flow run starts. A flow's module is imported
    before any settings are read (by the command, or by the deployment's worker that runs it), so the
    runner given to `@flow` cannot be chosen then; this one hands each task to the chosen one."""

    def __init__(self) -> None:
        super().__init__()
        self.chosen: TaskRunner | None = None

    def duplicate(self) -> ChosenAtStart:
        return ChosenAtStart()

    def __enter__(self) -> ChosenAtStart:
        super().__enter__()
        self.chosen = task_runner(current()).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.chosen is not None:
                self.chosen.__exit__(*exc)
        finally:
            self.chosen = None
            super().__exit__(*exc)

    def submit(self, task, parameters, wait_for=None, dependencies=None):
        if self.chosen is None:
            raise RuntimeError("The task runner must be started before submitting work.")
        return self.chosen.submit(task, parameters, wait_for, dependencies)


def runs_here(runner: TaskRunner) -> bool:
    """Whether tasks given to `runner` run in threads of this process (not on a cluster)."""
    return isinstance(getattr(runner, "chosen", runner), ThreadPoolTaskRunner)
