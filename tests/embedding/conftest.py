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

from qemu.ops import embedding as ops

# Values that stress the prepack: NaN (also negative and with a payload), infinities,
# signed zeros, float32 extremes, values past the fp16 range, fp16 subnormals.
SPECIAL_VALUES = np.array(
    [
        np.nan,
        -np.nan,
        np.uint32(0x7FC0ABCD).view(np.float32),
        np.uint32(0x7F800001).view(np.float32),
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        3.4e38,
        -3.4e38,
        7e4,
        -7e4,
        65504.0,
        65520.0,
        1e-40,
        6e-8,
    ],
    dtype=np.float32,
)

TABLE_KINDS = ("normal", "grid", "constant_rows", "signed_zeros", "special", "huge", "tiny")
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


def table(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """A float32 table of one of :data:`TABLE_KINDS`."""
    if kind == "grid":
        # Integer multiples of a power of two over a power-of-two range: the prepack's
        # scaled offsets land on exact .5 ties often.
        step = np.float32(2.0 ** int(rng.integers(-10, 10)))
        values = rng.integers(0, 2 ** int(rng.integers(1, 10)) + 1, shape) * step
        return (values + np.float32(rng.integers(-4, 4)) * step).astype(np.float32)
    magnitude = 10.0 ** rng.uniform(-6, 6)
    values = (rng.normal(size=shape) * magnitude + rng.normal() * magnitude).astype(np.float32)
    if kind == "constant_rows" and values.size:
        rows = values.reshape(-1, shape[-1])
        chosen = rng.random(rows.shape[0]) < 0.5
        rows[chosen] = rows[chosen, :1]
    elif kind == "signed_zeros" and values.size:
        # +0 and -0 as row extremes: which one a search returns depends on its order.
        rows = np.abs(values.reshape(-1, shape[-1])) * rng.choice(
            [-1, 1], (values.size // shape[-1], 1)
        )
        flat = rows.reshape(-1)
        count = int(rng.integers(1, 1 + flat.size))
        flat[rng.integers(0, flat.size, count)] = rng.choice(np.float32([0.0, -0.0]), count)
        values = rows.astype(np.float32).reshape(shape)
    elif kind == "special" and values.size:
        flat = values.reshape(-1)
        count = int(rng.integers(1, 4))
        flat[rng.integers(0, flat.size, count)] = rng.choice(SPECIAL_VALUES, count)
    elif kind == "huge":
        values = (rng.normal(size=shape) * 10.0 ** rng.uniform(4, 38)).astype(np.float32)
    elif kind == "tiny":
        values = (rng.normal(size=shape) * 10.0 ** rng.uniform(-44, -30)).astype(np.float32)
    return values


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
    mapping = None
    index_bound = rows
    if pruning == "mapping":
        mapping = rng.integers(-1, rows, int(rng.integers(1, 2 * rows + 2))).astype(np.int32)
        if mapping.size == 1 and mapping[0] == 0:
            mapping[0] = -1
        index_bound = mapping.size
    elif pruning == "dense_marker":
        mapping = np.zeros(1, dtype=np.int32)
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
