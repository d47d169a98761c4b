"""Write the wizard's screenshots for docs/wizard.md: ``python docs/screenshots.py``.

Each step of the wizard on :data:`loraforge.tui.pilot.EXAMPLE_RECIPE` (the tiny model,
the shipped reviews), at 100×32, exported by Textual as SVG into
``docs/images/``. Run it after a change of layout; ``tests/test_docs.py``
checks that every picture the docs show exists.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
SIZE = (100, 32)


async def shoot(step: str) -> str:
    from loraforge.testing import builtin_plugins
    from loraforge.tui.app import Wizard
    from loraforge.tui.draft import Draft
    from loraforge.tui.pilot import settle

    app = Wizard(Draft.open(Path("recipe.toml")), builtin_plugins())
    async with app.run_test(size=SIZE) as pilot:
        app.show(step)
        await settle(pilot)
        return app.export_screenshot(title=f"loraforge — {step}")


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LORAFORGE_LOAD_PLUGINS", "llama,baichuan,targets,formatters,callbacks")
    from loraforge.tui.app import STEPS
    from loraforge.tui.pilot import EXAMPLE_RECIPE

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(ROOT / "recipes" / "data" / "reviews.jsonl", folder)
        (Path(folder) / "recipe.toml").write_text(EXAMPLE_RECIPE)
        os.chdir(folder)  # relative paths: the pictures hold no machine's folders
        for step in STEPS:
            svg = asyncio.run(shoot(step.NAME))
            out = IMAGES / f"wizard-{step.NAME}.svg"
            out.write_text(svg, encoding="utf-8")
            print(out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
