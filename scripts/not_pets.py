"""Copy the real photos without cats or dogs that scikit-image, scikit-learn and matplotlib ship (the
``neither`` extra) into tests/fixtures/not-pets/, as small JPEGs, for the "neither" answer.

Only photos with a stated free licence are taken (see LICENSES.md there); scikit-image's ``chelsea``
is a cat and stays out. Usage: .venv/bin/python scripts/not_pets.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import skimage
import sklearn
from PIL import Image

SKIMAGE = Path(skimage.__file__).parent / "data"
SOURCES = {
    # name: (file, licence as its package states it)
    "astronaut": (SKIMAGE / "astronaut.png", "public domain (NASA)"),
    "brick": (SKIMAGE / "brick.png", "CC0 (CC0Textures)"),
    "camera": (SKIMAGE / "camera.png", "CC0 (Lav Varshney)"),
    "cell": (SKIMAGE / "cell.png", "CC0"),
    "clock": (SKIMAGE / "clock_motion.png", "public domain (Stefan van der Walt)"),
    "coffee": (SKIMAGE / "coffee.png", "CC0 (Rachel Michetti)"),
    "coins": (SKIMAGE / "coins.png", "no known copyright restrictions (Brooklyn Museum)"),
    "grass": (SKIMAGE / "grass.png", "CC0 (CC0Textures)"),
    "gravel": (SKIMAGE / "gravel.png", "CC0 (CC0Textures)"),
    "hubble_deep_field": (SKIMAGE / "hubble_deep_field.jpg", "public domain (NASA)"),
    "immunohistochemistry": (SKIMAGE / "ihc.png", "no known copyright restrictions (CMMI)"),
    "microaneurysms": (SKIMAGE / "microaneurysms.png", "CC0 (Andreas Maier)"),
    "retina": (SKIMAGE / "retina.jpg", "CC0 1.0 (Mikael Häggström)"),
    "rocket": (SKIMAGE / "rocket.jpg", "public domain (SpaceX)"),
    "text": (SKIMAGE / "text.png", "public domain"),
    "china": (Path(sklearn.__file__).parent / "datasets/images/china.jpg", "CC BY 2.0 (danielbuechele)"),
    "flower": (Path(sklearn.__file__).parent / "datasets/images/flower.jpg", "CC BY 2.0 (vultilion)"),
    "grace_hopper": (
        Path(matplotlib.get_data_path()) / "sample_data/grace_hopper.jpg",
        "public domain (U.S. Navy)",
    ),
}
MAX_SIDE = 320


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Real photos without a cat or a dog",
        "",
        'Used to measure the "neither" answer (docs/neither.md). Copied by `scripts/not_pets.py` from the',
        "packages of the `neither` extra (scikit-image 0.26.0, scikit-learn 1.9.1, matplotlib 3.11.2),",
        f"converted to RGB JPEG, longer side at most {MAX_SIDE} px.",
        "",
        "| file | source | licence |",
        "| --- | --- | --- |",
    ]
    for name, (source, licence) in SOURCES.items():
        image = Image.open(source).convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        image.save(out / f"{name}.jpg", quality=88)
        package = source.parts[source.parts.index("site-packages") + 1]
        lines.append(f"| {name}.jpg | {package}: {source.name} | {licence} |")
    (out / "LICENSES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/fixtures/not-pets"))
