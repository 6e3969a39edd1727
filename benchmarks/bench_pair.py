"""What serving two backbones together would cost: Lite0 and Lite2 side by side in one full-int8 graph.

Releases 1.3.0 (Lite0) and 2.1.0 (Lite2) are wrong on different photos, and the mean of their answers
makes fewer mistakes than either (docs/evaluation/pairs/pairs.md). Their sum runs over the 2 x latency
budget at 260 px; this measures the pair at smaller inputs before anyone trains one. The graphs have
ImageNet weights and untrained heads, shaped as a release would be (Lite2's features and ImageNet logits
into a cat / dog / neither head, Lite0's features into a cat / dog head, the mean of the two cat / dog
splits), so their latency is a release's; their answers mean nothing. Timed by ``bench_model`` against
1.3.0 and the release, in the same run (results in benchmarks/results/pair.json, or ``--out``):

    nice -n 10 .venv/bin/python benchmarks/bench_pair.py runs/release-1.3.0 models/catdog --sizes 224 240 260
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
from bench_model import PHOTOS
from bench_model import main as bench

from catdog import model_input
from training.backbones import efficientnet_lite
from training.export import convert

RESULTS = Path(__file__).parent / "results" / "pair.json"


def pair_graph(size: int) -> keras.Model:
    pixels = keras.Input((size, size, 3), name="pixels")
    lite2 = efficientnet_lite.build(size, spec=efficientnet_lite.spec("efficientnet_lite2"), name="lite2")
    lite0 = efficientnet_lite.build(size, spec=efficientnet_lite.spec("efficientnet_lite0"), name="lite0")
    features = lite2(pixels)
    logits = keras.layers.Dense(1000, name="imagenet_logits")(features)
    three = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([features, logits]))
    two = keras.layers.Dense(2, activation="softmax")(lite0(pixels))
    split = keras.layers.Average()([keras.layers.Lambda(lambda t: t[:, :2])(three), two])
    return keras.Model(
        pixels, keras.layers.Concatenate()([split, keras.layers.Lambda(lambda t: t[:, 2:])(three)])
    )


def export_pair(size: int, folder: Path) -> Path:
    photos = sorted(PHOTOS.rglob("*.jpg"))[:16]
    calibration = np.stack([model_input(p, size) for p in photos]).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(convert(pair_graph(size), calibration))
    card = {
        "name": f"lite0+lite2 (untrained heads) {size} px",
        "version": f"pair-{size}",
        "input": {"size": size},
    }
    (folder / "model.json").write_text(json.dumps(card, indent=1) + "\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path, help="release 1.3.0's folder (the latency budget's unit)")
    parser.add_argument("release", type=Path, help="the release it would replace")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 240, 260])
    parser.add_argument(
        "--work", type=Path, default=Path("runs/pair-latency"), help="for the exported graphs"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    pairs = [export_pair(size, args.work / str(size)) for size in args.sizes]
    bench([str(args.baseline), *map(str, pairs), str(args.release), "--out", str(args.out)])


if __name__ == "__main__":
    main()
