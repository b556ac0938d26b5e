"""The models of the seed test file (torch.testing._internal.common_quantization),
restated here because that module needs torch's test dependencies (expecttest).
Same layers, same annotations, same forward code."""

from __future__ import annotations

import torch
from torch.ao.nn.quantized import FloatFunctional
from torch.ao.quantization import (
    DeQuantStub,
    QConfig,
    QuantStub,
    QuantWrapper,
    default_observer,
    default_per_channel_qconfig,
    default_qconfig,
    default_weight_observer,
    float_qparams_weight_only_qconfig,
    get_default_qconfig,
)


def linear(i: int, o: int) -> torch.nn.Linear:
    return torch.nn.Linear(i, o).to(dtype=torch.float)


class AnnotatedSingleLayerLinearModel(torch.nn.Module):
    def __init__(self, qengine: str = "fbgemm"):
        super().__init__()
        self.qconfig = get_default_qconfig(qengine)
        self.fc1 = QuantWrapper(linear(5, 5))

    def forward(self, x):
        return self.fc1(x)


class SingleLayerLinearDynamicModel(torch.nn.Module):
    def __init__(self, qengine: str = "fbgemm"):
        super().__init__()
        self.qconfig = get_default_qconfig(qengine)
        self.fc1 = linear(5, 5)

    def forward(self, x):
        return self.fc1(x)


class TwoLayerLinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = linear(5, 8)
        self.fc2 = linear(8, 5)

    def forward(self, x):
        return self.fc2(self.fc1(x))


class AnnotatedTwoLayerLinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = linear(5, 8)
        self.fc2 = QuantWrapper(linear(8, 5))
        self.fc2.qconfig = get_default_qconfig("fbgemm")

    def forward(self, x):
        return self.fc2(self.fc1(x))


class LinearReluModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = linear(5, 5)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.fc(x))


class LinearReluLinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = linear(5, 8)
        self.relu = torch.nn.ReLU()
        self.fc2 = linear(8, 5)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class NestedModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sub1 = LinearReluModel()
        self.sub2 = TwoLayerLinearModel()
        self.fc3 = linear(5, 5)

    def forward(self, x):
        return self.fc3(self.sub2(self.sub1(x)))


class AnnotatedNestedModel(NestedModel):
    def __init__(self, qengine: str):
        super().__init__()
        self.fc3 = QuantWrapper(linear(5, 5))
        self.fc3.qconfig = default_qconfig
        self.sub2.fc1 = QuantWrapper(self.sub2.fc1)
        self.sub2.fc1.qconfig = (
            default_per_channel_qconfig if qengine == "fbgemm" else default_qconfig
        )


class AnnotatedSubNestedModel(NestedModel):
    def __init__(self):
        super().__init__()
        self.sub2 = QuantWrapper(TwoLayerLinearModel())
        self.fc3 = QuantWrapper(linear(5, 5))
        self.fc3.qconfig = default_qconfig
        self.sub2.qconfig = default_qconfig


class AnnotatedCustomConfigNestedModel(NestedModel):
    def __init__(self):
        super().__init__()
        self.fc3 = QuantWrapper(linear(5, 5))
        self.fc3.qconfig = default_qconfig
        self.sub2.qconfig = default_qconfig
        custom = {"dtype": torch.quint8, "qscheme": torch.per_tensor_affine}
        self.sub2.fc1.qconfig = QConfig(
            activation=default_observer.with_args(**custom), weight=default_weight_observer
        )
        self.sub2.fc1 = QuantWrapper(self.sub2.fc1)
        self.sub2.fc2 = QuantWrapper(self.sub2.fc2)


class InnerModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = linear(5, 8)
        self.relu1 = torch.nn.ReLU()
        self.fc2 = linear(8, 5)
        self.relu2 = torch.nn.ReLU()

    def forward(self, x):
        return self.relu2(self.fc2(self.relu1(self.fc1(x))))


class AnnotatedSkipQuantModel(torch.nn.Module):
    def __init__(self, qengine: str):
        super().__init__()
        self.qconfig = get_default_qconfig(qengine)
        self.sub = QuantWrapper(InnerModule())
        self.fc = linear(5, 5)
        self.fc.qconfig = None

    def forward(self, x):
        return self.fc(self.sub(x))


class QuantStubModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qconfig = get_default_qconfig("qnnpack")
        self.quant = QuantStub()
        self.dequant = DeQuantStub()
        self.fc = linear(5, 5)

    def forward(self, x):
        return self.dequant(self.fc(self.quant(x)))


