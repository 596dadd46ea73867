"""Operator commands beyond ingest: rerun and backfill from the archive, closing a year, and
`serve` (the Prefect server, UI, deployments and a worker on one machine)."""

from __future__ import annotations

import getpass

import typer

from .cli import _quiet_prefect, _start_prefect_early, app, console, print_summary, read_settings, run_flow


@app.command()
def rerun(
    year: int = typer.Option(..., "--year", help="统计年度"),
    org: str | None = typer.Option(None, "--org", help="只重跑这一个组织（12位组织代码）"),
    form: str | None = typer.Option(None, "--form", help="DJ-1 或 DJ-2"),
) -> None:
    """从归档重新校验并入库某年度的报表（组织名录或规则更正之后），不读取新文件。"""
    settings = read_settings()
    _quiet_prefect()
    _start_prefect_early()
    from .rerun import YearClosed
    from .rerun import rerun as rerun_flow

    try:
        summary = run_flow(rerun_flow, settings, year=year, org_code=org, form=form)
    except YearClosed as e:
        console.print(
            f"[yellow]{year}年度已关账，不能重跑；如确需更正，请先执行 pbstats reopen-year {year} --reason …[/yellow]"
        )
        raise typer.Exit(1) from e
    print_summary(summary, settings)


@app.command()
def backfill(
    first_year: int = typer.Option(..., "--from", help="起始年度"),
    last_year: int = typer.Option(..., "--to", help="结束年度（含）"),
) -> None:
    """从归档补回数据仓库中缺少的报表（例如数据仓库重建之后）。"""
    settings = read_settings()
    _quiet_prefect()
    _start_prefect_early()
    from .rerun import backfill as backfill_flow

    print_summary(run_flow(backfill_flow, settings, first_year=first_year, last_year=last_year), settings)


@app.command("close-year")
def close_year(
    year: int = typer.Argument(..., help="统计年度"),
    reason: str = typer.Option("年度报告已发布", "--reason", help="关账原因"),
) -> None:
    """关账：年度报告发布后冻结该年度，此后收到的该年度报表只归档、记为暂存，不入库。"""
    from pbstats.warehouse.db import make_engine, upgrade
    from pbstats.warehouse.years import set_year_closed

    engine = make_engine(read_settings().url)
    upgrade(engine)
    with engine.begin() as conn:
        set_year_closed(conn, year, True, reason, getpass.getuser())
    console.print(f"{year}年度已关账：此后收到的{year}年度报表将暂存，不改变已发布的数据。")


@app.command("reopen-year")
def reopen_year(
    year: int = typer.Argument(..., help="统计年度"),
    reason: str = typer.Option(..., "--reason", help="重新开账的原因（必填，留档）"),
) -> None:
    """重新开账：记录原因，并把关账期间暂存的报表校验入库。"""
    settings = read_settings()
    _quiet_prefect()
    from pbstats.warehouse.db import make_engine, upgrade
    from pbstats.warehouse.years import set_year_closed

    from .rerun import rerun as rerun_flow

    engine = make_engine(settings.url)
    upgrade(engine)
    with engine.begin() as conn:
        set_year_closed(conn, year, False, reason, getpass.getuser())
    console.print(f"{year}年度已重新开账（原因：{reason}），正在校验入库暂存的报表……")
    print_summary(run_flow(rerun_flow, settings, year=year), settings)


@app.command()
def serve(
    port: int = typer.Option(4200, help="Prefect 服务端口"),
    host: str = typer.Option("127.0.0.1", help="Prefect 服务监听地址"),
) -> None:
    """在本机启动 Prefect 服务与界面、部署三个流程（nightly、rerun、backfill）并运行工作进程；Ctrl-C 全部停止。"""
    from .serve import serve_all

    read_settings()  # what the flow runs will read: a setting they cannot use is said now, not at 02:00
    serve_all(host, port, console)
