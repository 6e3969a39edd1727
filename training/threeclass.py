"""Cat / dog / neither from one network that keeps its ImageNet knowledge (release 2.0.0).

The graph, raw uint8 pixels in, ONE softmax over ``("cat", "dog", "neither")`` out:

    pixels -> frozen bottom (ImageNet blocks below the cut)
           -> fine-tuned top (blocks cut.. + head conv, pooled)       -> features (1280)  --+
           -> frozen ImageNet top + its 1000-class layer               -> logits (1000)    --+-> head -> p
                                                      softmax, summed into (cat, dog, other) -+

The head adds three dense layers (one per input, so that each is quantized on its own scale) and a
softmax. The ImageNet branch is the network as published: it says "not a cat or dog" for almost every
photo without pets and knows raccoons, foxes, wolves and teddy bears as such; the fine-tuned branch knows
Asirra's cats and dogs. Training (on cached views, ``training.views``):

1. cache every photo's views once: activations at the cut, the frozen top's pooled features and logits;
2. frozen phase: the head alone on the frozen features + logits of every view (seconds per epoch);
3. fine-tuning: the top's blocks and the head on the cached activations (one view per photo and epoch,
   drawn at random), the logits being fixed inputs; batch norm keeps its ImageNet statistics, AdamW with
   a cosine schedule, early stopping on validation loss with the best weights restored;
4. the parts are assembled into one Keras model and exported full-int8 (``training.build``,
   ``training.export``).

Public API:
    build_backbone(settings) -> (bottom, top, imagenet_top) where imagenet_top(act) -> [pooled, logits]
    head(features, num_classes, dropout) -> keras.Model  ([features, logits] -> probabilities)
    assemble(bottom, top, imagenet_top, head, frozen_copy) -> keras.Model  (top None: no fine-tuned branch)
    imagenet_logits_of(imagenet_top, features): ImageNet's last layer on (fine-tuned) features
    IMAGENET_CATS, IMAGENET_DOGS: ImageNet-1k class ranges of domestic cats and dogs
"""

from __future__ import annotations

import math

import keras
import numpy as np

from training.backbones import efficientnet_lite

IMAGENET_DOGS = range(151, 269)  # Chihuahua .. Mexican hairless
IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def build_backbone(backbone: str, size: int, cut: int, weights="imagenet"):
    """The frozen bottom, the top to fine-tune, and the frozen ImageNet top (``act -> [pooled, logits]``)."""
    spec = efficientnet_lite.spec(backbone)
    bottom, top = efficientnet_lite.build_split(size, cut, spec=spec, weights=weights)
    _, frozen = efficientnet_lite.build_split(size, cut, spec=spec, weights=weights)
    frozen.name = f"{spec.name}_imagenet_top"
    fc = keras.layers.Dense(1000, name="imagenet_logits")
    act = keras.Input(frozen.input.shape[1:], name="frozen_input")
    pooled = frozen(act)
    logits = fc(pooled)
    if weights is not None:
        state = efficientnet_lite.load_weights(spec, weights)
        fc.set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    imagenet_top = keras.Model(act, [pooled, logits], name=f"{spec.name}_imagenet")
    imagenet_top.trainable = False
    return bottom, top, imagenet_top


def _groups() -> np.ndarray:
    """A fixed (1000, 3) matrix: ImageNet probabilities summed into domestic cat, dog, anything else."""
    matrix = np.zeros((1000, 3), dtype=np.float32)
    matrix[:, 2] = 1
    for column, classes in ((0, IMAGENET_CATS), (1, IMAGENET_DOGS)):
        matrix[list(classes), column], matrix[list(classes), 2] = 1, 0
    return matrix


def head(
    features: int,
    num_classes: int = 3,
    dropout: float = 0.2,
    imagenet_branch: bool = True,
    hidden: int = 0,
    imagenet_neither: float = 0.0,
    logits_terms: bool = True,
):
    """``[features, imagenet_logits] -> probabilities``: one dense layer per input, summed, softmax;
    ``hidden`` > 0 puts a ReLU6 layer of that width between the features and their dense layer;
    ``imagenet_neither`` > 0 adds ``imagenet_vote`` (fixed) to the "neither" logit; ``logits_terms``
    False leaves out the trained dense layers on the ImageNet logits and groups (the vote stays)."""
    pooled = keras.Input((features,), name="features")
    logits = keras.Input((1000,), name="imagenet_logits")
    x = keras.layers.Dropout(dropout, name="head_dropout")(pooled) if dropout else pooled
    if hidden:
        x = keras.layers.Dense(hidden, name="head_hidden")(x)
        x = keras.layers.ReLU(6.0, name="head_hidden_relu")(x)
        x = keras.layers.Dropout(dropout, name="head_hidden_dropout")(x) if dropout else x
    terms = [keras.layers.Dense(num_classes, name="from_features")(x)]
    if imagenet_branch and logits_terms:
        probabilities = keras.layers.Softmax(name="imagenet_probabilities")(logits)
        grouping = keras.layers.Dense(3, use_bias=False, trainable=False, name="imagenet_groups")
        groups = grouping(probabilities)
        grouping.set_weights([_groups()])
        terms.append(keras.layers.Dense(num_classes, use_bias=False, name="from_imagenet_logits")(logits))
        terms.append(keras.layers.Dense(num_classes, use_bias=False, name="from_imagenet_groups")(groups))
    if imagenet_branch and imagenet_neither:
        terms.append(imagenet_vote(logits, imagenet_neither, num_classes))
    z = keras.layers.Add(name="head_sum")(terms) if len(terms) > 1 else terms[0]
    outputs = keras.layers.Softmax(name="probabilities")(z)
    return keras.Model([pooled, logits], outputs, name="classifier")


