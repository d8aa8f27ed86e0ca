"""`leakcheck fix`: leak-free output beside the data, an action for every sample, idempotent, and the
original tree untouched (bytes and modification times)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import pytest

from leakcheck.cli import main
from leakcheck.errors import UsageError
from leakcheck.fixing import ACTIONS_FILE, MANIFEST_FILE, Ratios
from leakcheck.scanning import scan
from tests.gate_data import make_dataset, reencode, snapshot, write_image


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "data", per_class=8, test_per_class=4)
    # A near-duplicate cluster inside train, to be kept whole by resplit.
    reencode(root / "train/cat/05.jpg", root / "train/cat/05-resaved.jpg", quality=60)
    return root


def fix(data: Path, out: Path, *extra: str) -> int:
    return main(["fix", str(data), "--out", str(out), "--no-config", "-q", *extra])


def actions(out: Path) -> list[dict[str, str]]:
    with (out / ACTIONS_FILE).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def images_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))


def cross_split_findings(root: Path) -> list[str]:
    report = scan(root, jobs=1)
    return [f.message for f in report.findings if f.check == "cross-split-duplicates"]


def test_drop_eval_copies(data: Path, tmp_path: Path) -> None:
    before = snapshot(data)
    assert cross_split_findings(data)
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    rows = actions(out)
    assert sorted(r["source"] for r in rows) == images_under(data)  # one action per sample
    dropped = {r["source"]: r["reason"] for r in rows if r["action"] == "dropped"}
    assert dropped == {
        "test/cat/leak-bytes.jpg": "exact copy of train/cat/00.jpg",
        "test/dog/leak-near.jpg": dropped["test/dog/leak-near.jpg"],
    }
    assert dropped["test/dog/leak-near.jpg"].startswith("near copy, distance ")
    assert dropped["test/dog/leak-near.jpg"].endswith(" of train/dog/01.jpg")
    assert images_under(out) == sorted(set(images_under(data)) - set(dropped))
    assert cross_split_findings(out) == []
    # Hard links on the same filesystem: the clean set takes no extra space.
    assert (out / "train/cat/00.jpg").stat().st_ino == (data / "train/cat/00.jpg").stat().st_ino
    assert snapshot(data) == before


def test_rerun_is_idempotent_and_replaces_only_its_own_output(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    first = {k: v[0] for k, v in snapshot(out).items()}
    assert fix(data, out) == 0
    assert {k: v[0] for k, v in snapshot(out).items()} == first
    # The data changed: the earlier output is replaced, not merged.
    (data / "test/cat/leak-bytes.jpg").unlink()
    write_image(data / "test/cat/added.jpg", 4242)
    assert fix(data, out, "--copy") == 0
    assert "test/cat/added.jpg" in images_under(out)
    assert not any(r["source"] == "test/cat/leak-bytes.jpg" for r in actions(out))
    assert (out / "test/cat/added.jpg").stat().st_ino != (data / "test/cat/added.jpg").stat().st_ino


def test_odd_file_names_round_trip_through_the_actions_csv(data: Path, tmp_path: Path) -> None:
    source = data / "train" / "cat"
    image = next(iter(sorted(source.iterdir()))).read_bytes()
    (data / "test" / "cat" / "carriage\rreturn.jpg").write_bytes(image)
    with open(os.fsencode(data / "test" / "cat") + b"/not-utf8-\xff.jpg", "wb") as fh:
        fh.write(image)
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    rows = actions(out)
    assert {"test/cat/carriage\rreturn.jpg", "test/cat/not-utf8-\\xff.jpg"} <= {r["source"] for r in rows}
    # The second run recognises its own output, odd names included, and has nothing to do.
    first = snapshot(out)
    assert fix(data, out) == 0
    assert snapshot(out) == first
    # A UTF-8 manifest cannot name a file whose name is not UTF-8 (one kept, in train): one line, exit 2.
    with open(os.fsencode(data / "train" / "cat") + b"/kept-\xff.jpg", "wb") as fh:
        fh.write(image)
    assert fix(data, tmp_path / "listed", "--manifest-only") == 2
    assert not (tmp_path / "listed" / MANIFEST_FILE).exists()


def test_foreign_or_overlapping_out_is_refused(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(data)
    busy = tmp_path / "busy"
    write_image(busy / "train/cat/mine.jpg", 7)
    assert fix(data, busy) == 2
    assert "not the output of 'leakcheck fix'" in capsys.readouterr().err
    assert images_under(busy) == ["train/cat/mine.jpg"]
    # Once a fix has written a folder, a stray file in it is still refused.
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    (out / "notes.txt").write_text("mine")
    assert fix(data, out) == 2
    assert (out / "notes.txt").read_text() == "mine"
    for inside in (data, data / "clean", data / "train" / "clean", tmp_path):
        assert fix(data, inside) == 2
    err = capsys.readouterr().err
    assert "inside the data folder" in err
    assert "holds the data folder" in err
    assert not (data / "clean").exists()
    assert snapshot(data) == before


def test_resplit_keeps_clusters_whole_and_stratifies(data: Path, tmp_path: Path) -> None:
    before = snapshot(data)
    out = tmp_path / "resplit"
    assert fix(data, out, "--strategy", "resplit", "--ratios", "0.75,0.25", "--seed", "3") == 0
    rows = actions(out)
    assert sorted(r["source"] for r in rows) == images_under(data)
    assert {r["action"] for r in rows} <= {"kept", "moved"}
    new_split = {r["source"]: r["new_split"] for r in rows}
    # Each leak sits in the same split as its original; so does the near copy inside train.
    for a, b in (("test/cat/leak-bytes.jpg", "train/cat/00.jpg"), ("test/dog/leak-near.jpg", "train/dog/01.jpg"),
                 ("train/cat/05-resaved.jpg", "train/cat/05.jpg")):  # fmt: skip
        assert new_split[a] == new_split[b]
    per_class = Counter((r["label"], r["new_split"]) for r in rows)
    for label in ("cat", "dog"):
        total = per_class[(label, "train")] + per_class[(label, "test")]
        assert abs(per_class[(label, "train")] - 0.75 * total) <= 2  # whole clusters of up to 2 images
    assert len(images_under(out)) == len(rows)
    assert cross_split_findings(out) == []
    assert snapshot(data) == before
    # Deterministic: the same seed gives the same plan; it is the data, not the run, that decides.
    again = tmp_path / "resplit-again"
    assert fix(data, again, "--strategy", "resplit", "--ratios", "train=0.75,test=0.25", "--seed", "3") == 0
    assert (again / ACTIONS_FILE).read_bytes() == (out / ACTIONS_FILE).read_bytes()


def test_resplit_into_a_new_split_renames_on_collision(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(6):
        write_image(data / "train" / "cat" / f"{i}.jpg", 100 + i)
    write_image(data / "test" / "cat" / "0.jpg", 200)  # same file name as train/cat/0.jpg, other picture
    out = tmp_path / "out"
    assert fix(data, out, "--strategy", "resplit", "--ratios", "train=0.5,val=0.25,test=0.25") == 0
    rows = actions(out)
    targets = [r["target"] for r in rows]
    assert len(set(targets)) == len(targets) == 7
    assert {r["new_split"] for r in rows} == {"train", "val", "test"}
    assert sorted(targets) == images_under(out)


def test_manifest_only_points_at_the_originals(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "manifest"
    assert fix(data, out, "--manifest-only") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([ACTIONS_FILE, MANIFEST_FILE])
    with (out / MANIFEST_FILE).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert all((out / r["path"]).resolve().is_file() for r in rows)
    assert not any(r["path"].endswith("leak-bytes.jpg") for r in rows)
    assert {r["split"] for r in rows} == {"train", "test"}
    assert all(not os.path.isabs(r["path"]) for r in rows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "resplit"], "needs --ratios"),
        (["--ratios", "0.5,0.5"], "resplit only"),
        (["--strategy", "resplit", "--ratios", "0.8,0.1,0.1"], "3 ratios for 2 splits"),
        (["--strategy", "resplit", "--ratios", "0.8,x"], "not a number"),
        (["--strategy", "resplit", "--ratios", "abc"], "'abc' is not a number"),
        (["--strategy", "resplit", "--ratios", "0,0"], "must be positive"),
    ],
)
def test_bad_fix_options_exit_2(
    data: Path, tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fix(data, tmp_path / "out", *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ratios_are_normalised_in_split_order() -> None:
    ratios = Ratios.parse("test=1,train=3", ["train", "test"])
    assert ratios.fractions == (("train", 0.75), ("test", 0.25))
    with pytest.raises(UsageError, match="named twice"):
        Ratios.parse("train=1,train=2", ["train"])


def test_ignored_files_stay_out_of_the_output(data: Path, tmp_path: Path) -> None:
    config = tmp_path / "leakcheck.toml"
    config.write_text('ignore = ["train/dog"]\n')
    out = tmp_path / "clean"
    assert main(["fix", str(data), "--out", str(out), "--config", str(config), "-q"]) == 0
    assert not any(r["source"].startswith("train/dog/") for r in actions(out))
    assert not (out / "train" / "dog").exists()
    # Without train/dog, the re-encoded dog in test copies nothing and is kept.
    assert (out / "test/dog/leak-near.jpg").is_file()


def test_a_link_inside_out_is_never_written_through(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(data)
    out = tmp_path / "clean"
    out.mkdir()
    # A link where fix would make its test/ folder, leading into the data's train/.
    (out / "test").symlink_to(data / "train", target_is_directory=True)
    assert fix(data, out) == 2
    assert "not the output of 'leakcheck fix' (it holds test)" in capsys.readouterr().err
    # The same after a real fix: a link planted in its output is foreign too.
    other = tmp_path / "clean2"
    assert fix(data, other) == 0
    (other / "val").symlink_to(data / "train", target_is_directory=True)
    assert fix(data, other, "--strategy", "resplit") == 2
    assert snapshot(data) == before


def test_out_that_is_a_file_is_refused(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert fix(data, target) == 2
    assert "not a folder" in capsys.readouterr().err
    assert target.read_text() == "x"


def test_three_splits_drop_copies_of_any_earlier_split(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for split, base in (("train", 10), ("val", 20), ("test", 30)):
        for i in range(4):
            write_image(data / split / "cat" / f"{i}.jpg", base + i)
    reencode(data / "train/cat/0.jpg", data / "val/cat/from-train.jpg")
    reencode(data / "val/cat/1.jpg", data / "test/cat/from-val.jpg")
    reencode(data / "train/cat/2.jpg", data / "test/cat/from-train.jpg")
    before = snapshot(data)
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    dropped = {r["source"]: r["reason"] for r in actions(out) if r["action"] == "dropped"}
    assert sorted(dropped) == ["test/cat/from-train.jpg", "test/cat/from-val.jpg", "val/cat/from-train.jpg"]
    assert dropped["test/cat/from-val.jpg"].endswith("of val/cat/1.jpg")
    assert cross_split_findings(out) == []
    assert snapshot(data) == before


def test_an_interrupted_fix_is_replaced_by_the_next(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    expected = snapshot(out)
    # As if the earlier run had stopped half-way: some images never written.
    for name in ("train/cat/00.jpg", "test/dog/01.jpg"):
        (out / name).unlink()
    assert fix(data, out) == 0
    assert {k: v[0] for k, v in snapshot(out).items()} == {k: v[0] for k, v in expected.items()}


# --- what the audit of `fix` found ------------------------------------------------------------------


def test_a_folder_named_like_a_moved_file_is_never_written_into(tmp_path: Path) -> None:
    """val/c/x.jpg moves to train, where train/c/x.jpg is a folder holding an original: the moved file
    gets another name, and nothing is copied into that folder (a hard link to the original inside it)."""
    root = tmp_path / "d"
    write_image(root / "train/c/x.jpg/x.jpg", 1)
    write_image(root / "train/c/y.jpg", 2)
    write_image(root / "val/c/x.jpg", 3)
    write_image(root / "test/c/z.jpg", 4)
    before = snapshot(root)
    out = tmp_path / "o"
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=1") == 0
    assert snapshot(root) == before
    assert (out / "train/c/x.jpg").is_dir()
    assert (out / "train/c/x.from-val.jpg").is_file()
    assert sorted(p.name for p in (out / "train/c/x.jpg").iterdir()) == ["x.jpg"]


def test_names_that_differ_only_in_case_are_renamed_as_on_case_insensitive_disks(tmp_path: Path) -> None:
    root = tmp_path / "d"
    write_image(root / "train/c/A.jpg", 1)
    write_image(root / "val/c/a.jpg", 2)
    out = tmp_path / "o"
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=1") == 0
    assert sorted(p.name for p in (out / "train/c").iterdir()) == ["A.jpg", "a.from-val.jpg"]


def test_a_copy_run_replaces_the_hard_links_of_an_earlier_run(data: Path, tmp_path: Path) -> None:
    """Editing the "clean" copy made with --copy must never edit an original."""
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    assert (out / "train/cat/00.jpg").stat().st_ino == (data / "train/cat/00.jpg").stat().st_ino
    assert fix(data, out, "--copy") == 0
    assert (out / "train/cat/00.jpg").stat().st_ino != (data / "train/cat/00.jpg").stat().st_ino
    assert (out / "train/cat/00.jpg").read_bytes() == (data / "train/cat/00.jpg").read_bytes()


def test_a_changed_original_is_copied_again(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    assert fix(data, out, "--copy") == 0
    write_image(data / "train/cat/02.jpg", 999)
    assert fix(data, out, "--copy") == 0
    assert (out / "train/cat/02.jpg").read_bytes() == (data / "train/cat/02.jpg").read_bytes()


def test_linked_images_are_linked_by_what_they_lead_to(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    root = tmp_path / "d"
    for n, split in enumerate(("train", "train", "test")):
        write_image(pool / f"p{n}.jpg", n)
        (root / split / "c").mkdir(parents=True, exist_ok=True)
        (root / split / "c" / f"p{n}.jpg").symlink_to(Path("../../../pool") / f"p{n}.jpg")
    out = tmp_path / "outs" / "o"
    assert fix(root, out) == 0
    written = sorted(p for p in out.rglob("*.jpg"))
    assert len(written) == 3
    assert not any(p.is_symlink() for p in written)
    assert (out / "test/c/p2.jpg").read_bytes() == (pool / "p2.jpg").read_bytes()
    assert fix(root, out) == 0  # its own output, recognised


def test_out_inside_a_linked_split_folder_is_refused_before_the_scan(tmp_path: Path) -> None:
    real = make_dataset(tmp_path / "real")
    root = tmp_path / "d"
    root.mkdir()
    (root / "train").symlink_to(real / "train")
    (root / "test").symlink_to(real / "test")
    before = snapshot(real)
    assert fix(root, real / "train" / "clean") == 2
    assert snapshot(real) == before


def test_out_reached_through_a_link_deep_inside_the_data_is_refused(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The listing follows links at any depth: an --out that a class's sub-folder links to would be read
    back as part of the data by the next scan (and the next fix would copy its own output into itself)."""
    out = tmp_path / "clean"
    out.mkdir()
    (data / "test" / "cat" / "sub").symlink_to(out, target_is_directory=True)
    before = snapshot(data)
    assert fix(data, out) == 2
    assert "a folder of the data set" in capsys.readouterr().err
    assert snapshot(data) == before
    assert list(out.iterdir()) == []


