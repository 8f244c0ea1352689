"""A third-party-style model factory used by the registry tests (``module:factory@weights``)."""

import torch.nn as nn


def tiny_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
