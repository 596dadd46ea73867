"""Where the read-and-check tasks run: a pool of threads here (the default), or an existing Dask
cluster (PBSTATS_TASK_RUNNER=dask, PBSTATS_DASK_ADDRESS=tcp://scheduler:8786) through prefect-dask.

The flow, its stages and the warehouse are the same either way: only where a batch is read changes.
With Dask, the inbox, the archive and the warehouse (PostgreSQL) must be reachable under the same
names from every worker; see the README's "A country's year".
"""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from .settings import Settings


def task_runner(settings: Settings | None = None) -> TaskRunner:
    """The task runner the settings name (read when the flow's module is imported)."""
    settings = settings or Settings()
    if settings.task_runner == "dask":
        if not settings.dask_address:
            raise ValueError("PBSTATS_TASK_RUNNER=dask needs PBSTATS_DASK_ADDRESS (tcp://scheduler:8786)")
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.dask_address)
    return ThreadPoolTaskRunner(max_workers=settings.read_workers)
