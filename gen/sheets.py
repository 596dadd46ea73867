"""The sheets a sender keeps beside the form: instructions, breakdowns, appendices (forms.md §3: the
form's sheet is found by its 表号, whatever else the workbook holds; §6: the size limits are the form
sheet's). Each quirk here adds some and changes nothing that must load."""

from __future__ import annotations

import random
from collections.abc import Callable

from .submission import Ctx, Submission, add_sheet, instructions_sheet, person
from .workbook import Cell, CellError, CellValue, Grid


def sheet_after_others(sub: Submission, ctx: Ctx) -> bool:
    """An instructions sheet, a breakdown, or both, before the form."""
    assert sub.doc is not None
    roll = ctx.rng.random()
    if roll < 0.7:
        add_sheet(sub.doc, instructions_sheet(sub.doc, sub.year), before=True)
    if roll > 0.4:
        add_sheet(sub.doc, breakdown_sheet(sub, ctx), before=True)
    return True


def breakdown_sheet(sub: Submission, ctx: Ctx) -> Grid:
    """An 附表 the sender keeps beside the form: how 01 splits up (党员 or 村/社区)."""
    value = int(sub.values["01"])
    if sub.form.level == "village":
        parts = (("正式党员", value - int(sub.values["02"])), ("预备党员", int(sub.values["02"])))
    else:
        communities = ctx.rng.randint(0, value // 3)
        parts = (("社区", communities), ("行政村", value - communities))
    grid = Grid("附表1")
    grid.put(0, 0, "项目", bold=True)
    grid.put(0, 1, "数量", bold=True)
    for i, (label, n) in enumerate(parts, start=1):
        grid.put(i, 0, label)
        grid.put(i, 1, n)
    return grid


def extra_sheet_after(sub: Submission, ctx: Ctx) -> bool:
    """An empty sheet after the form, as a new workbook has."""
    assert sub.doc is not None
    add_sheet(sub.doc, Grid(ctx.rng.choice(("Sheet2", "Sheet3", "备用"))), before=False)
    return True


def side_sheet_formula_error(sub: Submission, ctx: Ctx) -> bool:
    """A side sheet whose change on last year divides by an empty cell (#DIV/0!): an error value
    outside the form's figures is no finding."""
    assert sub.doc is not None
    grid = breakdown_sheet(sub, ctx)
    grid.put(0, 2, "上年", bold=True)
    grid.put(0, 3, "增幅", bold=True)
    for r in (1, 2):
        grid.put(r, 3, CellError("#DIV/0!"), formula=f"=(B{r + 1}-C{r + 1})/C{r + 1}")
    add_sheet(sub.doc, grid, before=False)
    return True


def appendix(rows: int, columns: int) -> Callable[[Submission, Ctx], bool]:
    """An appendix of `rows` members × `columns` after the form."""

    def apply(sub: Submission, ctx: Ctx) -> bool:
        assert sub.doc is not None
        add_sheet(sub.doc, appendix_sheet(ctx.rng, rows, columns, "附表2"), before=False)
        return True

    return apply


def side_sheets_many(sub: Submission, ctx: Ctx) -> bool:
    """A sheet per branch beside the form, as some townships keep their working lists."""
    assert sub.doc is not None
    for n in range(ctx.rng.randint(4, 8)):
        add_sheet(sub.doc, appendix_sheet(ctx.rng, ctx.rng.randint(8, 24), 6, f"支部{n + 1}"), before=False)
    return True


APPENDIX_COLUMNS = (
    "序号", "姓名", "性别", "民族", "出生年月", "学历", "入党时间", "转正时间", "所在支部", "党内职务",
    "工作单位", "行政职务", "人员类别", "党籍状态", "组织关系所在", "是否流动党员", "流入地", "联系党员干部",
    "本年参加培训", "培训学时", "民主评议结果", "缴纳党费", "志愿服务", "备注",
)  # fmt: skip
BRANCHES = ("第一党支部", "第二党支部", "第三党支部", "老年党支部", "流动党员党支部", "产业党支部")


def appendix_sheet(
    rng: random.Random, rows: int, columns: int = len(APPENDIX_COLUMNS), name: str = "附表2"
) -> Grid:
    """A side sheet the sender keeps beside the form: one line per party member, no personal numbers.
    Its size is what matters (forms.md §6: the 10,000-row limit is the form sheet's, not a side sheet's);
    its lines are drawn from a few hundred members, so that a long one is quick to make."""
    heads = [APPENDIX_COLUMNS[i % len(APPENDIX_COLUMNS)] for i in range(columns)]
    members = [_member(rng, heads) for _ in range(min(rows, 300))]
    cells = {(0, col): Cell(head) for col, head in enumerate(heads)}
    for row in range(1, rows + 1):
        member = members[rng.randrange(len(members))]
        cells[(row, 0)] = Cell(row)
        cells.update(((row, col), member[col]) for col in range(1, columns))
    return Grid(name, cells)


FILLERS = ("是", "否", "正常", "合格", "优秀", "无", "按时足额")


def _member(rng: random.Random, heads: list[str]) -> list[Cell]:
    """One member's line under `heads` (the columns not drawn here say 是, 合格, 正常 and the like)."""
    born, joined = rng.randint(1940, 2004), rng.randint(1960, 2024)
    drawn: dict[str, CellValue] = {
        "姓名": person(rng),
        "性别": rng.choice("男女"),
        "民族": rng.choice(("汉族", "汉族", "汉族", "土家族", "苗族")),
        "出生年月": f"{born}年{rng.randint(1, 12)}月",
        "学历": rng.choice(("初中", "高中", "中专", "大专", "本科")),
        "入党时间": f"{joined}年{rng.randint(1, 12)}月",
        "转正时间": f"{joined + 1}年{rng.randint(1, 12)}月",
        "所在支部": rng.choice(BRANCHES),
        "培训学时": rng.randint(8, 60),
        "缴纳党费": round(rng.uniform(2, 300), 2),
    }
    start = rng.randrange(len(FILLERS))
    return [Cell(drawn.get(head, FILLERS[(start + i) % len(FILLERS)])) for i, head in enumerate(heads)]
