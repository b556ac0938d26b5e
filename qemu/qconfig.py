"""torch's default observers and qconfigs, as observer factories.

A :class:`QConfig` pairs the observer factory for activations with the one for weights,
as ``torch.ao.quantization.QConfig`` does; calling a factory builds a fresh observer.
Everything here mirrors torch 2.13's ``torch/ao/quantization/observer.py`` (the
``default_*`` observers) and ``qconfig.py`` (the qconfigs and
``get_default_qconfig``), so a question such as "which observers does fbgemm's
default qconfig use" has torch's answer:

>>> get_default_qconfig("fbgemm")
QConfig(activation=HistogramObserver.with_args(reduce_range=True), weight=PerChannelMinMaxObserver.with_args(dtype='qint8', qscheme='per_channel_symmetric'))

The fake-quantize (QAT) qconfigs are not mirrored: qemu has no FakeQuantize modules.
"""

from __future__ import annotations

from collections import namedtuple

from qemu import engines
from qemu.observers import (
    FixedQParamsObserver,
    HistogramObserver,
    MinMaxObserver,
    ObserverBase,
    PerChannelMinMaxObserver,
    PlaceholderObserver,
)

# -- default observers (torch/ao/quantization/observer.py) ----------------------------

default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_placeholder_observer = PlaceholderObserver
default_weight_observer = MinMaxObserver.with_args(dtype="qint8", qscheme="per_tensor_symmetric")
weight_observer_range_neg_127_to_127 = MinMaxObserver.with_args(
    dtype="qint8", qscheme="per_tensor_symmetric", quant_min=-127, quant_max=127, eps=2**-12
)
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype="qint8", qscheme="per_channel_symmetric"
)
per_channel_weight_observer_range_neg_127_to_127 = PerChannelMinMaxObserver.with_args(
    dtype="qint8", qscheme="per_channel_symmetric", quant_min=-127, quant_max=127, eps=2**-12
)
default_dynamic_quant_observer = PlaceholderObserver.with_args(
    dtype="quint8", quant_min=0, quant_max=255, is_dynamic=True
)
default_float_qparams_observer = PerChannelMinMaxObserver.with_args(
    dtype="quint8", qscheme="per_channel_affine_float_qparams", ch_axis=0
)
default_float_qparams_observer_4bit = PerChannelMinMaxObserver.with_args(
    dtype="quint4x2", qscheme="per_channel_affine_float_qparams", ch_axis=0
)
default_fixed_qparams_range_neg1to1_observer = FixedQParamsObserver.with_args(
    scale=2.0 / 256.0, zero_point=128, dtype="quint8", quant_min=0, quant_max=255
)
default_fixed_qparams_range_0to1_observer = FixedQParamsObserver.with_args(
    scale=1.0 / 256.0, zero_point=0, dtype="quint8", quant_min=0, quant_max=255
)
default_symmetric_fixed_qparams_observer = default_fixed_qparams_range_neg1to1_observer
default_affine_fixed_qparams_observer = default_fixed_qparams_range_0to1_observer


class QConfig(namedtuple("QConfig", ["activation", "weight"])):
    """Observer factories (or classes) for a layer's activations and weights.

    Like torch's, it refuses observer instances: each layer needs its own observers, so
    a qconfig holds what builds them.

    Examples
    --------
    >>> qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
    >>> qconfig.weight().qscheme
    'per_tensor_symmetric'
    """

    __slots__ = ()

    def __new__(cls, activation: object, weight: object) -> QConfig:
        for name, value in (("activation", activation), ("weight", weight)):
            if isinstance(value, ObserverBase):
                raise ValueError(
                    f"{name}: expected an observer class or factory, got an observer "
                    f"instance; use {type(value).__name__}.with_args(...) instead"
                )
        return super().__new__(cls, activation, weight)


