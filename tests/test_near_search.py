"""The candidate search reusing an earlier one: the same neighbours as a fresh search, bit for bit, for
much less work; and its stored form."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from leakcheck.near import NearItem, describe, find_near_pairs, settings_for
from leakcheck.near.candidates import Neighbours, decode_neighbours, encode_neighbours, pairs_of, search, views
from leakcheck.near.descriptor import NearDescriptor
from tests.test_near import EDITS, scene

# The module itself (leakcheck.near's `candidates` attribute is a function of that name).
_MODULE = importlib.import_module("leakcheck.near.candidates")
K = 3


@pytest.fixture(scope="module")
def pool() -> list[NearDescriptor]:
    """Scenes with a few edits each (clusters of light edits, heavier edits apart), 59 images in all."""
    out = []
    for seed in range(22):
        original = scene(seed)
        out.append(describe(original))
        for family in ("jpeg", "crop", "rotate-20", "mirror", "hue")[seed % 3 :: 3]:
            out.append(describe(EDITS[family][0](original)))
    return out


def _key(d: NearDescriptor) -> bytes:
    return hashlib.blake2b(d.thumb + repr((d.height, d.width)).encode(), digest_size=20).digest()


def _search(ds: Sequence[NearDescriptor], earlier: Neighbours | None = None, k: int = K) -> Neighbours:
    return search(views(ds), k, keys=[_key(d) for d in ds], earlier=earlier)


def _same(a: Neighbours, b: Neighbours) -> bool:
    return (
        a.keys == b.keys
        and np.array_equal(a.root, b.root)
        and np.array_equal(a.reps, b.reps)
        and all(np.array_equal(x, y) for x, y in zip(a.idx, b.idx, strict=True))
        and all(np.array_equal(x, y) for x, y in zip(a.sim, b.sim, strict=True))
    )


class Work:
    """Counts the similarities each `top_k` call computes (queries x database images)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int]] = []
        real = _MODULE.top_k

        def spy(queries: Any, database: Any, k: int, **kw: Any) -> Any:
            q, d = kw.get("query_ids"), kw.get("database_ids")
            self.calls.append((len(queries if q is None else q), len(database if d is None else d)))
            return real(queries, database, k, **kw)

        monkeypatch.setattr(_MODULE, "top_k", spy)

    @property
    def pairs(self) -> int:
        return sum(q * d for q, d in self.calls)


@pytest.mark.parametrize("seed", range(6))
def test_a_search_reusing_an_earlier_one_finds_the_same_neighbours(
    pool: list[NearDescriptor], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    n = len(pool)
    held_out = set(rng.choice(n, 3, replace=False).tolist())
    present = [i for i in range(n) if i not in held_out]
    # Two images leave (originals, whose clusters then change, among them over the seeds) and the
    # held-out ones arrive in between the others.
    leaving = set(rng.choice(present, 2, replace=False).tolist())
    before = [pool[i] for i in present]
    after = [pool[i] for i in range(n) if i not in leaving]
    earlier = _search(before)
    work = Work(monkeypatch)
    reused = _search(after, earlier)
    reusing = work.pairs
    work.calls.clear()
    fresh = _search(after)
    assert _same(reused, fresh)
    assert pairs_of(reused, 0.35) == pairs_of(fresh, 0.35)
    assert reusing < work.pairs / 2, (reusing, work.pairs)


def test_what_cannot_be_reused_is_searched_afresh(pool: list[NearDescriptor], monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = _search(pool)
    swapped = [pool[1], pool[0], *pool[2:]]  # two images change places: ties could break differently
    cases: list[tuple[list[NearDescriptor], Neighbours | None, int]] = [
        (swapped, earlier, K),
        (pool, earlier, K + 1),  # another k
        (pool[:3], earlier, K),  # fewer images than k + 1 after most left
        (pool[:1], earlier, K),
        ([], earlier, K),
    ]
    for ds, old, k in cases:
        assert _same(_search(ds, old, k), _search(ds, None, k)), (len(ds), k)
    # Repeated keys: nothing can be told apart, so nothing is reused.
    twice = [pool[0], pool[0], *pool[1:10]]
    v = views(twice)
    keys = [_key(d) for d in twice]
    earlier = search(v, K, keys=keys)
    work = Work(monkeypatch)
    reused = search(v, K, keys=keys, earlier=earlier)
    assert _same(reused, earlier)
    reps = len(earlier.reps)
    assert work.calls == [(11, 11), (reps, reps), (reps, reps), (reps, reps)]  # the whole search again


def test_an_unchanged_set_searches_nothing(pool: list[NearDescriptor], monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = _search(pool)
    work = Work(monkeypatch)
    assert _same(_search(pool, earlier), earlier)
    assert work.pairs == 0


def test_a_stored_search_reads_back_the_same_and_damage_is_refused(pool: list[NearDescriptor]) -> None:
    found = _search(pool)
    payload = encode_neighbours(found)
    back = decode_neighbours(payload)
    assert back is not None
    assert _same(back, found)
    head, _, body = payload.partition(b"\n")
    damaged = [
        payload[:-1],  # truncated
        payload + b"\0",
        b"not json\n" + body,
        head.replace(b'"k": 3', b'"k": -1') + b"\n" + body,
        head.replace(b'"reps": ', b'"reps": 1') + b"\n" + body,
        b"",
    ]
    # A neighbour position out of range.
    first_idx = len(pool) * 20
    bad = bytearray(payload)
    bad[len(head) + 1 + first_idx : len(head) + 1 + first_idx + 4] = (10**6).to_bytes(4, "little")
    damaged.append(bytes(bad))
    for p in damaged:
        assert decode_neighbours(p) is None
    with pytest.raises(ValueError, match="key of 20 bytes"):
        encode_neighbours(search(views(pool[:4]), K))  # no keys: nothing to name the images by


class DictMemo:
    """A NearMemo in memory."""

    def __init__(self) -> None:
        self.near: dict[str, bytes] = {}
        self.pairs: dict[str, bytes] = {}
        self.searches: dict[str, bytes] = {}

    def near_get(self, key: str) -> bytes | None:
        return self.near.get(key)

    def near_put(self, key: str, payload: bytes) -> None:
        self.near[key] = payload

    def pairs_get(self, keys: Sequence[str]) -> dict[str, bytes]:
        return {k: self.pairs[k] for k in keys if k in self.pairs}

    def pairs_put(self, rows: Sequence[tuple[str, bytes]], *, keep: Sequence[str]) -> None:
        self.pairs.update(rows)

    def search_get(self, key: str) -> bytes | None:
        return self.searches.get(key)

    def search_put(self, key: str, payload: bytes) -> None:
        self.searches[key] = payload


def test_the_detector_reuses_its_stored_search_after_a_change(
    pool: list[NearDescriptor], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for("default")
    items = [NearItem(d, (160, 120)) for d in pool]
    memo = DictMemo()
    find_near_pairs(items[:-2], settings, memo=memo)
    assert len(memo.searches) == 1
    changed = [*items[:5], *items[6:]]  # one image gone, two new ones
    work = Work(monkeypatch)
    with_memo = find_near_pairs(changed, settings, memo=memo)
    reusing = work.pairs
    work.calls.clear()
    assert with_memo == find_near_pairs(changed, settings)
    assert reusing < work.pairs / 2
