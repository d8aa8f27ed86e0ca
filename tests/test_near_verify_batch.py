"""Batched verification: the same verdicts as one pair at a time, whatever the batch holds."""

from __future__ import annotations

import itertools
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from leakcheck.near import NearItem, describe, score_candidates, settings_for
from leakcheck.near.candidates import hypotheses, views
from leakcheck.near.verify import (
    _SHIFT_1,
    _SHIFT_HALF,
    Hypothesis,
    _Batch,
    _coarse_peaks,
    _measure,
    _measure_shifts,
    _moves,
    _Planes,
    _values,
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
    indexed = _jobs()
    jobs = [(prepared[i], prepared[j], h) for i, j, h in indexed]
    batched = verify_batch(jobs)
    single = [verify(a, b, h) for a, b, h in jobs]
    assert batched == single
    # Pairs that share B, verified side by side (B warped once for all of them), give the same verdicts.
    by_b = sorted(range(len(jobs)), key=lambda n: (indexed[n][1], indexed[n][0]))
    assert sum(indexed[n][1] == indexed[m][1] for n, m in itertools.pairwise(by_b)) >= 10
    again = dict(zip(by_b, verify_batch([jobs[n] for n in by_b]), strict=True))
    assert [again[n] for n in range(len(jobs))] == single
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


def test_sampling_a_single_row_or_column_interpolates_along_it_alone() -> None:
    # An image one pixel high or wide has no next row or column: its samples interpolate along the
    # other axis (clamped a thousandth short of the last pixel, as every image is), and the images
    # batched with it are sampled as they are without it.
    row = np.array([[0.0, 10.0, 20.0, 30.0, 40.0]], dtype=np.float32)
    square = np.arange(9, dtype=np.float32).reshape(3, 3) * 7.0
    ys = np.array([[0.0, 0.0, 0.3], [0.5, 1.25, 2.0]], dtype=np.float32)
    xs = np.array([[1.25, 4.0, 2.5], [0.5, 1.75, 0.0]], dtype=np.float32)
    mixed = _Planes.of([row, square, row.T])
    (both,) = _values(mixed, np.array([0, 1], dtype=np.intp), ys, xs)
    assert both[0].tolist() == pytest.approx([12.5, 39.99, 25.0])
    (alone,) = _values(_Planes.of([square]), np.array([0], dtype=np.intp), ys[1:], xs[1:])
    np.testing.assert_array_equal(both[1], alone[0])
    (column,) = _values(mixed, np.array([2], dtype=np.intp), xs[:1], ys[:1])
    assert column[0].tolist() == pytest.approx([12.5, 39.99, 25.0])


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


def _masked_ncc_at(a: np.ndarray, w: np.ndarray, m: np.ndarray, dy: int, dx: int) -> tuple[float, float]:
    """The oracle: NCC of A(p) with W(p - d) over the points of A's grid where W's mask is set, one
    shift at a time; (ncc, overlap count)."""
    ha, wa = a.shape
    side = w.shape[0]
    xs, ys = [], []
    for y in range(ha):
        for x in range(wa):
            qy, qx = y - dy, x - dx
            if 0 <= qy < side and 0 <= qx < side and m[qy, qx] > 0:
                xs.append(float(a[y, x]))
                ys.append(float(w[qy, qx]))
    if len(xs) < 2:
        return -1.0, float(len(xs))
    u, v = np.array(xs) - np.mean(xs), np.array(ys) - np.mean(ys)
    den = float(np.sqrt((u @ u) * (v @ v)))
    return (float(u @ v) / den if den > 1e-3 else -1.0), float(len(xs))


def test_coarse_search_measures_the_ncc_of_the_shift_it_picks() -> None:
    rng = np.random.default_rng(7)
    a = smooth_noise(rng, (16, 16))
    side = 24
    # W: A's pixels moved by known shifts onto the canvas (partly off it), then a plain other picture.
    shifts = [(3, -2), (-5, 4), (0, 0), (6, 6)]
    ws, ms = [], []
    for dy, dx in shifts:
        w = np.zeros((side, side), dtype=np.float32)
        m = np.zeros((side, side), dtype=np.float32)
        for y in range(16):
            for x in range(16):
                qy, qx = y - dy, x - dx
                if 0 <= qy < side and 0 <= qx < side:
                    w[qy, qx] = 1.7 * a[y, x] + 20.0  # contrast and brightness changed
                    m[qy, qx] = 1.0
        ws.append(w)
        ms.append(m)
    other = smooth_noise(np.random.default_rng(8), (side, side))
    ws.append(other)
    ms.append(np.ones((side, side), dtype=np.float32))
    owner = np.zeros(len(ws), dtype=np.intp)
    ncc, index = _coarse_peaks(a[None], owner, np.stack(ws), np.stack(ms), 0.42)
    size = 16 + side
    for k, (dy, dx) in enumerate(shifts):
        iy, ix = divmod(int(index[k]), size)
        assert (iy if iy < 16 else iy - size, ix if ix < 16 else ix - size) == (dy, dx)
        assert ncc[k] == pytest.approx(1.0, abs=1e-4)
    # Whatever shift it picks for the unrelated picture, the value is that shift's masked NCC.
    iy, ix = divmod(int(index[-1]), size)
    expected, count = _masked_ncc_at(a, ws[-1], ms[-1], iy if iy < 16 else iy - size, ix if ix < 16 else ix - size)
    assert count >= 0.42 * 16 * 16
    assert ncc[-1] == pytest.approx(expected, abs=1e-4)
    assert ncc[-1] < 0.9


def test_coarse_search_gives_minus_one_for_flat_or_empty_pictures() -> None:
    a = smooth_noise(np.random.default_rng(9), (16, 16))
    side = 24
    everywhere = np.ones((side, side), dtype=np.float32)
    flat = np.full((side, side), 90.0, dtype=np.float32)
    nothing = np.zeros((side, side), dtype=np.float32)
    ncc, _ = _coarse_peaks(
        a[None], np.zeros(2, dtype=np.intp), np.stack([flat, nothing]), np.stack([everywhere, nothing]), 0.42
    )
    assert ncc.tolist() == [-1.0, -1.0]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A picture with structure at several scales (noise, blurred), values around 0-255."""
    img = Image.fromarray((rng.uniform(0, 255, shape)).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return np.asarray(img, dtype=np.float32)
