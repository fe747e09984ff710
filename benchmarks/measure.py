"""How the benchmarks time a command and its peak memory in a fresh process.

:func:`run_timed` runs Python code or a module (the ``urbanseg`` command:
``python -m urbanseg_core.cli``) in a new interpreter and reports its wall time and its own
peak resident memory: ``VmHWM`` from ``/proc/self/status``, written by the child as it exits.
``ru_maxrss`` (``wait4``, ``RUSAGE_CHILDREN``) is not used: Linux carries a process's peak
across ``exec``, so a child started from a large benchmark process (one that imported PyTorch)
would report at least its parent's size.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Prepended to the child's code: write this process's peak RSS (KiB) to $BENCH_PEAK_FILE.
_PEAK = ("import atexit, os\n"
         "def _peak():\n"
         "    with open('/proc/self/status') as f:\n"
         "        kib = next(line for line in f if line.startswith('VmHWM')).split()[1]\n"
         "    with open(os.environ['BENCH_PEAK_FILE'], 'w') as out:\n"
         "        out.write(kib)\n"
         "atexit.register(_peak)\n")


def python_code(code: str) -> list[str]:
    """The command line that runs ``code`` in a fresh interpreter."""
    return [sys.executable, "-c", _PEAK + code]


def python_module(module: str, *args: str) -> list[str]:
    """The command line of ``python -m module args...``."""
    return python_code(f"import runpy, sys\nsys.argv = [{module!r}, *{list(args)!r}]\n"
                       f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")


def run_timed(cmd: list[str]) -> dict:
    """Run a command of :func:`python_code` / :func:`python_module` with this repository
    first on ``PYTHONPATH``: its wall time (s), peak RSS (MiB) and output.

    Raises:
        RuntimeError: the command failed.
    """
    with tempfile.TemporaryDirectory(prefix="urbanseg-bench-") as tmp:
        peak_file = Path(tmp) / "peak"
        env = dict(os.environ, PYTHONPATH=str(REPO), BENCH_PEAK_FILE=str(peak_file))
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
        seconds = time.perf_counter() - start
        if proc.returncode:
            raise RuntimeError(f"{cmd[-1][-200:]} failed ({proc.returncode}): "
                               f"{proc.stderr[-2000:]}")
        peak = int(peak_file.read_text()) / 1024
    return {"seconds": seconds, "peak_mib": peak, "stdout": proc.stdout,
            "stderr": proc.stderr}


def spread(values) -> dict:
    """``min``, ``median`` and ``max`` of some numbers (the median rounded to 3 decimals)."""
    values = list(values)
    return {"min": min(values), "median": round(statistics.median(values), 3),
            "max": max(values)}
