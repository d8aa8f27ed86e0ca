"""The Keras / torchvision ImageFolder layout: `ROOT/<split>/<class>/<image>` (or `ROOT/<split>/<image>`)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from leakcheck.errors import DataNotFoundError, LayoutError
from leakcheck.model import Record, Skipped
from leakcheck.splits import DEFAULT_ALIASES, canonical_split, split_order

# The reason a folder that could not be listed was skipped (its images are missing from the scan).
UNREADABLE_FOLDER = "folder unreadable"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class FolderListing:
    """What a folder holds: the samples found and everything passed over, with the reason."""

    root: Path
    records: tuple[Record, ...]
    skipped: tuple[Skipped, ...]
    split_dirs: Mapping[str, str]  # canonical split -> folder name as found on disk


def display_name(name: str) -> str:
    """A file name as text that always encodes (undecodable bytes become backslash escapes)."""
    if name.isascii():  # the common case, and its own display name
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _key(parts: tuple[str, ...]) -> str:
    return "/".join(display_name(p) for p in parts)


def list_folder(
    root: str | os.PathLike[str], *, aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES
) -> FolderListing:
    """List the samples under `root` without opening any image.

    Raises:
        DataNotFoundError: `root` is missing, not a folder, or cannot be listed.
        LayoutError: no split folders, or two folders naming the same split.
    """
    root_path = Path(root)
    split_dirs, skipped = split_folders(root_path, aliases=aliases)
    records: list[Record] = []
    top = root_path.stat()
    for split in sorted(split_dirs, key=split_order):
        dirname = split_dirs[split]
        _walk_split(root_path, (dirname,), split, records, skipped, (top.st_dev, top.st_ino))
    if not records:
        raise DataNotFoundError(
            f"{root}: no image files in {', '.join(display_name(n) for n in sorted(split_dirs.values()))}",
            hint=f"supported extensions: {' '.join(sorted(IMAGE_EXTENSIONS))}",
        )
    records.sort(key=lambda r: r.key)  # stable: among equal keys, the walk's order (sorted names)
    records = _unique_keys(records, skipped)
    skipped.sort(key=lambda s: (s.path, s.reason))
    return FolderListing(root_path, tuple(records), tuple(skipped), dict(split_dirs))


def _unique_keys(records: list[Record], skipped: list[Skipped]) -> list[Record]:
    """`records` (sorted by key) without those whose key another file already has: a name with bytes that
    are not UTF-8 is shown with backslash escapes (`x\\xff.jpg`), which another file may hold literally.
    The second file is skipped with a warning, never confused with the first."""
    unique: list[Record] = []
    for record in records:
        if unique and unique[-1].key == record.key:
            skipped.append(Skipped(record.key, "another file has this name once bytes that are not UTF-8 are shown "
                                   "as backslash escapes (the other holds a backslash): only one is scanned; rename "
                                   "one of them"))  # fmt: skip
            continue
        unique.append(record)
    return unique


def split_folders(
    root: Path, *, aliases: Mapping[str, tuple[str, ...]] = DEFAULT_ALIASES
) -> tuple[dict[str, str], list[Skipped]]:
    """The split folders at the top of `root` (canonical split -> folder name as found on disk) and the
    top-level entries passed over; one listing of `root` only, so a folder that is not a dataset is
    refused before anything below it is read.

    Raises:
        DataNotFoundError: `root` is missing, not a folder, or cannot be listed.
        LayoutError: no split folders, or two folders naming the same split.
    """
    if not root.exists():
        if root.is_symlink():
            raise DataNotFoundError(f"{root}: a link that leads nowhere (broken, or a loop)", hint="check the link")
        raise DataNotFoundError(f"{root}: no such folder", hint="check the path")
    if not root.is_dir():
        raise DataNotFoundError(
            f"{root}: not a folder", hint="pass the dataset's root folder, the one holding train/ and test/"
        )
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except PermissionError:
        raise DataNotFoundError(f"{root}: permission denied", hint="make the folder readable") from None

    skipped: list[Skipped] = []
    split_dirs: dict[str, str] = {}
    unrecognised: list[str] = []
    for entry in top:
        if entry.name.startswith("."):
            skipped.append(Skipped(_key((entry.name,)), "hidden"))
            continue
        if not _is_dir(entry):
            kind = _kind(entry)  # a link that leads nowhere may be a split whose disk is not mounted: say so
            skipped.append(Skipped(_key((entry.name,)), "not in a split folder" if kind == "file" else kind))
            continue
        canonical = canonical_split(entry.name, aliases)
        if canonical is None:
            unrecognised.append(entry.name)
            continue
        if canonical in split_dirs:
            raise LayoutError(
                f"{root}: folders {split_dirs[canonical]!r} and {entry.name!r} both name the split {canonical!r}",
                hint="merge or rename one of them",
            )
        split_dirs[canonical] = entry.name
    if not split_dirs:
        seen = ", ".join(repr(display_name(n)) for n in unrecognised[:5]) or "no sub-folders"
        raise LayoutError(
            f"{root}: no split folders found (saw {seen}); expected <split>/<class>/<image> inside it, "
            "with splits such as train/, val/ and test/",
            hint="if these are class folders, scan their parent folder",
        )
    # Once the layout is recognised, any other folder is a split of its own, kept by its name.
    for name in unrecognised:
        split_dirs[name] = name
    return split_dirs, skipped


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _walk_split(
    root: Path,
    split_parts: tuple[str, ...],
    split: str,
    records: list[Record],
    skipped: list[Skipped],
    top: tuple[int, int],
) -> None:
    # An explicit stack with a set of visited (device, inode) pairs follows symlinked folders without
    # ever looping: os.walk(followlinks=True) would recurse forever on a link to an ancestor. The data
    # root (`top`) is never entered again: through a link it would put every split inside this one.
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[tuple[str, ...], str | None]] = [(split_parts, None)]
    while stack:
        parts, label = stack.pop()
        directory = root.joinpath(*parts)
        try:
            st = directory.stat()
        except OSError as exc:
            skipped.append(Skipped(_key(parts), f"{UNREADABLE_FOLDER}: {exc.strerror or exc}"))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident == top:
            skipped.append(Skipped(_key(parts), "symlink loop (a link back to the data root)"))
            continue
        if ident in visited:
            skipped.append(Skipped(_key(parts), "symlink loop (folder already visited)"))
            continue
        visited.add(ident)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(_key(parts), f"{UNREADABLE_FOLDER}: {exc.strerror or exc}"))
            continue
        # Per folder, not per file: the key prefix and the label's display name.
        prefix = _key(parts) + "/"
        shown_label = _label(label)
        child_path = directory.joinpath
        for entry in entries:
            name = entry.name
            child = (*parts, name)
            if name.startswith("."):
                skipped.append(Skipped(_key(child), "hidden"))
                continue
            kind = _kind(entry)
            if kind == "dir":
                # The first level below the split names the class; deeper folders keep that class.
                stack.append((child, name if label is None and len(parts) == len(split_parts) else label))
            elif kind == "file":
                if _suffix(name) in IMAGE_EXTENSIONS:
                    records.append(Record(prefix + display_name(name), split, shown_label, child_path(name)))
                else:
                    skipped.append(Skipped(_key(child), "not an image file"))
            else:
                skipped.append(Skipped(_key(child), kind))


def _suffix(name: str) -> str:
    """`Path(name).suffix.lower()` without building a Path: the last dot, unless first or last."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def _label(label: str | None) -> str | None:
    return display_name(label) if label is not None else None


def _kind(entry: os.DirEntry[str]) -> str:
    """'dir', 'file', or the reason the entry is passed over."""
    # Plain files and folders are told apart by the directory listing itself (no stat call); links and
    # file systems that do not say go through stat, which follows links.
    try:
        if entry.is_file(follow_symlinks=False):
            return "file"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
    except OSError:
        pass
    try:
        st = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        return "broken symlink"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symlink that points at itself, directly or through others
            return "symlink loop"
        return f"unreadable: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "not a regular file"


def iter_keys(listing: FolderListing) -> Iterator[str]:
    return (r.key for r in listing.records)
