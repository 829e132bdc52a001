"""Copy the browser tests' screenshots that docs/dashboard.md and docs/tracking.md show into
docs/images/dashboard, cut to the part of the page the guide talks about and reduced to a
small palette (the committed images stay a few hundred kB in all).

    make test                                   # the browser tests save build/screenshots/
    .venv/bin/python -m tests.e2e.docs_images   # then refresh the guide's copies
    .venv/bin/python -m tests.e2e.docs_images assist-review assist-nights   # only those
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from tests.e2e.conftest import REPOSITORY, SCREENSHOTS

TARGET = REPOSITORY / "docs" / "images" / "dashboard"
SHOWN = {
    "experiments": 620,
    "launch": 760,
    "run-live": 800,
    "run-weather": 1500,
    "compare": 760,
    "study-new": 900,
    "study-live": 1100,
    "models": 1250,
    "stream": 1700,
    "narrow-experiments": 800,
    "chat": 300,
    "assist-review": 1420,
    "assist-nights": 640,
    "mlflow-run": 1160,
    "mlflow-model": 760,
}
"""Screenshot name -> the height in pixels kept from its top."""
COLOURS = 64


def shrink(source: Path, target: Path, height: int) -> int:
    """Keep the top ``height`` pixels of ``source``, in ``COLOURS`` colours; the bytes written."""
    with Image.open(source) as image:
        top = image.convert("RGB").crop((0, 0, image.width, min(height, image.height)))
        top.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target.stat().st_size


def main(names: list[str]) -> None:
    """Refresh the images ``names`` (all of :data:`SHOWN` when none is given)."""
    unknown = [name for name in names if name not in SHOWN]
    if unknown:
        sys.exit(f"no image {', '.join(unknown)} in the guide; its images: {', '.join(SHOWN)}")
    chosen = {name: SHOWN[name] for name in names or SHOWN}
    missing = [name for name in chosen if not (SCREENSHOTS / f"{name}.png").exists()]
    if missing:
        sys.exit(f"no screenshot {', '.join(missing)} in {SCREENSHOTS}: run the browser tests")
    TARGET.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, height in chosen.items():
        size = shrink(SCREENSHOTS / f"{name}.png", TARGET / f"{name}.png", height)
        total += size
        print(f"{name}.png {size / 1024:.0f} kB")
    print(f"{len(chosen)} images, {total / 1024:.0f} kB in {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1:])
