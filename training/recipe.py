"""The whole recipe of a release in one file: data folders, backbone, sizes, views, epochs, "neither".

Defaults live here, in the dataclasses, and nowhere else: a recipe file (TOML) states what it changes,
the command line only names the file (and, for experiments, ``--set section.key=value``), and the model
card records the complete, resolved recipe.

    [release]     name, version
    [[data]]      folder, fractions (train, val, test), seed   -- one table per source, trained on
    [[eval]]      folder                                       -- measured only, never trained on
    [model]       backbone, size, cut
    [views]       train_views, oversample (per source folder name: extra weight)
    [augment]     training.uploads.UploadAugment fields
    [train]       epochs, learning rates, class weights, ...
    [neither]     how the threshold is chosen
    [distill]     teacher models whose answers the head learns too
    [members]     recipes of networks served together as one graph, instead of one network

Public API:
    Recipe and its sections; load_recipe(path, overrides=()) -> Recipe; recipe_dict(recipe) -> dict;
    recipe_from_dict(recipe_dict(recipe)) == recipe
    recipe_changes(recipe, reference, sections=None) -> {"section.key": value} where they differ
    typed_options(builder, options) -> options as a model builder's signature types them, or RecipeError
    check_run_dir(recipe, run_dir): raises ValueError if the run would overwrite the recipe's teacher
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from training.backbones import specs
from training.sources import Source
from training.uploads import UploadAugment


class RecipeError(ValueError):
    """A recipe (its file or a ``--set``) that cannot be built: one line naming the setting, exit status 2,
    before TensorFlow loads, instead of a failure deep in a run."""


@dataclass(frozen=True)
class ReleaseInfo:
    name: str = "catdog-efficientnet-lite0"
    version: str = "0.0.0"


@dataclass(frozen=True)
class ModelSettings:
    backbone: str = "efficientnet_lite0"
    size: int = 224
    cut: int = 11  # blocks cut..last + head conv are fine-tuned; below the cut is frozen and cached
    imagenet_branch: bool = True  # the frozen ImageNet top's logits feed the 3-class head too
    logits_terms: bool = True  # trained dense layers on the ImageNet logits (False: only the vote)
    #: with fine-tuning, where the released graph takes the ImageNet logits (the "neither" vote) from: a
    #: frozen copy of the fine-tuned blocks, which keeps them as published but runs those blocks twice
    #: (True), or ImageNet's own last layer on the fine-tuned features (False: one network). Training
    #: reads the cached logits either way, so runs kept by one are reused by the other.
    frozen_copy: bool = True


@dataclass(frozen=True)
class ViewSettings:
    #: views of each training photo (training.uploads.view): a count n (0: the photo, 1: its mirror,
    #: 2..: upload-style draws) or the view indices, e.g. [0, 2]
    train_views: int | tuple[int, ...] = 3
    #: per source folder name: a count n (views 0..n-1) or view indices ([0, 2]: photo + one draw)
    source_views: dict = field(default_factory=dict)
    oversample: dict = field(default_factory=dict)  # per source folder name: weight of its photos


@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = 64
    head_epochs: int = 30
    head_lr: float = 1e-3
    fine_epochs: int = 3
    fine_lr: float = 1e-4
    weight_decay: float = 1e-4
    patience: int = 2
    dropout: float = 0.2
    hidden: int = 0  # > 0: a hidden ReLU6 layer of this width in the head (on the features)
    neither_weight: float = 2.0  # class weight of "neither" photos (they are few)
    seed: int = 0
    #: fine-tuning runs from the one frozen-phase head, their batches drawn with seeds seed, seed + 1, ...;
    #: the released network takes the mean of their weights (a "model soup"): one network's size and speed
    soup: int = 1
    calibration_images: int = 300


THRESHOLD_RULES = ("max-pets-neither", "fewest-val-mistakes")


@dataclass(frozen=True)
class NeitherSettings:
    #: the threshold T on p(neither) is at least the lowest that answers "neither" for at most this share
    #: of the validation photos that show a cat or dog
    max_pets_neither: float = 0.004
    #: "max-pets-neither": T is that lowest one (releases 2.0.0-2.4.0); "fewest-val-mistakes": from there
    #: upwards, the T with the fewest wrong val answers, pets and photos without pets alike
    #: (training.report.fewest_mistakes_threshold)
    threshold_rule: str = "max-pets-neither"
    #: weights of the ImageNet vote on "neither" (training.threeclass.imagenet_vote) tried on val; the
    #: best (photos without pets caught + pets right, at the threshold above) is released
    imagenet_vote_weights: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class DistillSettings:
    #: a model built by this pipeline at the same backbone, size and cut (its ``<run>/model.keras``), or
    #: "" for none; its probabilities on every cached training view become part of the head's targets
    teacher: str = ""
    #: released model folders (``model.tflite`` + ``model.json``, any backbone, the recipe's input size)
    #: that teach beside ``teacher``: each answers every training view once (cached like the features),
    #: and the targets take the teachers' mean (``training.build.mix_answers``). A two-class model such
    #: as release 1.3.0 has a say in the cat/dog split only.
    ensemble: tuple[str, ...] = ()
    #: the teachers' share of each training target; the rest is the photo's own label
    weight: float = 0.5


@dataclass(frozen=True)
class MemberSettings:
    #: recipe files (paths from the working directory, as data folders are) of networks that one graph
    #: serves together, answering the mean of their probabilities (``training.members``): each is built
    #: into ``<run>/<file stem>``, or reused from there when its network was trained from the same recipe.
    #: They need this recipe's [[data]] and one input size; [model], [views], [augment], [train] and
    #: [distill] of this recipe then have no say. Empty: the recipe trains one network.
    recipes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    release: ReleaseInfo = field(default_factory=ReleaseInfo)
    data: tuple[Source, ...] = ()
    eval: tuple[str, ...] = ()
    model: ModelSettings = field(default_factory=ModelSettings)
    views: ViewSettings = field(default_factory=ViewSettings)
    augment: UploadAugment = field(default_factory=UploadAugment)
    train: TrainSettings = field(default_factory=TrainSettings)
    neither: NeitherSettings = field(default_factory=NeitherSettings)
    distill: DistillSettings = field(default_factory=DistillSettings)
    members: MemberSettings = field(default_factory=MemberSettings)
    cache_dir: str = "runs/cache"


def _section(cls, values: dict, section: str, written: dict[str, str] | None = None):
    """``cls`` from a recipe table's ``values``, each checked against its field's type. Messages name the
    table as a recipe writes it (``[train]``, ``[[data]]``); ``written``: the ``--set`` values as typed,
    by ``section.key``, to show how text is written when JSON read a number."""
    table = f"[[{section}]]" if section in TABLE_LISTS else f"[{section}]"
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise RecipeError(f"unknown {table} settings: {sorted(unknown)} (known: {sorted(known)})")
    hints = typing.get_type_hints(cls)
    converted = {}
    for name, value in values.items():
        converted[name] = _typed(value, hints[name])
        if converted[name] is _WRONG:
            setting = f"{table} {name}" if section in TABLE_LISTS else f"{section}.{name}"
            raise RecipeError(
                f"{setting} must be {_describe(hints[name])}, got {value!r}"
                + _as_text(f"{section}.{name}", hints[name], (written or {}).get(f"{section}.{name}"))
            )
    return cls(**converted)


#: Sections written as a list of tables, one ``[[section]]`` each.
TABLE_LISTS = ("data", "eval")


def _as_text(key: str, hint, typed: str | None) -> str:
    """How to give text by ``--set``, for a setting that takes text and was typed ``typed`` there: JSON
    reads ``1.0`` as a number."""
    takes_text = hint is str or (isinstance(hint, types.UnionType) and str in hint.__args__)
    if typed is None or not takes_text:
        return ""
    return f": --set reads VALUE as JSON, so write text in quotes: --set '{key}={json.dumps(typed)}'"


_WRONG = object()


def _typed(value, hint):
    """``value`` as the dataclass field typed ``hint`` holds it (a list as a tuple, an int as a float), or
    ``_WRONG``: a recipe or ``--set`` value of the wrong type stops the build before TensorFlow loads,
    instead of failing deep in training or, for a flag, being taken as true."""
    if isinstance(hint, types.UnionType):
        return next((v for v in (_typed(value, h) for h in hint.__args__) if v is not _WRONG), _WRONG)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return _WRONG
        each = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(each) != len(value):
            return _WRONG
        items = tuple(_typed(v, h) for v, h in zip(value, each, strict=True))
        return _WRONG if _WRONG in items else items
    if hint is float and _is_number(value):  # NaN and infinity are no weight, rate or share
        return float(value) if math.isfinite(value) else _WRONG
    if hint is int and isinstance(value, bool):
        return _WRONG
    return value if isinstance(value, origin or hint) else _WRONG


def _is_number(value, kind=int | float) -> bool:
    """TOML's and JSON's ``true`` is Python's 1: never a number a recipe means."""
    return isinstance(value, kind) and not isinstance(value, bool)


