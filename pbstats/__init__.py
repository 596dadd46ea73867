"""pbstats: the year-end party-building statistics pipeline, one importable name.

The design card keeps `schemas/`, `transforms/`, `expectations/`, `warehouse/`, `flows/` and `gen/`
at the top of the repository; they are `pbstats.schemas`, `pbstats.transforms`, ... everywhere.
An installed wheel holds them inside this folder (hatchling's `sources` mapping in pyproject.toml);
in a checkout they sit beside it, and this package's search path (PEP 302 `__path__`, which a
package may extend) takes in the checkout's root for them. Nothing else of the root is importable
under this name: only folders with an `__init__.py` that a `pbstats.` import names.
"""

from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "schemas").is_dir():  # a checkout (editable install): the packages sit beside this one
    __path__.append(str(_here.parent))
