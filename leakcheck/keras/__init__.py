"""Keras side of leakcheck: preflight checks of a model and its pipelines, a callback, and a trainer.

Needs the `tf` extra (`pip install 'leakcheck-images[tf]'`). Importing `leakcheck` never imports this
package; importing this package imports TensorFlow and Keras.
"""

from leakcheck.errors import MissingExtraError

try:
    import keras as _keras  # noqa: F401  # imported here so that a missing extra fails with the hint below
    import tensorflow as _tensorflow  # noqa: F401
except ModuleNotFoundError as exc:
    raise MissingExtraError(
        f"leakcheck.keras needs TensorFlow and Keras, and {exc.name!r} is not installed",
        hint="pip install 'leakcheck-images[tf]'",
    ) from exc

from leakcheck.keras.backbones import TRAINABLE_BACKBONES, BackbonePreprocessing
from leakcheck.keras.callback import LeakcheckCallback
from leakcheck.keras.checks import PREFLIGHT_CHECKS
from leakcheck.keras.evaluation import CleanEvaluation, Score, evaluate_clean, leaked_keys
from leakcheck.keras.preflight import check_batchnorm, preflight
from leakcheck.keras.training import TrainOptions, TrainResult, train

__all__ = [
    "PREFLIGHT_CHECKS",
    "TRAINABLE_BACKBONES",
    "BackbonePreprocessing",
    "CleanEvaluation",
    "LeakcheckCallback",
    "Score",
    "TrainOptions",
    "TrainResult",
    "check_batchnorm",
    "evaluate_clean",
    "leaked_keys",
    "preflight",
    "train",
]
