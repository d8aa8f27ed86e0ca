"""The near-duplicate detector: verification per edit, plain images, presets, outputs, exact search."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from leakcheck.fingerprint import fingerprint_record
from leakcheck.index import Index, MatchOptions
from leakcheck.model import Record
from leakcheck.near import NearItem, describe, find_near_pairs, settings_for
from leakcheck.near.candidates import candidate_pairs, hypotheses, top_k, top_k_brute_force, views
from leakcheck.near.verify import prepare, verify
from leakcheck.render.pairs_csv import render_pairs_csv
from leakcheck.scanning import scan

# The shared photos live beside the repository; LEAKCHECK_SHARED_DATA points elsewhere (a worktree).
SHARED = Path(os.environ.get("LEAKCHECK_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
FOOD = SHARED / "food101-sample"
DEFAULT = settings_for("default")


def scene(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A synthetic photo: smooth colour gradients, blobs and bars, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), dtype=np.float32)
    img += rng.uniform(40, 200, 3) * (xx / w)[..., None] + rng.uniform(0, 60, 3)
    for _ in range(12):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(4, min(w, h) / 4)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-120, 120, 3)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        img[y0 : y0 + int(rng.integers(3, h // 3)), x0 : x0 + int(rng.integers(3, w // 3))] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _jpeg(im: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _crop(im: Image.Image) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * 0.2), int(h * 0.05), int(w * 0.95), int(h * 0.8)))


def _noise(im: Image.Image) -> Image.Image:
    arr = np.asarray(im, dtype=np.float32) + np.random.default_rng(1).normal(0, 15, (im.height, im.width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _translate(im: Image.Image) -> Image.Image:
    out = Image.new("RGB", im.size)
    out.paste(im, (im.width // 10, -im.height // 10))
    return out


def _text(im: Image.Image) -> Image.Image:
    out = im.copy()
    font = ImageFont.load_default(size=max(8, im.height // 8))
    ImageDraw.Draw(out).text((4, im.height // 2), "SAMPLE", fill=(255, 255, 255), font=font)
    return out


def _hue(im: Image.Image) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + 40) % 256), s, v)).convert("RGB")


def _letterbox(im: Image.Image) -> Image.Image:
    side = max(im.size)
    out = Image.new("RGB", (side, side))
    out.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return out


EDITS = {
    "jpeg": (lambda im: _jpeg(im, 25), "re-encoded"),
    "resize": (lambda im: im.resize((im.width // 3, im.height // 3), Image.Resampling.LANCZOS), "resized"),
    "crop": (_crop, "cropped"),
    "translate": (_translate, "cropped/translated"),
    "text": (_text, ""),
    "hue": (_hue, "colour changed"),
    "mirror": (ImageOps.mirror, "mirrored"),
    "rotate-90": (lambda im: im.rotate(90, expand=True), "rotated 90"),
    "rotate-20": (lambda im: im.rotate(20, resample=Image.Resampling.BICUBIC), "rotated ~20"),
    "brightness": (lambda im: ImageEnhance.Brightness(im).enhance(1.4), "brightness"),
    "grayscale": (lambda im: im.convert("L"), "grayscale"),
    "blur": (lambda im: im.filter(ImageFilter.GaussianBlur(1.2)), ""),
    "noise": (_noise, ""),
    "letterbox": (_letterbox, "padded"),
}


def _verdict(a: Image.Image, b: Image.Image) -> tuple[float, str]:
    matches = find_near_pairs([NearItem(describe(a), a.size), NearItem(describe(b), b.size)], settings_for("thorough"))
    da, db = describe(a), describe(b)
    v = views([da, db])
    verdict = verify(prepare(da), prepare(db), hypotheses(da, db, v, 0, v, 1))
    assert verdict is not None
    return verdict.score, matches[0].explanation if matches else ""


@pytest.mark.parametrize("family", sorted(EDITS))
def test_generated_copies_verify_and_are_explained(family: str) -> None:
    edit, words = EDITS[family]
    original = scene(3)
    score, explanation = _verdict(original, edit(original))
    assert score >= DEFAULT.min_score, (family, score)
    assert words in explanation, (family, explanation)


# What an edit does not do, so its explanation must not claim it: a quarter turn swaps the file's width
# and height without resizing; a crop or a letterbox saved at the original's resolution changes the
# file's size, not its scale; a crop's colour grid covers another region, not other colours.
NOT_CLAIMED = {
    "rotate-90": ("resized",),
    "crop": ("resized", "changed"),
    "letterbox": ("resized",),
    "translate": ("resized", "changed"),
}


@pytest.mark.parametrize("family", sorted(NOT_CLAIMED))
def test_explanations_claim_no_edit_that_was_not_made(family: str) -> None:
    edit, _ = EDITS[family]
    original = scene(3)
    _, explanation = _verdict(original, edit(original))
    assert not [w for w in NOT_CLAIMED[family] if w in explanation], (family, explanation)


def test_a_crop_that_was_also_resized_says_so() -> None:
    original = scene(3)
    w, h = original.size
    copy = original.crop((w // 10, h // 10, w - w // 10, h - h // 10)).resize((w // 2, h // 2))
    _, explanation = _verdict(original, copy)
    assert "cropped/translated" in explanation
    assert "resized 160x120 -> 80x60" in explanation


def _real_photos() -> list[Path]:
    return sorted(FOOD.glob("test/*/*.jpg"))[::15]


@pytest.mark.skipif(not FOOD.is_dir(), reason="the shared Food-101 sample is not next to the repository")
@pytest.mark.parametrize("family", sorted(EDITS))
def test_real_photo_copies_verify(family: str) -> None:
    edit, _ = EDITS[family]
    for path in _real_photos()[:3]:
        with Image.open(path) as im:
            original = im.convert("RGB")
        score, _ = _verdict(original, edit(original))
        assert score >= DEFAULT.min_score, (path.name, family, score)


@pytest.mark.skipif(not FOOD.is_dir(), reason="the shared Food-101 sample is not next to the repository")
def test_different_real_photos_of_one_class_are_not_paired() -> None:
    paths = sorted(FOOD.glob("train/apple_pie/*.jpg"))[:12]
    items = []
    for p in paths:
        with Image.open(p) as im:
            items.append(NearItem(describe(im.convert("RGB")), im.size))
    assert find_near_pairs(items, DEFAULT) == []


def test_different_scenes_are_not_paired() -> None:
    items = [NearItem(describe(scene(s)), (160, 120)) for s in range(12)]
    assert find_near_pairs(items, DEFAULT) == []


def _uniform_images(rng: np.random.Generator) -> list[Image.Image]:
    out = []
    for i in range(6):
        for base in ((0, 0, 0), (255, 255, 255), (120, 120, 120)):
            arr = np.full((48, 64, 3), base, dtype=np.float32) + rng.normal(0, 1 + i, (48, 64, 3))
            out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
        t = np.linspace(0, 1, 48)[:, None, None] ** (0.5 + 0.2 * i)
        sky = np.array([60, 110, 200]) * (1 - t) + np.array([180, 210, 245]) * t + rng.normal(0, 2, (48, 64, 3))
        out.append(Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)))
    return out


def _fingerprints(tmp_path: Path, images: list[tuple[str, Image.Image]]) -> list:  # type: ignore[type-arg]
    fps = []
    for key, im in images:
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path)
        split, label = key.split("/")[:2]
        fps.append(fingerprint_record(Record(key, split, label, path)))
    return fps


@pytest.mark.parametrize("sensitivity", ["strict", "default", "thorough"])
def test_near_uniform_images_make_no_near_pairs(tmp_path: Path, sensitivity: str) -> None:
    images = [(f"train/x/u{i}.png", im) for i, im in enumerate(_uniform_images(np.random.default_rng(0)))]
    index = Index(_fingerprints(tmp_path, images), MatchOptions(method="verified", sensitivity=sensitivity))
    assert [r for r in index.relations() if r.kind == "near"] == []


def test_sensitivities_are_nested(tmp_path: Path) -> None:
    images: list[tuple[str, Image.Image]] = []
    for s in range(4):
        original = scene(10 + s)
        images.append((f"train/c/s{s}.png", original))
        for name, (edit, _) in sorted(EDITS.items()):
            images.append((f"test/c/s{s}_{name}.png", edit(original).convert("RGB")))
    fps = _fingerprints(tmp_path, images)
    found = {}
    for sensitivity in ("strict", "default", "thorough"):
        rel = Index(fps, MatchOptions(method="verified", sensitivity=sensitivity)).relations()
        found[sensitivity] = {(r.a, r.b) for r in rel}
    assert found["strict"] <= found["default"] <= found["thorough"]
    assert found["strict"] != found["thorough"]
    assert len(found["default"]) > 40


def test_pairs_that_cannot_reach_the_threshold_skip_the_decision_and_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`decision.ceiling` bounds `decide` for every verdict, and skipping the decision below it leaves the
    reported pairs, scores and explanations exactly as they were."""
    import leakcheck.near as near_module
    from leakcheck.near import score_candidates
    from leakcheck.near.decision import ceiling, decide

    items = []
    for s in range(6):
        original = scene(30 + s)
        items.append(NearItem(describe(original), original.size))
        for name in ("crop", "mirror", "rotate-20", "noise"):
            copy = EDITS[name][0](original).convert("RGB")
            items.append(NearItem(describe(copy), copy.size))
    for sensitivity in ("strict", "default", "thorough"):
        settings = settings_for(sensitivity)
        scored = [
            (decide(c.verdict, items[c.i].descriptor, items[c.j].descriptor), ceiling(c.verdict))
            for c in score_candidates(items, settings)
            if c.verdict is not None
        ]
        assert all(decided <= highest for decided, highest in scored)
        assert any(round(highest, 6) < settings.min_score for _, highest in scored)  # the shortcut is taken
        with monkeypatch.context() as m:
            m.setattr(near_module, "ceiling", lambda verdict: 1.0)
            every_pair_decided = find_near_pairs(items, settings)
        assert find_near_pairs(items, settings) == every_pair_decided
        assert every_pair_decided