default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_per_channel_qconfig = QConfig(
    activation=default_observer, weight=default_per_channel_weight_observer
)
default_dynamic_qconfig = QConfig(
    activation=default_dynamic_quant_observer, weight=default_weight_observer
)
float16_dynamic_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype="float16", is_dynamic=True),
    weight=PlaceholderObserver.with_args(dtype="float16"),
)
float16_static_qconfig = QConfig(
    activation=PlaceholderObserver.with_args(dtype="float16"),
    weight=PlaceholderObserver.with_args(dtype="float16"),
)
per_channel_dynamic_qconfig = QConfig(
    activation=default_dynamic_quant_observer, weight=default_per_channel_weight_observer
)
float_qparams_weight_only_qconfig = QConfig(
    activation=default_placeholder_observer, weight=default_float_qparams_observer
)
float_qparams_weight_only_qconfig_4bit = QConfig(
    activation=default_placeholder_observer, weight=default_float_qparams_observer_4bit
)
default_symmetric_qnnpack_qconfig = QConfig(
    activation=HistogramObserver.with_args(dtype="qint8", reduce_range=False, eps=2**-12),
    weight=weight_observer_range_neg_127_to_127,
)
default_per_channel_symmetric_qnnpack_qconfig = QConfig(
    activation=HistogramObserver.with_args(dtype="qint8", reduce_range=False, eps=2**-12),
    weight=per_channel_weight_observer_range_neg_127_to_127,
)
default_quint8_weight_qconfig = QConfig(activation=HistogramObserver, weight=MinMaxObserver)

# torch's qconfig backends besides qemu's engines: 'x86' (torch's default engine) and
# 'onednn' have default qconfigs although qemu does not emulate their kernels.
_TORCH_ONLY_BACKENDS = ("x86", "onednn")


def _torch_backend(engine: object) -> str:
    """torch's ``backend`` string for a qemu engine name (the fbgemm variants are all
    torch's 'fbgemm'), or 'x86' / 'onednn' as given."""
    if isinstance(engine, str) and engine in _TORCH_ONLY_BACKENDS:
        return engine
    if isinstance(engine, str) and engine not in engines.ENGINES:
        raise ValueError(
            "engine: expected one of "
            + ", ".join(repr(n) for n in (*engines.ENGINES, *_TORCH_ONLY_BACKENDS))
            + f", got {engine!r}"
        )
    return engines.get(engine).torch_engine


def get_default_qconfig(engine: str = "x86", version: int = 0) -> QConfig:
    """The post-training-quantization qconfig torch's ``get_default_qconfig(backend)``
    returns for ``engine``.

    fbgemm (all variants) and x86: a ``HistogramObserver`` with ``reduce_range=True`` for
    activations, per-channel symmetric qint8 weights. qnnpack: ``reduce_range=False``
    and per-tensor symmetric weights. onednn: ``reduce_range=False`` and per-channel
    weights.

    Examples
    --------
    >>> get_default_qconfig("qnnpack").weight
    MinMaxObserver.with_args(dtype='qint8', qscheme='per_tensor_symmetric')
    """
    backend = _torch_backend(engine)
    if version != 0:
        raise ValueError(f"version: torch's get_default_qconfig supports only 0, got {version!r}")
    if backend in ("fbgemm", "x86"):
        return QConfig(
            activation=HistogramObserver.with_args(reduce_range=True),
            weight=default_per_channel_weight_observer,
        )
    if backend == "qnnpack":
        return QConfig(
            activation=HistogramObserver.with_args(reduce_range=False),
            weight=default_weight_observer,
        )
    return QConfig(
        activation=HistogramObserver.with_args(reduce_range=False),
        weight=default_per_channel_weight_observer,
    )


_DYNAMIC_QCONFIGS = {
    "qint8": default_dynamic_qconfig,
    "float16": float16_dynamic_qconfig,
    "quint8": float_qparams_weight_only_qconfig,
    "quint4x2": float_qparams_weight_only_qconfig_4bit,
}


def get_default_dynamic_qconfig(engine: str = "x86", dtype: str = "qint8") -> QConfig:
    """The qconfig ``torch.ao.quantization.quantize_dynamic(model, dtype=dtype)`` applies
    by default.

    torch has no engine-specific dynamic qconfig (and no function of this name): its
    choice depends on ``dtype`` only -- ``qint8`` gives :data:`default_dynamic_qconfig`
    (Linear, LSTM, GRU and the cells), ``float16`` :data:`float16_dynamic_qconfig`,
    ``quint8`` / ``quint4x2`` the float-qparams weight-only qconfigs (Embedding,
    EmbeddingBag). The engine is checked so that a typo is caught; where the engine
    matters (reduce_range of the dynamic activations) the kernels decide, not the qconfig.

    Examples
    --------
    >>> get_default_dynamic_qconfig("qnnpack") is default_dynamic_qconfig
    True
    """
    _torch_backend(engine)
    name = dtype if isinstance(dtype, str) else str(dtype)
    name = name.removeprefix("torch.")
    if name not in _DYNAMIC_QCONFIGS:
        raise ValueError(
            "dtype: quantize_dynamic has default qconfigs for "
            + ", ".join(repr(d) for d in _DYNAMIC_QCONFIGS)
            + f", got {dtype!r}"
        )
    return _DYNAMIC_QCONFIGS[name]
