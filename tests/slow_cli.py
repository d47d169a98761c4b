"""The ``loraforge`` command with the throwaway components available (``slow`` above all).

A tiny model trains in well under a second on a CPU; a test that signals or
kills a real run names ``slow`` in the run's callbacks so the process lasts
long enough to be caught between two steps::

    python tests/slow_cli.py run RECIPE --set 'train.callbacks=["metrics", {name="slow"}]'
"""

import sys

from throwaway_callbacks import ThrowawayCallbacks
from throwaway_components import ThrowawayComponents

from loraforge.cli import main
from loraforge.plugins import get_plugins

if __name__ == "__main__":
    get_plugins().register(ThrowawayCallbacks(), "throwaway")
    get_plugins().register(ThrowawayComponents(), "throwaway-components")
    raise SystemExit(main(sys.argv[1:]))