def _describe(hint) -> str:
    if isinstance(hint, types.UnionType):
        return " or ".join(_describe(h) for h in hint.__args__)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list, each {_describe(args[0])}"
        return f"a list of {len(args)}, each {' / '.join(sorted({_describe(a) for a in args}))}"
    names = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text",
        dict: "a table",
        type(None): "null",
    }
    return names.get(hint, hint.__name__)


def typed_options(builder, options: dict) -> dict:
    """A model builder's keyword ``options`` as its signature types them (a list as a tuple, 0 as 0.0),
    or a ``RecipeError`` naming the first of the wrong type (``filters=32`` for a list): said in the
    builder's words, not Python's (``object of type 'int' has no len()``). Options it does not name are
    its own to refuse."""
    try:
        hints = typing.get_type_hints(builder)
    except (NameError, TypeError):  # a hint that cannot be resolved here: the builder checks its own
        return dict(options)
    typed = {}
    for name, value in options.items():
        typed[name] = _typed(value, hints[name]) if name in hints else value
        if typed[name] is _WRONG:
            raise RecipeError(f"{name} must be {_describe(hints[name])}, got {value!r}")
    return typed


def key_value(pair: str, flag: str) -> tuple[str, object]:
    """``KEY=VALUE`` from the command line: VALUE read as JSON, else kept as text (a path, a version
    such as 2.5.0); a VALUE that starts as a JSON list, table or text does (``[8`` is a mistake, not a
    name)."""
    key, sep, text = pair.partition("=")
    if not sep or not key:
        raise RecipeError(f"{flag} wants KEY=VALUE, got {pair!r}")
    try:
        return key, json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(("[", "{", '"')):
            raise RecipeError(
                f"{flag} {key}={text}: not valid JSON ({exc.msg}): a list is [8, 16], text is plain or "
                'in double quotes ("a b")'
            ) from None
        return key, text


