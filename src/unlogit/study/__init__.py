"""Studies decide: resumable multi-stage runs (config, plan, runner), the claim and its protocol, the
findings, and the demo. What they measure lives in :mod:`unlogit.scoring`; how they are shown, in
:mod:`unlogit.report`."""
