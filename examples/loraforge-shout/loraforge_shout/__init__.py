"""loraforge-shout: a dataset formatter and a training callback for loraforge."""

from loraforge import hookimpl
from loraforge_shout.callbacks import ShoutLog
from loraforge_shout.formatter import Shout

# The loraforge plugin API this plugin is written against. loraforge skips the
# plugin, saying why, when its own API version is outside this range.
LORAFORGE_API = ">=1.0,<2"


@hookimpl
def register_dataset_formatters(register):
    register(Shout)


@hookimpl
def register_callbacks(register):
    register(ShoutLog)
