"""The `leakcheck` command. The only module that prints or writes files."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from leakcheck._version import __version__
from leakcheck.baseline import compare, entries_from, read_baseline, render_baseline_json, report_digests
from leakcheck.config import (
    CHECK_IDS,
    FAIL_ON,
    Settings,
    load_settings,
    parse_severity_flag,
    scan_with_settings,
)
from leakcheck.errors import DataNotFoundError, LeakcheckError, RefusedError, UsageError
from leakcheck.fixing import ACTIONS_FILE, MANIFEST_FILE, STRATEGIES, Ratios, check_fix_out, plan_fix, write_fix
from leakcheck.model import Severity
from leakcheck.near.semantic import DEFAULT_MIN_SIMILARITY
from leakcheck.near.sensitivity import SENSITIVITIES
from leakcheck.progress import ProgressStart
from leakcheck.render.baseline import render_comparison, render_comparison_markdown, render_json_with_baseline
from leakcheck.render.findings import render_findings
from leakcheck.render.html_report import render_html
from leakcheck.render.junit import render_junit
from leakcheck.render.markdown import render_markdown
from leakcheck.render.notebook import report_thumbnailer
from leakcheck.render.pairs_csv import render_pairs_csv
from leakcheck.render.terminal import render_terminal
from leakcheck.render.text import printable
from leakcheck.report import Report
from leakcheck.sources.folder import IMAGE_EXTENSIONS, display_name, list_folder
from leakcheck.sources.groups import GroupNamer
from leakcheck.sources.ignores import IgnoreRules, ignore_paths
from leakcheck.splits import split_order
from leakcheck.thumbnails import thumbnailer
from leakcheck.train_setup import check_before_training


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's returns NoReturn
        # (Every message starts 'leakcheck: error: '; a subcommand's names the subcommand after it.)
        where = self.prog.removeprefix("leakcheck").strip()
        raise UsageError(f"{where}: {message}" if where else message, hint=f"see '{self.prog} --help'")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="leakcheck", description="Audit image-classification data sets for leakage.")
    parser.add_argument("--version", action="version", version=f"leakcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("scan", help="scan a data set for leaks and data problems")
    _add_data_options(p)
    p.add_argument("--json", metavar="FILE", help="write the JSON report to FILE ('-' for standard output)")
    p.add_argument("--pairs", metavar="FILE", help="write every duplicate pair as CSV to FILE ('-' for stdout)")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report with image previews to FILE")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one test case per check) to FILE ('-' for stdout)")
    p.add_argument("--format", choices=("terminal", "markdown"), default="terminal",
                   help="the human report: terminal (default) or a Markdown summary for PR comments")  # fmt: skip
    p.add_argument("--fail-on", choices=FAIL_ON, default=None,
                   help="exit 1 when a finding reaches this severity (default: error)")  # fmt: skip
    taken = p.add_mutually_exclusive_group()
    taken.add_argument("--baseline", metavar="FILE",
                       help="fail only on findings not recorded in FILE (made by 'leakcheck baseline')")  # fmt: skip
    taken.add_argument("--no-baseline", action="store_true",
                       help="judge every finding, whatever baseline the config names")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="list informational findings in full")
    p.add_argument("--max-items", type=_positive_int, default=10, help="list at most N items per finding group")
    _add_check_options(p)

    b = sub.add_parser("baseline", help="record today's findings as accepted, for 'scan --baseline'")
    _add_data_options(b)
    b.add_argument("-o", "--output", metavar="FILE",
                   help="the baseline file to write ('-' for stdout; default: the config's baseline)")  # fmt: skip
    _add_check_options(b)

    f = sub.add_parser("fix", help="write a leak-free copy of DATA beside it (the original is never touched)")
    _add_data_options(f, data_help="the data set's folder, holding train/, val/, test/ (fix writes folders of files)")
    f.add_argument("--out", metavar="CLEAN", required=True, help="the new folder to write (not inside DATA)")
    f.add_argument("--strategy", choices=STRATEGIES, default="drop-eval-copies",
                   help="drop-eval-copies: leave out evaluation images that copy earlier splits (default); "
                        "resplit: re-split keeping every duplicate cluster whole, stratified by class")  # fmt: skip
    f.add_argument("--ratios", metavar="R,R,R", default=None,
                   help="resplit targets, in split order (0.8,0.1,0.1) or named (train=0.8,test=0.2)")  # fmt: skip
    f.add_argument("--seed", type=int, default=0, help="resplit shuffle seed (default 0)")
    f.add_argument("--manifest-only", action="store_true",
                   help="write a path,label,split manifest of the originals instead of linking files")  # fmt: skip
    f.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")
    _add_train_parser(sub)
    return parser


_DATA_HELP = (
    "a folder holding train/, val/, test/; a CIFAR python folder; a .csv or .parquet manifest "
    "(path,label,split[,group]); an .npz file (x_train, y_train, x_test, ...); or tfds:NAME[/CONFIG]"
)


def _add_data_options(p: argparse.ArgumentParser, data_help: str = _DATA_HELP) -> None:
    """What to read and how to match: shared by scan, baseline and fix; None means 'not given'."""
    p.add_argument("path", metavar="DATA", help=data_help)
    p.add_argument("--config", metavar="FILE",
                   help="settings file to use instead of the nearest leakcheck.toml / pyproject.toml")  # fmt: skip
    p.add_argument("--no-config", action="store_true", help="use no configuration file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no terminal report")
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=None,
        help="processes for decoding and near-duplicate verification (default: all cores)",
    )
    p.add_argument("--sensitivity", choices=tuple(SENSITIVITIES), default=None,
                   help="near-duplicate sensitivity: strict (unmistakable copies only), default, or thorough "
                        "(heavier edits, a few more false pairs)")  # fmt: skip
    near = p.add_mutually_exclusive_group()
    near.add_argument("--no-near", dest="near", action="store_const", const=False, default=None,
                      help="exact duplicates only (bytes or pixels)")  # fmt: skip
    near.add_argument("--near", dest="near", action="store_const", const=True,
                      help="look for near duplicates too, where the config says near = false")  # fmt: skip
    p.add_argument("--min-score", type=_unit_float, default=None, metavar="SCORE",
                   help="expert: lowest near-duplicate score (0-1) reported, overriding --sensitivity")  # fmt: skip
    p.add_argument("--near-method", choices=("verified", "hash"), default="verified",
                   help="'verified' (default): the transform-aware detector (mirrors, rotations, crops; see "
                        "docs/near-duplicates.md); 'hash': the fast plain rule, both perceptual-hash distances "
                        "within thresholds (blind to mirrors, rotations and larger crops)",
                   )  # fmt: skip
    p.add_argument("--semantic", metavar="MODEL", default=None,
                   help="optional: also list semantically similar pairs, embedded by a saved .keras model file "
                        "or a Keras application (mobilenet_v2, efficientnet_b0, resnet50) whose weights are "
                        "already in the Keras cache; never downloads")  # fmt: skip
    p.add_argument("--semantic-min-similarity", type=float, default=DEFAULT_MIN_SIMILARITY, metavar="COSINE",
                   help=f"with --semantic: the lowest embedding cosine listed (default {DEFAULT_MIN_SIMILARITY})",
                   )  # fmt: skip
    p.add_argument("--phash-distance", type=_bits, default=None, metavar="BITS",
                   help="expert: pHash distance always sent to verification (default: the sensitivity's: "
                        "6, 10 or 14); with --near-method hash, the largest pHash distance for a "
                        "near-duplicate (default 10)")  # fmt: skip
    p.add_argument("--dhash-distance", type=_bits, default=None, metavar="BITS",
                   help="expert: with --near-method hash, the largest dHash distance (default 14)")  # fmt: skip
    p.add_argument("--max-pixels", type=_positive_int, default=None,
                   help="report, do not decode, images with more pixels (default: Pillow's bomb limit)")  # fmt: skip
    p.add_argument("--group-pattern", metavar="REGEX",
                   help="find a group id (patient, subject, ...) in each file name: the named group 'group', "
                   "else the first capture group; a group in two splits is a leak")  # fmt: skip
    p.add_argument("--data-dir", metavar="DIR",
                   help="where tfds:NAME is prepared (default: TFDS's own); nothing is downloaded")  # fmt: skip
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="keep the fingerprint cache and recent reports in DIR (default: the user cache "
                   "folder)")  # fmt: skip
    p.add_argument("--no-cache", action="store_true",
                   help="decode every image and rebuild the report; neither read nor write the cache")  # fmt: skip
    p.add_argument("--ignore", metavar="GLOB", action="append", default=None,
                   help="skip paths matching GLOB, relative to DATA (repeatable; adds to the config)")  # fmt: skip


def _add_check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip", metavar="CHECK", action="append", choices=CHECK_IDS, default=None,
                   help="do not run CHECK (repeatable; adds to the config's)")  # fmt: skip
    p.add_argument("--severity", metavar="CHECK=LEVEL", action="append", type=_severity_flag, default=None,
                   help="report CHECK's findings at LEVEL: error, warning or info (repeatable)")  # fmt: skip


def _severity_flag(text: str) -> tuple[str, Severity]:
    try:
        return parse_severity_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- leakcheck train (needs the tf extra; TensorFlow is imported only when this command runs) --------------
_BACKBONES = ("resnet50", "mobilenetv2", "efficientnetb0")  # leakcheck.keras.TRAINABLE_BACKBONES, without importing TF


def _add_train_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    t = sub.add_parser("train", help="scan DATA, refuse leaking splits, then train a transfer-learning classifier")
    t.add_argument("path", metavar="DATA", help="the data set's root folder (holding train/, and val/, test/)")
    t.add_argument("--out", metavar="DIR", help="a new or empty run folder (default: runs/<DATA name>-<backbone>)")
    t.add_argument("--backbone", choices=_BACKBONES, default="resnet50", help="pretrained base (default resnet50)")
    t.add_argument("--weights", default="imagenet", metavar="imagenet|none|FILE",
                   help="'imagenet' from the local Keras cache (never downloaded), 'none', or a file")  # fmt: skip
    t.add_argument("--image-size", type=_positive_int, default=224, metavar="PX", help="input side (default 224)")
    t.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2 width multiplier (default 1.0)")
    t.add_argument("--batch-size", type=_positive_int, default=32)
    t.add_argument("--epochs", type=_positive_int, default=10, help="epochs of head training at most (default 10)")
    t.add_argument("--fine-tune-epochs", type=int, default=0, metavar="N",
                   help="then fine-tune the backbone's last block for at most N epochs (default 0: off)")  # fmt: skip
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--fine-tune-learning-rate", type=float, default=1e-5)
    t.add_argument("--dropout", type=float, default=0.2)
    t.add_argument("--patience", type=_positive_int, default=3, help="early-stopping patience in epochs")
    t.add_argument("--no-augment", action="store_true", help="no random flips, rotations and zooms on train")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--allow-leakage", action="store_true",
                   help="train even when val/test leak into train (the leak-adjusted score is shown)")  # fmt: skip
    t.add_argument("-j", "--jobs", type=_positive_int, default=None, help="decoding processes for the scan")
    t.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="the scan's fingerprint cache (default: the user cache folder)")  # fmt: skip
    t.add_argument("--no-cache", action="store_true", help="the scan neither reads nor writes the cache")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _run_train(args: argparse.Namespace, out: Console, err: Console) -> int:
    run_dir = Path(args.out) if args.out else _default_run_dir(Path(args.path), args.backbone)
    if _importable("tensorflow") and _importable("keras"):  # (else the import below says how to install them)
        # What needs no TensorFlow comes first: a missing folder or weights file is one line and a quick exit,
        # not TensorFlow's start-up first. train() runs the same checks again.
        check_before_training(
            args.path, run_dir, backbone=args.backbone, weights=args.weights, image_size=args.image_size,
            alpha=args.alpha,
        )  # fmt: skip
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    from leakcheck.keras import TrainOptions, train

    try:
        options = TrainOptions(
            backbone=args.backbone, weights=args.weights, image_size=args.image_size, alpha=args.alpha,
            batch_size=args.batch_size, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs,
            learning_rate=args.learning_rate, fine_tune_learning_rate=args.fine_tune_learning_rate,
            dropout=args.dropout, patience=args.patience, augment=not args.no_augment, seed=args.seed,
            allow_leakage=args.allow_leakage,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    say = None if args.quiet else (lambda message: err.print(f"leakcheck: {message}", markup=False))
    try:
        result = train(
            args.path, run_dir, options=options, jobs=args.jobs, verbose=0 if args.quiet else 2, log=say,
            cache=not args.no_cache, cache_dir=args.cache_dir,
        )  # fmt: skip
    except RefusedError as exc:
        if exc.report is not None and exc.report.splits:
            err.print(render_terminal(exc.report))
        elif exc.report is not None:
            err.print(render_findings(exc.report, title=f"preflight of {exc.report.root}"))
        raise
    for split, evaluation in result.evaluations.items():
        if split == "test" or "test" not in result.evaluations:
            for line in evaluation.lines():
                out.print(line, markup=False)
    if result.scan.leaking:
        out.print("LEAK  the splits leak: trust the 'no copy in train' number", style="bold red")
    out.print(f"run folder: {result.out}", markup=False)
    return 0


def _importable(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _default_run_dir(data: Path, backbone: str) -> Path:
    stem = Path("runs") / f"{data.resolve().name or 'data'}-{backbone}"
    candidate, n = stem, 1
    while candidate.exists():
        n += 1
        candidate = stem.with_name(f"{stem.name}-{n}")
    return candidate


def _bits(text: str) -> int:
    """A Hamming distance between 64-bit hashes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64 bits, got {value}")
    return value


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
def _progress(console: Console, enabled: bool) -> Iterator[ProgressStart | None]:
    """A progress bar on `console` that starts drawing (and starts its thread) only once decoding runs;
    a second bar follows while near-duplicate candidates are verified."""
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=console, transient=True)  # fmt: skip

    def start(total: int, what: str = "decoding") -> Callable[[int], None]:
        task = bar.add_task(what, total=total)
        bar.start()
        return lambda n: bar.advance(task, n)

    try:
        yield start
    finally:
        bar.stop()


