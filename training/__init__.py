"""Training pipeline: data, augmentation, models, training, evaluation, int8 export (TensorFlow only here)."""

import os

# TensorFlow's C++ start-up chatter hides the progress, in the training CLI and the scripts beside it alike
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