#: The least each count or size may be (the rest of the range is the type's): checked with the types.
MINIMA = {
    "model.size": 32,  # model.cut: the backbone's own rule (Spec.check_cut), in _check_ranges
    "train.batch_size": 1,
    "train.head_epochs": 0,
    "train.fine_epochs": 0,
    "train.patience": 0,
    "train.hidden": 0,
    "train.soup": 1,  # how many fine-tuning runs to average
    "train.calibration_images": 1,
    "train.seed": 0,  # numpy's generators refuse a negative one, once the run is under way
}


def parse_recipe(document: dict, overrides=()) -> Recipe:
    document = json.loads(json.dumps(document))  # a deep copy
    written = {}  # section.key -> VALUE as typed after --set
    for override in overrides:
        key, parsed = key_value(override, "--set")
        written[key] = override.partition("=")[2]
        section, dot, name = key.partition(".")
        if not dot:
            document[section] = parsed  # cache_dir; anything else is an unknown section below
        elif section in ("data", "eval"):
            raise RecipeError(f"--set {key}: [[{section}]] folders are set in the recipe file, not by --set")
        else:
            document.setdefault(section, {})[name] = parsed
    sections = {
        "release": ReleaseInfo,
        "model": ModelSettings,
        "views": ViewSettings,
        "augment": UploadAugment,
        "train": TrainSettings,
        "neither": NeitherSettings,
        "distill": DistillSettings,
        "members": MemberSettings,
    }
    unknown = set(document) - set(sections) - {"data", "eval", "cache_dir"}
    if unknown:
        raise RecipeError(f"unknown recipe sections: {sorted(unknown)}")
    for name in sections:
        if not isinstance(document.get(name, {}), dict):
            raise RecipeError(f"[{name}] must be a table of settings, got {document[name]!r}")
    values = {name: _section(cls, document.get(name, {}), name, written) for name, cls in sections.items()}
    _check_ranges(values)
    data = tuple(_source(entry) for entry in _tables(document, "data"))
    if not data:
        raise RecipeError("a recipe needs at least one [[data]] folder")
    _check_source_names([Path(source.folder).name for source in data], values["views"])
    for part, index in (("val", 1), ("test", 2)):
        if not any(source.fractions[index] > 0 for source in data):
            raise RecipeError(f"no [[data]] folder has a {part} fraction above 0: a release needs {part}")
    eval_tables = _tables(document, "eval")
    for entry in eval_tables:
        _check_folder("eval", entry["folder"])
    evals = tuple(entry["folder"] for entry in eval_tables)
    for entry in eval_tables:
        unknown = sorted(set(entry) - {"folder"})
        if unknown:  # TOML puts a top-level setting written after [[eval]] into that table
            raise RecipeError(
                f"[[eval]] {entry['folder']}: unknown setting {unknown[0]!r}: an [[eval]] folder is measured "
                "whole and takes only folder (top-level settings such as cache_dir go before the first table)"
            )
    names = [Path(folder).name for folder in evals]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # reports, caches and view sets know an [[eval]] folder by its name
        raise RecipeError(
            f"[[eval]] folders must have different names, {twice[0]} is given twice: rename one"
        )
    cache_dir = document.get("cache_dir", "runs/cache")
    if not isinstance(cache_dir, str) or not cache_dir:
        raise RecipeError(
            f"cache_dir must be a folder name, got {cache_dir!r}"
            + _as_text("cache_dir", str, written.get("cache_dir"))
        )
    return Recipe(data=data, eval=evals, cache_dir=cache_dir, **values)