def test_top_k_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    q = rng.normal(size=(300, 2, 16)).astype(np.float32)
    d = rng.normal(size=(300, 3, 16)).astype(np.float32)
    d[5] = d[6]  # exact ties break toward the smaller index
    q = np.round(q, 1)
    for k in (1, 4, 9):
        idx, sim = top_k(q, d, k, block=64)
        bidx, bsim = top_k_brute_force(q, d, k)
        np.testing.assert_allclose(sim, bsim, rtol=1e-5, atol=1e-5)
        # Identical similarity sets; indices equal wherever similarities are not tied.
        assert (idx == bidx).mean() > 0.99


def test_top_k_breaks_ties_toward_the_smaller_index_exactly() -> None:
    # Small integers: every similarity is exact in float32, and many are equal.
    rng = np.random.default_rng(11)
    q = rng.integers(-2, 3, size=(700, 2, 6)).astype(np.float32)
    d = rng.integers(-2, 3, size=(700, 3, 6)).astype(np.float32)
    d[40:60] = d[39]  # a run of equal rows: ties across the top k of many queries
    for k in (1, 5, 12):
        idx, sim = top_k(q, d, k, block=128)
        bidx, bsim = top_k_brute_force(q, d, k)
        assert np.array_equal(sim, bsim)
        assert np.array_equal(idx, bidx)


