"""The trainer's figures, rendered to PNG bytes with matplotlib's Agg canvas (no pyplot, no display)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from leakcheck.errors import MissingExtraError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PNG_METADATA = {"Software": None}  # no version string, so the bytes do not change with matplotlib upgrades


def learning_curves_png(history: Sequence[Mapping[str, Any]], *, fine_tune_from: int | None = None) -> bytes:
    """Loss and accuracy per epoch for train and validation; a dashed line where fine-tuning starts."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure((9, 3.6))
    epochs = [int(row["epoch"]) for row in history]
    for position, metric in enumerate(("loss", "accuracy"), start=1):
        ax = fig.add_subplot(1, 2, position)
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [row.get(prefix + metric) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o", label=label)
        if fine_tune_from is not None:
            ax.axvline(fine_tune_from - 0.5, linestyle="--", color="grey", label="fine-tuning")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    return _png(fig)


def confusion_matrix_png(matrix: np.ndarray[Any, Any], class_names: Sequence[str], *, title: str) -> bytes:
    """Counts per (true, predicted) class, rows normalised for the colour."""
    n = len(class_names)
    side = min(2 + 0.45 * n, 20)
    fig = _figure((side + 1.5, side))
    ax = fig.add_subplot(1, 1, 1)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if shares[i, j] > 0.5 else "black", fontsize=8)  # fmt: skip
    ax.set_xticks(range(n), labels=list(class_names), rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels=list(class_names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _png(fig)


def _figure(size: tuple[float, float]) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            "the trainer's figures need matplotlib, which is not installed", hint="pip install 'leakcheck-images[tf]'"
        ) from exc
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata=_PNG_METADATA)
    return buffer.getvalue()
