"""What an operator is told when the warehouse cannot be set up as asked (warehouse/roles.py), in
Chinese. The command line's own wording stays in flows/."""

from __future__ import annotations

ROLES_NEED_POSTGRESQL = "数据库角色只适用于 PostgreSQL 数据仓库"
PASSWORD_NEEDED = "创建可登录的角色需要密码（--password 或环境变量 PBSTATS_ANALYST_PASSWORD）"


def role_missing(role: str) -> str:
    return f"角色“{role}”不存在；请先由数据库管理员创建，或加 --create 与 --password 创建一个可登录的角色"


def role_unrestricted(role: str) -> str:
    return f"角色“{role}”是超级用户（或可绕过行级安全），授权无法限制它，请换一个普通角色"


def role_is_the_pipeline(role: str) -> str:
    return f"角色“{role}”就是数据管道自己的角色（唯一可写入的角色），不能改为只读"