def test_the_candidate_search_reports_every_query_once() -> None:
    descriptors = [describe(scene(s)) for s in range(6)]
    # Two copies: each joins its source's cluster, which the three later searches query once.
    v = views([*descriptors, descriptors[0], descriptors[1]])
    told: list[int] = []

    def progress(total: int) -> Callable[[int], None]:
        told.append(total)
        return told.append

    pairs = candidate_pairs(v, 3, 0.35, progress)
    assert told[0] == 4 * 8
    assert sum(told[1:]) == told[0]
    assert (0, 6) in pairs
    assert (1, 7) in pairs
    assert pairs == candidate_pairs(v, 3, 0.35)


def _leaky_dataset(root: Path) -> None:
    for s in range(3):
        original = scene(20 + s)
        (root / "train" / "c").mkdir(parents=True, exist_ok=True)
        (root / "test" / "c").mkdir(parents=True, exist_ok=True)
        original.save(root / "train" / "c" / f"s{s}.png")
        scene(40 + s).save(root / "test" / "c" / f"other{s}.png")
    ImageOps.mirror(scene(20)).save(root / "test" / "c" / "mirrored.png")


def test_pairs_csv_and_json_carry_score_and_explanation(tmp_path: Path) -> None:
    _leaky_dataset(tmp_path / "data")
    report = scan(tmp_path / "data", jobs=1, near_method="verified")
    rows = list(csv.reader(io.StringIO(render_pairs_csv(report))))
    assert rows[0] == ["a_path", "a_split", "a_label", "b_path", "b_split", "b_label", "kind", "distance",
                       "score", "explanation"]  # fmt: skip
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["a_path"], row["b_path"], row["kind"]) == ("train/c/s0.png", "test/c/mirrored.png", "near")
    assert float(row["score"]) >= DEFAULT.min_score
    assert "mirrored" in row["explanation"]
    pairs = json.loads(report.to_json())["pairs"]
    assert pairs[0]["explanation"] == row["explanation"]
    assert report.pairs()["score"].dtype == np.float64
    assert report.parameters["sensitivity"] == "default"