#: A release's version: it names the run folder (runs/release-VERSION), so no path of its own.
VERSION = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")
#: Settings with both ends bounded, ``(low, high, wording)``: found when the recipe is read, not when
#: the setting is first used, which for augmentation, dropout or the distillation weight is after the
#: split and the activation cache (hours on the full data).
BOUNDED = {
    "augment.min_scale": (1e-3, 1.0, "a share of the photo's area, above 0 and at most 1"),
    "augment.max_aspect": (1.0, 10.0, "at least 1"),
    "augment.jitter": (0.0, 1.0, "from 0 to 1"),
    "augment.blur_probability": (0.0, 1.0, "a probability, 0 to 1"),
    "augment.jpeg_probability": (0.0, 1.0, "a probability, 0 to 1"),
    "augment.zoom_out_probability": (0.0, 1.0, "a probability, 0 to 1"),
    "augment.occlusion_probability": (0.0, 1.0, "a probability, 0 to 1"),
    "augment.max_zoom_out": (1.0, 10.0, "at least 1"),
    "train.dropout": (0.0, 0.99, "a rate from 0 to below 1"),
    "train.head_lr": (1e-9, 1.0, "above 0"),
    "train.fine_lr": (1e-9, 1.0, "above 0"),
    "train.weight_decay": (0.0, 1.0, "from 0 to 1"),
    "distill.weight": (0.0, 1.0, "a share, 0 to 1"),
    "neither.max_pets_neither": (0.0, 1.0, "a share, 0 to 1"),
    "train.neither_weight": (1e-6, 100.0, "a class weight above 0 and at most 100"),
}
#: ``(low, high)`` pairs: ordered, and within these ends
RANGES = {
    "augment.jpeg_quality": (1, 100),
    "augment.blur_radius": (0.0, 20.0),
    "augment.occlusion_area": (0.0, 1.0),
}


