"""The `pbstats` command: a thin layer over the flows; what it prints is for operators (Chinese)."""

from __future__ import annotations

import errno
import gc
import os
import sys
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pbstats import compat

from . import malloc

app = typer.Typer(help="pbstats：党建工作年度统计数据管道", no_args_is_help=True, add_completion=False)
registry_app = typer.Typer(help="组织名录", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
console = Console(soft_wrap=True)

STATUS_CN = {
    "accepted": "通过",
    "rejected": "退回",
    "superseded": "被更正版替代",
    "duplicate": "重复文件",
    "held": "暂存",
}


# exit codes (DESIGN.md): 0 done, 1 findings, 2 the warehouse unreachable, 3 the run lock's wait ran out,
# 4 the home cannot be written, 5 bad arguments or settings, 6 no guarded reader process could be started
EXIT_BAD_ARGUMENTS = 5
EXIT_NO_READER = 6


def read_settings():
    """The command's settings, read once as it starts and handed down from there. A setting that
    cannot be used ends the command: one line on stderr, exit code 5 (bad arguments)."""
    from .settings import BadSettings, Settings

    try:
        return Settings.from_environment()
    except BadSettings as e:
        print(e, file=sys.stderr)
        raise typer.Exit(EXIT_BAD_ARGUMENTS) from e


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _start_prefect_early() -> None:
    """Prefect's temporary server (when no API is configured) starts now, beside the imports."""
    from . import local_api

    local_api.start_if_needed()


# modules a flow run imports as it starts (Prefect's engine, the encoder of its parameters, the warehouse's
# migrations) whatever the night brings
FLOW_START_MODULES = (
    "fastapi.encoders",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "alembic.command",
    "alembic.runtime.migration",
)


def _warm_up_while_prefect_starts(inbox: Path, settings) -> None:
    """Prefect's temporary server takes seconds to start on one core while this process, its imports
    done, only waits for it. Meanwhile, in a background thread: if the inbox has anything new, Great
    Expectations' import (~3 s; it would otherwise hold the interpreter from the flow's own work while
    the files are read) and the reader processes' start; then the modules the flow run imports as it
    starts. A night with nothing new imports no GX and starts no reader."""
    from . import local_api

    if local_api.starting():
        threading.Thread(
            target=_warm_up, args=(inbox, settings.url, settings.read_workers), name="warm-up", daemon=True
        ).start()


def _warm_up(inbox: Path, url: str, readers: int) -> None:
    import importlib
    import logging

    from pbstats.expectations.run import warm_up
    from . import sandbox
    from .ingest import anything_new

    try:
        if anything_new(inbox, url, keep=True):  # its listing is the run's, if the run starts soon
            warm_up()
            sandbox.prestart(readers)
        for module in FLOW_START_MODULES:
            importlib.import_module(module)
    except Exception:  # only time is at stake: the run imports and starts what it needs itself
        logging.getLogger("pbstats").warning("warming up failed", exc_info=True)


@app.command()
def ingest(inbox: Path = typer.Argument(..., exists=True, file_okay=False, help="收件箱目录")) -> None:
    """读取收件箱中的新报表：归档、校验、入库，并打印本次结果。"""
    settings = read_settings()
    _quiet_prefect()
    _start_prefect_early()
    from .ingest import ingest as ingest_flow

    _warm_up_while_prefect_starts(inbox, settings)
    summary = run_flow(ingest_flow, settings, inbox=str(inbox))
    print_summary(summary, settings)


def run_flow(flow_fn, settings, **params):
    """Run a flow with the command's settings; an outage becomes a clear message and an exit code: 2 the
    warehouse, 3 another run holding it, 4 a full disk, 6 no guarded reader process (nothing half-written)."""
    from sqlalchemy.exc import OperationalError

    from pbstats.warehouse.runlock import RunLockBusy

    from . import local_api
    from .readers import Unavailable, not_read
    from .settings import use

    try:
        with local_api.use(), use(settings):
            return flow_fn(**params)
    except Unavailable as e:
        console.print(f"[red]{not_read(e)}；本次运行已中止，未读取的文件下次运行时重新处理。[/red]")
        raise typer.Exit(EXIT_NO_READER) from e
    except OperationalError as e:
        first = str(e).splitlines()[0]
        console.print(f"[red]数据仓库无法连接，本次运行已中止，未写入任何不完整的批次：{first}[/red]")
        raise typer.Exit(2) from e
    except RunLockBusy as e:
        console.print("[yellow]另一个运行正在使用数据仓库，等待超时，本次未执行；请稍后再试。[/yellow]")
        raise typer.Exit(3) from e
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise
        where = f"（{e.filename}）" if e.filename else ""
        console.print(
            f"[red]磁盘空间不足{where}，本次运行已中止；已完成的批次保留，其余文件下次运行时重新处理。[/red]"
        )
        raise typer.Exit(4) from e


MAX_TOWNSHIP_LINES = 40


def print_summary(summary, settings) -> None:
    t = summary.totals
    console.print(
        f"[bold]本次运行[/bold] {summary.run_id}：收到 {summary.received} 个文件，"
        f"通过 {t.get('accepted', 0)}，退回 {t.get('rejected', 0)}，被替代 {t.get('superseded', 0)}，"
        f"重复 {t.get('duplicate', 0)}，提示 {summary.warnings} 条"
        + (f"；其中 {summary.corrections} 份为更正报表，已替代此前入库的版本" if summary.corrections else "")
    )
    if summary.townships:
        lines = summary.townships
        title = "按乡镇（街道）"
        if len(lines) > MAX_TOWNSHIP_LINES:  # a province: those with the most to fix, not a thousand lines
            lines = sorted(lines, key=lambda t: (-t.rejected, -t.warnings))[:MAX_TOWNSHIP_LINES]
            title += f"（共 {len(summary.townships)} 个，此处列出退回最多的 {MAX_TOWNSHIP_LINES} 个）"
        table = Table(title=title)
        for col in ("乡镇（街道）", "通过", "退回", "被替代", "重复", "提示"):
            table.add_column(col, justify="right" if col != "乡镇（街道）" else "left")
        for line in lines:
            table.add_row(
                f"{line.township_name} {line.township_code}",
                str(line.accepted),
                str(line.rejected),
                str(line.superseded),
                str(line.duplicate),
                str(line.warnings),
            )
        console.print(table)
    for r in summary.rejections[:50]:
        console.print(f"[red]退回[/red] {r['file_name']}：{'；'.join(r['reasons'][:3])}")
    if len(summary.rejections) > 50:
        console.print(f"……另有 {len(summary.rejections) - 50} 份退回报表")
    console.print(
        f"数据仓库：{_shown_url(settings.url)}\n归档：{settings.archive}\n"
        f"退回报表与审核意见：{settings.quarantine}"
    )


def print_overview(settings) -> None:
    """Completeness and headline figures per year, as the warehouse now stands."""
    from pbstats.warehouse.db import make_engine
    from pbstats.warehouse.queries import HEADLINE, overview

    engine = make_engine(settings.url)
    with engine.connect() as conn:
        lines = overview(conn)
    engine.dispose()
    table = Table(title="报送完整性（全市）")
    for col in ("年度", "应报", "按时", "逾期", "退回未改", "未报"):
        table.add_column(col, justify="right")
    for y in lines:
        table.add_row(
            str(y.year), str(y.expected), str(y.on_time), str(y.late), str(y.rejected), str(y.missing)
        )
    console.print(table)
    figures = Table(title="主要指标（全市合计）")
    figures.add_column("指标")
    for y in lines:
        figures.add_column(str(y.year), justify="right")
    for _, _, label in HEADLINE:
        figures.add_row(label, *(f"{y.figures[label]:g}" for y in lines))
    console.print(figures)


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@registry_app.command("load")
def registry_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="orgs.csv 格式的组织名录"),
) -> None:
    """以文件替换组织名录（保留每条记录的有效年度）。"""
    from pbstats.schemas.registry import RegistryError, read_csv
    from pbstats.warehouse.catalogue import replace_registry
    from pbstats.warehouse.db import make_engine, upgrade

    settings = read_settings()
    try:
        spans = read_csv(file)
    except RegistryError as e:
        console.print(f"[red]组织名录有误：{e}[/red]")
        raise typer.Exit(1) from e
    engine = make_engine(settings.url)
    upgrade(engine)
    with engine.begin() as conn:
        replace_registry(conn, spans)
    console.print(f"组织名录已更新：{len(spans)} 条记录，{len({s.org_code for s in spans})} 个组织")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo"), help="演示数据与仓库所在目录"),
    seed: int = typer.Option(7, help="随机种子"),
) -> None:
    """生成一个市两个年度的报表，逐夜运行数据管道，并打印结果与查看位置。"""
    out = out.resolve()
    settings = read_settings().model_copy(update={"home": out / "home"})
    _quiet_prefect()
    _start_prefect_early()
    import json
    import shutil

    from pbstats.gen.city import generate_city

    from .ingest import ingest as ingest_flow

    if out.exists():
        shutil.rmtree(out)
    corpus, inbox = out / "corpus", out / "inbox"
    inbox.mkdir(parents=True)
    console.print(f"生成演示报表到 {corpus} ……")
    generate_city(corpus, seed=seed)
    manifest = json.loads((corpus / "expected.json").read_text(encoding="utf-8"))
    for night in manifest["nights"]:
        for name in night["files"]:
            shutil.copy2(corpus / night["dir"] / name, inbox / name)
        year, _, n = night["dir"].partition("-")
        console.rule(
            f"{year}年度 第{n}批：{len(night['files'])} 个文件"
            if n
            else f"{night['dir']}：{len(night['files'])} 个文件"
        )
        print_summary(run_flow(ingest_flow, settings, inbox=str(inbox)), settings)
    console.rule("完成")
    print_overview(settings)
    console.print(
        f"用 sqlite3 查看：sqlite3 {settings.home.resolve() / 'warehouse.db'} "
        "'select * from v_year_review' （视图：v_year_review、v_township_year、v_completeness、v_open_warnings）"
    )


