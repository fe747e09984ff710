"""The run queue: a bounded number of runs at once, first come first served, runs ahead
reported, memory admitted by input size, and runs too large for the budget refused."""

from __future__ import annotations

import threading
import time

import pytest

from urbanseg_core.errors import TooLargeError
from urbanseg_core.runs.load import FIXED_BYTES, Budget, RunQueue, run_bytes


def test_run_bytes_grows_with_the_input_and_whole_stacks_cost_more():
    small, big = run_bytes(1_000_000, False), run_bytes(100_000_000, False)
    assert small > FIXED_BYTES and big > small
    assert run_bytes(1_000_000, True) > small
    # a 10,000 x 10,000 px file read tile by tile fits a few GB, as `urbanseg predict` does
    assert big < 4e9


def test_budget_comes_from_the_machine_or_the_environment():
    default = Budget.for_machine({})
    assert default.slots >= 1 and default.memory >= FIXED_BYTES
    set_ = Budget.for_machine({"URBANSEG_MAX_RUNS": "3", "URBANSEG_RUN_MEMORY_GB": "2"})
    assert set_ == Budget(3, 2 * 1024 ** 3)


def _crowd(queue: RunQueue, needs: list[int], hold_s: float = 0.05):
    """Start one thread per need; each holds its place ``hold_s``; returns what they saw."""
    seen = {i: [] for i in range(len(needs))}
    order, running, peak = [], [0], [0]
    lock = threading.Lock()

    def one(i, need):
        with queue.slot(need, on_wait=seen[i].append, poll_s=0.01):
            with lock:
                order.append(i)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(hold_s)
            with lock:
                running[0] -= 1

    threads = []
    for i, need in enumerate(needs):
        threads.append(threading.Thread(target=one, args=(i, need)))
        threads[-1].start()
        time.sleep(0.01)  # arrive in order
    for t in threads:
        t.join(timeout=30)
    return seen, order, peak[0]


def test_at_most_slots_runs_at_once_in_arrival_order_with_runs_ahead_reported():
    queue = RunQueue(Budget(2, 10 ** 12))
    seen, order, peak = _crowd(queue, [1] * 6)
    assert peak == 2 and queue.peak == 2
    assert order == list(range(6))  # first come, first served
    assert seen[0] == [] and seen[1] == []  # free places: no wait
    assert seen[5] and seen[5][0] >= 2 and seen[5] == sorted(seen[5], reverse=True)
    assert queue.running == 0 and queue.used == 0


def test_memory_admits_fewer_runs_than_slots_when_inputs_are_large():
    queue = RunQueue(Budget(4, 10))
    _, _, peak = _crowd(queue, [6, 6, 6])  # two would need 12 > 10
    assert peak == 1
    _, _, peak = _crowd(RunQueue(Budget(4, 10)), [3, 3, 3])
    assert peak == 3


def test_a_run_larger_than_the_whole_budget_is_refused_at_once():
    queue = RunQueue(Budget(2, 100))
    with pytest.raises(TooLargeError, match="needs about"):
        with queue.slot(101):
            pass
    assert queue.running == 0


def test_a_failing_run_gives_its_place_back():
    queue = RunQueue(Budget(1, 100))
    with pytest.raises(RuntimeError):
        with queue.slot(10):
            raise RuntimeError("boom")
    with queue.slot(10):
        assert queue.running == 1
    assert queue.running == 0 and queue.used == 0
