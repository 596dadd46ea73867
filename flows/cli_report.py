"""Commands for the year-end review and for submitters: report, template, check."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .cli import EXIT_NO_READER, app, console, read_settings

SEVERITY_CN = {"error": "错误", "warning": "提示"}


def _latest_year(engine) -> int | None:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT MAX(year) FROM fact_metric")).scalar()


@app.command()
def report(
    year: int = typer.Option(None, "--year", help="统计年度（默认：数据仓库中最新的年度）"),
    township: str = typer.Option(None, "--township", help="只生成该乡镇（街道）的报告（组织代码）"),
    out: Path = typer.Option(Path("."), "--out", help="输出目录"),
) -> None:
    """生成年度总结报告：HTML 网页与 Word 文档（含图表、同比、报送完整性与待核实事项）。"""
    from pbstats.transforms.review import UnknownTownship
    from pbstats.warehouse.review import read_only_engine

    from .report import write_report

    settings = read_settings()
    engine = read_only_engine(settings.url)
    if engine is None:
        console.print("[red]找不到数据仓库、无法连接，或仓库中还没有数据（请先运行 pbstats ingest）。[/red]")
        raise typer.Exit(2)
    try:
        year = year or _latest_year(engine)
        if year is None:
            console.print("[red]数据仓库中还没有任何已入库的年报。[/red]")
            raise typer.Exit(2)
        with engine.connect() as conn:
            html, docx = write_report(conn, year, out, township)
    except UnknownTownship as e:
        console.print(f"[red]组织代码 {e} 不是{year}年度组织名录中的乡镇（街道）。[/red]")
        raise typer.Exit(1) from e
    finally:
        engine.dispose()
    console.print(f"{year}年度报告已生成：\n  网页：{html}\n  Word：{docx}")


@app.command()
def template(
    year: int = typer.Option(..., "--year", help="统计年度"),
    org: str = typer.Option(None, "--org", help="只生成该组织的报表（组织代码）"),
    township: str = typer.Option(
        None, "--township", help="生成该乡镇（街道）及所辖村（社区）的报表（压缩包）"
    ),
    out: Path = typer.Option(Path("."), "--out", help="输出目录"),
) -> None:
    """生成空白年报模板：封面已填、上年数取自数据仓库、数值单元格带数据验证；每个乡镇（街道）一个压缩包。"""
    from pbstats.warehouse.review import read_only_engine

    from .templates import NotInRegistry, write_templates

    if org and township:
        console.print("[red]--org 与 --township 只能选一个。[/red]")
        raise typer.Exit(1)
    engine = read_only_engine(read_settings().url)
    if engine is None:
        console.print("未找到数据仓库：使用随程序提供的组织名录，“上年”列留空。")
    try:
        paths = write_templates(engine, year, out, org=org, township=township)
    except NotInRegistry as e:
        console.print(f"[red]组织代码 {e} 不在{year}年度组织名录中（或层级不符）。[/red]")
        raise typer.Exit(1) from e
    finally:
        if engine is not None:
            engine.dispose()
    console.print(f"已生成 {len(paths)} 个文件，位于 {out.resolve()}：")
    for p in paths[:30]:
        console.print(f"  {p.name}")
    if len(paths) > 30:
        console.print(f"  ……另有 {len(paths) - 30} 个")


@app.command()
def check(
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="要检查的报表文件"),
) -> None:
    """报送前自查：按入库规则检查报表，在终端列出问题，并在文件旁生成“审核意见”工作簿；不写入数据仓库。"""
    from .dry_run import dry_run
    from .readers import Unavailable, not_read

    try:
        result = dry_run(files, read_settings())
    except Unavailable as e:
        console.print(f"[red]{not_read(e)}，请稍后重试。[/red]")
        raise typer.Exit(EXIT_NO_READER) from e
    failed = 0
    for path, ret in zip(files, result.returns, strict=True):
        errors = [f for f in ret.findings if f.is_error]
        warnings = [f for f in ret.findings if not f.is_error]
        failed += bool(errors)
        who = f"{ret.form_id or '?'} {ret.org_name or ''} {ret.org_code or ''} {ret.year or ''}年度".strip()
        if errors:
            verdict = f"[red]不能通过：{len(errors)} 个错误[/red]" + (
                f"，{len(warnings)} 条提示" if warnings else ""
            )
        elif warnings:
            verdict = f"[yellow]可以通过，有 {len(warnings)} 条提示请核实[/yellow]"
        else:
            verdict = "[green]可以通过，未发现问题[/green]"
        console.rule(f"{path.name}")
        console.print(f"{who}：{verdict}")
        if ret.findings:
            table = Table(show_lines=False)
            for col in ("类别", "检查项", "单元格"):
                table.add_column(col, no_wrap=True)
            table.add_column("说明", overflow="fold")
            for f in sorted(ret.findings, key=lambda f: not f.is_error):
                colour = "red" if f.is_error else "yellow"
                table.add_row(
                    f"[{colour}]{SEVERITY_CN[str(f.severity)]}[/{colour}]",
                    f.check_id,
                    f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.cell or ""),
                    f.message,
                )
            console.print(table)
        if str(path) in result.feedback:
            console.print(f"审核意见：{result.feedback[str(path)]}")
    if not result.compared_with_warehouse:
        console.print("未找到数据仓库：未核对上年数（W-PRIOR）和变动幅度（W-JUMP）。")
    console.print(
        f"共检查 {len(files)} 个文件：{len(files) - failed} 个可以通过，{failed} 个有错误需修改后再报送。"
    )
    raise typer.Exit(1 if failed else 0)
