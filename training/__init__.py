"""Training pipeline: data, augmentation, models, training, evaluation, int8 export (TensorFlow only here)."""
