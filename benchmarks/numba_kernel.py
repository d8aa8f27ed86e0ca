"""Experiment: what a compiled kernel would give the detector's refinement (not used by leakcheck).

Needs numba, which is not a dependency of leakcheck (`pip install numba` into the environment first):

    PYTHONPATH=. python benchmarks/numba_kernel.py

The verifier's refinement measures, for each candidate alignment, the NCC of A's pixels and of A's edges
against B bilinearly sampled on A's grid under that alignment (`verify._measure_rows`, numpy over a batch
of alignments). This script writes the same measure as one numba loop per alignment (float64 sums in
one pass, no temporaries), checks that both give the same similarities on random 32 x 32 images, and
prints the CPU time of each for 256 alignments, the batch size the verifier uses, and for the shift
stages' 9 moves of 28 alignments, which numpy measures from one shared sampling of B. In one process,
so the ratios hold on a noisy machine.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from numpy.typing import NDArray

from leakcheck.near import verify

try:
    import numba  # type: ignore[import-not-found]  # an experiment's own dependency
except ImportError:
    sys.exit("this experiment needs numba: pip install numba")

ROWS = 256
SIDE = 32


@numba.njit(cache=True)  # type: ignore[untyped-decorator]
def _measure(
    a_pix: NDArray[np.float32],
    a_edge: NDArray[np.float32],
    src: NDArray[np.float32],
    per_image: int,
    dims: NDArray[np.intp],
    side: int,
    owner: NDArray[np.intp],
    params: NDArray[np.float32],
    ha: int,
    wa: int,
    out: NDArray[np.float64],
) -> None:
    """(pixel NCC, edge NCC, points) of each alignment row into `out`, as `verify._measure_rows`."""
    ca0, ca1 = (ha - 1) / 2.0, (wa - 1) / 2.0
    for r in range(params.shape[0]):
        c = math.cos(params[r, 0]) / params[r, 2]
        s = math.sin(params[r, 0]) / params[r, 2]
        ib = owner[r]
        hb, wb = dims[ib, 0], dims[ib, 1]
        cy, cx = (hb - 1) / 2.0, (wb - 1) / 2.0
        n = sa = sb = saa = sbb = sab = ea = eb = eaa = ebb = eab = 0.0
        for y in range(ha):
            gy = y - ca0 - params[r, 3]
            for x in range(wa):
                gx = x - ca1 - params[r, 4]
                qx = c * gx - s * gy
                qy = s * gx + c * gy + cy
                qx = (-qx if params[r, 1] > 0 else qx) + cx
                if qy < 0.5 or qy > hb - 1.5 or qx < 0.5 or qx > wb - 1.5:
                    continue
                y0, x0 = int(qy), int(qx)
                fy, fx = qy - y0, qx - x0
                i00 = ib * per_image + y0 * side + x0
                w00, w01, w10, w11 = (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx
                pv = w00 * src[i00, 0] + w01 * src[i00 + 1, 0] + w10 * src[i00 + side, 0] + w11 * src[i00 + side + 1, 0]
                ev = w00 * src[i00, 1] + w01 * src[i00 + 1, 1] + w10 * src[i00 + side, 1] + w11 * src[i00 + side + 1, 1]
                av, ae = a_pix[ib, y * wa + x], a_edge[ib, y * wa + x]
                n += 1.0
                sa += av
                sb += pv
                saa += av * av
                sbb += pv * pv
                sab += av * pv
                ea += ae
                eb += ev
                eaa += ae * ae
                ebb += ev * ev
                eab += ae * ev
        out[r, 2] = n
        if n > 0:
            out[r, 0] = (sab - sa * sb / n) / math.sqrt(max((saa - sa * sa / n) * (sbb - sb * sb / n), 1e-12))
            out[r, 1] = (eab - ea * eb / n) / math.sqrt(max((eaa - ea * ea / n) * (ebb - eb * eb / n), 1e-12))


def _prepared(rng: np.random.Generator) -> verify.Prepared:
    px = np.asarray(rng.random((SIDE, SIDE), dtype=np.float32) * 255, dtype=np.float32)
    edges = verify._edges(px)
    return verify.Prepared(px, edges, verify._half(px), np.ascontiguousarray(np.stack([px, edges])))


def main() -> None:
    rng = np.random.default_rng(0)
    # Each pair's A and B are the same image, so that every alignment overlaps and is measured.
    images = [_prepared(rng) for _ in range(48)]
    batch = verify._Batch.of([(p, p) for p in images])
    owner = rng.integers(0, len(images), ROWS).astype(np.intp)
    params = np.stack(
        [rng.uniform(-0.1, 0.1, ROWS), rng.random(ROWS) > 0.5, rng.uniform(0.9, 1.1, ROWS),
         rng.uniform(-2, 2, ROWS), rng.uniform(-2, 2, ROWS)],
        axis=1,
    ).astype(np.float32)  # fmt: skip
    planes = batch.b_stacked
    src = planes.flat.reshape(-1, planes.flat.shape[2])
    out = np.zeros((ROWS, 3))

    def compiled() -> None:
        _measure(batch.a_pixels, batch.a_edges, src, planes.flat.shape[1], planes.dims, planes.side, owner, params,
                 SIDE, SIDE, out)  # fmt: skip

    start = time.perf_counter()
    compiled()
    print(f"first call (compiling, or loading numba's cache): {time.perf_counter() - start:.2f} s")
    reps = 50
    start = time.process_time()
    for _ in range(reps):
        pixel, edge, _ = verify._measure_rows(batch, owner, params)
    numpy_s = (time.process_time() - start) / reps
    start = time.process_time()
    for _ in range(reps):
        compiled()
    numba_s = (time.process_time() - start) / reps
    measured = pixel > -1
    print(f"{ROWS} alignments of {SIDE} x {SIDE} images, CPU per batch: numpy {numpy_s * 1e3:.2f} ms, "
          f"numba {numba_s * 1e3:.2f} ms: x{numpy_s / numba_s:.1f}")  # fmt: skip
    print(
        f"same similarities: {int(measured.sum())} of {ROWS} alignments measured; largest difference "
        f"{np.abs(pixel[measured] - out[measured, 0]).max():.1e} (pixels), "
        f"{np.abs(edge[measured] - out[measured, 1]).max():.1e} (edges)"
    )
    # The whole-pixel and half-pixel stages sample B once for all nine shifts of an alignment; the loop
    # measures each shift on its own.
    current = params[: ROWS // 9]
    moves = verify._moves(current, verify._SHIFT_1).reshape(-1, 5)
    shifted_owner = np.repeat(owner[: ROWS // 9], 9)
    shifted = np.zeros((len(moves), 3))
    start = time.process_time()
    for _ in range(reps):
        verify._measure_shifts(batch, owner[: ROWS // 9], current, verify._SHIFT_1)
    numpy_shift_s = (time.process_time() - start) / reps
    start = time.process_time()
    for _ in range(reps):
        _measure(batch.a_pixels, batch.a_edges, src, planes.flat.shape[1], planes.dims, planes.side, shifted_owner,
                 moves, SIDE, SIDE, shifted)  # fmt: skip
    numba_shift_s = (time.process_time() - start) / reps
    print(f"{len(current)} alignments x 9 shifts: numpy (shared sampling) {numpy_shift_s * 1e3:.2f} ms, "
          f"numba {numba_shift_s * 1e3:.2f} ms: x{numpy_shift_s / numba_shift_s:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
