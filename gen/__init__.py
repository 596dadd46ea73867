"""Demo and test corpora: a city's yearly returns with realistic variety, and what must come of each.

    from pbstats.gen.city import generate_city
    manifest = generate_city(Path("corpus"), years=(2024, 2025), seed=7)

`python -m pbstats.gen OUT [--years 2024 2025] [--seed 7]` does the same from the shell. The corpus is in
the nights format of shared/tools/score.py: `OUT/expected.json` = {"nights": [{"dir", "files"}]}
and the files in `OUT/<year>-1` (main delivery) and `OUT/<year>-2` (fixed rejects, corrections,
duplicates, late returns); file mtimes are the arrival times. Modules:

- `values`     true figures per org and year (rules hold, no 3× jumps, rollups agree)
- `layout`     the form as laid out on a sheet, and its rendering to cells
- `workbook`   cells to .xlsx/.xlsm (openpyxl, then cached formula results, error values
               included, patched into the sheet XML), .xls (xlwt, results patched into the
               BIFF records), .ods (odfpy); deterministic bytes
- `quirks`     accepted variety (QUIRKS; file kinds in KIND_QUIRKS)
- `sheets`     the sheets beside the form (instructions, breakdowns, appendices) and their quirks
- `cases`      rejected returns (ERROR_CASES) and accepted ones with a warning (WARNING_CASES)
- `city`       who sends what, when, under which name; writes the corpus
- `oracle`     derives every accepted file's warnings from the rulebook and checks the plan
"""
