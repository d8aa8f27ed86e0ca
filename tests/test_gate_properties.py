"""Properties of the gate's pure parts against simple oracles: baseline matching, re-splitting, ignore
globs; and the shipped pre-commit hook and docs staying in step with the code."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from fnmatch import fnmatchcase
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from leakcheck.baseline import Entry, compare
from leakcheck.config import _KEYS, CHECK_IDS
from leakcheck.fixing import FixPlan, Ratios, plan_fix
from leakcheck.index import Relation
from leakcheck.model import Record
from leakcheck.sources.ignores import IgnoreRules

REPO = Path(__file__).resolve().parent.parent

names = st.sampled_from(["a.jpg", "b.jpg", "c.png", "d.jpg", "e.jpg"])
entries = st.builds(
    Entry,
    check=st.sampled_from(["cross-split-duplicates", "label-conflicts"]),
    scope=st.sampled_from(["test:train", "val:train", "identical"]),
    sample=st.builds(lambda s, n: f"{s}/{n}", st.sampled_from(["train", "val", "test"]), names),
)


@given(st.lists(entries, unique_by=lambda e: e.id), st.lists(entries, unique_by=lambda e: e.id))
def test_compare_without_digests_is_set_difference(current: list[Entry], baseline: list[Entry]) -> None:
    result = compare(current, baseline)
    now, then = {e.id for e in current}, {e.id for e in baseline}
    assert {e.id for e in result.new} == now - then
    assert {e.id for e in result.accepted} == now & then
    assert {e.id for e in result.stale} == then - now
    assert result.moved == ()
    assert compare(current, current).new == compare(current, current).stale == ()


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[Record], list[Relation]]:
    """Samples in train/test with labels, and duplicate relations between random pairs of the same class."""
    n = draw(st.integers(2, 40))
    records = [
        Record(f"{split}/{label}/{i:03d}.jpg", split, label, Path("/data", split, label, f"{i:03d}.jpg"))
        for i in range(n)
        for split, label in [(draw(st.sampled_from(["train", "test"])), draw(st.sampled_from(["cat", "dog"])))]
    ]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    kinds = draw(st.lists(st.sampled_from(["exact-bytes", "near"]), min_size=len(pairs), max_size=len(pairs)))
    relations = []
    for (i, j), kind in zip(pairs, kinds, strict=True):
        if i != j and records[i].label == records[j].label:
            a, b = records[i], records[j]
            distance = 3 if kind == "near" else 0
            relations.append(Relation(a.key, a.split, a.label, b.key, b.split, b.label, kind, distance))
    return records, relations


def _clusters(records: list[Record], relations: list[Relation]) -> list[set[str]]:
    """Oracle: connected components by repeated merging."""
    comps = [{r.key} for r in records]
    for rel in relations:
        a = next(c for c in comps if rel.a in c)
        b = next(c for c in comps if rel.b in c)
        if a is not b:
            comps.remove(b)
            a |= b
    return comps


@given(datasets(), st.integers(0, 3), st.sampled_from(["0.8,0.2", "0.5,0.5", "1,0"]))
def test_resplit_keeps_clusters_whole_near_the_ratios(
    data: tuple[list[Record], list[Relation]], seed: int, ratio_text: str
) -> None:
    records, relations = data
    ratios = Ratios.parse(ratio_text, ["train", "test"])

    def resplit() -> FixPlan:
        dirs = {"train": "train", "test": "test"}
        return plan_fix(records, relations, root="/data", split_dirs=dirs, strategy="resplit", ratios=ratios, seed=seed)

    plan = resplit()
    assert plan == resplit()
    assert sorted(a.source for a in plan.actions) == sorted(r.key for r in records)
    split_of = {a.source: a.new_split for a in plan.actions}
    clusters = _clusters(records, relations)
    for cluster in clusters:
        assert len({split_of[k] for k in cluster}) == 1
    # Per class, each of the two splits is within one cluster's size of its target.
    labels = {r.key: r.label for r in records}
    largest = max(len(c) for c in clusters)
    per_class: dict[str | None, Counter[str]] = defaultdict(Counter)
    for key, split in split_of.items():
        per_class[labels[key]][split] += 1
    for counts in per_class.values():
        total = sum(counts.values())
        for split, fraction in ratios.fractions:
            assert abs(counts[split] - fraction * total) <= largest
    targets = [a.target for a in plan.actions]
    assert len(set(targets)) == len(targets)


@given(datasets())
def test_drop_eval_copies_leaves_no_test_copy_of_train(data: tuple[list[Record], list[Relation]]) -> None:
    records, relations = data
    plan = plan_fix(records, relations, root=Path("/data"), split_dirs={"train": "train", "test": "test"})
    kept = {a.source for a in plan.actions if a.action == "kept"}
    assert {a.source for a in plan.actions if a.action == "dropped"} <= {r.key for r in records if r.split == "test"}
    assert all(r.key in kept for r in records if r.split == "train")
    # Oracle: an exact-or-one-near-hop copy of a kept test image is never a kept train image.
    exact = _clusters(records, [r for r in relations if r.kind != "near"])
    group = {k: i for i, c in enumerate(exact) for k in c}
    near = {(group[r.a], group[r.b]) for r in relations if r.kind == "near"}
    near |= {(b, a) for a, b in near}
    split = {r.key: r.split for r in records}
    for t in (k for k in kept if split[k] == "test"):
        for s in (k for k in kept if split[k] == "train"):
            assert group[t] != group[s]
            assert (group[t], group[s]) not in near


segment = st.sampled_from(["train", "test", "cat", "dog", "x.jpg", "y.png"])


@given(st.lists(segment, min_size=1, max_size=4), st.sampled_from(["*.png", "cat", "x.jpg", "d*"]))
def test_slashless_patterns_match_any_component(parts: list[str], pattern: str) -> None:
    key = "/".join(parts)
    assert IgnoreRules((pattern,)).matches(key) == any(fnmatchcase(p, pattern) for p in parts)


def test_pre_commit_hook_definition() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert re.search(r"^- id: leakcheck$", text, re.M)
    assert re.search(r"^  entry: leakcheck scan$", text, re.M)
    assert re.search(r"^  pass_filenames: false$", text, re.M)
    files = re.search(r"^  files: (.+)$", text, re.M)
    assert files
    rx = re.compile(files.group(1))
    for path in ("data/train/cat/001.JPG", "data/test/x.png", "pyproject.toml", "leakcheck-baseline.json"):
        assert rx.search(path), path
    for path in ("README.md", "src/model.py", "notes.txt"):
        assert not rx.search(path), path


def test_config_docs_list_every_key_and_check() -> None:
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    for key in _KEYS:
        assert f"| `{key}` |" in text, key
    for check in CHECK_IDS:
        assert f"`{check}`" in text, check