def test_progress_follows_decoding_then_search_then_verification(tmp_path: Path) -> None:
    _leaky_dataset(tmp_path / "data")
    phases: dict[str, list[int]] = {}

    def phased(total: int, what: str = "decoding") -> Callable[[int], None]:
        phases[what] = [total, 0]
        return lambda n: phases[what].__setitem__(1, phases[what][1] + n)

    scan(tmp_path / "data", jobs=1, cache=False, progress=phased)
    assert list(phases) == ["decoding", "searching", "verifying"]
    assert phases["decoding"] == [7, 7]
    # Four searches over the images the detector compares, every query accounted for.
    searched, done = phases["searching"]
    assert searched % 4 == 0
    assert 0 < searched <= 4 * 7
    assert done == searched
    pairs, done = phases["verifying"]
    assert pairs > 0
    assert done == pairs
    # A callback that knows nothing of phases is only ever told about decoding.
    totals: list[int] = []

    def plain(total: int) -> Callable[[int], None]:
        totals.append(total)
        return lambda n: None

    scan(tmp_path / "data", jobs=1, cache=False, progress=plain)
    assert totals == [7]


def test_hash_method_keeps_the_plain_rule(tmp_path: Path) -> None:
    _leaky_dataset(tmp_path / "data")
    report = scan(tmp_path / "data", jobs=1, near_method="hash")
    # A mirror defeats plain hashes: that is why the detector exists.
    assert [r for r in report.relations if r.kind == "near"] == []


def test_each_sensitivity_verifies_its_own_phash_candidates_unless_a_distance_is_given(tmp_path: Path) -> None:
    for sensitivity, candidates in (("strict", 6), ("default", 10), ("thorough", 14)):
        assert settings_for(sensitivity).phash_distance == candidates
        options = MatchOptions(sensitivity=sensitivity)
        assert (options.settings().phash_distance, options.hash_rule_phash_distance()) == (candidates, 10)
        given = MatchOptions(sensitivity=sensitivity, phash_distance=8)
        assert (given.settings().phash_distance, given.hash_rule_phash_distance()) == (8, 8)
    _leaky_dataset(tmp_path / "data")
    parameters = scan(tmp_path / "data", jobs=1, sensitivity="thorough").parameters
    assert (parameters["phash_candidates"], parameters["phash_distance"]) == (14, 10)


def test_unknown_sensitivity_is_a_usage_error(tmp_path: Path) -> None:
    from leakcheck.errors import UsageError

    _leaky_dataset(tmp_path / "data")
    with pytest.raises(UsageError, match="sensitivity"):
        scan(tmp_path / "data", sensitivity="paranoid")


def test_descriptor_is_compact() -> None:
    d = describe(scene(1, (4000, 3000)))
    assert max(d.height, d.width) == 32
    assert len(d.thumb) + len(d.colour) + 8 * len(d.phashes) <= 1400


