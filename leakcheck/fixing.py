"""Fixes: a leak-free copy of a data set, written beside the original, never over it.

Planning is pure (`plan_fix`: records plus the scan's duplicate relations in, one Action per sample out).
Writing (`write_fix`) is the one place outside the CLI that creates files, and only under the output
folder: hard links where the filesystem allows (no extra space; the files are the originals' inodes, so
edit copies made with `copy=True` instead), copies otherwise, or a manifest CSV pointing at the originals.

Strategies:

- `drop-eval-copies` (default): every image of an evaluation split that also appears in an earlier split
  (exactly or as a near copy, as the cross-split check sees it) is left out; all else is kept in place.
- `resplit`: the data is pooled and re-split so that each duplicate cluster (images joined by exact or
  near links, transitively) lands whole in one split, stratified by class, at target ratios, with a seeded
  and therefore repeatable shuffle.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import random
import shutil
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from leakcheck.csvtext import CsvText
from leakcheck.errors import InputError, UsageError
from leakcheck.index import Relation
from leakcheck.model import Record
from leakcheck.sources.folder import display_name
from leakcheck.splits import DEFAULT_ALIASES, canonical_split, split_order

Strategy = Literal["drop-eval-copies", "resplit"]
STRATEGIES: tuple[Strategy, ...] = ("drop-eval-copies", "resplit")
ActionKind = Literal["kept", "dropped", "moved"]
ACTIONS_FILE = "leakcheck-fix.csv"
MANIFEST_FILE = "manifest.csv"
ACTION_COLUMNS = ("action", "source", "target", "split", "new_split", "label", "reason")


@dataclass(frozen=True, slots=True)
class Action:
    """What happens to one sample: kept where it is, dropped, or moved to another split."""

    action: ActionKind
    source: str
    target: str
    split: str
    new_split: str
    label: str | None
    reason: str
    # The file and the target's path components as on disk (keys may hold escaped undecodable names).
    path: Path | None = field(default=None, compare=False)
    target_parts: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class FixPlan:
    strategy: Strategy
    actions: tuple[Action, ...]

    def counts(self) -> dict[str, int]:
        c = Counter(a.action for a in self.actions)
        return {k: c[k] for k in ("kept", "moved", "dropped")}

    def split_sizes(self) -> dict[str, int]:
        sizes = Counter(a.new_split for a in self.actions if a.action != "dropped")
        return {s: sizes[s] for s in sorted(sizes, key=split_order)}


@dataclass(frozen=True, slots=True)
class Ratios:
    """Target split fractions, normalised to sum to one, in report order."""

    fractions: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, text: str, splits: Sequence[str], aliases: Mapping[str, Iterable[str]] = DEFAULT_ALIASES) -> Ratios:
        """`0.8,0.1,0.1` (the data set's splits in order: train, val, test, others) or `train=0.8,test=0.2`.
        A name is read as the split it spells (`Validation` is `val`, as for folders; `aliases`).

        Raises:
            UsageError: malformed numbers, negative or all-zero ratios, a count that does not match, or a
            name that cannot be a split folder.
        """
        parts = [p.strip() for p in text.split(",") if p.strip()]
        named = all("=" in p for p in parts)
        if not parts or (not named and any("=" in p for p in parts)):
            raise UsageError(f"--ratios {text!r}: expected numbers like 0.8,0.1,0.1 or train=0.8,test=0.2")
        pairs: list[tuple[str, str]]
        if named:
            pairs = [
                (_split_name(name.strip(), splits, aliases), value)
                for name, _, value in (p.partition("=") for p in parts)
            ]
        else:
            for part in parts:  # (a word is a malformed number, not a count that does not match)
                try:
                    float(part)
                except ValueError:
                    raise UsageError(f"--ratios: {part!r} is not a number",
                                     hint="e.g. --ratios 0.8,0.1,0.1 or train=0.8,test=0.2") from None  # fmt: skip
            if len(parts) != len(splits):
                raise UsageError(
                    f"--ratios {text!r}: {len(parts)} ratios for {len(splits)} splits ({', '.join(splits)})",
                    hint="give one ratio per split, or name them: train=0.8,val=0.1,test=0.1",
                )
            pairs = list(zip(splits, parts, strict=True))
        values: list[tuple[str, float]] = []
        for name, value in pairs:
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"--ratios: {value!r} is not a number") from None
            if not number >= 0 or number == float("inf"):
                raise UsageError(f"--ratios: {name}={value} must be a finite number >= 0")
            values.append((name, number))
        if len({n.casefold() for n, _ in values}) != len(values):
            raise UsageError(f"--ratios {text!r}: a split is named twice")
        total = sum(v for _, v in values)
        if total <= 0:
            raise UsageError(f"--ratios {text!r}: at least one ratio must be positive")
        ordered = sorted(values, key=lambda nv: split_order(nv[0]))
        return cls(tuple((n, v / total) for n, v in ordered))


def _split_name(name: str, splits: Sequence[str], aliases: Mapping[str, Iterable[str]]) -> str:
    """The split a `--ratios` name stands for: a known spelling, one of the data's splits whatever its case,
    or a new split, whose name must make a plain folder.

    Raises:
        UsageError: the name cannot be a folder of its own in the output.
    """
    known = canonical_split(name, aliases)
    if known is not None:
        return known
    for split in splits:
        if split.casefold() == name.casefold():
            return split
    if name in ("", ".", "..") or "/" in name or "\\" in name or name in (ACTIONS_FILE, MANIFEST_FILE):
        raise UsageError(f"--ratios: {name!r} cannot be a split folder", hint="name splits like train=0.8,test=0.2")
    return name


def partition(keys: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Union-find: each set of keys joined by `pairs`, transitively, as {smallest key: sorted members}."""
    parent = {k: k for k in keys}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    sets: dict[str, list[str]] = defaultdict(list)
    for key in sorted(parent):
        sets[find(key)].append(key)
    return sets


class _Links:
    """Duplicate structure rebuilt from the report's relations: exact groups, near links between them."""

    def __init__(
        self, keys: Iterable[str], relations: Iterable[Relation], groups: Mapping[str, str] | None = None
    ) -> None:
        self.keys = tuple(keys)
        self.relations = tuple(relations)
        # Samples that share a group id (`--group-pattern`, a manifest's group column): a patient's images
        # belong in one split as much as copies do.
        self.mates: dict[str, list[str]] = defaultdict(list)
        for key, group in sorted((groups or {}).items()):
            self.mates[group].append(key)
        self.group_of = dict(groups or {})
        # Relations may name samples that are not records (a file removed since the scan): they still join.
        everyone = (*self.keys, *(k for r in self.relations for k in (r.a, r.b)))
        self.members = partition(everyone, ((r.a, r.b) for r in self.relations if r.kind != "near"))
        self.group = {key: first for first, members in self.members.items() for key in members}
        self.near: dict[str, dict[str, int]] = defaultdict(dict)
        for r in self.relations:
            if r.kind == "near":
                ga, gb = self.group[r.a], self.group[r.b]
                self.near[ga][gb] = r.distance
                self.near[gb][ga] = r.distance

    def copies(self, key: str) -> list[tuple[str, str]]:
        """(other sample, how) for every copy of `key`: its exact group, then the groups one near link away."""
        group = self.group[key]
        out = [(other, "exact copy") for other in self.members[group] if other != key]
        for linked, distance in sorted(self.near[group].items()):
            out.extend((other, f"near copy, distance {distance}") for other in self.members[linked])
        mate_group = self.group_of.get(key)
        if mate_group is not None:
            out.extend((other, f"same group {mate_group!r}") for other in self.mates[mate_group] if other != key)
        return out

    def clusters(self) -> list[list[str]]:
        """The records joined by any relation, transitively (near links chained too)."""
        known = set(self.keys)
        pairs = [(r.a, r.b) for r in self.relations if r.a in known and r.b in known]
        pairs += [(keys[0], other) for keys in self.mates.values() for other in keys[1:]]
        return sorted(partition(self.keys, pairs).values())


def _relative_parts(record: Record, root: Path) -> tuple[str, ...]:
    if record.path is None:
        raise UsageError(f"{record.key}: fix works on folders of files, and this sample has no file")
    return record.path.relative_to(root).parts


def plan_fix(
    records: Sequence[Record],
    relations: Iterable[Relation],
    *,
    root: str | os.PathLike[str],
    split_dirs: Mapping[str, str],
    strategy: Strategy = "drop-eval-copies",
    ratios: Ratios | None = None,
    seed: int = 0,
) -> FixPlan:
    """One Action per record, sorted by source key.

    Args:
        records: the samples (a folder listing, ignore globs applied), readable or not.
        relations: the scan's duplicate relations (`report.relations`).
        root: the data root the records' paths lie under.
        split_dirs: canonical split -> folder name on disk (new splits get their own name).
        ratios: target fractions for `resplit` (required there).
        seed: the shuffle seed for `resplit`.
    """
    root_path = Path(root)
    by_key = {r.key: r for r in records}
    links = _Links(by_key, relations, {r.key: r.group for r in records if r.group is not None})
    if strategy == "drop-eval-copies":
        actions = [_drop_or_keep(record, links, by_key, root_path) for record in records]
    elif strategy == "resplit":
        if ratios is None:
            raise UsageError("the resplit strategy needs --ratios (e.g. 0.8,0.1,0.1)")
        assignment = _resplit(records, links, ratios, seed)
        actions = _place(records, assignment, root_path, split_dirs)
    else:
        raise UsageError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return FixPlan(strategy, tuple(sorted(actions, key=lambda a: a.source)))


def _drop_or_keep(record: Record, links: _Links, by_key: Mapping[str, Record], root: Path) -> Action:
    parts = _relative_parts(record, root)
    mine = split_order(record.split)
    earlier = [
        (split_order(by_key[other].split), other, how)
        for other, how in links.copies(record.key)
        if other in by_key and split_order(by_key[other].split) < mine
    ]
    if earlier:
        _, other, how = min(earlier)
        return Action("dropped", record.key, "", record.split, "", record.label,
                      f"{how} of {other}", record.path)  # fmt: skip
    return Action("kept", record.key, record.key, record.split, record.split, record.label, "", record.path, parts)


def _resplit(records: Sequence[Record], links: _Links, ratios: Ratios, seed: int) -> dict[str, str]:
    """Split per sample. Per class, whole clusters are placed largest first (equal sizes in seeded order):
    in the split most of the cluster is in already while that split has room under its target, else in
    the split furthest below its target. So the result meets the ratios while moving few images."""
    by_key = {r.key: r for r in records}
    strata: dict[str, list[list[str]]] = defaultdict(list)
    for cluster in links.clusters():
        labels = Counter(by_key[k].label or "" for k in cluster)
        label = min(labels, key=lambda lab: (-labels[lab], lab))
        strata[label].append(cluster)
    names = [name for name, _ in ratios.fractions]
    assignment: dict[str, str] = {}
    for label in sorted(strata):
        clusters = strata[label]
        random.Random(f"{seed}\0{label}").shuffle(clusters)
        clusters.sort(key=len, reverse=True)  # stable: equal sizes keep the seeded order
        total = sum(len(c) for c in clusters)
        room = {name: fraction * total for name, fraction in ratios.fractions}
        for cluster in clusters:
            homes = Counter(by_key[k].split for k in cluster)
            home = min(homes, key=lambda s: (-homes[s], split_order(s)))
            if home in room and room[home] >= len(cluster) - 0.5:
                target = home
            else:
                target = max(names, key=lambda n: (room[n], -names.index(n)))
            room[target] -= len(cluster)
            for key in cluster:
                assignment[key] = target
    return assignment


def _place(
    records: Sequence[Record], assignment: Mapping[str, str], root: Path, split_dirs: Mapping[str, str]
) -> list[Action]:
    """Actions for a re-split; a moved file whose name is taken in its new folder gets `.from-<split>`.
    Names are compared as a case-insensitive, normalising filesystem would (macOS, Windows): `A.jpg` takes
    `a.jpg` there, and a file cannot take the name of a folder."""
    taken: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()

    def take(parts: tuple[str, ...]) -> None:
        folded = _fold(parts)
        taken.add(folded)
        folders.update(folded[:n] for n in range(1, len(folded)))

    actions: list[Action] = []
    staying = [r for r in records if assignment[r.key] == r.split]
    leaving = [r for r in records if assignment[r.key] != r.split]
    for record in staying:
        parts = _relative_parts(record, root)
        take(parts)
        actions.append(Action("kept", record.key, record.key, record.split, record.split, record.label,
                              f"re-split: stays in {record.split}", record.path, parts))  # fmt: skip
    for record in leaving:
        new_split = assignment[record.key]
        rest = _relative_parts(record, root)[1:]
        parts = (split_dirs.get(new_split, new_split), *rest)
        stem, dot, suffix = parts[-1].rpartition(".")
        n = 0
        while _fold(parts) in taken or _fold(parts) in folders:
            n += 1
            tag = f".from-{record.split}" + (f"-{n}" if n > 1 else "")
            parts = (*parts[:-1], _tagged(stem if dot else parts[-1], tag, f".{suffix}" if dot else ""))
        take(parts)
        # (The target as keys spell it: a name that is not UTF-8 with backslash escapes.)
        target = "/".join((split_dirs.get(new_split, new_split), *record.key.split("/")[1:-1], display_name(parts[-1])))
        actions.append(Action("moved", record.key, target, record.split, new_split, record.label,
                              f"re-split by duplicate cluster, class {record.label or '(none)'}",
                              record.path, parts))  # fmt: skip
    return actions


def _tagged(base: str, tag: str, suffix: str) -> str:
    """`base + tag + suffix`, within the 255 bytes a file name may have: a longer base is cut, and a short
    digest of the whole base keeps two cut names apart."""
    name = f"{base}{tag}{suffix}"
    if len(os.fsencode(name)) <= _NAME_MAX:
        return name
    end = f"~{hashlib.blake2b(os.fsencode(base), digest_size=4).hexdigest()}{tag}{suffix}"
    budget = _NAME_MAX - len(os.fsencode(end))
    while base and len(os.fsencode(base)) > budget:
        base = base[:-1]
    return base + end


_NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def _fold(parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(unicodedata.normalize("NFC", p).casefold() for p in parts)


def render_actions_csv(plan: FixPlan) -> str:
    """Every action, one row per sample, sorted by source: the record of what `fix` did."""
    out = CsvText()
    out.row(ACTION_COLUMNS)
    for a in plan.actions:
        out.row((a.action, a.source, a.target, a.split, a.new_split, a.label or "", a.reason))
    return out.text()


def render_manifest_csv(plan: FixPlan, out: str | os.PathLike[str]) -> str:
    """`path,label,split` rows for the kept and moved samples, paths relative to `out` (the manifest's
    folder) and pointing at the original files.

    Raises:
        InputError: a file name is not UTF-8 text, which a UTF-8 manifest cannot name.
    """
    text = CsvText()
    text.row(("path", "label", "split"))
    base = Path(out).resolve()
    for a in plan.actions:
        if a.action != "dropped" and a.path is not None:
            rel = Path(os.path.relpath(a.path.resolve(), base)).as_posix()
            if display_name(rel) != rel:
                raise InputError(
                    f"{display_name(str(a.path))}: the file name is not UTF-8 text, which a manifest cannot name",
                    hint="rename the file, or run fix without --manifest-only",
                )
            text.row((rel, a.label or "", a.new_split))
    return text.text()


@dataclass(frozen=True, slots=True)
class WriteResult:
    linked: int = 0
    copied: int = 0
    removed: int = 0
    up_to_date: bool = False


def check_out_folder(root: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Refuse an output folder inside the data (or holding it), also through a linked folder at any depth,
    a link that leads nowhere and a file: nothing must ever be written among the originals.
    Cheap: run it before the scan (`fix` runs `check_fix_out`, which also looks at what `out` holds).

    Raises:
        UsageError: the folders overlap, or `out` is a broken link or a file.
    """
    if not os.fspath(out):
        raise UsageError("--out is empty", hint="name a new folder beside the data")
    data, target = Path(root).resolve(), Path(out).resolve()
    if target == data or data in target.parents:
        raise UsageError(f"{out}: inside the data folder {root}", hint="choose --out beside the data, not in it")
    if target in data.parents:
        raise UsageError(f"{out}: holds the data folder {root}", hint="choose a new folder beside the data")
    for linked in _linked_folders(Path(root)):
        if target == linked or linked in target.parents:
            raise UsageError(
                f"{out}: inside {linked}, a folder of the data set (linked from {root})",
                hint="choose --out beside the data, not in it",
            )
    out_path = Path(out)
    if out_path.is_symlink() and not out_path.exists():
        raise UsageError(f"{out}: a link to nothing", hint="remove the link, or choose a new folder for --out")
    if out_path.exists() and not out_path.is_dir():
        raise UsageError(f"{out}: exists and is not a folder", hint="choose a new folder for --out")


def check_fix_out(root: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """`check_out_folder`, and `out` must be new, empty or an earlier fix's output (nothing else is
    ever replaced). Cheap: run it before the scan.

    Raises:
        UsageError: as `check_out_folder`, or `out` holds files `fix` did not write.
    """
    check_out_folder(root, out)
    if Path(out).is_dir():
        _own_files(Path(out))


def _linked_folders(root: Path) -> list[Path]:
    """Where the folders that are links, at any depth, lead: the listing follows them (hidden folders
    aside, which it skips), so whatever lies there is read as part of the data set."""
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = list(os.scandir(folder))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue
        visited.add((st.st_dev, st.st_ino))
        for entry in entries:
            try:
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
            except OSError:
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                found.append(path.resolve())
            stack.append(path)
    return found


def _own_files(out: Path) -> dict[str, str]:
    """The files under `out` ({shown name: relative path}), all checked to be an earlier fix's output.

    Raises:
        UsageError: `out` holds a file (or a link) that no earlier `fix` wrote there.
    """
    on_disk = _files_under(out)
    # The actions CSV spells a name that is not UTF-8 with backslash escapes, as sample keys do.
    present = {display_name(f): f for f in on_disk}
    if present:
        previous = _previous_outputs(out)
        foreign = [
            shown for shown, f in present.items() if previous is None or shown not in previous or (out / f).is_symlink()
        ]
        if foreign:
            raise UsageError(
                f"{out}: not empty and not the output of 'leakcheck fix' (it holds {foreign[0]})",
                hint="choose a new or empty folder for --out",
            )
    return present


def _files_under(folder: Path) -> list[str]:
    """The files under `folder` (relative POSIX paths), links to folders listed as entries of their own
    (never followed: `fix` must not write through one into a folder elsewhere, the data's among them)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        found.extend((rel / name).as_posix() for name in filenames)
        found.extend((rel / name).as_posix() for name in dirnames if (Path(dirpath) / name).is_symlink())
    return sorted(found)


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links resolved, lies inside `folder` (resolved)."""
    return folder in path.resolve().parents


def _previous_outputs(out: Path) -> set[str] | None:
    """Files a previous `fix` wrote into `out` (by its actions CSV), or None when `out` is not one."""
    actions = out / ACTIONS_FILE
    if not actions.is_file():
        return None
    try:
        with actions.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or set(rows[0]) != set(ACTION_COLUMNS):
        return None
    written = {ACTIONS_FILE, MANIFEST_FILE}
    written.update(row["target"] for row in rows if row["action"] != "dropped" and row["target"])
    return written


def write_fix(
    plan: FixPlan,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    manifest_only: bool = False,
    copy: bool = False,
) -> WriteResult:
    """Write the fixed data set (or only its manifest) and the actions CSV under `out`.

    `out` must be new, empty, or the output of an earlier `fix`: then its earlier files are replaced,
    and when the plan is unchanged nothing is written at all.

    Raises:
        UsageError: `out` overlaps the data, is a file, or holds files `fix` did not write.
    """
    check_out_folder(root, out)
    out_path = Path(out)
    actions_text = render_actions_csv(plan)
    removed = 0
    if out_path.is_dir():
        present = _own_files(out_path)
        if present:
            wanted = {ACTIONS_FILE} | (
                {MANIFEST_FILE} if manifest_only else {a.target for a in plan.actions if a.action != "dropped"}
            )
            # (As bytes: reading as text would turn a name's "\r" into "\n".)
            old_text = (out_path / ACTIONS_FILE).read_bytes().decode("utf-8", "replace")
            if (
                old_text == actions_text
                and set(present) == wanted
                and (manifest_only or all(_current(a, out_path, copy) for a in plan.actions if a.action != "dropped"))
            ):
                return WriteResult(up_to_date=True)
            removed = _remove_outputs(out_path, list(present.values()))
    try:
        out_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{out}: cannot create the folder ({exc.strerror or exc})", hint="choose another --out"
        ) from None
    # The actions file goes first: should the run stop half-way, the next run still recognises the folder
    # as its own output and replaces it.
    _write_text(out_path / ACTIONS_FILE, actions_text)
    linked = copied = 0
    base = out_path.resolve()
    if manifest_only:
        _write_text(out_path / MANIFEST_FILE, render_manifest_csv(plan, out_path))
    else:
        for action in plan.actions:
            if action.action == "dropped" or action.path is None:
                continue
            target = out_path.joinpath(*action.target_parts)
            if not _inside(target, base):
                # (Only a link made inside --out while this ran can lead elsewhere; the check above saw none.)
                # Checked before any folder is made, so that none is made through such a link.
                raise UsageError(f"{out}: {target} leads outside the output folder", hint="choose a new folder")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _cannot_write(target.parent, exc) from None
            if _put(action.path, target, copy=copy):
                linked += 1
            else:
                copied += 1
    return WriteResult(linked=linked, copied=copied, removed=removed)


# Why a hard link can fail where a copy still works: another filesystem, links not allowed there, too
# many links to the file already, no permission to link a file one does not own (protected_hardlinks).
_COPY_INSTEAD = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP}


def _put(source: Path, target: Path, *, copy: bool) -> bool:
    """`target` made a hard link to `source`'s file (True) or a copy of it (False). The file a link
    leads to is what is linked or copied (a relative link would lead nowhere from the output). Nothing
    that exists is ever written over: a name already taken (a folder of that name, or a case-insensitive
    filesystem's `A.jpg` for `a.jpg`) is an error, not a fallback to copying into or over it.

    Raises:
        InputError: the source cannot be read.
        UsageError: the target cannot be written (its name is taken, the disk is full or read-only).
    """
    real = Path(os.path.realpath(source))
    if not copy:
        try:
            os.link(real, target)
            return True
        except OSError as exc:
            if exc.errno not in _COPY_INSTEAD:
                raise _cannot_write(target, exc) from None
    try:
        src = real.open("rb")
    except OSError as exc:
        raise InputError(
            f"{source}: cannot read it ({exc.strerror or exc})",
            hint="make the file readable, or --ignore it and run fix again",
        ) from None
    with src:
        try:
            dst = target.open("xb")
        except OSError as exc:
            raise _cannot_write(target, exc) from None
        try:
            with dst:
                shutil.copyfileobj(src, dst)
        except OSError as exc:
            raise _cannot_write(target, exc) from None
    shutil.copystat(real, target)
    return False


def _cannot_write(target: Path, exc: OSError) -> UsageError:
    if exc.errno == errno.EEXIST:
        return UsageError(
            f"{target}: the name is already taken in the output (a folder of that name, or a name that "
            "differs only in case on this filesystem)",
            hint="rename one of the two source files, or --ignore one",
        )
    return UsageError(
        f"{target}: cannot write it ({exc.strerror or exc})", hint="check the space and permissions of --out"
    )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _current(action: Action, out: Path, copy: bool) -> bool:
    """Whether the file an earlier run wrote for `action` is what this run would write: a hard link to
    the source's file (`copy` off), or a copy (`copy` on) with the source's size and modification time."""
    if action.path is None:
        return False
    target = out.joinpath(*action.target_parts)
    try:
        src, dst = os.stat(action.path), os.lstat(target)
    except OSError:
        return False
    same_file = (src.st_dev, src.st_ino) == (dst.st_dev, dst.st_ino)
    if not copy:
        # (Where links are impossible, the earlier run copied too: then a current copy is what it wrote.)
        return same_file or (
            src.st_dev != dst.st_dev and (src.st_size, src.st_mtime_ns) == (dst.st_size, dst.st_mtime_ns)
        )
    return not same_file and (src.st_size, src.st_mtime_ns) == (dst.st_size, dst.st_mtime_ns)


def _remove_outputs(out: Path, files: Iterable[str]) -> int:
    """Delete an earlier fix's files (all of them checked to be its own) and the folders left empty."""
    count = 0
    base = out.resolve()
    # The actions CSV last: should this stop half-way, the next run still recognises the folder.
    for rel in sorted(files, key=lambda f: f == ACTIONS_FILE):
        path = out / rel
        if base not in path.resolve().parents:
            raise UsageError(f"{out}: {rel} lies outside the output folder", hint="choose a new folder for --out")
        path.unlink()
        count += 1
    for dirpath, _, _ in sorted(os.walk(out, topdown=False), key=lambda w: len(w[0]), reverse=True):
        folder = Path(dirpath)
        if folder != out and not any(folder.iterdir()):
            folder.rmdir()
    return count
