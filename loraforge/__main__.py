"""``python -m loraforge``: the same as the ``loraforge`` command (torchrun and accelerate use it)."""

from loraforge.cli import main

raise SystemExit(main())
