"""The logit information ceiling's probe: held-out R^2 of what the features carry, and nothing of what they don't."""

import torch

from unlogit.analysis.ceiling import kernel_ridge_r2


def test_the_probe_recovers_a_nonlinear_function_and_not_noise():
    gen = torch.Generator().manual_seed(0)
    train_f, test_f = torch.randn(400, 5, generator=gen), torch.randn(200, 5, generator=gen)
    carried = lambda f: torch.stack([f[:, 0] ** 2, torch.sin(2 * f[:, 1])], 1)  # noqa: E731
    r2 = kernel_ridge_r2(train_f, carried(train_f), test_f, carried(test_f))
    assert r2.shape == (2,) and (r2 > 0.7).all(), r2
    noise = kernel_ridge_r2(train_f, torch.randn(400, 3, generator=gen), test_f, torch.randn(200, 3, generator=gen))
    assert (noise < 0.05).all(), noise  # held-out: no optimism from fitting the scored images


def test_the_held_out_images_choose_nothing():
    gen = torch.Generator().manual_seed(1)
    train_f, test_f = torch.randn(300, 4, generator=gen), torch.randn(100, 4, generator=gen)
    t_train, t_test = train_f[:, :1] * 2, test_f[:, :1] * 2
    a = kernel_ridge_r2(train_f, t_train, test_f, t_test)
    b = kernel_ridge_r2(train_f, t_train, test_f, -t_test)  # other held-out targets, same fit
    assert a > 0.9 and b < 0  # the same model is scored, not refitted to what it is scored on


def test_one_fit_for_every_property_group_equals_one_fit_per_group():
    """Each target column chooses its own ridge strength, so stacking the groups changes no prediction."""
    from unlogit.analysis.ceiling import _predict_groups, kernel_ridge_predict

    gen = torch.Generator().manual_seed(2)
    train_f, test_f = torch.randn(300, 6, generator=gen), torch.randn(80, 6, generator=gen)
    groups = {
        "smooth": torch.sin(train_f[:, :2]),
        "noise": torch.randn(300, 3, generator=gen),
        "square": train_f[:, 3:4] ** 2,
    }
    together = _predict_groups(train_f, groups, test_f)
    for name, targets in groups.items():
        alone = kernel_ridge_predict(train_f, targets, test_f)
        assert together[name].shape == alone.shape and torch.allclose(together[name], alone, atol=1e-10), name
