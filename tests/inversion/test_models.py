from __future__ import annotations

import pytest
import torch

from unlogit.errors import ConfigError
from unlogit.inversion.losses import hinge_d_loss, hinge_g_loss
from unlogit.inversion.nets.discriminator import ProjectionDiscriminator
from unlogit.inversion.nets.generator import Generator
from unlogit.inversion.nets.layers import ConditionalBatchNorm2d


@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 3), (64, 3), (128, 3)])
def test_shapes_at_every_resolution(resolution, channels):
    attention = (resolution // 2,) if resolution >= 64 else ()
    G = Generator(10, resolution, channels, ch=2, dim_z=24, attention=attention)
    D = ProjectionDiscriminator(10, resolution, channels, ch=2, attention=attention)
    logits, z = torch.randn(3, 10), torch.randn(3, G.dim_z)
    x = G(logits, z)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.min() >= 0 and x.max() <= 1
    assert D(x, logits).shape == (3,)


def test_hierarchical_noise_rounds_dim_z():
    G = Generator(10, 32, 3, ch=2, dim_z=121)
    assert G.dim_z == 120 and G.chunk == 30  # 4 chunks: input layer + 3 blocks


def test_projection_term_responds_to_logits():
    torch.manual_seed(0)
    D = ProjectionDiscriminator(10, 32, 3, ch=2)
    x = torch.rand(4, 3, 32, 32)
    c = torch.randn(4, 10)
    assert not torch.allclose(D(x, c), D(x, c + torch.randn(4, 10)))
    # with zero condition only the realism term w1^T psi remains
    psi = D.features(x)
    assert torch.allclose(D(x, torch.zeros(4, 10)), D.linear(psi).squeeze(1), atol=1e-5)


def test_generator_output_depends_on_condition_and_noise_once_trained():
    torch.manual_seed(0)
    G = Generator(10, 32, 3, ch=2, dim_z=24).eval()  # eval: no BN batch statistics, no SN power iteration
    c, z = torch.randn(4, 10), torch.randn(4, 24)
    # at initialisation every conditional BN is plain BN (zero-initialised MLP outputs): the condition is ignored
    assert torch.allclose(G(c, z), G(torch.randn(4, 10), z))
    for m in G.modules():  # what training does to the CBN MLPs' last layers
        if isinstance(m, ConditionalBatchNorm2d):
            for mlp in (m.gain, m.bias):
                torch.nn.init.normal_(mlp[2].weight, std=0.5)
    assert not torch.allclose(G(c, z), G(torch.randn(4, 10), z))  # depends on the condition
    assert not torch.allclose(G(c, z), G(c, torch.randn(4, 24)))  # and on the noise


def test_hinge_losses():
    assert hinge_d_loss(torch.tensor([2.0]), torch.tensor([-2.0])) == 0
    assert hinge_d_loss(torch.tensor([0.0]), torch.tensor([0.0])) == 2
    assert hinge_g_loss(torch.tensor([1.0, 3.0])) == -2


def test_bad_architecture_requests():
    with pytest.raises(ConfigError, match="resolution 48"):
        Generator(10, 48)
    with pytest.raises(ConfigError, match="g_channels needs 4 multipliers"):
        Generator(10, 32, channel_mults=(4, 2))
