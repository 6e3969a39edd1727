"""Why a released 3-class model answers "neither" for photos that show a cat or a dog: the ImageNet vote,
or its trained "neither" class alone. The int8 model's own intermediate tensors are read (LiteRT keeps
them on request): the head's logits before the vote, the vote, and the ImageNet logits it came from.
A pet answered "neither" is the vote's doing when, without the vote, it would not be:

    nice -n 10 .venv/bin/python scripts/explain_neither.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0 --out docs/analysis/neither-causes-2.4.0.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.build import load_part_pixels, photos_of
from training.study import model_study
from training.threeclass import IMAGENET_CATS, IMAGENET_DOGS

#: Layer names of ``training.threeclass``, as the TFLite converter keeps them in tensor names.
TENSORS = {"head": "from_features", "vote": "imagenet_vote", "imagenet": "imagenet_logits"}


def model_parts(model: Path):
    """A function: uint8 pixels (1, size, size, 3) -> probabilities and the three tensors above."""
    from catdog.classifier import Interpreter

    interpreter = Interpreter(str(model), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    details = interpreter.get_tensor_details()
    found = {}
    for key, layer in TENSORS.items():
        # the activation of that layer: the tensor of one photo whose name ends with its last op
        (found[key],) = [
            d
            for d in details
            if layer in d["name"]
            and d["shape"][0] == 1
            and d["name"].rsplit("/", 1)[-1] in ("BiasAdd", "MatMul1")
        ]
    (pixels_in,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def dequantized(detail):
        scale, zero = detail["quantization"]
        return (interpreter.get_tensor(detail["index"]).astype(np.float32) - zero) * scale

    def run(pixels: np.ndarray) -> dict:
        interpreter.set_tensor(pixels_in["index"], pixels)
        interpreter.invoke()
        return {"probabilities": dequantized(out)[0], **{k: dequantized(d)[0] for k, d in found.items()}}

    return run


def main() -> None:
    args, recipe, prepared, card = model_study(__doc__)
    threshold, size = card["neither"]["threshold"], card["input"]["size"]
    run = model_parts(args.model / "model.tflite")
    pets = set(IMAGENET_CATS) | set(IMAGENET_DOGS)
    rows, counts = [], {}
    for part, photos in photos_of(prepared).items():
        chosen = [p for p in photos if p.label < 2]
        pixels = load_part_pixels(prepared, chosen, size, recipe.cache_dir)
        for photo, image in zip(chosen, pixels, strict=True):
            parts = run(image[np.newaxis])
            if parts["probabilities"][2] < threshold:
                continue
            without_vote = np.exp(parts["head"] - parts["head"].max())
            p_without = float(without_vote[2] / without_vote.sum())
            top = int(np.argmax(parts["imagenet"]))
            cause = "vote" if p_without < threshold else "trained class"
            counts.setdefault(part, {"vote": 0, "trained class": 0})[cause] += 1
            rows.append(
                {
                    "part": part,
                    "path": "/".join(photo.path.split("/")[-3:]),
                    "label": ["cat", "dog"][photo.label],
                    "p_neither": round(float(parts["probabilities"][2]), 4),
                    "p_neither_without_vote": round(p_without, 4),
                    "vote": round(float(parts["vote"][2]), 3),
                    "imagenet_top1": top,
                    "imagenet_top1_is_a_pet": top in pets,
                    "cause": cause,
                }
            )
    result = {
        "model": card["version"],
        "threshold": threshold,
        "pets_answered_neither": counts,
        "photos": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
