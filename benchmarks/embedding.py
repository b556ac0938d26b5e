"""Rows of the embedding family (issue 5): bag lookups in a 100,000 x 64 table, 4096
bags of 20 indices, sum, on 8-bit and 4-bit row-wise packed tables; and the prepacks
that make those tables."""

from __future__ import annotations

from benchmarks import row


def _table(rows: int, dim: int):
    """A random float32 embedding table."""
    import numpy as np

    return np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)


def _bags(rows: int, bags: int, bag_length: int):
    """Random indices into ``rows`` rows and the offsets of ``bags`` equal bags (int64,
    as ``nn.EmbeddingBag`` passes them)."""
    import numpy as np

    indices = np.random.default_rng(1).integers(0, rows, bags * bag_length)
    return indices, np.arange(0, bags * bag_length, bag_length)


def _lookup_row(bits: int, rows: int, dim: int, bags: int, bag_length: int):
    def prepare():
        import torch

        from qemu.ops import embedding

        torch.backends.quantized.engine = "fbgemm"
        prepack = {8: embedding.embedding_bag_byte_prepack, 4: embedding.embedding_bag_4bit_prepack}
        lookup = {
            8: embedding.embedding_bag_byte_rowwise_offsets,
            4: embedding.embedding_bag_4bit_rowwise_offsets,
        }[bits]
        packed = prepack[bits](_table(rows, dim))
        indices, offsets = _bags(rows, bags, bag_length)
        torch_lookup = getattr(torch.ops.quantized, lookup.__name__)
        tensors = [torch.from_numpy(array) for array in (packed, indices, offsets)]

        def torch_call():
            return torch_lookup(*tensors)

        def qemu_call(backend):
            return lookup(packed, indices, offsets, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


def _prepack_row(bits: int, rows: int, dim: int):
    def prepare():
        import torch

        from qemu.ops import embedding

        prepack = {
            8: embedding.embedding_bag_byte_prepack,
            4: embedding.embedding_bag_4bit_prepack,
        }[bits]
        weight = _table(rows, dim)
        torch_prepack = getattr(torch.ops.quantized, prepack.__name__)
        weight_t = torch.from_numpy(weight)

        def torch_call():
            return torch_prepack(weight_t)

        def qemu_call(backend):
            return prepack(weight, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


for _bits, _label in ((8, "byte"), (4, "4bit")):
    row(
        f"embedding_bag_{_label}-100kx64",
        f"embedding_bag_{_label}_rowwise_offsets, 100,000 x 64 table, 4096 bags x 20, sum",
        tiny=_lookup_row(_bits, 50, 16, 6, 3),
    )(_lookup_row(_bits, 100_000, 64, 4096, 20))
    row(
        f"embedding_{_label}_prepack-100kx64",
        f"embedding_bag_{_label}_prepack of a 100,000 x 64 float table",
        tiny=_prepack_row(_bits, 50, 16),
    )(_prepack_row(_bits, 100_000, 64))
del _bits, _label
