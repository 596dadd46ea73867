"""glibc's allocator, set for a night's shape: a command with a dozen threads and readers that each
take tens of thousands of small files, where most memory is short-lived.

By default glibc gives every thread that meets contention an arena of its own (up to eight per core),
and raises its mmap threshold each time a large block is freed, after which blocks up to that size
come from the heap, which then grows around the few that live on. With two arenas and a fixed 128 KiB
threshold a province's night peaks ~8% lower (822 → 753 MB for the whole process tree at 25,000
returns) for the same CPU seconds.
"""

from __future__ import annotations

import os

from pbstats import compat

# environment variable -> (mallopt parameter, value), each where the environment holds none. Once set,
# the mmap threshold stays where it is (glibc no longer raises it as blocks are freed); the trim threshold
# is how much free memory at the heap's top is kept rather than given back
SETTINGS = {
    "MALLOC_ARENA_MAX": (-8, 2),  # M_ARENA_MAX
    "MALLOC_MMAP_THRESHOLD_": (-3, 128 * 1024),  # M_MMAP_THRESHOLD
    "MALLOC_TRIM_THRESHOLD_": (-1, 128 * 1024),  # M_TRIM_THRESHOLD
}


def tune() -> None:
    """This process's allocator set now (mallopt, before its threads start), and the processes it
    starts (Prefect's temporary server, the readers) set the same through their environment, which
    glibc reads as each one starts. A setting the environment already holds is kept (the operator's
    own). Nothing is done where the C library is not glibc."""
    for name, (parameter, default) in SETTINGS.items():
        value = os.environ.setdefault(name, str(default))
        try:
            compat.mallopt(parameter, int(value))
        except ValueError:  # the operator's value is not a number: glibc ignores it, and so do we
            pass
