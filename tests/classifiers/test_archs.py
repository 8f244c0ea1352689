from __future__ import annotations

import pytest
import torch

from unlogit.classifiers.archs import ARCHS, build_arch
from unlogit.errors import ConfigError


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("channels,size", [(3, 32), (1, 28)])
def test_forward_equals_head_of_features(arch, channels, size):
    spec = {"arch": arch, "num_classes": 7, "in_channels": channels, "image_size": size}
    if arch in ("resnet18", "wrn"):
        spec.update(width=8, widen=1)
    net = build_arch(spec).eval()
    x = torch.rand(2, channels, size, size)
    logits = net(x)
    assert logits.shape == (2, 7)
    assert torch.allclose(net.head(net.features(x)), logits)


def test_resnet18_for_64px_downsamples_in_the_stem():
    net = build_arch({"arch": "resnet18", "num_classes": 200, "in_channels": 3, "image_size": 64, "width": 8})
    assert net.stem.stride == (2, 2)
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 200)


def test_bad_arch_and_depth():
    with pytest.raises(ConfigError, match="unknown classifier architecture"):
        build_arch({"arch": "vgg", "num_classes": 2, "in_channels": 3})
    with pytest.raises(ConfigError, match="6n\\+2"):
        build_arch({"arch": "resnet20", "num_classes": 2, "in_channels": 3}).__class__(depth=21)