class ModelWithFunctionals(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mycat = FloatFunctional()
        self.myadd = FloatFunctional()
        self.myadd_relu = FloatFunctional()
        self.mymatmul = FloatFunctional()

    def forward(self, x):
        y = self.mycat.cat([x, x, x])
        z = self.myadd.add(y, y)
        w = self.myadd_relu.add_relu(z, z)
        return self.mymatmul.matmul(w, w.T)


class ResNetBase(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 3, (1, 1), bias=False)
        self.bn1 = torch.nn.BatchNorm2d(3)
        self.relu1 = torch.nn.ReLU()
        self.relu2 = torch.nn.ReLU()
        self.downsample = torch.nn.Identity()
        self.myop = FloatFunctional()
        self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc = torch.nn.Linear(3, 1)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.myop.add(out, self.downsample(x)))
        return self.fc(torch.flatten(self.avgpool(out), 1))

    def fuse_model(self):
        torch.ao.quantization.fuse_modules(self, [["conv1", "bn1", "relu1"]], inplace=True)


class NormalizationTestModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.fc1 = linear(5, 8)
        self.layer_norm = torch.nn.LayerNorm(8)
        self.group_norm = torch.nn.GroupNorm(2, 8)
        self.instance_norm1d = torch.nn.InstanceNorm1d(8)
        self.instance_norm2d = torch.nn.InstanceNorm2d(8)
        self.instance_norm3d = torch.nn.InstanceNorm3d(8)

    def forward(self, x):
        x = self.layer_norm(self.fc1(self.quant(x)))
        x = self.instance_norm1d(self.group_norm(x.unsqueeze(-1).repeat(1, 1, 3)))
        x = self.instance_norm2d(x.unsqueeze(-1))
        return self.instance_norm3d(x.unsqueeze(-1))


class ActivationsTestModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qconfig = get_default_qconfig("fbgemm")
        self.quant = QuantStub()
        self.hardswish = torch.nn.Hardswish().to(dtype=torch.float)
        self.elu = torch.nn.ELU().to(dtype=torch.float)
        self.dequant = DeQuantStub()

    def forward(self, x):
        return self.dequant(self.elu(self.hardswish(self.quant(x))))


class RNNDynamicModel(torch.nn.Module):
    def __init__(self, mod_type: str):
        super().__init__()
        self.mod = getattr(torch.nn, mod_type)(2, 2).to(dtype=torch.float)

    def forward(self, x):
        return self.mod(x)


class RNNCellDynamicModel(torch.nn.Module):
    def __init__(self, mod_type: str):
        super().__init__()
        if mod_type.startswith("RNN"):
            self.mod = torch.nn.RNNCell(2, 2, nonlinearity=mod_type[3:].lower())
        else:
            self.mod = getattr(torch.nn, mod_type)(2, 2)

    def forward(self, x):
        return self.mod(x)


class EmbeddingModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(num_embeddings=10, embedding_dim=12)

    def forward(self, indices):
        return self.emb(indices)


class EmbeddingBagModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(
            num_embeddings=10, embedding_dim=12, include_last_offset=True, mode="sum"
        )

    def forward(self, indices, offsets, per_sample_weights):
        return self.emb(indices, offsets, per_sample_weights)


class EmbeddingWithStaticLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(num_embeddings=10, embedding_dim=12)
        self.fc = torch.nn.Linear(4, 2)
        self.emb.qconfig = float_qparams_weight_only_qconfig
        self.qconfig = default_qconfig
        self.quant = QuantStub()
        self.dequant = DeQuantStub()

    def forward(self, indices, offsets, linear_in):
        emb = self.emb(indices, offsets)
        fc = self.dequant(self.fc(self.quant(linear_in)))
        return torch.cat([fc, emb], dim=1)


class EmbeddingBagWithLinear(torch.nn.Module):
    def __init__(self, with_weights: bool):
        super().__init__()
        self.with_weights = with_weights
        self.emb = torch.nn.EmbeddingBag(
            num_embeddings=10, embedding_dim=12, include_last_offset=True, mode="sum"
        )
        self.fc = torch.nn.Linear(5, 5)

    def forward(self, indices, offsets, *rest):
        if self.with_weights:
            per_sample_weights, linear_in = rest
            return self.emb(indices, offsets, per_sample_weights), self.fc(linear_in)
        (linear_in,) = rest
        return self.emb(indices, offsets), self.fc(linear_in)


class EmbeddingWithLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(num_embeddings=10, embedding_dim=12)
        self.fc = torch.nn.Linear(5, 5)

    def forward(self, indices, linear_in):
        return self.emb(indices), self.fc(linear_in)


class RNNWithHidden(torch.nn.Module):
    """A quantized RNN module called with an initial state."""

    def __init__(self, mod: torch.nn.Module):
        super().__init__()
        self.mod = mod

    def forward(self, x, hidden):
        return self.mod(x, hidden)
