"""`LeakcheckCallback`: audit the data folder and preflight the model when `fit` starts."""

from __future__ import annotations

import os
from typing import Any, Literal

import keras

from leakcheck.errors import RefusedError, UsageError
from leakcheck.keras.preflight import preflight
from leakcheck.model import Severity
from leakcheck.report import FailOn, Report
from leakcheck.scanning import scan

Action = Literal["raise", "stop"]


class LeakcheckCallback(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type information
    """At `on_train_begin`: scan `data_dir` (if given) and preflight the model on the given splits.

    When a finding reaches `stop_on` ("error", "warning" or "never"), the default `action="raise"`
    raises `RefusedError` (its `.report` holds the findings) before a single batch is trained; with
    `action="stop"` it sets `model.stop_training = True` instead, and Keras then stops after the first
    batch. The reports stay available as `.scan_report` and `.preflight_report`.

    `train` is required for preflight (the same data given to `fit`); `val` and `test` are optional.
    The planned epochs and steps come from `fit` itself.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        train: Any = None,
        val: Any = None,
        test: Any = None,
        batch_size: int | None = None,
        stop_on: FailOn = "error",
        action: Action = "raise",
        jobs: int | None = None,
    ) -> None:
        super().__init__()
        if stop_on not in ("error", "warning", "never"):
            raise UsageError(f"stop_on must be 'error', 'warning' or 'never', got {stop_on!r}")
        if action not in ("raise", "stop"):
            raise UsageError(f"action must be 'raise' or 'stop', got {action!r}")
        if data_dir is None and train is None:
            raise UsageError("LeakcheckCallback needs data_dir=, train=, or both")
        self.data_dir = data_dir
        self.train, self.val, self.test = train, val, test
        self.batch_size = batch_size
        self.stop_on: FailOn = stop_on
        self.action: Action = action
        self.jobs = jobs
        self.scan_report: Report | None = None
        self.preflight_report: Report | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.data_dir is not None:
            self.scan_report = scan(self.data_dir, jobs=self.jobs)
        if self.train is not None:
            params = self.params or {}
            self.preflight_report = preflight(
                self.model,
                self.train,
                self.val,
                self.test,
                epochs=params.get("epochs"),
                batch_size=self.batch_size,
                steps_per_epoch=params.get("steps"),
            )
        failing = [r for r in (self.scan_report, self.preflight_report) if r is not None and r.exit_code(self.stop_on)]
        if not failing:
            return
        if self.action == "stop":
            self.model.stop_training = True
            return
        threshold = Severity.parse(self.stop_on) if self.stop_on != "never" else Severity.ERROR
        worst = [f for r in failing for f in r.findings if f.severity >= threshold]
        first = worst[0]
        more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
        raise RefusedError(
            f"training stopped by leakcheck: {first.message}{more}",
            hint=first.hint or "see the callback's scan_report and preflight_report",
            report=failing[0],
        )
