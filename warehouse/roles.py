"""Who may do what in a PostgreSQL warehouse: the pipeline's own role (the one in
PBSTATS_WAREHOUSE_URL, owner of every table) is the only writer; an analyst role may read the analyst
contract — dim_*, fact_*, submission*, load_run and the v_* views — and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from pbstats.schemas import operator_text as words

from .tables import metadata
from .views import VIEWS


class RoleError(RuntimeError):
    """The analyst role cannot be set up as asked (missing, or a role no grant can restrict)."""


def analyst_objects() -> list[str]:
    """The tables and views of the analyst contract, in a stable order."""
    tables = sorted(
        name
        for name in metadata.tables
        if name.startswith(("dim_", "fact_", "submission")) or name == "load_run"
    )
    return tables + list(VIEWS)


@dataclass(frozen=True)
class Granted:
    role: str
    created: bool
    objects: list[str]


def grant_analyst(
    conn: Connection, role: str, *, create: bool = False, password: str | None = None
) -> Granted:
    """Make `role` an analyst: SELECT on the contract's tables and views, USAGE on the schema, and
    every other privilege it had on the schema's tables taken back. Idempotent; run it again after a
    migration adds a table or view. With `create`, a missing role is made as a LOGIN role."""
    if conn.dialect.name != "postgresql":
        raise RoleError(words.ROLES_NEED_POSTGRESQL)
    quoted = conn.dialect.identifier_preparer.quote(role)
    found = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    created = False
    if found is None:
        if not create:
            raise RoleError(words.role_missing(role))
        if not password:
            raise RoleError(words.PASSWORD_NEEDED)
        literal = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        conn.execute(
            text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {literal}")
        )
        created = True
    elif found.rolsuper or found.rolbypassrls:
        raise RoleError(words.role_unrestricted(role))
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    if owner == role:
        raise RoleError(words.role_is_the_pipeline(role))
    objects = analyst_objects()
    listed = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in objects)
    for statement in (
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # the default since PostgreSQL 15; older ones too
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}",
        f"REVOKE CREATE ON SCHEMA public FROM {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT ON {listed} TO {quoted}",
    ):
        conn.execute(text(statement))
    return Granted(role, created, objects)
