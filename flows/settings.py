"""Settings from the environment (PBSTATS_*), with defaults that work from a fresh clone."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where pbstats keeps its files and its warehouse, and the rulebook's configurable parts."""

    model_config = SettingsConfigDict(env_prefix="PBSTATS_")

    home: Path = Field(default=Path(".pbstats"), description="archive, quarantine and the SQLite warehouse")
    warehouse_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    deadline: str = Field(default="01-31", description="MM-DD of year Y+1 by which year Y's returns are due")
    batch_size: int = Field(
        default=1000, ge=1, description="most files per task (read, or load in one transaction)"
    )
    read_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="batches read at once (threads runner: each in a reader process of its own)",
    )
    task_runner: Literal["threads", "dask"] = Field(
        default="threads", description="where the read-and-check tasks run: threads here, or a Dask cluster"
    )
    dask_address: str | None = Field(
        default=None,
        description="scheduler of an existing Dask cluster (tcp://host:8786), for task_runner=dask",
    )
    today: date | None = Field(default=None, description="override today's date (for re-runs of past nights)")
    inbox: Path | None = Field(
        default=None, description="the inbox the nightly run reads; default home/inbox"
    )
    lock_wait: float = Field(default=1800, ge=0, description="seconds a run waits for another to finish")
    load_retry_delays: list[float] = Field(
        default=[2, 8, 30], description="seconds before each retry of a load that failed on the database"
    )

    @property
    def archive(self) -> Path:
        return self.home.resolve() / "archive"

    @property
    def quarantine(self) -> Path:
        return self.home.resolve() / "quarantine"

    @property
    def inbox_dir(self) -> Path:
        return (self.inbox or self.home / "inbox").resolve()

    @property
    def url(self) -> str:
        return self.warehouse_url or f"sqlite:///{self.home.resolve() / 'warehouse.db'}"

    @property
    def deadline_month_day(self) -> tuple[int, int]:
        month, day = self.deadline.split("-")
        return int(month), int(day)

    def today_or_now(self) -> date:
        return self.today or date.today()