def copy_head(source: keras.Model, target: keras.Model) -> keras.Model:
    """``target`` (a ``head`` with other fixed layers, e.g. a vote) with ``source``'s trained weights."""
    for layer in source.layers:
        if layer.get_weights():
            target.get_layer(layer.name).set_weights(layer.get_weights())
    return target


def imagenet_vote(logits, weight: float, num_classes: int = 3):
    """``weight`` x (the highest ImageNet logit of a class that is neither a domestic cat nor a dog,
    minus the highest logit of a cat or dog class), added to the "neither" logit only.

    The plain ImageNet-1k head says "not a pet" for almost every photo without one: that is this
    margin being positive. A trained head learns "neither" from a few hundred negatives and extrapolates
    poorly to the rest of the world (people, cars, food: never seen as negatives); the vote carries
    ImageNet's 1000-class knowledge there. It leaves cat vs dog to the trained head. Fixed layers only
    (gather, max, a constant dense), all of which run in full int8.
    """
    others = [i for i in range(1000) if i not in IMAGENET_CATS and i not in IMAGENET_DOGS]
    pets = list(IMAGENET_CATS) + list(IMAGENET_DOGS)
    highest_other = keras.ops.max(keras.ops.take(logits, others, axis=1), axis=1, keepdims=True)
    highest_pet = keras.ops.max(keras.ops.take(logits, pets, axis=1), axis=1, keepdims=True)
    margin = keras.layers.Subtract(name="imagenet_not_pet_margin")([highest_other, highest_pet])
    to_neither = keras.layers.Dense(num_classes, use_bias=False, trainable=False, name="imagenet_vote")
    vote = to_neither(margin)
    to_neither.set_weights([np.array([[0.0] * (num_classes - 1) + [weight]], dtype=np.float32)])
    return vote


def assemble(bottom, top, imagenet_top, classifier, name: str, frozen_copy: bool = True) -> keras.Model:
    """Pixels in, probabilities out. ``top`` None: the head reads the frozen ImageNet top's features.
    With a ``top``, the ImageNet logits come from the frozen top (``frozen_copy``) or from ImageNet's
    last layer on the fine-tuned features (``recipe.ModelSettings.frozen_copy``)."""
    pixels = keras.Input(bottom.input.shape[1:], name="pixels")
    act = bottom(pixels)
    if top is None:
        features, logits = imagenet_top(act)
    elif frozen_copy:
        _, logits = imagenet_top(act)
        features = top(act)
    else:
        features = top(act)
        logits = imagenet_logits_of(imagenet_top, features)
    return keras.Model(pixels, classifier([features, logits]), name=name)


def imagenet_logits_of(imagenet_top, features):
    """ImageNet's own last layer (``build_backbone``'s, frozen, published weights) on ``features``: the
    vote's logits in a graph without a frozen copy of the fine-tuned blocks."""
    return imagenet_top.get_layer("imagenet_logits")(features)


class ViewBatches(keras.utils.PyDataset):
    """Cached activations + logits of training photos: a new order each epoch, one random view per photo.

    ``sets`` is a list of (act (n, v, ...), logits (n, v, 1000), targets (n, v, classes), weights (n,)).
    """

    def __init__(self, sets, batch_size: int, seed: int):
        super().__init__()
        self.sets, self.batch_size = sets, batch_size
        self.rng = np.random.default_rng(seed)
        self.index = np.concatenate(
            [np.stack([np.full(len(s[2]), k), np.arange(len(s[2]))], 1) for k, s in enumerate(sets)]
        )
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.index) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.index))
        self.views = np.concatenate([self.rng.integers(0, s[0].shape[1], len(s[2])) for s in self.sets])
        self.offsets = np.cumsum([0] + [len(s[2]) for s in self.sets])

    def __getitem__(self, position: int):
        chosen = self.order[position * self.batch_size : (position + 1) * self.batch_size]
        act, logits, targets, weights = [], [], [], []
        for k, s in enumerate(self.sets):
            rows = np.sort(self.index[chosen][self.index[chosen][:, 0] == k][:, 1])
            if not len(rows):
                continue
            views = self.views[self.offsets[k] + rows]
            act.append(np.asarray(s[0][rows, views], dtype=np.float32))  # reads only the chosen views
            logits.append(np.asarray(s[1][rows, views], dtype=np.float32))
            targets.append(s[2][rows, views])
            weights.append(s[3][rows])
        return (np.concatenate(act), np.concatenate(logits)), np.concatenate(targets), np.concatenate(weights)
