"""Installed plugin distributions made for a test: a module and its entry point on a path entry.

The tests of loading plugins drive the real command line in a subprocess
with ``PYTHONPATH`` pointing at the folder these are written to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def distribution(root, name, module_source, *, module=None, entry_point=None, version="1.2.3"):
    """An installed distribution ``name`` on the path entry ``root``: a module and its entry point."""
    module = module or name.replace("-", "_")
    entry_point = entry_point or module
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[loraforge]\n{entry_point} = {module}\n")
    return root


def cli(args, path, plugins, **env):
    environment = dict(os.environ, PYTHONPATH=str(path), LORAFORGE_LOAD_PLUGINS=plugins,
                       COLUMNS="300", **env)
    return subprocess.run([sys.executable, "-m", "loraforge", *args], capture_output=True,
                          text=True, env=environment, timeout=300)


FORMATTER = """
    from loraforge.components import DatasetFormatter, Sample
    from loraforge.hookspecs import hookimpl

    class Shout(DatasetFormatter):
        name = "{component}"
        description = "Shouts."

        def format(self, row):
            return Sample.of_text(row["text"].upper())

    @hookimpl
    def register_dataset_formatters(register):
        register(Shout)
"""
