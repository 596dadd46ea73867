"""The dimension tables, filled from schemas/: the metric catalogue and the org registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select

from pbstats.schemas.forms import FORMS
from pbstats.schemas.registry import OrgSpan, Registry, default_spans

from .tables import dim_metric, dim_org


def sync_metrics(conn: Connection) -> None:
    """dim_metric always equals the forms of schemas/ (a renamed indicator shows at once)."""
    rows = [
        {
            "form": f.form_id,
            "indicator_code": i.code,
            "metric_key": i.metric_key,
            "metric_name": i.name,
            "unit": i.unit,
            "kind": str(i.kind),
        }
        for f in FORMS.values()
        for i in f.indicators
    ]
    conn.execute(delete(dim_metric))
    conn.execute(insert(dim_metric), rows)


def sync_registry_if_empty(conn: Connection) -> None:
    if conn.execute(select(func.count()).select_from(dim_org)).scalar_one() == 0:
        replace_registry(conn, default_spans())


def replace_registry(conn: Connection, spans: Sequence[OrgSpan]) -> None:
    """The registry as a whole is replaced; every span keeps its validity years."""
    conn.execute(delete(dim_org))
    conn.execute(
        insert(dim_org),
        [
            {
                "org_code": s.org_code,
                "valid_from": s.valid_from,
                "valid_to": s.valid_to,
                "name": s.name,
                "level": s.level,
                "kind": s.kind,
                "parent_code": s.parent_code,
            }
            for s in spans
        ],
    )


def load_registry(conn: Connection) -> Registry:
    rows = conn.execute(select(dim_org).order_by(dim_org.c.org_code, dim_org.c.valid_from)).mappings()
    return Registry(
        (
            OrgSpan(
                org_code=r["org_code"],
                name=r["name"],
                level=r["level"],
                kind=r["kind"],
                parent_code=r["parent_code"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
            )
            for r in rows
        ),
        in_order=True,
    )
