"""Batched verification: the same verdicts as one pair at a time, whatever the batch holds."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from leakcheck.near import NearItem, describe, score_candidates, settings_for
from leakcheck.near.candidates import hypotheses, views
from leakcheck.near.verify import (
    _SHIFT_1,
    _SHIFT_HALF,
    Hypothesis,
    _Batch,
    _measure,
    _measure_shifts,
    _moves,
    prepare,
    verify,
    verify_batch,
)
from tests.test_near import EDITS, scene


def _images() -> list[Image.Image]:
    """Originals of several shapes (so that a batch mixes A shapes and pads B) and edits of them."""
    out: list[Image.Image] = []
    for seed, size in ((3, (160, 120)), (4, (120, 160)), (5, (150, 150)), (6, (200, 90))):
        original = scene(seed, size)
        out.append(original)
        for family in ("crop", "mirror", "rotate-20", "resize", "letterbox"):
            out.append(EDITS[family][0](original))
    out.append(scene(3).resize((64, 64)))  # squashed to another aspect ratio
    return out


def _jobs() -> list[tuple[int, int, list[Hypothesis]]]:
    ds = [describe(im) for im in _images()]
    v = views(ds)
    pairs = [(i, j) for i in range(len(ds)) for j in range(i + 1, len(ds)) if (i + j) % 3 == 0 or j == i + 1]
    return [(i, j, hypotheses(ds[i], ds[j], v, i, v, j)) for i, j in pairs]


def test_batch_gives_the_verdicts_of_one_pair_at_a_time() -> None:
    ds = [describe(im) for im in _images()]
    prepared = [prepare(d) for d in ds]
    jobs = [(prepared[i], prepared[j], h) for i, j, h in _jobs()]
    batched = verify_batch(jobs)
    single = [verify(a, b, h) for a, b, h in jobs]
    assert batched == single
    # Shapes differ, so the batch spans several groups; most pairs get a verdict, some do not.
    assert len({a.pixels.shape for a, _, _ in jobs}) >= 3
    assert sum(v is not None for v in batched) >= len(jobs) // 2
    # Reordering the jobs (other chunks, other paddings) changes nothing.
    reordered = verify_batch(jobs[::-1])[::-1]
    assert reordered == batched


def test_shift_stages_measure_what_the_general_measure_does() -> None:
    ds = [describe(im) for im in _images()[:6]]
    prepared = [prepare(d) for d in ds]
    pairs = [(prepared[0], prepared[k]) for k in range(1, 6)]
    batch = _Batch.of(pairs)
    rng = np.random.default_rng(0)
    k = 12
    owner = np.arange(k, dtype=np.intp) % len(pairs)
    current = np.stack(
        [
            rng.uniform(-0.6, 0.6, k),
            (rng.uniform(size=k) > 0.5).astype(float),
            rng.uniform(0.7, 1.3, k),
            rng.uniform(-6, 6, k),
            rng.uniform(-6, 6, k),
        ],
        axis=1,
    ).astype(np.float32)
    for deltas in (_SHIFT_1, _SHIFT_HALF):
        moves = _moves(current, deltas)
        m = moves.shape[1]
        fast = _measure_shifts(batch, owner, current, deltas)
        slow = _measure(batch, np.repeat(owner, m), moves.reshape(k * m, 5))
        for x, y in zip(fast, slow, strict=True):
            # The same sample points up to float32 rounding of the coordinates.
            np.testing.assert_allclose(x, y, atol=1e-4)


def test_scored_pairs_are_deterministic_and_include_squashed_copies() -> None:
    images = _images()
    items = [NearItem(describe(im), im.size) for im in images]
    first = score_candidates(items, settings_for("thorough"))
    again = score_candidates(items, settings_for("thorough"))
    assert first == again
    # Some pairs failed and were verified once more with B squashed to A's aspect ratio.
    assert any(s.verdict is not None and s.verdict.alignment.squashed for s in first)
    assert any(s.verdict is not None and s.verdict.score >= 0.7 for s in first)


def test_verifying_on_several_processes_gives_the_verdicts_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from leakcheck.near import find_near_pairs, pool

    ds = [describe(im) for im in _images()]
    prepared = [prepare(d) for d in ds]
    jobs = [(prepared[i], prepared[j], h) for i, j, h in _jobs()]
    # Small enough here that the pool would not start: lower its bars so that it does, in several slices.
    monkeypatch.setattr(pool, "MIN_PARALLEL", 2)
    monkeypatch.setattr(pool, "_MIN_SLICE", 4)
    started: list[int] = []

    class Counted(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pool, "ProcessPoolExecutor", Counted)
    assert len(jobs) > 3 * 4
    done: list[int] = []
    in_pool = pool.map_slices(lambda s, e: verify_batch(jobs[s:e]), len(jobs), 2, done.append)
    assert in_pool == verify_batch(jobs)
    assert started == [2]
    assert len(done) > 1
    assert sum(done) == len(jobs)
    assert pool._TASK is None  # nothing left behind for later forks
    items = [NearItem(d, im.size) for d, im in zip(ds, _images(), strict=True)]
    settings = settings_for("thorough")
    assert find_near_pairs(items, settings, workers=2) == find_near_pairs(items, settings, workers=1)
    assert len(started) == 2
