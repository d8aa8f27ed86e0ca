"""Scanning: a source lists Records, one pass fingerprints them, and one shared function turns the
fingerprints into an Index, runs the checks and returns the Report.

`scan(data)` dispatches on what it is given: a folder, a CIFAR python folder, an `.npz` file, a CSV or
Parquet manifest, `"tfds:NAME"`, a mapping of split -> arrays, or a mapping of split -> tf.data.Dataset.
`scan_arrays`, `scan_tfds` and `scan_dataset` are the same with the source spelled out;
`scan_fingerprints` is the last step alone, for sources of your own built on `fingerprint_array`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import numbers
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

from leakcheck._version import __version__
from leakcheck.cache import FingerprintCache, cache_config, open_cache
from leakcheck.checks import DEFAULT_CHECKS, Check
from leakcheck.engine import default_jobs, fingerprint_arrays, fingerprint_dataset
from leakcheck.errors import DataNotFoundError, ManifestError, UsageError
from leakcheck.fingerprint import DEFAULT_MAX_PIXELS, FINGERPRINT_VERSION, FingerprintOptions
from leakcheck.index import Index, MatchOptions, NearMethod, Relation
from leakcheck.memo import (
    Tree,
    decode_files,
    decode_head,
    encode_entry,
    report_document,
    report_from_document,
    report_key,
    same_bytes,
    scan_tree,
)
from leakcheck.model import Finding, Fingerprint, Record, Skipped
from leakcheck.near import NearMemo
from leakcheck.near.semantic import DEFAULT_MIN_SIMILARITY
from leakcheck.progress import ProgressStart
from leakcheck.report import Report, split_stats
from leakcheck.sources.arrays import Sample, SampleListing, array_listing, mapping_splits, read_npz
from leakcheck.sources.cifar import is_cifar_dir, read_cifar
from leakcheck.sources.datasets import is_tf_dataset, read_datasets, read_tfds
from leakcheck.sources.folder import display_name, list_folder, split_folders
from leakcheck.sources.groups import assign_groups
from leakcheck.sources.ignores import IgnoreRules
from leakcheck.sources.manifest import MANIFEST_SUFFIXES, read_manifest
from leakcheck.splits import DEFAULT_ALIASES

TFDS_PREFIX = "tfds:"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Settings:
    """The options every source shares, validated once."""

    match: MatchOptions
    fingerprint: FingerprintOptions
    jobs: int | None
    checks: Sequence[Check]
    aliases: Mapping[str, tuple[str, ...]]
    progress: ProgressStart | None
    group_pattern: str | None
    ignore: IgnoreRules
    cache: bool = False  # file sources only: reuse fingerprints of unchanged files
    cache_dir: Path | None = None
    semantic: str | os.PathLike[str] | None = None
    semantic_min_similarity: float = DEFAULT_MIN_SIMILARITY


class ScanOptions(TypedDict, total=False):
    """The scan options that every source takes (see `scan` for each one's meaning); `scan_arrays`,
    `scan_tfds` and `scan_dataset` accept them as keywords."""

    near: bool
    sensitivity: str
    min_score: float | None
    near_method: NearMethod
    phash_distance: int | None
    dhash_distance: int
    jobs: int | None
    checks: Sequence[Check]
    split_aliases: Mapping[str, tuple[str, ...]]
    progress: ProgressStart | None
    group_pattern: str | None


def _settings(
    *,
    near: bool = True,
    sensitivity: str = "default",
    min_score: float | None = None,
    near_method: NearMethod = "verified",
    phash_distance: int | None = None,
    dhash_distance: int = 14,
    jobs: int | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    split_aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    progress: ProgressStart | None = None,
    group_pattern: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    ignore: Sequence[str] = (),
    cache: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    semantic: str | os.PathLike[str] | None = None,
    semantic_min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> _Settings:
    _check_option_types(
        near=near, cache=cache, ignore=ignore, checks=checks, split_aliases=split_aliases,
        dhash_distance=dhash_distance, max_pixels=max_pixels, group_pattern=group_pattern,
        semantic_min_similarity=semantic_min_similarity, progress=progress,
    )  # fmt: skip
    if not -1.0 <= semantic_min_similarity <= 1.0:
        raise UsageError(f"semantic_min_similarity must be between -1 and 1, got {semantic_min_similarity}")
    try:
        match = MatchOptions(
            near=near,
            phash_distance=phash_distance,
            dhash_distance=dhash_distance,
            method=near_method,
            sensitivity=sensitivity,
            min_score=min_score,
        )
        fp_options = FingerprintOptions(max_pixels=max_pixels, descriptor=near and near_method == "verified")
        rules = IgnoreRules(tuple(ignore))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise UsageError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    odd = [c for c in checks if isinstance(c, type) or not callable(getattr(c, "run", None))]
    if odd and isinstance(odd[0], type):
        raise UsageError(f"checks must be check objects, got the class {odd[0].__name__}",
                         hint=f"pass {odd[0].__name__}() (an instance, with its options)")  # fmt: skip
    if odd:  # (a list, not next(..., None): a None in checks is odd too)
        raise UsageError(
            f"checks must be check objects (leakcheck.checks, e.g. LabelConflicts()), got {odd[0]!r}",
            hint="to leave checks out, pass the others (or use --skip / the config's skip)",
        )
    return _Settings(
        match, fp_options, jobs, checks, split_aliases, progress, group_pattern, rules,
        cache=cache, cache_dir=None if cache_dir is None else Path(cache_dir),
        semantic=semantic, semantic_min_similarity=semantic_min_similarity,
    )  # fmt: skip


def _check_option_types(
    *,
    near: object,
    cache: object,
    ignore: object,
    checks: object,
    split_aliases: object,
    dhash_distance: object,
    max_pixels: object,
    group_pattern: object,
    semantic_min_similarity: object,
    progress: object,
) -> None:
    """Options of the wrong type are a UsageError naming the option, not a TypeError deep inside (and a string
    where a list belongs is not read as a list of one-letter items).

    Raises:
        UsageError: the first option of the wrong type.
    """

    def whole(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def texts(value: object) -> bool:
        return (
            isinstance(value, Sequence)
            and not isinstance(value, str | bytes)
            and all(isinstance(v, str) for v in value)
        )

    problems = [
        ("near", "True or False", isinstance(near, bool)),
        ("cache", "True or False", isinstance(cache, bool)),
        ("ignore", "a list of glob strings", texts(ignore)),
        ("checks", "a list of check objects", isinstance(checks, Sequence) and not isinstance(checks, str | bytes)),
        ("split_aliases", "a mapping of split names to lists of folder names",
         isinstance(split_aliases, Mapping) and all(isinstance(k, str) and texts(v) for k, v in split_aliases.items())),
        ("dhash_distance", "a whole number of bits (0-64)", whole(dhash_distance)),
        ("max_pixels", "a whole number", whole(max_pixels)),
        ("group_pattern", "a regular expression or None", group_pattern is None or isinstance(group_pattern, str)),
        ("semantic_min_similarity", "a number between -1 and 1",
         isinstance(semantic_min_similarity, numbers.Real) and not isinstance(semantic_min_similarity, bool)),
        ("progress", "a callable or None", progress is None or callable(progress)),
    ]  # fmt: skip
    given = {"near": near, "cache": cache, "ignore": ignore, "checks": checks, "split_aliases": split_aliases,
             "dhash_distance": dhash_distance, "max_pixels": max_pixels, "group_pattern": group_pattern,
             "semantic_min_similarity": semantic_min_similarity, "progress": progress}  # fmt: skip
    for name, expected, ok in problems:
        if not ok:
            raise UsageError(f"{name} must be {expected}, got {given[name]!r}")


def _label_names(label_names: object) -> list[str] | None:
    """`label_names` as plain strings (numpy's too).

    Raises:
        UsageError: it is neither None nor a list of names ("cat,dog" would name the labels c, a, t, ...).
    """
    if label_names is not None and (
        isinstance(label_names, str | bytes)
        or not hasattr(label_names, "__len__")  # (a list, a tuple or a numpy array of strings)
        or not all(isinstance(n, str) for n in label_names)  # type: ignore[attr-defined]
    ):
        raise UsageError(f"label_names must be a list of class names, got {label_names!r}",
                         hint='e.g. label_names=["cat", "dog"]')  # fmt: skip
    return None if label_names is None else [str(n) for n in label_names]  # type: ignore[attr-defined]


def scan(
    data: str | os.PathLike[str] | Mapping[str, Any],
    *,
    near: bool = True,
    sensitivity: str = "default",
    min_score: float | None = None,
    near_method: NearMethod = "verified",
    phash_distance: int | None = None,
    dhash_distance: int = 14,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    jobs: int | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
    split_aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES,
    ignore: Sequence[str] = (),
    progress: ProgressStart | None = None,
    group_pattern: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    label_names: Sequence[str] | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    semantic: str | os.PathLike[str] | None = None,
    semantic_min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> Report:
    """Audit a data set and return a Report.

    `data` is one of: a folder `<split>/<class>/<image>`; an extracted CIFAR-10/100 python folder; an
    `.npz` file (`x_<split>`, `y_<split>`); a `.csv` or `.parquet` manifest (`path,label,split[,group]`);
    `"tfds:NAME[/CONFIG]"` (prepared in `data_dir`); `{"train": (x, y), "test": (x, y)}` arrays; or
    `{"train": ds, "test": ds}` tf.data datasets. See docs/sources.md.

    Args:
        near: also look for near-duplicates (re-encoded, resized, cropped, rotated, recoloured copies).
        sensitivity: "strict" (only unmistakable copies), "default", or "thorough" (also heavily edited
            copies, at the cost of some false pairs); see docs/near-duplicates.md.
        min_score: expert: the lowest verification score (0-1) reported, overriding the sensitivity's.
        near_method: expert: "hash" replaces the detector with the plain rule that both hash distances
            are within `phash_distance` and `dhash_distance`.
        phash_distance, dhash_distance: expert: with the detector, pairs within `phash_distance` under
            some quarter turn or mirror are always verified (default: the sensitivity's, 6, 10 or 14);
            with near_method="hash", the thresholds (default 10 and 14).
        max_pixels: images larger than this are reported, not decoded (decompression-bomb guard).
        jobs: worker processes for decoding files (default: all cores) or hashing in-memory images
            (default: this process only, which is safe in scripts without a `__main__` guard), and for
            verifying near-duplicate candidates (the same defaults; forked workers, Linux only).
        ignore: globs of relative paths to leave out of a folder or manifest (see `leakcheck.sources.ignores`).
        progress: called with the number of samples once fingerprinting starts; returns a callback that is
            given the number of samples done as they complete. If it also takes a phase name (`what`),
            it is called again as `progress(4 * images, what="searching")` when the near-duplicate
            detector starts its candidate search (four searches, told as each block of queries is
            done) and as `progress(pairs, what="verifying")` when it starts verifying candidate pairs.
        group_pattern: a regular expression that finds a group id (patient, subject, ...) in each file
            name: its group named `group`, else its first capture group, else the whole match.
        data_dir: where TFDS datasets are prepared (TFDS's default when None).
        label_names: class names for integer array labels.
        cache: for files, reuse fingerprints of unchanged files from earlier scans and store new ones; a
            folder in which nothing changed gets the last scan's report back (see `leakcheck.memo`).
        cache_dir: where the cache lives (default: the user cache folder, e.g. ~/.cache/leakcheck);
            never inside the data folder.
        semantic: optional tier: a saved `.keras` model file, or a Keras application name whose
            weights are in the Keras cache; pairs it embeds at least `semantic_min_similarity` apart
            (cosine) that are not already copies are listed as kind "similar". Never downloads.

    Raises:
        DataNotFoundError, LayoutError, ManifestError: the data is missing or not in a known form.
        UsageError: an option is out of range, `cache_dir` is inside the data folder, or TensorFlow is
            needed but not installed.
    """
    settings = _settings(
        near=near, sensitivity=sensitivity, min_score=min_score, near_method=near_method,
        phash_distance=phash_distance, dhash_distance=dhash_distance, jobs=jobs, checks=checks,
        split_aliases=split_aliases, progress=progress, group_pattern=group_pattern, max_pixels=max_pixels,
        ignore=ignore, cache=cache, cache_dir=cache_dir, semantic=semantic,
        semantic_min_similarity=semantic_min_similarity,
    )  # fmt: skip
    label_names = _label_names(label_names)
    if isinstance(data, Mapping):
        if data and all(is_tf_dataset(v) for v in data.values()):
            streams = read_datasets(data, label_names=label_names, aliases=split_aliases)
            return _scan_listing(streams, settings, "tf.data")
        if any(is_tf_dataset(v) for v in data.values()):
            raise UsageError(
                "some splits are tf.data datasets and others are not",
                hint="give every split as a tf.data.Dataset (tf.data.Dataset.from_tensor_slices(x) for arrays), "
                "or every split as arrays",
            )
        arrays = array_listing("arrays", mapping_splits(data), label_names=label_names, aliases=split_aliases)
        return _scan_listing(arrays, settings, "arrays")
    if is_tf_dataset(data):
        raise UsageError("a tf.data.Dataset needs a split name", hint='pass {"train": train_ds, "test": test_ds}')
    if not isinstance(data, str | os.PathLike):
        raise UsageError(
            f"cannot scan a {type(data).__name__}",
            hint="pass a path, 'tfds:NAME', or a mapping of split names to arrays or tf.data datasets",
        )
    text = os.fspath(data)
    if text.startswith(TFDS_PREFIX):
        name = text[len(TFDS_PREFIX) :]
        if not name:
            raise UsageError("tfds: needs a dataset name", hint="e.g. tfds:mnist or tfds:cifar10")
        return _scan_listing(read_tfds(name, data_dir=data_dir, aliases=split_aliases), settings, "tfds")
    path = Path(text)
    if not path.exists() and path.suffix.lower() in {*MANIFEST_SUFFIXES, ".npz"}:
        raise DataNotFoundError(f"{text}: no such file", hint="check the path")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return _scan_listing(read_npz(path, aliases=split_aliases, label_names=label_names), settings, "npz")
        if suffix in MANIFEST_SUFFIXES:
            manifest = read_manifest(path, aliases=split_aliases)
            root_path = path.resolve().parent
            with _store(root_path, settings) as store:
                return _scan_files(
                    display_name(path.name), manifest.records, (), settings, "manifest", root_path, store=store
                )
        raise ManifestError(
            f"{text}: not a data set leakcheck reads",
            hint="pass a folder, a .csv or .parquet manifest, an .npz file or tfds:NAME",
        )
    if path.is_dir() and is_cifar_dir(path):
        return _scan_listing(read_cifar(path), settings, "cifar")
    # The top level first: a folder that is not a dataset is refused before anything below it is read.
    split_folders(path, aliases=split_aliases)
    root = path.resolve()
    with _store(root, settings) as store:
        memo = _ReportMemo.start(store, root, settings)
        if memo is not None and (stored := memo.get()) is not None:
            return stored
        folder = list_folder(path, aliases=split_aliases)
        skipped = tuple(s for s in folder.skipped if not settings.ignore.matches(s.path))
        return _scan_files(
            display_name(root.name), folder.records, skipped, settings, "folder", root, store=store, memo=memo,
            splits=tuple(folder.split_dirs),
        )  # fmt: skip


def scan_arrays(
    splits: Mapping[str, Any], *, label_names: Sequence[str] | None = None, **options: Unpack[ScanOptions]
) -> Report:
    """Audit numpy arrays: `{"train": (x, y), "test": (x, y)}`, or `(x, y, groups)`, or `x` alone.

    `x` is N x H x W, N x H x W x C (C = 1, 3 or 4) or N x C x H x W (C = 1 or 3) of any dtype; `y` integers, strings
    or one-hot rows. Samples are keyed `train[412]`. `options`: the scan options (`ScanOptions`), as for
    `scan`.
    """
    settings = _settings(**options)
    label_names = _label_names(label_names)
    if not isinstance(splits, Mapping):
        raise UsageError(
            f"splits must be a mapping of split name to arrays, got a {type(splits).__name__}",
            hint='pass {"train": (x, y), "test": (x, y)}',
        )
    listing = array_listing("arrays", mapping_splits(splits), label_names=label_names, aliases=settings.aliases)
    return _scan_listing(listing, settings, "arrays")


def scan_tfds(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    splits: Sequence[str] | None = None,
    **options: Unpack[ScanOptions],
) -> Report:
    """Audit a TFDS dataset (`"mnist"`, `"NAME/CONFIG"`; a `tfds:` prefix is accepted) already prepared in
    `data_dir`; every split unless `splits` names some. Nothing is downloaded: an unprepared dataset
    raises DataNotFoundError naming the command that prepares it. `options` as for `scan`.
    """
    settings = _settings(**options)
    name = name.removeprefix(TFDS_PREFIX)
    listing = read_tfds(name, data_dir=data_dir, splits=splits, aliases=settings.aliases)
    return _scan_listing(listing, settings, "tfds")


def scan_dataset(
    datasets: Mapping[str, Any],
    *,
    image_key: str | None = None,
    label_key: str | None = None,
    batched: bool | None = None,
    label_names: Sequence[str] | None = None,
    **options: Unpack[ScanOptions],
) -> Report:
    """Audit tf.data pipelines: `{"train": train_ds, "test": test_ds}`, each iterated once.

    Elements are `(image, label)` tuples, dicts (`image_key`/`label_key`, default `image`/`label`) or bare
    images; batched or not (`batched=None` decides from the element shape). `options` as for `scan`.
    """
    settings = _settings(**options)
    label_names = _label_names(label_names)
    listing = read_datasets(
        datasets,
        image_key=image_key,
        label_key=label_key,
        batched=batched,
        label_names=label_names,
        aliases=settings.aliases,
    )
    return _scan_listing(listing, settings, "tf.data")


def scan_fingerprints(
    fingerprints: Iterable[Fingerprint],
    *,
    root: str = "",
    skipped: Iterable[Skipped] = (),
    near: bool = True,
    phash_distance: int | None = None,
    dhash_distance: int = 14,
    checks: Sequence[Check] = DEFAULT_CHECKS,
) -> Report:
    """Index fingerprints made elsewhere (`fingerprint_array`, a custom source), run the checks, report."""
    settings = _settings(near=near, phash_distance=phash_distance, dhash_distance=dhash_distance, checks=checks)
    return _report(root, list(fingerprints), tuple(skipped), settings, "fingerprints")


@contextlib.contextmanager
def _store(root: Path, settings: _Settings) -> Iterator[FingerprintCache | None]:
    """The fingerprint cache of the dataset at `root` while the block runs, if the scan uses one."""
    if not settings.cache:
        yield None
        return
    store = open_cache(root, settings.cache_dir, cache_config(FINGERPRINT_VERSION, settings.fingerprint))
    try:
        yield store
    finally:
        if store is not None:
            store.close()


@dataclass(frozen=True, slots=True)
class _ReportMemo:
    """A folder scan's entry in the report memo (see `leakcheck.memo`): looked up before anything is
    listed, and stored after the scan."""

    store: FingerprintCache
    root: Path
    tree: Tree
    key: str
    # Files that `get` read and found unchanged under new times (path -> digest of their bytes): a scan
    # after a miss need not read them again.
    verified: dict[str, str] = dataclasses.field(default_factory=dict)

    @staticmethod
    def start(store: FingerprintCache | None, root: Path, settings: _Settings) -> _ReportMemo | None:
        """The memo for this scan, or None where it cannot vouch for the result (see `leakcheck.memo`)."""
        if store is None or not store.usable or settings.semantic is not None or not root.is_dir():
            return None
        if not all(type(check).__module__.startswith("leakcheck.checks.") for check in settings.checks):
            return None
        tree = scan_tree(root)
        if tree is None:
            return None
        return _ReportMemo(store, root, tree, report_key(root, _describe(settings)))

    def get(self) -> Report | None:
        """The stored report, if it is this tree's: the same tree, or the same entries with only some
        files' times changed and their bytes the same."""
        payload = self.store.report_get(self.key)
        if payload is None:
            return None
        try:
            head = decode_head(payload)
            retimed = head.tree != self.tree.digest
            if retimed:
                if head.names != self.tree.names or (listed := self.store.report_files_get(self.key)) is None:
                    return None
                files = decode_files(listed, head.tree)
                if not same_bytes(files, self.tree, self.root, self.verified):
                    return None
            report = report_from_document(head.report, self.root)
        except ValueError as exc:
            log.warning("leakcheck: the stored report in %s does not validate (%s); scanning in full",
                        self.store.path, exc)  # fmt: skip
            return None
        if retimed:
            # Stored again under the new times, so that the next scan reads no file.
            digests = {path: digest for path, (_, digest) in files.items() if digest is not None}
            self.store.report_put(self.key, *encode_entry(self.tree, digests, head.report))
        return dataclasses.replace(report, reused=True)

    def known(self) -> tuple[Mapping[str, tuple[int, int, int]] | None, Mapping[str, str] | None]:
        """What this scan already knows of each file, by sample key: the walk's stats (for the fingerprint
        cache's keys) and `verified`. (None, None) where some name is not text: its sample key spells the
        path with escapes, which could be another file's name."""
        if all(path.isascii() or display_name(path) == path for path in self.tree.files):
            return self.tree.files, self.verified
        return None, None

    def put(self, report: Report, fingerprints: Sequence[Fingerprint]) -> None:
        """Store `report` unless a file could not be read at all or the tree changed during the scan."""
        if any(not fp.file_digest for fp in fingerprints):
            return
        after = scan_tree(self.root)
        if after is None or after.digest != self.tree.digest:
            return
        # Digests by the path as the tree names it (a key that display_name changed names no tree path).
        digests = {fp.record.key: fp.file_digest for fp in fingerprints}
        try:
            head, files = encode_entry(self.tree, digests, report_document(report))
        except TypeError as exc:
            log.debug("leakcheck: not storing the report (%s)", exc)
            return
        self.store.report_put(self.key, head, files)


def _describe(settings: _Settings) -> str:
    """Every setting that shapes a folder scan's report, as deterministic text (not the workers or the
    progress callback, which do not)."""
    checks = [(type(c).__module__, type(c).__qualname__, c.id, sorted(c.params().items())) for c in settings.checks]
    return repr(
        (
            settings.match,
            settings.fingerprint,
            sorted(settings.aliases.items()),
            settings.group_pattern,
            settings.ignore.patterns,
            checks,
        )
    )


def _scan_files(
    root: str,
    records: Sequence[Record],
    skipped: tuple[Skipped, ...],
    settings: _Settings,
    source: str,
    root_path: Path,
    *,
    store: FingerprintCache | None,
    memo: _ReportMemo | None = None,
    splits: Sequence[str] = (),
) -> Report:
    if settings.ignore:
        kept = [r for r in records if not settings.ignore.matches(r.key)]
        if records and not kept:  # a gate that looked at nothing must not pass
            raise DataNotFoundError(
                f"{root}: the ignore globs ({', '.join(settings.ignore.patterns)}) leave out all "
                f"{len(records):,} image files",
                hint="narrow the 'ignore' globs in the config or on the command line",
            )
        records = kept
    if settings.group_pattern is not None:
        records = assign_groups(records, settings.group_pattern)
    stats, unchanged = memo.known() if memo is not None else (None, None)
    fingerprints = fingerprint_dataset(
        records, settings.fingerprint, jobs=settings.jobs, progress=settings.progress, cache=store,
        stats=stats, unchanged=unchanged,
    )  # fmt: skip
    # The same cache keeps the near-duplicate detector's result: an unchanged data set verifies nothing.
    workers = default_jobs() if settings.jobs is None else settings.jobs
    report = _report(
        root, fingerprints, skipped, settings, source, root_path, memo=store, workers=workers, splits=splits
    )
    if memo is not None:
        memo.put(report, fingerprints)
    return report


def _scan_listing(listing: SampleListing, settings: _Settings, source: str) -> Report:
    if settings.semantic is not None:
        # (The semantic tier embeds image files; in-memory images are not kept after fingerprinting.)
        raise UsageError(
            f"semantic similarity needs image files (a folder or a manifest); {source} images are not embedded",
            hint="drop semantic=, or scan the images as files",
        )
    if settings.ignore:
        raise UsageError(f"ignore globs apply to folders and manifests, not to {source} data")
    if settings.group_pattern is not None:
        # (Its samples are named by position, `train[12]`: a pattern would find the index, and every index
        # that occurs in two splits would look like one patient in both.)
        raise UsageError(
            f"a group pattern finds ids in file names, and {source} samples are named by position (train[12])",
            hint="give the groups with the samples: (x, y, groups) for arrays, or a manifest's group column",
        )
    samples: Iterable[Sample] = listing.samples()
    fingerprints = fingerprint_arrays(samples, total=listing.total, jobs=settings.jobs, progress=settings.progress)
    return _report(listing.root, fingerprints, (), settings, source, splits=listing.empty_splits)


def _report(
    root: str,
    fingerprints: list[Fingerprint],
    skipped: tuple[Skipped, ...],
    settings: _Settings,
    source: str,
    root_path: Path | None = None,
    *,
    memo: NearMemo | None = None,
    workers: int | None = None,
    splits: Sequence[str] = (),
) -> Report:
    """The one path from fingerprints to a Report, whatever the source (`splits`: any the source found
    besides the samples', such as an empty split folder). `workers`: processes for the
    near-duplicate detector (default: `settings.jobs`, else this process only, as for in-memory data,
    whose callers may hold threads, TensorFlow's among them, that forking does not mix well with)."""
    jobs = workers if workers is not None else (settings.jobs or 1)
    index = Index(
        fingerprints, settings.match, skipped=skipped, memo=memo, jobs=jobs,
        progress=_phase(settings.progress, "verifying"), searching=_phase(settings.progress, "searching"),
        splits=splits,
    )  # fmt: skip
    relations = index.relations()
    if settings.semantic is not None:
        relations = sorted(
            (*relations, *_semantic_relations(index, relations, settings.semantic, settings.semantic_min_similarity)),
            key=Relation.sort_key,
        )
    findings: list[Finding] = []
    for check in settings.checks:
        findings.extend(check.run(index))
    match = settings.match
    parameters: dict[str, Any] = {
        "source": source,
        "near": match.near,
        "near_method": match.method,
        "sensitivity": match.sensitivity,
        "min_score": match.settings().min_score,
        "phash_distance": match.hash_rule_phash_distance(),
        "phash_candidates": match.settings().phash_distance,
        "dhash_distance": match.dhash_distance,
        "max_pixels": settings.fingerprint.max_pixels,
        "group_pattern": settings.group_pattern,
        "semantic": None if settings.semantic is None else os.fspath(settings.semantic),
        "checks": {check.id: dict(check.params()) for check in settings.checks},
    }
    if settings.ignore:
        parameters["ignore"] = list(settings.ignore.patterns)
    return Report(
        root=root,
        findings=tuple(findings),
        splits=split_stats(index),
        relations=tuple(relations),
        skipped=skipped,
        parameters=parameters,
        version=__version__,
        root_path=root_path,
    )


def _phase(progress: ProgressStart | None, what: str) -> ProgressStart | None:
    """The scan's progress callback for one of the detector's phases ("searching" its candidates,
    "verifying" them): `progress(total, what=what)` where the callback takes a phase name (the CLI's bar
    does); none otherwise, so that a callback written for decoding alone never counts anything else as
    files."""
    if progress is None:
        return None
    try:
        inspect.signature(progress).bind(0, what=what)
    except (TypeError, ValueError):
        return None
    return functools.partial(progress, what=what)  # type: ignore[call-arg]  # bound just above


def _semantic_relations(
    index: Index, known: list[Relation], spec: str | os.PathLike[str], min_similarity: float
) -> list[Relation]:
    """Pairs of exact-group representatives the embedding model finds similar and that are not copies."""
    from leakcheck.near.semantic import embed_paths, load_embedder, similar_pairs

    embedder = load_embedder(spec)
    reps = [members[0] for members in index.groups if index.samples[members[0]].record.path is not None]
    paths = [index.samples[i].record.path for i in reps]
    vectors = embed_paths(embedder, [p for p in paths if p is not None])
    linked = {(r.a, r.b) for r in known} | {(r.b, r.a) for r in known}
    out: list[Relation] = []
    for i, j, cosine in similar_pairs(vectors, min_similarity):
        a, b = index.samples[reps[i]].record, index.samples[reps[j]].record
        if (a.key, b.key) in linked or index.near_links[int(index.group_of[reps[i]])] & {int(index.group_of[reps[j]])}:
            continue
        out.append(
            Relation(a.key, a.split, a.label, b.key, b.split, b.label, "similar", 0, cosine,
                     f"semantically similar ({embedder.name} embedding cosine {cosine:.2f})")
        )  # fmt: skip
    return out