def test_fix_escapes_control_characters_in_the_names_it_prints(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder named with a terminal escape (clear the screen, red) is shown escaped, as scan shows it."""
    (data / "test").rename(data / "\x1b[2J\x1b[31mEVIL")
    out = tmp_path / "clean\x1b[2J"
    capsys.readouterr()
    assert main(["fix", str(data), "--out", str(out), "--no-config"]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed
    assert "\\x1b[2J\\x1b[31mEVIL" in printed
    assert "clean\\x1b[2J" in printed


def test_a_half_removed_earlier_output_is_still_recognised(data: Path, tmp_path: Path) -> None:
    """The actions CSV is removed last: a run killed while replacing its output leaves a folder the next
    run still takes for its own."""
    out = tmp_path / "clean"
    assert fix(data, out) == 0
    unlink = Path.unlink
    calls = 0

    def killed_on_the_fifth(self: Path, missing_ok: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt
        unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "unlink", killed_on_the_fifth)
        assert fix(data, out, "--strategy", "resplit", "--ratios", "0.5,0.5") == 130
    assert (out / ACTIONS_FILE).is_file()
    assert fix(data, out, "--strategy", "resplit", "--ratios", "0.5,0.5") == 0


def test_a_split_folder_named_like_fixs_own_file_is_refused_before_the_scan(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data / "test").rename(data / ACTIONS_FILE)
    assert fix(data, tmp_path / "o") == 2
    assert f"a split folder is named '{ACTIONS_FILE}'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_moved_file_whose_name_is_taken_stays_within_255_bytes(tmp_path: Path) -> None:
    """Two different images with the same 250-byte name: the one that moves gets `.from-test`, cut to fit."""
    root = tmp_path / "long"
    name = "a" * 246 + ".jpg"
    write_image(root / "train" / "c" / name, 1)
    write_image(root / "test" / "c" / name, 2)
    write_image(root / "train" / "c" / "other.jpg", 3)
    out = tmp_path / "o"
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=1,test=0") == 0
    names = sorted(p.name for p in (out / "train" / "c").iterdir())
    assert len(names) == 3
    assert all(len(os.fsencode(n)) <= 255 for n in names)
    (moved,) = [n for n in names if ".from-test" in n]
    assert moved.endswith(".from-test.jpg")
    assert moved.startswith("a" * 200)


def test_group_pattern_keeps_each_group_in_one_split(tmp_path: Path) -> None:
    root = tmp_path / "g"
    seed = 0
    for split in ("train", "test"):
        for p in range(5):
            for k in range(2):
                seed += 1
                write_image(root / split / "c" / f"P{p}_{split}_{k}.jpg", seed)
    out = tmp_path / "o"
    assert fix(root, out, "--group-pattern", r"^(P\d+)_", "--strategy", "resplit", "--ratios", "0.6,0.4") == 0
    where: dict[str, set[str]] = {}
    for row in actions(out):
        where.setdefault(row["source"].split("/")[-1].split("_")[0], set()).add(row["new_split"])
    assert all(len(splits) == 1 for splits in where.values()), where
    dropped = tmp_path / "dropped"
    assert fix(root, dropped, "--group-pattern", r"^(P\d+)_") == 0
    assert [r["reason"].startswith("same group") for r in actions(dropped) if r["action"] == "dropped"] == [True] * 10


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ("train=0.5,=0.5", "cannot be a split folder"),
        ("train=0.5,..=0.5", "cannot be a split folder"),
        ("train=0.5,a/b=0.5", "cannot be a split folder"),
        ("train=0.5,leakcheck-fix.csv=0.5", "cannot be a split folder"),
        ("train=0.8,TRAIN=0.2", "named twice"),
    ],
)
def test_ratio_names_must_make_split_folders(
    data: Path, tmp_path: Path, ratios: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fix(data, tmp_path / "o", "--strategy", "resplit", "--ratios", ratios) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_ratio_names_are_read_as_the_splits_they_spell(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d")
    (root / "test").rename(root / "Validation")
    out = tmp_path / "o"
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=0.8,VAL=0.2") == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Validation", "train"]


def test_a_name_that_is_not_utf8_can_move(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d")
    name = os.fsencode(root / "test" / "cat") + b"/caf\xe9.jpg"
    write_image(Path(os.fsdecode(name)), 77)
    out = tmp_path / "o"
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=1") == 0
    row = next(r for r in actions(out) if r["source"] == "test/cat/caf\\xe9.jpg")
    assert row["target"] == "train/cat/caf\\xe9.jpg"
    assert (out / "train" / "cat" / os.fsdecode(b"caf\xe9.jpg")).is_file()
    assert fix(root, out, "--strategy", "resplit", "--ratios", "train=1") == 0  # and is recognised again


def test_broken_link_and_file_outputs_are_refused_before_the_scan(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert fix(data, link) == 2
    assert "a link to nothing" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert fix(data, foreign) == 2
    assert "not the output of 'leakcheck fix'" in capsys.readouterr().err
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\n")
    assert main(["fix", str(manifest), "--out", str(tmp_path / "x"), "-q"]) == 2
    assert "fix works on folders of images" in capsys.readouterr().err
