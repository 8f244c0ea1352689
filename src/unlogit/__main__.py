"""``python -m unlogit`` (also what ``torchrun -m unlogit train ...`` runs)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
