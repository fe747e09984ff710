"""How many model runs a server does at once, and how much memory each may take.

Ten people pressing Run together must slow down, not crash the server. So every run first
takes a place in one process-wide :class:`RunQueue`:

- at most ``slots`` runs at once (each run already uses every CPU core through the model's
  threads; more at once only adds memory), first come first served, and each waiting run
  knows how many runs are ahead of it (the page says "2 runs ahead of you");
- a run needs the memory :func:`run_bytes` estimates from its input size (the class map, the
  reference, the band stack when it must be read whole, the model's buffers); runs start only
  while their needs fit the memory ``budget`` together, and a run that could never fit is
  refused at once with a plain message instead of exhausting the machine.

No Streamlit here: the app (:mod:`urbanseg_core.app.runner`) holds one queue per process.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from ..errors import TooLargeError

#: Memory a run needs whatever its size: the model's tile batch and its activations (one
#: 1024 px tile), buffers and the result's map layers.
FIXED_BYTES = 600_000_000
#: Bytes per input pixel of a run that reads its file tile by tile: the class map, the
#: reference and its reprojection, the scores' temporary arrays.
TILED_BYTES_PER_PX = 24
#: Bytes per input pixel of a run that holds the whole band stack (Earth Engine composites,
#: files warped to a 10 m grid): 11 float32 bands, the warped copy, masks, the class map.
WHOLE_BYTES_PER_PX = 100


def run_bytes(pixels: int, whole: bool) -> int:
    """The memory a run of ``pixels`` input pixels needs (bytes, an upper estimate).

    Args:
        pixels: the input's width x height.
        whole: the run holds the whole band stack in memory (see module docstring).
    """
    return FIXED_BYTES + pixels * (WHOLE_BYTES_PER_PX if whole else TILED_BYTES_PER_PX)


def machine_memory() -> int:
    """Physical memory of this machine in bytes (8 GB when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024 ** 3


@dataclass(frozen=True)
class Budget:
    """What one process gives to model runs.

    Attributes:
        slots: runs at once.
        memory: bytes all running runs may need together.
    """

    slots: int
    memory: int

    @classmethod
    def for_machine(cls, env: dict | None = None) -> "Budget":
        """Half the CPU cores (at least 1, at most 4) and 60 % of the physical memory;
        ``URBANSEG_MAX_RUNS`` and ``URBANSEG_RUN_MEMORY_GB`` override them."""
        env = os.environ if env is None else env
        slots = int(env.get("URBANSEG_MAX_RUNS") or max(1, min(4, (os.cpu_count() or 2) // 2)))
        gb = env.get("URBANSEG_RUN_MEMORY_GB")
        memory = int(float(gb) * 1024 ** 3) if gb else int(0.6 * machine_memory())
        return cls(max(1, slots), max(memory, FIXED_BYTES))


class RunQueue:
    """A first-come, first-served admission queue for model runs (module docstring).

    Thread-safe; one instance is shared by every session of a process.

    Args:
        budget: slots and memory.
    """

    def __init__(self, budget: Budget):
        self.budget = budget
        self._cond = threading.Condition()
        self._waiting: deque[int] = deque()
        self._tickets = itertools.count()
        self.running = 0
        self.used = 0
        #: The most runs that were ever running at once (for tests and logs).
        self.peak = 0

    def ahead_of(self, ticket: int) -> int:
        """Runs ahead of a waiting ticket: those running and those waiting before it."""
        with self._cond:
            return self.running + list(self._waiting).index(ticket)

    def _fits(self, ticket: int, need: int) -> bool:
        return (self._waiting[0] == ticket and self.running < self.budget.slots
                and (self.running == 0 or self.used + need <= self.budget.memory))

    @contextmanager
    def slot(self, need: int, on_wait: Callable[[int], None] | None = None,
             poll_s: float = 0.25) -> Iterator[None]:
        """Wait for a place, run the body, give the place back.

        Args:
            need: the run's memory (bytes, :func:`run_bytes`).
            on_wait: called with the number of runs ahead, while waiting (when it changes).
            poll_s: how often the wait wakes up to report.

        Raises:
            TooLargeError: the run alone needs more memory than the whole budget.
        """
        if need > self.budget.memory:
            raise TooLargeError(
                f"This run needs about {need / 1e9:.1f} GB of memory; this server gives runs "
                f"{self.budget.memory / 1e9:.1f} GB.", "Crop the image to a smaller area.",
                pixels=0, limit=0, source="memory")
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            shown = None
            try:
                while not self._fits(ticket, need):
                    ahead = self.running + list(self._waiting).index(ticket)
                    if on_wait is not None and ahead != shown:
                        shown = ahead
                        on_wait(ahead)
                    self._cond.wait(poll_s)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self.running += 1
            self.used += need
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self.used -= need
                self._cond.notify_all()
