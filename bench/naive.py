"""The naive baseline the pipeline is measured against: the ingest as it is usually first written.

    python bench/naive.py INBOX --url SQLALCHEMY_URL

A Prefect flow that runs one task per file; each task reads the file with openpyxl
(`load_workbook`), finds the form's sheet, the cover and the indicator rows, checks the values
minimally (numbers, not negative, every indicator present) and stores the return through the
SQLAlchemy ORM (a submission object and one fact object per indicator) with a commit per file,
into tables of its own (`naive_submission`, `naive_fact`). Prints one JSON line of timings.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import openpyxl  # noqa: E402
from prefect import flow, task  # noqa: E402
from sqlalchemy import Float, ForeignKey, String, create_engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

IMPORTED = time.perf_counter()


class Base(DeclarativeBase):
    pass


class NaiveSubmission(Base):
    __tablename__ = "naive_submission"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    form: Mapped[str | None] = mapped_column(String(8))
    org_code: Mapped[str | None] = mapped_column(String(12))
    year: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(400))


class NaiveFact(Base):
    __tablename__ = "naive_fact"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("naive_submission.id"))
    org_code: Mapped[str] = mapped_column(String(12))
    year: Mapped[int]
    indicator_code: Mapped[str] = mapped_column(String(4))
    value: Mapped[float] = mapped_column(Float)


N_INDICATORS = {"DJ-1": 12, "DJ-2": 17}
_engine = None


def engine(url: str):
    global _engine
    if _engine is None:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        _engine = create_engine(url)
        Base.metadata.create_all(_engine)
    return _engine


def read_return(data: bytes) -> dict:
    """Form, org, year and values, the straightforward openpyxl way; raises on anything odd."""
    wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        text = [[str(v).strip() if v is not None else "" for v in r] for r in rows]
        form = next((f for r in text for v in r for f in N_INDICATORS if f in v), None)
        if form is None:
            continue
        org = year = None
        header = None
        for i, r in enumerate(text):
            for j, v in enumerate(r):
                if "组织代码" in v:
                    org = re.sub(r"\D", "", v) or (r[j + 1] if j + 1 < len(r) else "")
                if "统计年度" in v:
                    found = re.search(r"\d{4}", v) or re.search(r"\d{4}", r[j + 1] if j + 1 < len(r) else "")
                    year = int(found.group(0)) if found else None
            if "代码" in r and "本年" in r and header is None:
                header = (i, r.index("代码"), r.index("本年"))
        if header is None:
            raise ValueError("no header row")
        hi, code_col, cur_col = header
        values = {}
        for r in rows[hi + 1 :]:
            code = r[code_col] if code_col < len(r) else None
            code = f"{int(code):02d}" if isinstance(code, int | float) else str(code or "").strip()
            if not re.fullmatch(r"\d\d", code):
                continue  # notes, the 甲乙丙 row, the footer
            value = r[cur_col] if cur_col < len(r) else None
            if value is None or isinstance(value, str) and value.strip() in ("", "—", "-", "/", "无"):
                value = 0.0
            value = float(value)
            if value < 0:
                raise ValueError(f"negative value in {code}")
            values[code] = value
        if len(values) != N_INDICATORS[form]:
            raise ValueError(f"{len(values)} indicators")
        if not org or len(org) != 12 or not year:
            raise ValueError("no org code or year")
        return {"form": form, "org_code": org, "year": year, "values": values}
    raise ValueError("no form sheet")


@task
def ingest_file(path: str, url: str) -> str:
    data = Path(path).read_bytes()
    sub = NaiveSubmission(file_name=os.path.basename(path), sha256=hashlib.sha256(data).hexdigest())
    try:
        ret = read_return(data)
        sub.form, sub.org_code, sub.year, sub.status = ret["form"], ret["org_code"], ret["year"], "accepted"
    except Exception as e:  # the naive way: anything odd rejects the file
        ret, sub.status, sub.error = None, "rejected", str(e)[:400]
    with Session(engine(url)) as session:
        session.add(sub)
        session.flush()
        if ret is not None:
            for code, value in ret["values"].items():
                session.add(
                    NaiveFact(
                        submission_id=sub.id,
                        org_code=ret["org_code"],
                        year=ret["year"],
                        indicator_code=code,
                        value=value,
                    )
                )
        status = sub.status
        session.commit()
    return status


@flow(name="naive-ingest")
def naive_ingest(inbox: str, url: str) -> dict:
    started = time.perf_counter()
    statuses = [ingest_file(str(p), url) for p in sorted(Path(inbox).iterdir()) if p.is_file()]
    return {
        "files": len(statuses),
        "accepted": statuses.count("accepted"),
        "rejected": statuses.count("rejected"),
        "loop_seconds": time.perf_counter() - started,
    }


def main() -> None:
    p = argparse.ArgumentParser(description="the naive baseline ingest")
    p.add_argument("inbox")
    p.add_argument("--url", required=True)
    args = p.parse_args()
    flow_started = time.perf_counter()
    out = naive_ingest(args.inbox, args.url)
    out |= {
        "import_seconds": IMPORTED - STARTED,
        "flow_seconds": time.perf_counter() - flow_started,
        "total_seconds": time.perf_counter() - STARTED,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
