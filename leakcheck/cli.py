"""The `leakcheck` command. The only module that prints or writes files."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from leakcheck._version import __version__
from leakcheck.errors import LeakcheckError, UsageError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS
from leakcheck.near.semantic import DEFAULT_MIN_SIMILARITY
from leakcheck.render.pairs_csv import render_pairs_csv
from leakcheck.render.terminal import render_terminal
from leakcheck.report import FailOn, Report
from leakcheck.scanning import scan


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's returns NoReturn
        raise UsageError(f"{self.prog}: {message}", hint=f"see '{self.prog} --help'")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="leakcheck", description="Audit image-classification data sets for leakage.")
    parser.add_argument("--version", action="version", version=f"leakcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("scan", help="scan DATA/<split>/<class>/<image> for leaks and data problems")
    p.add_argument("path", metavar="DATA", help="the data set's root folder (holding train/, val/, test/)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE ('-' for standard output)")
    p.add_argument("--pairs", metavar="FILE", help="write every duplicate pair as CSV to FILE ('-' for stdout)")
    p.add_argument("--fail-on", choices=("error", "warning", "never"), default="error",
                   help="exit 1 when a finding reaches this severity (default: error)")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no terminal report")
    p.add_argument("-v", "--verbose", action="store_true", help="list informational findings in full")
    p.add_argument("-j", "--jobs", type=_positive_int, default=None, help="decoding processes (default: all cores)")
    p.add_argument("--no-near", action="store_true", help="exact duplicates only (bytes or pixels)")
    p.add_argument("--sensitivity", choices=("strict", "default", "thorough"), default="default",
                   help="near-duplicate sensitivity: strict (unmistakable copies only), default, or thorough "
                        "(heavier edits, a few more false pairs)")  # fmt: skip
    p.add_argument("--min-score", type=_unit_float, default=None, metavar="SCORE",
                   help="expert: lowest near-duplicate score (0-1) reported, overriding --sensitivity")  # fmt: skip
    p.add_argument("--near-method", choices=("verified", "hash"), default="verified",
                   help="expert: 'hash' replaces the detector with the plain hash-distance rule")  # fmt: skip
    p.add_argument("--phash-distance", type=int, default=10, metavar="BITS",
                   help="expert: pHash distance always sent to verification (with --near-method hash: the "
                        "largest pHash distance for a near-duplicate) (default 10)")  # fmt: skip
    p.add_argument("--dhash-distance", type=int, default=14, metavar="BITS",
                   help="expert: with --near-method hash, the largest dHash distance (default 14)")  # fmt: skip
    p.add_argument("--semantic", metavar="MODEL", default=None,
                   help="optional: also list semantically similar pairs, embedded by a saved .keras model file "
                        "or a Keras application (mobilenet_v2, efficientnet_b0, resnet50) whose weights are "
                        "already in the Keras cache; never downloads")  # fmt: skip
    p.add_argument(
        "--semantic-min-similarity",
        type=float,
        default=DEFAULT_MIN_SIMILARITY,
        metavar="COSINE",
        help=f"with --semantic: the lowest embedding cosine listed (default {DEFAULT_MIN_SIMILARITY})",
    )
    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                   help="report, do not decode, images with more pixels (default: Pillow's bomb limit)")  # fmt: skip
    p.add_argument("--max-items", type=_positive_int, default=10, help="list at most N items per finding group")
    return parser


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


@contextmanager
def _progress(console: Console, enabled: bool) -> Iterator[Callable[[int], Callable[[int], None]] | None]:
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn("decoding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=console, transient=True)  # fmt: skip
    with bar:

        def start(total: int) -> Callable[[int], None]:
            task = bar.add_task("decode", total=total)
            return lambda n: bar.advance(task, n)

        yield start


def _write(target: str, text: str, stdout: Console) -> None:
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror or exc})", hint="choose a writable path") from None


def _run_scan(args: argparse.Namespace, out: Console, err: Console) -> int:
    show_progress = not args.quiet and err.is_terminal
    with _progress(err, show_progress) as progress:
        report: Report = scan(
            args.path,
            near=not args.no_near,
            sensitivity=args.sensitivity,
            min_score=args.min_score,
            near_method=args.near_method,
            phash_distance=args.phash_distance,
            dhash_distance=args.dhash_distance,
            max_pixels=args.max_pixels,
            jobs=args.jobs,
            progress=progress,
            semantic=args.semantic,
            semantic_min_similarity=args.semantic_min_similarity,
        )
    stdout_taken = "-" in (args.json, args.pairs)
    if not args.quiet:
        # With a machine format on stdout, the human report moves to stderr.
        (err if stdout_taken else out).print(render_terminal(report, max_items=args.max_items, verbose=args.verbose))
    if args.json:
        _write(args.json, report.to_json(), out)
    if args.pairs:
        _write(args.pairs, render_pairs_csv(report), out)
    fail_on: FailOn = args.fail_on
    return report.exit_code(fail_on)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 clean, 1 findings, 2 usage/input error, 3 internal error)."""
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        args = _parser().parse_args(argv)
        if args.json == "-" and args.pairs == "-":
            raise UsageError("--json - and --pairs - cannot both use standard output")
        return _run_scan(args, out, err)
    except LeakcheckError as exc:
        if exc.exit_code == 3:
            traceback.print_exc()
        err.print(f"leakcheck: error: {exc}", markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("leakcheck: interrupted", markup=False)
        return 130
    except Exception:
        traceback.print_exc()
        err.print(
            "leakcheck: internal error (a bug in leakcheck); please report it with the traceback above",
            markup=False,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
