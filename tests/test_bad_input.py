"""Every kind of bad input gets one clear line naming the file, the right exit code, and no traceback."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import leakcheck
from leakcheck.checks import LabelConflicts
from leakcheck.cli import main
from leakcheck.errors import UsageError
from tests.factory import DatasetFactory, snapshot

LABELS = ["cat", "dog"]


def _errors(report: leakcheck.Report) -> dict[str, str]:
    return {f.samples[0]: f.message for f in report.findings if f.metrics.get("problem") == "unreadable"}


def test_missing_folder_is_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["scan", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"leakcheck: error: {missing}: no such folder (check the path)"]
    # A path that is not UTF-8 is shown as the listing shows such names.
    assert main(["scan", os.fsdecode(os.fsencode(str(missing)) + b"\xff")]) == 2
    assert capsys.readouterr().err.strip() == f"leakcheck: error: {missing}\\xff: no such folder (check the path)"


def test_a_file_instead_of_a_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"x")
    assert main(["scan", str(f)]) == 2
    assert f"{f}: not a data set leakcheck reads" in capsys.readouterr().err


def test_empty_folder_says_what_layout_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no split folders found (saw no sub-folders)" in err
    assert "<split>/<class>/<image>" in err
    assert "Traceback" not in err


def test_class_folders_without_splits_point_at_the_parent(factory: DatasetFactory) -> None:
    factory.add_many("cat", [], 0, 0)
    factory.add("cat", None, "a.jpg", 1)
    factory.add("dog", None, "b.jpg", 2)
    with pytest.raises(leakcheck.LayoutError, match="saw 'cat', 'dog'") as info:
        leakcheck.scan(factory.root)
    assert info.value.hint == "if these are class folders, scan their parent folder"


def test_splits_without_images_are_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("hi")
    with pytest.raises(leakcheck.DataNotFoundError, match="no image files in train"):
        leakcheck.scan(tmp_path)


def test_two_folders_for_one_split_are_a_layout_error(factory: DatasetFactory) -> None:
    factory.add("val", "cat", "a.jpg", 1)
    factory.add("validation", "cat", "b.jpg", 2)
    factory.add("train", "cat", "c.jpg", 3)
    with pytest.raises(leakcheck.LayoutError, match="'val' and 'validation' both name the split 'val'"):
        leakcheck.scan(factory.root)


def test_broken_files_become_findings_and_the_scan_goes_on(factory: DatasetFactory) -> None:
    train = factory.add_many("train", LABELS, 3, seed0=0)
    factory.copy_bytes(train[0], "test", "cat", "leak.jpg")
    factory.path("train", "cat", "empty.jpg").write_bytes(b"")
    data = train[1].read_bytes()
    factory.path("train", "cat", "truncated.jpg").write_bytes(data[: len(data) // 2])
    factory.path("train", "dog", "text.png").write_text("this is not an image")
    factory.path("test", "dog", "garbage.webp").write_bytes(os.urandom(300))
    report = leakcheck.scan(factory.root, jobs=1)
    errors = _errors(report)
    assert (
        errors["train/cat/empty.jpg"] == "train/cat/empty.jpg: empty file (0 bytes); re-export the image or delete it"
    )
    assert errors["train/cat/truncated.jpg"].startswith("train/cat/truncated.jpg: truncated image (")
    assert errors["train/dog/text.png"].endswith("not an image Pillow can read; remove it or fix its extension")
    assert "test/dog/garbage.webp" in errors
    # The readable images were still checked: the planted leak is found.
    assert report.headline()[0].message == "test: 1 of 1 images (100.0%) also appear in train"
    assert {s.split: s.unreadable for s in report.splits} == {"train": 3, "test": 1}


def test_decompression_bomb_is_reported_not_decoded(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    bomb = factory.path("train", "cat", "bomb.png")
    Image.new("1", (12_000, 12_000)).save(bomb)  # 144 megapixels in a few kilobytes
    report = leakcheck.scan(factory.root, jobs=1)
    assert _errors(report)["train/cat/bomb.png"] == (
        "train/cat/bomb.png: image is 12000x12000 (144,000,000 pixels), above the limit of 89,478,485; "
        "raise --max-pixels if it is genuine"
    )


def test_max_pixels_is_a_user_setting(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    report = leakcheck.scan(factory.root, jobs=1, max_pixels=1000)
    assert len(_errors(report)) == 4


def test_permission_denied_file_is_a_finding(factory: DatasetFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root in CI, where chmod cannot deny a read; fail the read itself instead.
    paths = factory.add_many("train", LABELS, 2, seed0=0)
    locked = paths[0]
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = leakcheck.scan(factory.root, jobs=1)
    key = locked.relative_to(factory.root).as_posix()
    assert _errors(report)[key] == f"{key}: permission denied; make the file readable or exclude it"


def test_unreadable_folder_is_an_error(factory: DatasetFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "dog":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = leakcheck.scan(factory.root, jobs=1)
    skipped = [f for f in report.findings if f.metrics.get("problem") == "skipped" and f.samples]
    assert [f.message for f in skipped] == ["train/dog: skipped, folder unreadable: Permission denied"]
    # Its images are missing from the leak checks: not a clean pass.
    assert [str(f.severity) for f in skipped] == ["error"]
    assert report.exit_code() == 1


def test_an_empty_split_folder_is_a_warning_not_a_missing_split(
    factory: DatasetFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add_many("test", LABELS, 1, seed0=10)
    (factory.root / "val").mkdir()
    report = leakcheck.scan(factory.root, jobs=1)
    assert [(s.split, s.images) for s in report.splits] == [("train", 4), ("val", 0), ("test", 2)]
    empty = [f for f in report.findings if f.metrics.get("problem") == "empty"]
    assert [(f.message, str(f.severity)) for f in empty] == [("val: no images", "warning")]
    # Nothing leaks into or out of it, and the headline does not pretend it was checked.
    assert [line.split for line in report.headline()] == ["test"]
    assert main(["scan", str(factory.root), "-j", "1", "--no-cache"]) == 0
    assert "val: no images" in capsys.readouterr().out


def test_data_that_is_a_link_loop_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for argv in (["scan", str(tmp_path / "a")], ["fix", str(tmp_path / "a"), "--out", str(tmp_path / "out")]):
        assert main([*argv, "--no-cache", "--no-config"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert "loop" in err


def test_an_unreadable_manifest_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\nx.png,a,train\n", encoding="utf-8")
    real_open = Path.open

    def open_(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "m.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", open_)
    assert main(["scan", str(manifest), "--no-cache", "--no-config", "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"leakcheck: error: {manifest}: cannot read (Permission denied) (make the file readable)"
    )


def test_an_error_naming_a_hostile_file_stays_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.csv"
    # A quoted name spanning two lines, with a terminal escape sequence in it.
    manifest.write_text('path,label,split\n"gone\x1b[31mRED\nline.jpg",a,train\n', encoding="utf-8")
    assert main(["scan", str(manifest), "--no-cache", "--no-config", "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "\x1b" not in err
    # The row starts on line 2 (it ends on line 3).
    assert "line 2: gone\\x1b[31mRED\\nline.jpg: no such file" in err


def test_symlink_loops_are_skipped_with_a_warning(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add("test", "cat", "t.jpg", 99)
    (factory.root / "train" / "cat" / "again").symlink_to(factory.root / "train")
    (factory.root / "train" / "dog" / "self.jpg").symlink_to(factory.root / "train" / "dog" / "self.jpg")
    (factory.root / "train" / "dog" / "dangling.jpg").symlink_to(factory.root / "nowhere.jpg")
    report = leakcheck.scan(factory.root, jobs=1)
    skipped = sorted(f.message for f in report.findings if f.metrics.get("problem") == "skipped" and f.samples)
    assert skipped == [
        "train/cat/again: skipped, symlink loop (folder already visited)",
        "train/dog/dangling.jpg: skipped, broken symlink",
        "train/dog/self.jpg: skipped, symlink loop",
    ]
    assert sum(s.images for s in report.splits) == 5


def test_links_back_to_the_data_root_are_loops_not_leaks(factory: DatasetFactory) -> None:
    """A link to the root (or above it) inside a split would put every split inside that one: copies of
    the test images "in train" and a class named after a split."""
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add("test", "cat", "t.jpg", 99)
    (factory.root / "train" / "cat" / "up").symlink_to(factory.root, target_is_directory=True)
    (factory.root / "train" / "dog" / "above").symlink_to(factory.root.parent, target_is_directory=True)
    (factory.root / "val").symlink_to(".", target_is_directory=True)
    report = leakcheck.scan(factory.root, jobs=1, cache=False)
    assert not report.leaking
    assert report.relations == ()
    skipped = {f.samples[0]: f.metrics["reason"] for f in report.findings if f.metrics.get("problem") == "skipped"
               and f.samples}  # fmt: skip
    assert skipped["train/cat/up"] == "symlink loop (a link back to the data root)"
    assert skipped[f"train/dog/above/{factory.root.name}"] == "symlink loop (a link back to the data root)"
    assert skipped["val"] == "symlink loop (a link back to the data root)"
    assert sum(s.images for s in report.splits) == 5


def test_a_split_link_that_leads_nowhere_is_a_warning(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add("test", "cat", "t.jpg", 99)
    (factory.root / "val").symlink_to(factory.root.parent / "unmounted" / "val")
    report = leakcheck.scan(factory.root, jobs=1, cache=False)
    (finding,) = [f for f in report.findings if f.samples == ("val",)]
    assert finding.severity == leakcheck.Severity.WARNING
    assert finding.message == "val: skipped, broken symlink"


def test_a_name_that_reads_like_another_files_escaped_name_is_skipped(factory: DatasetFactory) -> None:
    """`x\\xff.jpg` (a literal backslash) and the file whose name holds the byte 0xff read the same."""
    factory.add_many("train", LABELS, 2, seed0=0)
    folder = factory.root / "test" / "cat"
    folder.mkdir(parents=True)
    factory.add("test", "cat", "plain.jpg", 50)
    (folder / "x\\xff.jpg").write_bytes((factory.root / "train" / "cat").joinpath(
        sorted(os.listdir(factory.root / "train" / "cat"))[0]).read_bytes())  # fmt: skip
    (folder / os.fsdecode(b"x\xff.jpg")).write_bytes((folder / "plain.jpg").read_bytes())
    report = leakcheck.scan(factory.root, jobs=1, cache=False)
    assert sum(s.images for s in report.splits) == 6
    (finding,) = [f for f in report.findings if f.metrics.get("reason", "").startswith("another file has this name")]
    assert finding.severity == leakcheck.Severity.WARNING
    assert finding.samples == ("test/cat/x\\xff.jpg",)


def test_ignore_globs_that_leave_out_every_image_are_an_input_error(
    factory: DatasetFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    factory.add("test", "cat", "t.jpg", 99)
    assert main(["scan", str(factory.root), "--no-config", "--no-cache", "--ignore", "**"]) == 2
    err = capsys.readouterr().err
    assert "the ignore globs (**) leave out all 5 image files" in err
    assert main(["scan", str(factory.root), "--no-config", "--no-cache", "-q", "--ignore", "test/**"]) == 0


def test_a_group_pattern_on_samples_named_by_position_is_refused() -> None:
    """`train[0]` and `test[0]` would both be group "0": a false patient overlap for every index."""
    x = (np.arange(6 * 16 * 16 * 3) % 251).astype(np.uint8).reshape(6, 16, 16, 3)
    with pytest.raises(
        UsageError, match=r"a group pattern finds ids in file names, and arrays samples are named by position"
    ):
        leakcheck.scan_arrays({"train": x[:3], "test": x[3:]}, group_pattern=r"\d+")


def test_tf_data_and_arrays_mixed_in_one_mapping_say_so() -> None:
    tf = pytest.importorskip("tensorflow")
    x = np.zeros((6, 16, 16, 3), np.uint8)
    with pytest.raises(UsageError, match=r"some splits are tf\.data datasets and others are not"):
        leakcheck.scan({"train": tf.data.Dataset.from_tensor_slices(x[:4]), "test": x[4:]}, cache=False)


def test_hidden_and_non_image_files_are_skipped_and_counted(factory: DatasetFactory) -> None:
    factory.add_many("train", LABELS, 2, seed0=0)
    (factory.root / "train" / ".DS_Store").write_bytes(b"\0")
    (factory.root / "train" / "cat" / "._a.jpg").write_bytes(b"\0")
    (factory.root / ".git").mkdir()
    (factory.root / "train" / "cat" / "labels.csv").write_text("a,b")
    (factory.root / "README.md").write_text("about")
    report = leakcheck.scan(factory.root, jobs=1)
    (note,) = [f for f in report.findings if f.message.startswith("skipped files")]
    assert note.message == "skipped files: 3 hidden, 1 not an image file, 1 not in a split folder"


HOSTILE = [
    "<img src=x onerror=alert(1)>.jpg",
    "café 猫.jpg",
    "new\nline.jpg",
    "[bold red]markup[reset].jpg",
    'a,b"c.jpg',
    "carriage\rreturn.jpg",  # a line end to most CSV readers: its row is quoted whole
]


def test_hostile_and_unicode_names_survive_every_output(
    factory: DatasetFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = factory.add_many("train", LABELS, 2, seed0=0)
    for name in HOSTILE:
        factory.copy_bytes(train[0], "test", "cat", name)
    raw = os.fsencode(factory.root / "test" / "cat") + b"/\xff\xfe.jpg"
    with open(raw, "wb") as fh:
        fh.write(train[1].read_bytes())
    out_json, out_csv = tmp_path / "r.json", tmp_path / "p.csv"
    code = main(["scan", str(factory.root), "--json", str(out_json), "--pairs", str(out_csv), "--max-items", "50"])
    assert code == 1
    stdout = capsys.readouterr().out
    assert "new\\nline.jpg" in stdout  # escaped, so each name stays on one line
    assert "[bold red]markup[reset].jpg" in stdout  # printed as text, not interpreted as rich markup
    report = json.loads(out_json.read_text(encoding="utf-8"))
    leaked = set(report["findings"][0]["samples"])
    assert {f"test/cat/{n}" for n in HOSTILE} | {"test/cat/\\xff\\xfe.jpg"} == leaked
    # (Read as the csv module asks, newline="": a name's "\r" stays in its field.)
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["b_path"] for r in rows} == leaked
    html = leakcheck.scan(factory.root, jobs=1)._repr_html_()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in html


def test_a_scan_never_modifies_the_data(factory: DatasetFactory, tmp_path: Path) -> None:
    train = factory.add_many("train", LABELS, 3, seed0=0)
    factory.copy_bytes(train[0], "val", "cat", "copy.jpg")
    factory.path("train", "cat", "broken.jpg").write_bytes(b"\xff\xd8\xff")
    before = snapshot(factory.root)
    assert (
        main(["scan", str(factory.root), "-q", "--json", str(tmp_path / "r.json"), "--pairs", str(tmp_path / "p.csv")])
        == 1
    )
    assert snapshot(factory.root) == before
    assert sorted(p.name for p in factory.root.iterdir()) == ["train", "val"]


def test_linked_files_and_folders_are_listed_like_their_targets(factory: DatasetFactory, tmp_path: Path) -> None:
    from leakcheck.sources.folder import list_folder

    factory.add_many("train", LABELS, 2, seed0=0)
    outside = factory.add("test", "cat", "t.jpg", 99)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.replace(outside, elsewhere / "t.jpg")
    (factory.root / "test" / "cat" / "t.jpg").symlink_to(elsewhere / "t.jpg")
    (factory.root / "test" / "bird").symlink_to(elsewhere, target_is_directory=True)
    (factory.root / "test" / "cat" / "Ünïcode.JPG").write_bytes((elsewhere / "t.jpg").read_bytes())
    (factory.root / "test" / "cat" / "notes.").write_bytes(b"x")
    listing = list_folder(factory.root)
    tests = {r.key: r for r in listing.records if r.split == "test"}
    assert sorted(tests) == ["test/bird/t.jpg", "test/cat/t.jpg", "test/cat/Ünïcode.JPG"]
    assert tests["test/bird/t.jpg"].label == "bird"
    for key, record in tests.items():
        assert record.path == factory.root / key
        assert record.path is not None
        assert record.path.parts == (factory.root / key).parts
    assert [(s.path, s.reason) for s in listing.skipped] == [("test/cat/notes.", "not an image file")]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"min_score": "0.5"}, "min_score must be a number between 0 and 1"),
        ({"min_score": float("nan")}, "min_score must be a number between 0 and 1"),
        ({"phash_distance": "3"}, "phash_distance must be a whole number"),
        ({"dhash_distance": 2.5}, "dhash_distance must be a whole number"),
        ({"dhash_distance": None}, "dhash_distance must be a whole number"),
        # A string where a list belongs was read as a list of letters: ignore globs *, ., p, n, g.
        ({"ignore": "*.png"}, "ignore must be a list of glob strings"),
        ({"ignore": [1]}, "ignore must be a list of glob strings"),
        ({"checks": "nope"}, "checks must be a list of check objects"),
        ({"checks": [None]}, "checks must be check objects"),
        ({"split_aliases": {"train": "trn"}}, "split_aliases must be a mapping of split names to lists"),
        ({"near": "no"}, "near must be True or False"),
        ({"max_pixels": "1e6"}, "max_pixels must be a whole number"),
        ({"group_pattern": 5}, "group_pattern must be a regular expression or None"),
        ({"semantic_min_similarity": "x"}, "semantic_min_similarity must be a number"),
        ({"progress": 5}, "progress must be a callable or None"),
        ({"label_names": "cat,dog"}, "label_names must be a list of class names"),  # (labels c, a, t, ...)
        ({"checks": [LabelConflicts]}, "checks must be check objects, got the class LabelConflicts"),
    ],
)
def test_wrong_types_of_expert_options_are_usage_errors(
    factory: DatasetFactory, option: dict[str, object], message: str
) -> None:
    factory.add_many("train", ["a"], 2, seed0=0)
    with pytest.raises(UsageError, match=message):
        leakcheck.scan(factory.root, jobs=1, **option)  # type: ignore[arg-type]
