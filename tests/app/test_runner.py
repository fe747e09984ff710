"""Ten sessions press Run together: every run completes with its own correct answer, never
more than the queue's places run at once, and waiting runs are told how many are ahead."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from urbanseg_core.app import runner
from urbanseg_core.inference.pipeline import segment_file
from urbanseg_core.runs.load import Budget, RunQueue
from urbanseg_core.runs.request import RunRequest
from urbanseg_core.sentinel2 import MODEL_BANDS
from urbanseg_core.util import sha256_file

from ..conftest import textured_reflectance, write_geotiff

SESSIONS = 10


@pytest.fixture
def uploads(tmp_path):
    """Eight different small scenes; sessions 8 and 9 ask for scenes 0 and 1 again."""
    paths = []
    for i in range(8):
        dn = (textured_reflectance(96, 128, seed=i) * 10000).astype("uint16") + 1
        paths.append(write_geotiff(tmp_path / f"scene{i}.tif", dn, list(MODEL_BANDS)))
    return paths + paths[:2]


def test_ten_sessions_pressing_run_together_all_finish_in_turn(uploads, tiny_model,
                                                               monkeypatch):
    queue = RunQueue(Budget(2, 10 ** 12))
    monkeypatch.setattr(runner, "RUN_QUEUE", queue)
    requests = [RunRequest(kind="upload", name=p.name, path=str(p), sha256=sha256_file(p))
                for p in uploads]
    results, infos, errors = [None] * SESSIONS, [None] * SESSIONS, []
    waits = {i: [] for i in range(SESSIONS)}
    go = threading.Barrier(SESSIONS)

    def session(i: int) -> None:
        def progress(stage, value):
            if stage == "queue":
                waits[i].append(int(value))
        try:
            go.wait()
            results[i], infos[i] = runner.run(requests[i], tiny_model, progress)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    took = time.perf_counter() - started
    print(f"\n{SESSIONS} sessions: all done in {took:.1f} s; at most {queue.peak} at once")
    assert not errors, errors
    assert all(r is not None for r in results)
    assert queue.peak == 2 and queue.running == 0  # bounded: never more than its places
    assert any(w for w in waits.values())  # some waited, and were told how many were ahead
    assert all(n >= 1 for w in waits.values() for n in w)
    for i, (path, result) in enumerate(zip(uploads, results)):
        expected = segment_file(path, tiny_model).classes
        np.testing.assert_array_equal(result.classes, expected)  # each its own answer
    # the repeated scenes were computed once and shared
    assert results[8] is results[0] and results[9] is results[1]
    assert sum(info.computed for info in infos) == 8
