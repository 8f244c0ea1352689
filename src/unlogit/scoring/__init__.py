"""Scoring: what a reconstruction keeps, per image — :func:`~unlogit.scoring.measure.score` and its vocabulary,
metric primitives, the protocol's endpoints, the independent evaluators and the shapes factor readout."""
