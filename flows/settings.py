"""Settings from the environment (PBSTATS_*), with defaults that work from a fresh clone.

A command reads them once, as it starts (`Settings.from_environment`), and hands the one object down;
a flow run finds it with `current()`. Nothing reads the environment when a module is imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "PBSTATS_"


class BadSettings(ValueError):
    """A setting in the environment that cannot be used; the message is one line for the operator."""


class Settings(BaseSettings):
    """Where pbstats keeps its files and its warehouse, and the rulebook's configurable parts."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

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
    load_retry_delays: list[Annotated[float, Field(ge=0)]] = Field(
        default=[2, 8, 30], description="seconds before each retry of a load that failed on the database"
    )

    @field_validator("deadline")
    @classmethod
    def _a_day_of_every_year(cls, value: str) -> str:
        found = re.fullmatch(r"(\d{1,2})-(\d{1,2})", value.strip())
        if not found:
            raise ValueError("not MM-DD")
        month, day = int(found[1]), int(found[2])
        date(2025, month, day)  # a year with no 29 February: the deadline must fall in every year
        return f"{month:02d}-{day:02d}"

    @field_validator("warehouse_url")
    @classmethod
    def _a_database_url(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                make_url(value)
            except ArgumentError as e:
                raise ValueError("not a database URL") from e
        return value

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings the environment holds; `BadSettings` names the first one that cannot be used."""
        try:
            return cls()
        except ValidationError as e:
            error = e.errors()[0]
            raise BadSettings(_explain(str(error["loc"][0]), error.get("input"), e.error_count())) from None
        except SettingsError as e:  # a list that is not JSON
            field = re.search(r'field "(\w+)"', str(e))
            raise BadSettings(_explain(field[1] if field else "?", None, 1)) from None

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


# what each setting should be, as the operator is told when it is not
EXPECTED = {
    "home": "一个目录",
    "warehouse_url": "数据库地址，如 postgresql://用户@主机/库名",
    "deadline": "每年都有的“月-日”，如 01-31",
    "batch_size": "正整数",
    "read_workers": "正整数",
    "task_runner": "threads 或 dask",
    "dask_address": "Dask 调度器地址，如 tcp://scheduler:8786",
    "today": "日期，如 2026-01-31",
    "inbox": "一个目录",
    "lock_wait": "不小于 0 的秒数",
    "load_retry_delays": "秒数列表，如 [2, 8, 30]",
}
SECRET = {"warehouse_url"}  # may hold a password: not repeated back


def _explain(field: str, value: object, errors: int) -> str:
    name = ENV_PREFIX + field.upper()
    shown = name if field in SECRET or not isinstance(value, str) else f"{name}={value}"
    more = f"（另有 {errors - 1} 处设置有误）" if errors > 1 else ""
    return f"设置有误：{shown}，应为{EXPECTED.get(field, '有效的值')}。{more}"


_in_use: ContextVar[Settings | None] = ContextVar("pbstats_settings", default=None)


@contextmanager
def use(settings: Settings) -> Iterator[Settings]:
    """Within the block, `current()` is these settings: a command hands its settings to its flow runs."""
    token = _in_use.set(settings)
    try:
        yield settings
    finally:
        _in_use.reset(token)


def current() -> Settings:
    """The settings of the command running: those it handed over (`use`), else the environment's, read
    now (a flow run a deployment's worker started: its start is the command's)."""
    return _in_use.get() or Settings.from_environment()