def _write(target: str, text: str, stdout: Console) -> None:
    if target == "-":
        if _stdout_is_terminal():
            # A person reads it: a file name's control characters (an escape sequence that clears the
            # screen, say) are shown escaped, as in the terminal report. Piped or redirected, it is exact.
            pieces = re.split(r"(\r?\n)", text)  # line ends stay, every other control character is escaped
            text = "".join(piece if k % 2 else printable(piece) for k, piece in enumerate(pieces))
        # Machine formats are UTF-8 whatever the locale says standard output is (a Windows console,
        # PYTHONIOENCODING=ascii): JSON must be, and the files are too.
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # (a text-only stream put in its place, as tests and notebooks do)
            sys.stdout.write(text)
        else:
            buffer.write(text.encode("utf-8"))
            buffer.flush()
        return
    path = Path(target)
    try:
        # (A folder the output needs is made: a configured `ci/leakcheck-baseline.json` in a fresh clone.)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(path, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror or exc})", hint="choose a writable path") from None


def _stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty is not None and isatty())


def _replace_file(path: Path, payload: bytes) -> None:
    """Write `payload` to a new file beside `path` and move it into place: a file that `path` also names
    (a hard link to an image) is never written into, and an interrupted run leaves the old output whole.
    A link is followed (its target is replaced); a pipe or device (`/dev/stdout`, `>(jq .)`) is written
    into as it is."""
    real = path.resolve() if path.is_symlink() else path
    if real.exists() and not real.is_file():
        with real.open("wb") as stream:
            stream.write(payload)
        return
    temporary = real.with_name(f".{real.name}.{os.getpid()}.leakcheck-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, real)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _resolved(path: str) -> Path | None:
    """`path` with links resolved; None for a link loop (what reads or writes it then says so)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return None


def _check_targets(data: str, targets: dict[str, str | None], inputs: Mapping[str, Path | None] | None = None) -> None:
    """Refuse, before scanning, output files that would overwrite what is being scanned (the manifest or
    .npz file named as DATA, or any existing image file), one of `inputs` (the baseline compared against,
    the config file), or that two outputs share.

    Raises:
        UsageError: naming the option and the file.
    """
    seen: dict[Path, str] = {}
    source = None if data.startswith("tfds:") else _resolved(data)
    read = {path: what for what, given in (inputs or {}).items() if given and (path := _resolved(str(given)))}
    for option, target in targets.items():
        if target == "":
            raise UsageError(f"{option} is empty", hint="name a file, or '-' for standard output")
        if not target or target == "-" or (path := _resolved(target)) is None:
            continue
        if path.is_dir():
            raise UsageError(f"{option} {target}: a folder", hint="name a file (inside it, if you like)")
        if path in seen:
            raise UsageError(f"{seen[path]} and {option} both write {target}", hint="give each output its own file")
        seen[path] = option
        if path == source:
            raise UsageError(
                f"{option} {target}: that is the data set being scanned", hint="write the output beside it"
            )
        if path in read:
            raise UsageError(f"{option} {target}: that is {read[path]}", hint="write the output to another file")
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.exists():
            raise UsageError(
                f"{option} {target}: would overwrite an image file",
                hint="leakcheck never modifies data; choose a new file",
            )


def _settings(args: argparse.Namespace) -> Settings:
    """Config file (given, discovered, or none) overridden by the flags the user gave."""
    if args.config and args.no_config:
        raise UsageError("--config and --no-config cannot be used together")
    baseline = getattr(args, "baseline", None)
    cli = {
        "sensitivity": args.sensitivity,
        "near": args.near,
        "phash_distance": args.phash_distance,
        "dhash_distance": args.dhash_distance,
        "max_pixels": args.max_pixels,
        "jobs": args.jobs,
        "ignore": tuple(args.ignore or ()),
        "fail_on": getattr(args, "fail_on", None),
        "skip": tuple(getattr(args, "skip", None) or ()),
        "severity": dict(getattr(args, "severity", None) or ()),
        "baseline": Path(baseline).resolve() if baseline else None,
    }
    settings = load_settings(args.path, cli=cli, config_file=args.config, discover=not args.no_config)
    if getattr(args, "no_baseline", False):
        settings = dataclasses.replace(settings, baseline=None, origins={**settings.origins, "baseline": "cli"})
    return settings


def _scan(args: argparse.Namespace, settings: Settings, err: Console) -> Report:
    if args.data_dir is not None and not args.path.startswith("tfds:"):
        raise UsageError("--data-dir applies to tfds:NAME only", hint="drop --data-dir, or scan tfds:NAME")
    show_progress = not args.quiet and err.is_terminal
    with _progress(err, show_progress) as progress:
        return scan_with_settings(
            args.path,
            settings,
            progress=progress,
            group_pattern=args.group_pattern,
            data_dir=args.data_dir,
            cache=not args.no_cache,
            cache_dir=args.cache_dir,
            min_score=args.min_score,
            near_method=args.near_method,
            semantic=args.semantic,
            semantic_min_similarity=args.semantic_min_similarity,
        )


def _shown(path: Path) -> str:
    """A path for messages: relative to the working folder when below it, control characters escaped."""
    try:
        return printable(path.resolve().relative_to(Path.cwd().resolve()).as_posix())
    except ValueError:
        return printable(str(path))


def _run_scan(args: argparse.Namespace, out: Console, err: Console) -> int:
    targets = {"--json": args.json, "--pairs": args.pairs, "--junit": args.junit, "--html": args.html}
    settings = _settings(args)
    _check_targets(
        args.path,
        targets,
        {
            "the baseline this scan compares against": settings.baseline,
            "the config file this scan reads": settings.config_file,
        },
    )
    accepted = read_baseline(settings.baseline) if settings.baseline else None
    report = _scan(args, settings, err)
    if report.reused and not args.quiet:
        err.print(f"leakcheck: nothing in {args.path} changed since the last scan; showing its stored report "
                  "(--no-cache scans again)", markup=False, highlight=False)  # fmt: skip
    comparison = None
    if accepted is not None:
        unjudged = {c for c in CHECK_IDS if not report.ran(c)}
        unjudged |= {c for c, level in settings.severity.items() if level < Severity.WARNING}
        current = entries_from(report, report_digests(report, report.root_path or args.path))
        comparison = compare(current, accepted, unjudged=unjudged)
    stdout_taken = "-" in (args.json, args.pairs, args.junit, args.html)
    if not args.quiet and args.format == "markdown":
        text = render_markdown(report, max_items=args.max_items)
        if comparison is not None and settings.baseline is not None:
            text += "\n" + render_comparison_markdown(
                comparison, source=_shown(settings.baseline), fail_on=settings.fail_on, max_items=args.max_items
            )
        (sys.stderr if stdout_taken else sys.stdout).write(text)
    elif not args.quiet:
        # With a machine format on stdout, the human report moves to stderr.
        console = err if stdout_taken else out
        console.print(render_terminal(report, max_items=args.max_items, verbose=args.verbose))
        if comparison is not None and settings.baseline is not None:
            shown = _shown(settings.baseline)
            console.print(
                render_comparison(comparison, source=shown, fail_on=settings.fail_on, max_items=args.max_items)
            )
    if args.json:
        if comparison is not None:
            source = report.parameters["config"]["values"]["baseline"]
            _write(args.json, render_json_with_baseline(report, comparison, source=source), out)
        else:
            _write(args.json, report.to_json(), out)
    if args.pairs:
        _write(args.pairs, render_pairs_csv(report), out)
    if args.junit:
        accepts, new = (comparison.accepts, comparison.new_samples) if comparison is not None else (None, None)
        _write(args.junit, render_junit(report, fail_on=settings.fail_on, accepted=accepts, new_samples=new), out)
    if args.html:
        _write(args.html, render_html(report, thumbnail=report_thumbnailer(report) or thumbnailer(args.path)), out)
    if comparison is not None:
        return comparison.exit_code(settings.fail_on)
    return report.exit_code(settings.fail_on)


def _run_baseline(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = _settings(args)
    target = args.output or (str(settings.baseline) if settings.baseline else None)
    if not args.path.startswith("tfds:") and not os.path.lexists(args.path):
        # (The data first: a missing folder is what to fix before naming a baseline file.)
        raise DataNotFoundError(f"{args.path}: no such folder or file", hint="check the path")
    if target is None:
        raise UsageError("no baseline file named", hint="pass -o FILE, or set 'baseline' in the config")
    _check_targets(args.path, {"--output": target})
    report = _scan(args, settings, err)
    entries = entries_from(report, report_digests(report, report.root_path or args.path))
    _write(target, render_baseline_json(entries), out)
    if not args.quiet:
        where = "standard output" if target == "-" else _shown(Path(target))
        err.print(f"leakcheck: recorded {len(entries):,} accepted entries in {where}", markup=False)
    return 0


def _run_fix(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = _settings(args)
    check_fix_out(args.path, args.out)
    if args.strategy != "resplit" and args.ratios is not None:
        raise UsageError("--ratios applies to --strategy resplit only")
    if args.strategy == "resplit" and args.ratios is None:
        raise UsageError("--strategy resplit needs --ratios", hint="e.g. --ratios 0.8,0.1,0.1")
    if os.path.isfile(args.path):
        raise UsageError(f"{args.path}: fix works on folders of images, not on a manifest or array file")
    aliases = settings.split_aliases()
    listing = ignore_paths(list_folder(args.path, aliases=aliases), IgnoreRules(settings.ignore))
    splits = sorted(listing.split_dirs, key=split_order)
    for folder in listing.split_dirs.values():
        if folder.casefold() in (ACTIONS_FILE.casefold(), MANIFEST_FILE.casefold()):
            raise UsageError(f"{args.path}: a split folder is named {folder!r}, the name of the file fix writes "
                             "beside the splits", hint="rename that folder (in a copy of the data)")  # fmt: skip
    ratios = Ratios.parse(args.ratios, splits, aliases) if args.ratios is not None else None
    report = _scan(args, settings, err)
    records = listing.records
    if args.group_pattern is not None:
        # (The scan checked the pattern; the plan keeps each group in one split, as it keeps copies.)
        namer = GroupNamer(args.group_pattern)
        records = tuple(namer(r) for r in records)
    plan = plan_fix(records, report.relations, root=listing.root, split_dirs=listing.split_dirs,
                    strategy=args.strategy, ratios=ratios, seed=args.seed)  # fmt: skip
    result = write_fix(plan, args.path, args.out, manifest_only=args.manifest_only, copy=args.copy)
    if not args.quiet:
        counts = plan.counts()
        sizes = ", ".join(f"{printable(split)} {n:,}" for split, n in plan.split_sizes().items())
        out.print(f"{args.strategy}: kept {counts['kept']:,}, moved {counts['moved']:,}, dropped "
                  f"{counts['dropped']:,} ({sizes})", markup=False, highlight=False)  # fmt: skip
        if result.up_to_date:
            written = "already up to date"
        elif args.manifest_only:
            written = f"wrote {MANIFEST_FILE}"
        else:
            written = f"{result.linked:,} hard links, {result.copied:,} copies"
        out.print(f"{_shown(Path(args.out))}: {written}; every action in {ACTIONS_FILE}", markup=False,
                  highlight=False)  # fmt: skip
    return 0


_COMMANDS = {"scan": _run_scan, "baseline": _run_baseline, "fix": _run_fix, "train": _run_train}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 clean, 1 findings, 2 usage/input error, 3 internal error)."""
    _escape_unencodable()
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        args = _parser().parse_args(argv)
        if getattr(args, "path", None) == "":
            raise UsageError("DATA is empty", hint="pass the data set's folder, file or tfds:NAME")
        if args.command == "scan" and [args.json, args.pairs, args.junit, args.html].count("-") > 1:
            raise UsageError("only one of --json, --pairs, --junit and --html can use standard output ('-')")
        if args.command == "scan" and args.quiet and args.format == "markdown":
            raise UsageError("--quiet drops the terminal report that --format markdown asks for", hint="drop --quiet")
        return _COMMANDS[args.command](args, out, err)
    except LeakcheckError as exc:
        if exc.exit_code == 3:
            traceback.print_exc()
        # (A file name in the message may hold control characters: escaped, the message stays one line.)
        # (A path that is not UTF-8 holds surrogates; shown as the listing shows names: `\xff`.)
        err.print(f"leakcheck: error: {printable(display_name(str(exc)))}", markup=False, highlight=False)
        return exc.exit_code
    except PermissionError as exc:
        # (Never a bug of leakcheck's: something it must read is not readable.)
        where = exc.filename if exc.filename is not None else "a file or folder"
        err.print(f"leakcheck: error: {where}: permission denied (make it readable)", markup=False, highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("leakcheck: interrupted", markup=False)
        return 130
    except BrokenProcessPool:
        err.print(
            "leakcheck: error: a worker process died (killed, most likely for lack of memory); "
            "run again with fewer processes (--jobs 1 uses none)",
            markup=False,
        )
        return 3
    except MemoryError:
        err.print(
            "leakcheck: error: out of memory; the near-duplicate detector keeps about 30 KB per image, so for "
            "hundreds of thousands of images use --near-method hash (or --no-near), and fewer --jobs",
            markup=False,
        )
        return 3
    except RuntimeError as exc:  # (after BrokenProcessPool, one of its kind)
        # (How pathlib's resolve() reports a link loop on Python 3.11 and 3.12.)
        if not str(exc).startswith("Symlink loop from "):
            return _internal_error(err)
        where = str(exc).removeprefix("Symlink loop from ").strip("'")
        err.print(f"leakcheck: error: {where}: a link loop (check the link)", markup=False, highlight=False)
        return 2
    except Exception:
        return _internal_error(err)


def _escape_unencodable() -> None:
    """Human text that the terminal's encoding cannot hold ('±', a name in another script, on an ASCII
    or cp1252 stream) is written escaped (backslash escapes) instead of failing the run."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _internal_error(err: Console) -> int:
    """Exit 3 with the traceback of the exception being handled: a bug in leakcheck."""
    traceback.print_exc()
    err.print("leakcheck: internal error (a bug in leakcheck); please report it with the traceback above", markup=False)
    return 3


if __name__ == "__main__":
    sys.exit(main())
