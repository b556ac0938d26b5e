"""Golden cases of the embedding ops: the 8/4/2-bit row-wise prepacks (with and without
given row min/max, with the optimized-qparams search), their unpacks, the bag lookups
with every option (offsets or 2-D indices, include_last_offset, per-sample weights,
pruning maps, int32 indices), and the module-level ops (``embedding_byte``,
``embedding_4bit``, ``embedding_bag_byte`` / ``_4bit``, ``embedding_bag_prepack``,
``quantize_embedding_weight``).

Tables come in several kinds: normal, a power-of-two grid (prepack offsets at exact
.5 ties), constant rows, signed zeros as row extremes, specials (NaN, infinities,
values past the fp16 range, subnormals), huge and tiny magnitudes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.engines import Engine
from qemu.golden.cases.registry import CaseArguments, generator
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
_PREPACKS = {
    8: ops.embedding_bag_byte_prepack,
    4: ops.embedding_bag_4bit_prepack,
    2: ops.embedding_bag_2bit_prepack,
}
_NAMES = {8: "byte", 4: "4bit", 2: "2bit"}


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


def _table_shape(rng):
    return int(rng.integers(1, 9)), 4 * int(rng.integers(1, 7))


def _prepack_op(bits: int, with_min_max: bool) -> tuple[str, ...]:
    name = f"embedding_bag_{_NAMES[bits]}_prepack"
    return (name + "_with_rowwise_min_max",) if with_min_max else (name,)


@generator(*(op for bits in (8, 4, 2) for op in _prepack_op(bits, False)))
def _prepack_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    bits = {"byte": 8, "4bit": 4, "2bit": 2}[op.split("_")[2]]
    yield [np.zeros((0, 8), np.float32)], {}
    yield [np.float32([[2.5, -2.5, 0.5, 1.5]])], {}
    for kind in TABLE_KINDS:
        weight = table(rng, _table_shape(rng), kind)
        yield [weight], {}
        if bits != 8 and kind in ("normal", "grid", "constant_rows"):
            yield [weight, True, int(rng.choice([50, 200])), float(rng.choice([0.16, 0.5]))], {}


@generator(*(op for bits in (8, 4, 2) for op in _prepack_op(bits, True)))
def _prepack_min_max_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    for kind in ("normal", "grid", "constant_rows", "signed_zeros", "huge"):
        weight = table(rng, _table_shape(rng), kind)
        minimum, maximum = weight.min(axis=1), weight.max(axis=1)
        if rng.random() < 0.5:  # a wider range than the rows' own
            minimum, maximum = minimum - np.abs(minimum), maximum + np.abs(maximum)
        yield [weight, np.stack([minimum, maximum], axis=1).astype(np.float32)], {}


@generator("embedding_bag_byte_unpack", "embedding_bag_4bit_unpack", "embedding_bag_2bit_unpack")
def _unpack_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    bits = {"byte": 8, "4bit": 4, "2bit": 2}[op.split("_")[2]]
    for kind in TABLE_KINDS:
        yield [_PREPACKS[bits](table(rng, _table_shape(rng), kind))], {}


def draw_pruning_mapping(
    rng: np.random.Generator, pruning: str | None, rows: int, index_bound: int
) -> tuple[np.ndarray | None, int]:
    """``(compressed_indices_mapping, index bound)`` for a pruned table of ``rows`` rows:
    ``"mapping"`` draws a mapping with ``-1`` (pruned) entries (never the lone ``[0]``,
    which torch reads as "not pruned"), ``"dense_marker"`` is that ``[0]``, ``None``
    none; indices then range over the mapping, else up to ``index_bound``."""
    if pruning == "mapping":
        mapping = rng.integers(-1, rows, int(rng.integers(1, 2 * rows + 2))).astype(np.int32)
        if mapping.size == 1 and mapping[0] == 0:
            mapping[0] = -1
        return mapping, mapping.size
    if pruning == "dense_marker":
        return np.zeros(1, dtype=np.int32), index_bound
    return None, index_bound


def _bag_arguments(rng, bits, options, rows, index_bound):
    """indices, offsets, mode, pruned, per_sample_weights, mapping, include_last_offset
    for one bag lookup into a table of ``rows`` rows."""
    pruning = options.get("pruning")
    sequential = bits != 8 or pruning == "mapping"  # kernels that walk from position 0
    mapping, index_bound = draw_pruning_mapping(rng, pruning, rows, index_bound)
    index_dtype = options.get("index_dtype", np.int64)
    last = options.get("include_last_offset", False)
    if options.get("layout") == "2d":
        bags = int(rng.integers(0, 4))
        indices = rng.integers(0, index_bound, (bags, int(rng.integers(1, 5)))).astype(index_dtype)
        offsets = None
        last = last and not sequential and bags > 0
    else:
        count = int(rng.integers(0, 20))
        indices = rng.integers(0, index_bound, count).astype(index_dtype)
        bags = int(rng.integers(1 if last else 0, 6))
        offsets = np.sort(rng.integers(0, count + 1, bags))
        if bags:
            offsets[0] = 0
        if last and bags and sequential:
            offsets[-1] = count
        offsets = offsets.astype(index_dtype)
    weights = None
    if options.get("weights"):
        weights = rng.normal(size=indices.shape).astype(np.float32)
        if options["weights"] == "special" and weights.size:
            weights.reshape(-1)[rng.integers(0, weights.size, 2)] = rng.choice(SPECIAL_VALUES, 2)
        if options["weights"] == "float16" and bits != 8:
            weights = weights.astype(np.float16)
    mode = options.get("mode", 0)
    return [indices, offsets, False, mode, pruning is not None, weights, mapping, last]


_LOOKUP_OPTIONS = [
    {},
    {"include_last_offset": True},
    {"layout": "2d"},
    {"weights": "normal"},
    {"weights": "special", "mode": 0},
    {"weights": "float16"},
    {"index_dtype": np.int32},
    {"mode": 1},
    {"pruning": "mapping"},
    {"pruning": "dense_marker"},
    {"include_last_offset": True, "layout": "2d"},
]


@generator(
    "embedding_bag_byte_rowwise_offsets",
    "embedding_bag_4bit_rowwise_offsets",
    "embedding_bag_2bit_rowwise_offsets",
)
def _rowwise_offsets_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    bits = {"byte": 8, "4bit": 4, "2bit": 2}[op.split("_")[2]]
    for index, options in enumerate(_LOOKUP_OPTIONS):
        rows, dim = _table_shape(rng)
        packed = _PREPACKS[bits](table(rng, (rows, dim), TABLE_KINDS[index % len(TABLE_KINDS)]))
        yield [packed, *_bag_arguments(rng, bits, options, rows, rows)], {}


def _qweight(rng, dtype, kind):
    rows, dim = _table_shape(rng)
    # Within +-1e38 so that no row's max - min overflows (the observer refuses those).
    weight = np.clip(table(rng, (rows, dim), kind), np.float32(-1e38), np.float32(1e38))
    return ops.quantize_embedding_weight(weight, dtype, backend="numpy")


_MODULE_KINDS = ("normal", "grid", "constant_rows", "signed_zeros", "huge", "tiny")


@generator("quantize_embedding_weight")
def _quantize_weight_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    for dtype in ("quint8", "quint4x2"):
        yield [np.float32([[2.5, -2.5, 0.5, 1.5]]), dtype], {}
        for kind in _MODULE_KINDS:
            yield [table(rng, _table_shape(rng), kind), dtype], {}


@generator("embedding_bag_prepack")
def _module_prepack_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    for dtype in ("quint8", "quint4x2"):
        for kind in _MODULE_KINDS:
            yield [_qweight(rng, dtype, kind)], {}


@generator("embedding_byte", "embedding_4bit")
def _module_embedding_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    dtype = "quint8" if op == "embedding_byte" else "quint4x2"
    for kind in _MODULE_KINDS:
        weight = _qweight(rng, dtype, kind)
        rows = weight.shape[0]
        shape = [(0,), (1,), (7,), (2, 3)][rng.integers(4)]
        yield [weight, rng.integers(0, rows, shape).astype(np.int64)], {}


@generator("embedding_bag_byte", "embedding_bag_4bit")
def _module_bag_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    bits, dtype = (8, "quint8") if op == "embedding_bag_byte" else (4, "quint4x2")
    for index, options in enumerate(_LOOKUP_OPTIONS):
        weight = _qweight(rng, dtype, _MODULE_KINDS[index % len(_MODULE_KINDS)])
        rows = weight.shape[0]
        yield [weight, *_bag_arguments(rng, bits, options, rows, rows)], {}
