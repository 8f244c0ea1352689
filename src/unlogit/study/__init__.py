"""Studies: resumable multi-stage runs, the claim stage and its protocol, ``unlogit evaluate`` and the demo."""
