"""The names of the model registry (``training.models``), without TensorFlow.

``python -m training train --model`` takes one of these (argparse ``choices``), so an unknown name fails
at once, before any photo is read and before TensorFlow loads. The registry refuses to register a name
that is missing here, and tests/training/test_training_cli.py checks that the two lists agree.
"""

from __future__ import annotations

#: Every name ``training.models.build`` takes: the from-scratch CNN, the EfficientNet-Lite0 classifier
#: (``training.backbones.classifiers``) and the ``keras.applications`` backbones
#: (``training.backbones.applications.APPLICATIONS``).
MODEL_NAMES = ("cnn", "efficientnet_lite0", "inception_v3", "resnet50", "vgg16")
#: The ``keras.applications`` backbones: no ImageNet weights ship with them here (``--option weights=FILE``)
APPLICATION_NAMES = ("inception_v3", "resnet50", "vgg16")
