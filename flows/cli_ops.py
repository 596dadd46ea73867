"""Operator commands beyond ingest: rerun and backfill from the archive, serve (Prefect UI)."""

from __future__ import annotations

from .cli import app, console  # noqa: F401