def main() -> None:
    """The `pbstats` command. When a command is done, the process ends as soon as its output is out and
    the work of its exit (Python's own order: other threads joined, then the atexit handlers, which stop
    the temporary Prefect server and the reader processes and drain Prefect's log and event queues).
    The interpreter's teardown of every object a province's night leaves behind (its registry, caches,
    Prefect's client) is skipped: it took ~1.5 s after everything was done, and frees nothing the
    operating system does not free at once."""
    # Full collections are left to every 1,000th middle one, not every 10th: a command's imports
    # (Prefect, pandas, GX) and a night's long-lived objects set off dozens that walk millions of objects
    # and free next to nothing (over a second with the interpreter held on a province's night). Young
    # cycles are collected as before.
    gc.set_threshold(*gc.get_threshold()[:2], 1000)
    malloc.tune()  # before any thread or child process starts
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
    if not isinstance(code, int):  # SystemExit("message") prints it and exits 1, as Python does
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    compat.exit_now(code)  # without tearing down a night's objects (~1 s)


# Command groups live in their own modules and register themselves on `app` when imported.
# Add one import line per module here (keep them sorted).
from . import cli_db  # noqa: E402,F401
from . import cli_ops  # noqa: E402,F401
from . import cli_report  # noqa: E402,F401
