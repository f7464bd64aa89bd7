"""Memory a command will need, checked before it starts: a one-line refusal instead of a
``MemoryError`` traceback minutes later.

``available_bytes`` reads what the machine can still give (``MemAvailable`` of
``/proc/meminfo``, else ``os.sysconf``; a cgroup v2 limit when lower); ``require_memory``
compares an estimate with it. The estimates themselves live with the commands
(``commands/_common.py``): they are the arrays a command holds at its peak, so they are lower
bounds of the real peak up to the interpreter and the libraries (a few hundred MB).
"""

import os
from pathlib import Path

from .errors import ScaleDetectError

_CGROUP = Path("/sys/fs/cgroup")


def available_bytes() -> int | None:
    """Bytes this process may still allocate, or None if the platform does not say.

    The smaller of the machine's available memory (``MemAvailable``; ``SC_AVPHYS_PAGES`` times
    the page size where there is no ``/proc/meminfo``) and, inside a cgroup v2 with a limit,
    ``memory.max - memory.current``.
    """
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            pass
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((_CGROUP / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, min(found)) if found else None


def fmt_bytes(n: float) -> str:
    """``n`` bytes in the largest unit that keeps the number >= 1: ``1.2 GB``, ``36 TB``."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"  # pragma: no cover - the loop returns at PB


def require_memory(what: str, need: float, got: str) -> None:
    """Raise unless *need* bytes (the estimate for *what*) fit in the available memory; *got*
    names the parameters that set it. Unknown availability passes.

    Raises
    ------
    ScaleDetectError
        e.g. ``the probe set must fit in memory (about 3.2 PB estimated, 21 GB available); got
        probe=10000000000000, size=32``.
    """
    avail = available_bytes()
    if avail is not None and need > avail:
        raise ScaleDetectError(f"{what} must fit in memory (about {fmt_bytes(need)} estimated, "
                               f"{fmt_bytes(avail)} available); got {got}")