def _check_ranges(values: dict) -> None:
    for key, least in MINIMA.items():
        section, name = key.split(".")
        value = getattr(values[section], name)
        if value < least:
            raise RecipeError(f"{key} must be at least {least}, got {value}")
    for key, (low, high, wording) in BOUNDED.items():
        section, name = key.split(".")
        value = getattr(values[section], name)
        if not low <= value <= high:
            raise RecipeError(f"{key} must be {wording}, got {value}")
    for key, (low, high) in RANGES.items():
        section, name = key.split(".")
        pair = getattr(values[section], name)
        if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
            raise RecipeError(
                f"{key} must be [low, high] with {low} <= low <= high <= {high}, got {list(pair)}"
            )
    view_settings = values["views"]
    views = {"views.train_views": view_settings.train_views}
    views |= {f"views.source_views.{name}": chosen for name, chosen in view_settings.source_views.items()}
    for key, chosen in views.items():
        if isinstance(chosen, bool) or not isinstance(chosen, int | list | tuple):  # "four" was iterated
            raise RecipeError(f"{key} must be a view count or a list of view indices, got {chosen!r}")
        if (isinstance(chosen, int) and chosen < 1) or (not isinstance(chosen, int) and not chosen):
            raise RecipeError(f"views: every photo needs at least one view, got {chosen!r}")
        if not isinstance(chosen, int) and any(not _is_number(v, int) or v < 0 for v in chosen):
            raise RecipeError(f"{key}: view indices are whole numbers from 0, got {list(chosen)}")
    for name, weight in view_settings.oversample.items():
        if not _is_number(weight) or not 0 < weight <= 100:
            raise RecipeError(
                f"views.oversample.{name} must be a weight above 0 and at most 100, got {weight!r}"
            )
    weights = values["neither"].imagenet_vote_weights
    if not weights or any(w < 0 for w in weights):
        raise RecipeError(
            f"neither.imagenet_vote_weights must be one weight or more, each 0 or more, got {list(weights)}"
        )
    version = values["release"].version
    if not VERSION.fullmatch(version):
        raise RecipeError(
            f"release.version must be a plain version such as 2.4.0 or 2.4.0rc1 (letters, digits and "
            f". - + _, not starting with a dot), got {version!r}: it names the run folder "
            "runs/release-VERSION"
        )
    rule = values["neither"].threshold_rule
    if rule not in THRESHOLD_RULES:
        raise RecipeError(f"neither.threshold_rule must be one of {', '.join(THRESHOLD_RULES)}, got {rule!r}")
    model = values["model"]
    try:
        backbone = specs.spec(model.backbone)
    except ValueError as exc:
        raise RecipeError(f"model.backbone: {exc}") from None
    try:  # the network's own rule (Spec.check_cut), found now, not after the split is scanned and written
        backbone.check_cut(model.cut)
    except ValueError as exc:
        last = backbone.num_blocks - 1
        raise RecipeError(f"model.{exc} ({model.backbone} has blocks 0 to {last})") from None


def _check_source_names(names: list[str], views: ViewSettings) -> None:
    """Per-source settings name a [[data]] folder by its name: a name given twice could not be told
    apart, and one no folder has would be a setting silently never used."""
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RecipeError(
            f"[[data]] folders must have different names, {twice[0]} is given twice: rename one"
        )
    for setting in ("oversample", "source_views"):
        unknown = sorted(set(getattr(views, setting)) - set(names))
        if unknown:
            raise RecipeError(
                f"views.{setting} names {unknown[0]!r}, which is no [[data]] folder's name: "
                f"one of {', '.join(names)}"
            )


def _tables(document: dict, section: str) -> list[dict]:
    """The ``[[section]]`` tables, each with a ``folder``."""
    entries = document.get(section, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "folder" in e for e in entries):
        raise RecipeError(f"each [[{section}]] is a table with a folder (note the double brackets)")
    return entries


def _check_folder(section: str, folder) -> None:
    """An ``[[eval]]`` or ``[[data]]`` folder is a path, written as text, and not empty (the working
    directory, scanned whole)."""
    if not isinstance(folder, str):
        raise RecipeError(f"[[{section}]] folder must be text, got {folder!r}")
    if not folder.strip():
        raise RecipeError(f"[[{section}]] folder must name a folder, got {folder!r}")


