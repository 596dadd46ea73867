"""Blank forms for the submitters: one workbook per org of a year's registry, a zip per township."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from pbstats.schemas.forms import FORM_BY_LEVEL
from pbstats.schemas.registry import OrgSpan, Registry, default_spans
from pbstats.transforms.template import build_template, template_name, template_zip
from pbstats.warehouse.catalogue import load_registry
from pbstats.warehouse.review import prior_values


class NotInRegistry(ValueError):
    """An org or township the year's registry does not have (or not at the level asked for)."""


def registry_and_priors(engine: Engine | None, year: int) -> tuple[Registry, dict]:
    """The registry (the warehouse's, else the one shipped) and every org's values loaded for year-1."""
    if engine is None:
        return Registry(default_spans()), {}
    with engine.connect() as conn:
        registry = load_registry(conn)
        codes = [o.org_code for o in registry.orgs(year)]
        return registry, prior_values(conn, year - 1, codes)


def issuer_of(registry: Registry, year: int) -> str:
    city = next((o for o in registry.orgs(year, "city")), None)
    return f"中共{city.name}委组织部" if city else "中共示例市委组织部"


def org_template(registry: Registry, priors: dict, org: OrgSpan, year: int) -> tuple[str, bytes]:
    form = FORM_BY_LEVEL[org.level]
    data = build_template(
        form,
        org.org_code,
        org.name,
        year,
        priors.get((org.org_code, form.form_id)),
        issuer_of(registry, year),
    )
    return template_name(form, org.org_code, org.name, year), data


def township_zip(registry: Registry, priors: dict, township: OrgSpan, year: int) -> tuple[str, bytes]:
    """The township's own DJ-2 and its villages' DJ-1 of that year's registry, zipped."""
    orgs = [township, *sorted(registry.villages_of(township.org_code, year), key=lambda o: o.org_code)]
    files = dict(org_template(registry, priors, o, year) for o in orgs)
    return f"{township.name}{year}年报表模板-{township.org_code}.zip", template_zip(files)


def write_templates(
    engine: Engine | None, year: int, out: Path, org: str | None = None, township: str | None = None
) -> list[Path]:
    """One org's workbook (`org`), one township's zip (`township`), or a zip for every township."""
    registry, priors = registry_and_priors(engine, year)
    if org is not None:
        span = registry.org(org, year)
        if span is None or span.level not in FORM_BY_LEVEL:
            raise NotInRegistry(org)
        made = [org_template(registry, priors, span, year)]
    elif township is not None:
        span = registry.org(township, year)
        if span is None or span.level != "township":
            raise NotInRegistry(township)
        made = [township_zip(registry, priors, span, year)]
    else:
        towns = sorted(registry.orgs(year, "township"), key=lambda o: o.org_code)
        made = [township_zip(registry, priors, t, year) for t in towns]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in made:
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    return paths