def test_cli_sensitivity_and_the_terminal_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from leakcheck.cli import main

    _leaky_dataset(tmp_path / "data")
    code = main(
        [
            "scan",
            str(tmp_path / "data"),
            "-j",
            "1",
            "--near-method",
            "verified",
            "--sensitivity",
            "strict",
            "--pairs",
            str(tmp_path / "p.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "near-duplicate pairs (1)" in out
    assert "test/c/mirrored.png ~ " not in out  # train first: the test copy is the pair's b side
    assert "train/c/s0.png ~ test/c/mirrored.png" in out
    assert (tmp_path / "p.csv").read_text().splitlines()[0].endswith(",kind,distance,score,explanation")
    assert main(["scan", str(tmp_path / "data"), "-q", "--sensitivity", "paranoid"]) == 2
    assert main(["scan", str(tmp_path / "data"), "-q", "--min-score", "1.5"]) == 2


def test_fingerprints_without_a_descriptor_keep_the_hash_rule() -> None:
    from leakcheck.model import Fingerprint

    def fp(key: str, split: str, phash: int, digest: str) -> Fingerprint:
        return Fingerprint(Record(key, split, "c"), 10, digest, digest, phash=phash, dhash=phash, width=8, height=8)

    index = Index(
        [fp("train/c/a.png", "train", 0xFF00FF00FF00FF00, "a"), fp("test/c/b.png", "test", 0xFF00FF00FF00FF01, "b")]
    )
    (row,) = index.relations()
    assert (row.kind, row.distance) == ("near", 1)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGBA", "CMYK", "I;16", "I", "F", "LA"])
def test_descriptor_handles_every_mode(mode: str) -> None:
    im = scene(5, (40, 30))
    converted = im.convert("L").convert(mode) if mode in ("I;16", "I", "F", "LA", "1") else im.convert(mode)
    d = describe(converted)
    assert max(d.width, d.height) == 32
    assert len(d.phashes) == 8


def test_a_copy_squashed_to_another_aspect_ratio_is_found_and_explained() -> None:
    original = scene(8, (200, 150))
    squashed = original.resize((128, 128), Image.Resampling.BILINEAR)
    items = [NearItem(describe(original), original.size), NearItem(describe(squashed), squashed.size)]
    (match,) = find_near_pairs(items, DEFAULT)
    assert match.score >= DEFAULT.min_score
    assert "200x150 -> 128x128" in match.explanation


def test_a_stretch_inside_frames_of_one_size_does_not_claim_the_files_changed_shape() -> None:
    picture = scene(8, (160, 90))
    letterboxed = Image.new("RGB", (160, 160))
    letterboxed.paste(picture, (0, 35))
    stretched = picture.resize((160, 160), Image.Resampling.BILINEAR)
    items = [NearItem(describe(letterboxed), letterboxed.size), NearItem(describe(stretched), stretched.size)]
    (match,) = find_near_pairs(items, DEFAULT)
    assert "stretched to another aspect ratio within the same 160x160 frame" in match.explanation
    assert "160x160 -> 160x160" not in match.explanation


@pytest.mark.skipif(not FOOD.is_dir(), reason="the shared Food-101 sample is not next to the repository")
def test_a_real_photo_squashed_and_cropped_is_explained_as_stretched() -> None:
    with Image.open(sorted(FOOD.glob("train/apple_pie/*.jpg"))[2]) as im:
        original = im.convert("RGB")
    w, h = original.size
    copy = original.crop((40, 30, w - 20, h - 10)).resize((200, 150))
    items = [NearItem(describe(original), original.size), NearItem(describe(copy), copy.size)]
    (match,) = find_near_pairs(items, DEFAULT)
    assert "stretched to another aspect ratio" in match.explanation


def _rim(seed: int) -> Image.Image:
    """A picture made of one curved edge: the rim of a plate against a table, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = 170, 128
    table = tuple(int(x) for x in rng.uniform(10, 90, 3))
    plate = tuple(int(x) for x in rng.uniform(170, 250, 3))
    im = Image.new("RGB", (w, h), table)
    r = rng.uniform(150, 260)
    cx, cy = rng.uniform(-r * 0.6, w * 0.3), rng.uniform(h * 0.6, h + r * 0.5)
    ImageDraw.Draw(im).ellipse((cx - r, cy - r, cx + r, cy + r), fill=plate)
    arr = np.asarray(im.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32) + rng.normal(0, 3, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_structure_tells_one_edge_from_a_scene() -> None:
    from leakcheck.near.decision import structure

    edges = [structure(describe(_rim(seed))) for seed in range(6)]
    scenes = [structure(describe(scene(seed))) for seed in range(6)]
    assert all(0.0 <= s <= 1.0 for s in edges + scenes)
    assert max(edges) < min(scenes)


@pytest.mark.parametrize("sensitivity", ["strict", "default"])
def test_one_edge_pictures_are_not_paired_by_turning_and_cropping_them(sensitivity: str) -> None:
    # Any two plate rims line up once turned, mirrored, scaled and shifted to suit; only a copy that
    # needs none of that (re-encoded here) is a near-duplicate.
    rims = [_rim(seed) for seed in range(9)]
    images = [*rims, _jpeg(rims[1], 60)]
    items = [NearItem(describe(im), im.size) for im in images]
    found = [(m.i, m.j) for m in find_near_pairs(items, settings_for(sensitivity))]
    assert found == [(1, 9)]


def test_a_rotations_fill_wedges_do_not_count_against_its_structure() -> None:
    from leakcheck.near.decision import overlap_structure, structure

    original = scene(3)
    turned = original.rotate(30, resample=Image.Resampling.BICUBIC, expand=True)
    da, db = describe(original), describe(turned)
    v = views([da, db])
    verdict = verify(prepare(da), prepare(db), hypotheses(da, db, v, 0, v, 1))
    assert verdict is not None
    # The wedges' straight edges make the whole turned image look plainer than the photo it shows ...
    assert structure(db) < structure(da)
    # ... but on the overlap the two measure alike.
    on_overlap = overlap_structure(da, db, verdict.alignment)
    assert on_overlap > structure(db)
    assert on_overlap == pytest.approx(structure(da), rel=0.35)


@pytest.mark.parametrize("sensitivity", ["strict", "default", "thorough"])
def test_the_detector_never_finds_less_than_the_hash_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sensitivity: str
) -> None:
    images = [("train/c/a.png", scene(5)), ("test/c/a.png", _jpeg(scene(5), 40)), ("test/c/b.png", scene(6))]
    fps = _fingerprints(tmp_path, images)
    hashed = {(r.a, r.b) for r in Index(fps, MatchOptions(method="hash")).relations()}
    assert hashed == {("train/c/a.png", "test/c/a.png")}
    # Even if the detector turned every pair down, the hash rule's pairs would stay (where the rule's
    # score clears the sensitivity's threshold).
    monkeypatch.setattr("leakcheck.index.find_near_pairs", lambda *args, **kwargs: [])
    rel = Index(fps, MatchOptions(method="verified", sensitivity=sensitivity)).relations()
    distance = Index(fps, MatchOptions(method="hash")).relations()[0].distance
    kept = 1.0 - distance / 64.0 >= settings_for(sensitivity).min_score
    assert [(r.a, r.b, r.explanation) for r in rel] == (
        [("train/c/a.png", "test/c/a.png", "hash distances within thresholds")] if kept else []
    )


def test_folders_verify_on_every_core_and_in_memory_data_in_process_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leakcheck.index
    from leakcheck.engine import default_jobs

    seen: list[int] = []
    real = leakcheck.index.find_near_pairs

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(leakcheck.index, "find_near_pairs", spy)
    _leaky_dataset(tmp_path / "data")
    scan(tmp_path / "data", cache=False)
    scan(tmp_path / "data", cache=False, jobs=1)
    images = np.stack([np.asarray(scene(s).resize((32, 32))) for s in range(4)])
    scan({"train": (images, np.zeros(4, dtype=int)), "test": (images[:2], np.zeros(2, dtype=int))})
    scan({"train": (images, np.zeros(4, dtype=int)), "test": (images[:2], np.zeros(2, dtype=int))}, jobs=2)
    assert seen == [default_jobs(), 1, 1, 2]


def test_twelve_bit_data_in_sixteen_bit_files_is_compared(tmp_path: Path) -> None:
    """X-ray and CT exports keep 0-4095 in 16-bit PNGs: as 8-bit (divided by 257) the picture is nearly
    black; the detector stretches it by its own range and finds the mirrored and turned copies."""
    gray = np.asarray(scene(4).convert("L"), dtype=np.uint16) * 16
    images = [
        ("train/x/a.png", Image.fromarray(gray)),
        ("test/x/mirror.png", Image.fromarray(np.ascontiguousarray(gray[:, ::-1]))),
        ("test/x/turned.png", Image.fromarray(np.ascontiguousarray(np.rot90(gray)))),
    ]
    index = Index(_fingerprints(tmp_path, images), MatchOptions(method="verified"))
    near = {(r.a, r.b) for r in index.relations() if r.kind == "near"}
    assert ("train/x/a.png", "test/x/mirror.png") in near
    assert ("train/x/a.png", "test/x/turned.png") in near


def test_strips_one_pixel_thick_are_compared_without_failing(tmp_path: Path) -> None:
    """A 1 x 500 column cut from a photo and a 16 x 512 squeeze of it make thumbnails one pixel thick."""
    photo = scene(5, (400, 500))
    images = [
        ("train/x/photo.png", photo),
        ("val/x/column.png", photo.crop((200, 0, 201, 500))),
        ("val/x/squeezed.png", photo.resize((16, 512))),
        ("test/x/row.png", photo.crop((0, 250, 400, 251)).resize((500, 1))),
    ]
    index = Index(_fingerprints(tmp_path, images), MatchOptions(method="verified", sensitivity="thorough"))
    assert all(r.kind in ("near", "exact-bytes", "exact-pixels") for r in index.relations())
