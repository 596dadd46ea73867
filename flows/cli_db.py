"""`pbstats db …`: who may do what in the warehouse (PostgreSQL roles)."""

from __future__ import annotations

import typer

from .cli import app, console, read_settings

db_app = typer.Typer(help="数据仓库的访问权限", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("grant-analyst")
def grant_analyst(
    role: str = typer.Argument(..., help="分析人员使用的数据库角色"),
    create: bool = typer.Option(
        False, "--create", help="角色不存在时创建一个可登录的角色（需要 --password）"
    ),
    password: str | None = typer.Option(
        None, "--password", envvar="PBSTATS_ANALYST_PASSWORD", help="新建角色的登录密码"
    ),
) -> None:
    """授予角色只读权限：可查询 dim_*、fact_*、submission*、load_run 及 v_* 视图，不能写入、修改或建表。"""
    from sqlalchemy.exc import OperationalError

    from pbstats.warehouse.db import make_engine, upgrade
    from pbstats.warehouse.roles import RoleError
    from pbstats.warehouse.roles import grant_analyst as grant

    engine = make_engine(read_settings().url)
    if engine.dialect.name != "postgresql":
        console.print(
            "本命令只适用于 PostgreSQL 数据仓库：SQLite 数据仓库是一个文件，没有数据库角色，"
            "请通过文件权限控制谁能读写（分析人员可用 sqlite3 -readonly 打开）。"
        )
        raise typer.Exit(1)
    try:
        upgrade(engine)  # the tables and views to grant on must exist
        with engine.begin() as conn:
            granted = grant(conn, role, create=create, password=password)
    except RoleError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from e
    except OperationalError as e:
        console.print(f"[red]数据仓库无法连接：{str(e).splitlines()[0]}[/red]")
        raise typer.Exit(2) from e
    finally:
        engine.dispose()
    made = "已创建可登录的角色并" if granted.created else "已"
    console.print(
        f"{made}授予角色“{granted.role}”只读权限（{len(granted.objects)} 个表和视图）："
        f"{'、'.join(granted.objects)}。\n其他表、写入、修改、删除与建表均不允许；"
        "数据仓库升级（新增表或视图）后请重新运行本命令。"
    )
