"""Shared draws for the embedding tests: float tables of several kinds and bag lookups
with every option torch's EmbeddingBag ops take.

The helpers are handed out by the session fixture ``embedding_draws`` (a fixture,
since test files here are not importable modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from qemu.golden.cases.embedding import (
    SPECIAL_VALUES,
    TABLE_KINDS,
    draw_pruning_mapping,
    table,
)
from qemu.ops import embedding as ops

PREPACKS = {
    8: ops.embedding_bag_byte_prepack,
    4: ops.embedding_bag_4bit_prepack,
    2: ops.embedding_bag_2bit_prepack,
}
UNPACKS = {
    8: ops.embedding_bag_byte_unpack,
    4: ops.embedding_bag_4bit_unpack,
    2: ops.embedding_bag_2bit_unpack,
}
LOOKUPS = {
    8: ops.embedding_bag_byte_rowwise_offsets,
    4: ops.embedding_bag_4bit_rowwise_offsets,
    2: ops.embedding_bag_2bit_rowwise_offsets,
}


@dataclass
class Lookup:
    """One bag lookup: a packed table and the arguments of ``*_rowwise_offsets``."""

    bits: int
    packed: np.ndarray
    indices: np.ndarray
    offsets: np.ndarray | None
    mode: int
    pruned_weights: bool
    per_sample_weights: np.ndarray | None
    compressed_indices_mapping: np.ndarray | None
    include_last_offset: bool

    def arguments(self) -> tuple:
        return (
            self.packed,
            self.indices,
            self.offsets,
            False,
            self.mode,
            self.pruned_weights,
            self.per_sample_weights,
            self.compressed_indices_mapping,
            self.include_last_offset,
        )


def lookup(rng: np.random.Generator, bits: int, options: dict) -> Lookup:
    """A valid lookup drawn with ``options`` (all keys optional): ``rows``, ``dim``,
    ``count``, ``bags``, ``layout`` ("offsets" or "2d"), ``index_dtype``,
    ``offset_dtype``, ``include_last_offset``, ``leading_offset``, ``weights`` (None,
    "normal", "special", "float16"), ``pruning`` (None, "mapping", "dense_marker"),
    ``mode``, ``table_kind``."""
    rows = options.get("rows", int(rng.integers(1, 20)))
    dim = options.get("dim", 4 * int(rng.integers(1, 20)))
    packed = PREPACKS[bits](table(rng, (rows, dim), options.get("table_kind", "normal")))
    index_dtype = options.get("index_dtype", np.int64)
    offset_dtype = options.get("offset_dtype", np.int64)
    pruning = options.get("pruning")
    sequential = bits != 8 or pruning == "mapping"  # kernels that walk from position 0
    mapping, index_bound = draw_pruning_mapping(rng, pruning, rows, rows)
    last = options.get("include_last_offset", False)
    if options.get("layout", "offsets") == "2d":
        bag_count = options.get("bags", int(rng.integers(0, 6)))
        length = int(rng.integers(1, 8))
        indices = rng.integers(0, index_bound, (bag_count, length)).astype(index_dtype)
        offsets = None
        last = last and not sequential and bag_count > 0
    else:
        count = options.get("count", int(rng.integers(0, 60)))
        indices = rng.integers(0, index_bound, count).astype(index_dtype)
        bag_count = options.get("bags", int(rng.integers(0 if not last else 1, 9)))
        offsets = np.sort(rng.integers(0, count + 1, bag_count))
        if bag_count and not options.get("leading_offset", False):
            offsets[0] = 0
        if last and bag_count and sequential:
            offsets[-1] = count
        offsets = offsets.astype(offset_dtype)
    weights_kind = options.get("weights")
    weights = None
    if weights_kind is not None:
        weights = rng.normal(size=indices.shape).astype(np.float32)
        if weights_kind == "special" and weights.size:
            flat = weights.reshape(-1)
            flat[rng.integers(0, flat.size, 2)] = rng.choice(SPECIAL_VALUES, 2)
        if weights_kind == "float16" and bits != 8:
            weights = weights.astype(np.float16)
    return Lookup(
        bits,
        packed,
        indices,
        offsets,
        options.get("mode", 0),
        pruning is not None,
        weights,
        mapping,
        last,
    )


@pytest.fixture(scope="session")
def embedding_draws() -> SimpleNamespace:
    return SimpleNamespace(
        table=table,
        lookup=lookup,
        TABLE_KINDS=TABLE_KINDS,
        PREPACKS=PREPACKS,
        UNPACKS=UNPACKS,
        LOOKUPS=LOOKUPS,
        SPECIAL_VALUES=SPECIAL_VALUES,
    )
