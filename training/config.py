"""The settings of the 1.x training commands and their defaults, in one place.

``python -m training train``, ``transfer`` and ``neither`` take their option defaults from here, and a run
records its whole config in the model card. No TensorFlow here, so ``--help`` stays instant. (The 2.x
releases are configured by recipe files: ``training.recipe``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEDULES = ("cosine", "plateau")

#: Where every command keeps its pixel and activation caches unless told otherwise.
CACHE_DIR = "runs/cache"

#: k-means centres of the training photos' features for the "neither" check (docs/neither.md: measured
#: from 64 to 2048).
PROTOTYPES = 1024

#: The most cat/dog accuracy on val, in points, the prototype "neither" check may cost.
MAX_COST_POINTS = 0.1


@dataclass
class TrainConfig:
    model: str = "cnn"
    input_size: int | None = None  # None: the model's default
    options: dict = field(default_factory=dict)  # passed to the model builder
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    patience: int = 8  # epochs without a better validation loss before stopping
    augment: float = 1.0  # augmentation strength, 0 = off
    views: tuple[int, ...] = ()  # cached training views per photo (training.uploads); () = the photo
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TransferConfig:
    input_size: int = 224
    cut: int = 11  # blocks 11..15 + head (stage 6 and 7 of 7) are fine-tuned
    batch_size: int = 64
    head_epochs: int = 40
    head_lr: float = 1e-3
    fine_epochs: int = 8
    fine_lr: float = 1e-4
    weight_decay: float = 1e-4
    patience: int = 3
    dropout: float = 0.2
    seed: int = 0
    cache_dir: str = CACHE_DIR
