from __future__ import annotations

import torch

from unlogit.runtime.figures import comparison_grid, eval_curve_figure, save_figure


def _records(n: int, start: float) -> list[dict]:
    return [
        {"step": 100 * (i + 1), "elapsed_s": 60.0 * (i + 1), "own_label_agreement": start + 0.05 * i} for i in range(n)
    ]


def test_eval_curve_one_run_has_a_steps_axis_and_saves(tmp_path):
    fig = eval_curve_figure({"run": _records(5, 0.2)}, target=0.8)
    (ax,) = fig.axes
    line, target = ax.get_lines()
    assert list(line.get_xdata()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(line.get_ydata()) == [100 * (0.2 + 0.05 * i) for i in range(5)]
    assert list(target.get_ydata()) == [80.0, 80.0]
    assert [a.get_xlabel() for a in ax.child_axes] == ["G steps"]
    path = save_figure(fig, tmp_path / "curve.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_eval_curve_several_runs_share_the_minutes_axis():
    final = {"step": 900, "train_minutes": 9.0, "own_label_agreement": 0.5, "final": True}
    fig = eval_curve_figure({"a": _records(3, 0.1), "b": [*_records(2, 0.3), final]})
    (ax,) = fig.axes
    assert not ax.child_axes  # no step axis: the runs reach different steps at the same minute
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert list(ax.get_lines()[1].get_xdata()) == [1.0, 2.0, 9.0]


def test_comparison_grid_columns_side_by_side():
    a, b = torch.zeros(2, 1, 4, 4), torch.ones(2, 3, 4, 4)
    grid = comparison_grid([a, b])
    assert grid.shape == (3, 2 * 4 + 3 * 2, 2 * 4 + 3 * 2)
    assert grid[:, 2:6, 2:6].max() == 0 and grid[:, 2:6, 8:12].min() == 1