def _source(entry: dict) -> Source:
    source = _section(Source, entry, "data")
    _check_folder("data", source.folder)
    if any(f < 0 for f in source.fractions) or abs(sum(source.fractions) - 1) > 1e-6:
        raise RecipeError(
            f"[[data]] {source.folder}: fractions are train, val, test shares, 0 or more and summing to 1, "
            f"got {list(source.fractions)}"
        )
    if source.fractions[0] == 0:
        raise RecipeError(f"[[data]] {source.folder}: a train fraction of 0 trains on none of its photos")
    if source.seed < 0:  # as train.seed in MINIMA
        raise RecipeError(f"[[data]] {source.folder}: seed must be at least 0, got {source.seed}")
    return source


def recipe_from_dict(document: dict) -> Recipe:
    """The recipe a model card records (``recipe_dict``), with today's defaults for what it does not name."""
    return parse_recipe(document | {"eval": [{"folder": folder} for folder in document.get("eval", [])]})


def load_recipe(path, overrides=()) -> Recipe:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # Python's words name no file
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise RecipeError(f"cannot read the recipe {path}: {reason}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path} is not valid TOML: {exc}") from None
    return parse_recipe(document, overrides)


def recipe_dict(recipe: Recipe) -> dict:
    """The resolved recipe, every default included (for the model card)."""
    assert is_dataclass(recipe)
    return json.loads(json.dumps(asdict(recipe)))


def recipe_changes(recipe: Recipe, reference: Recipe, sections=None) -> dict[str, object]:
    """What ``recipe`` sets otherwise than ``reference``, names aside, as ``--set`` would say it
    (``section.key``: value), so that a candidate reads as the change it is; ``sections`` limits it."""
    mine, theirs = _settings(recipe_dict(recipe)), _settings(recipe_dict(reference))
    return {
        key: value
        for key, value in mine.items()
        if theirs.get(key) != value
        and not key.startswith("release.")
        and (sections is None or key.split(".")[0] in sections)
    }


def _settings(document: dict) -> dict[str, object]:
    flat = {}
    for section, values in document.items():
        if isinstance(values, dict):
            flat |= {f"{section}.{key}": value for key, value in values.items()}
        else:
            flat[section] = values
    return flat


def check_paths(recipe: Recipe, teachers: bool = True) -> None:
    """The folders and files a recipe names are there: found before TensorFlow loads and the photos are
    scanned, not after the split (an [[eval]] folder) or the activation cache (a teacher). Without
    ``teachers``, the photo folders alone: what measuring a release on the recipe's photos reads."""
    folders = [(f"[[data]] {s.folder}", Path(s.folder)) for s in recipe.data]
    folders += [(f"[[eval]] {folder}", Path(folder)) for folder in recipe.eval]
    for what, folder in folders:
        if not folder.is_dir():
            raise RecipeError(f"{what}: no such folder")
    resolved = [folder.resolve() for _, folder in folders]
    twice = sorted({str(f) for f in resolved if resolved.count(f) > 1})
    if twice:
        raise RecipeError(f"the folder {twice[0]} is given twice")
    if not teachers:
        return
    teacher = recipe.distill.teacher
    if teacher and not Path(teacher).is_file():
        raise RecipeError(f"distill.teacher: no trained model at {teacher}")
    for folder in recipe.distill.ensemble:
        if not (Path(folder) / "model.json").is_file() or not (Path(folder) / "model.tflite").is_file():
            raise RecipeError(f"distill.ensemble: no model.tflite + model.json in {folder}")


def check_run_dir(recipe: Recipe, run_dir) -> None:
    """A run writes ``<run_dir>/model.keras``: refuse the run folder whose model is this recipe's teacher."""
    teacher = recipe.distill.teacher
    if teacher and Path(teacher).resolve() == (Path(run_dir) / "model.keras").resolve():
        raise ValueError(f"the run folder {run_dir} holds the teacher, which this run would overwrite")
