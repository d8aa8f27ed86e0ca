"""The progress callback that the fingerprinting pool and the near-duplicate detector both report to."""

from __future__ import annotations

from collections.abc import Callable

# Called once with the number of items the work will do (when it starts, not when every item is known);
# returns a callback told how many more are done.
ProgressStart = Callable[[int], Callable[[int], None]]
