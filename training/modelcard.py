"""The model card for people: ``README.md`` beside ``model.json``, rendered from it and nothing else.

``model.json`` is what serving and the reports read; an engineer deciding whether to trust a model reads
a page. Every figure on the page comes from the JSON, so the two cannot disagree: the page is rewritten
whenever the JSON is (``training.export``, ``benchmarks/bench_model.py --card``) and by ``python -m
training card MODEL_DIR``.

Public API:
    render(card) -> markdown;  write(folder) -> the README.md path
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from catdog.classifier import BLANK_SPREAD
from training.report import HEADLINE_NAMES, percent, row_percent

README = "README.md"


def write(folder: str | Path) -> Path:
    folder = Path(folder)
    path = folder / README
    path.write_text(render(json.loads((folder / "model.json").read_text())))
    return path


def render(card: dict) -> str:
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        "Generated from `model.json` by `python -m training card` (also on every release); do not edit.",
        "",
        *_what_it_does(card),
        *_trained_on(card),
        *_terms(card),
        *_how_well(card),
        *_limitations(card),
        *_rebuild(card),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _what_it_does(card: dict) -> list[str]:
    labels, neither = card["labels"], card.get("neither") or {}
    size = card["input"]["size"]
    if neither.get("method") == "class-probability":
        rule = (
            f'Serving (`catdog`) answers "neither" when p(neither) >= {neither["threshold"]}, else the '
            "larger of p(cat) and p(dog); the confidence is the probability of the answer given. The "
            f"threshold was chosen on the {neither.get('chosen_on', 'validation photos')}."
        )
    elif neither:
        rule = (
            f'Serving (`catdog`) answers "neither" when the {neither["method"]} is below '
            f"{neither['threshold']}, else the larger of p(cat) and p(dog)."
        )
    else:
        rule = 'Serving (`catdog`) answers the larger of the probabilities: it never answers "neither".'
    if neither:
        rule += (
            " An image of one flat colour (every colour channel with a standard deviation below "
            f'{BLANK_SPREAD:g} of 255: a lens cap, a blank page) is answered "neither" with confidence 1.0, '
            "whatever the network says; its probabilities are the network's."
        )
    lines = [
        "## What it does",
        "",
        f"One photo in, the probabilities of {', '.join(f'`{label}`' for label in labels)} out, "
        f"as a {card['quantization']} TFLite model. {rule}",
        "",
        *_confidence(neither),
        f"- Input: {size} x {size} RGB pixels 0..255 as uint8; EXIF orientation and resizing are "
        "`catdog.images.model_input`'s, normalization is inside the model.",
        f"- Network: {card.get('backbone', 'see the recipe')}.",
    ]
    size_mb = card.get("file_bytes")
    lines.append(
        f"- File: `model.tflite`{f', {size_mb / 1e6:.2f} MB' if size_mb else ''}, sha256 `{card['sha256']}`."
    )
    latency = card.get("latency")
    if latency:
        ratio = latency.get("ratio_to_baseline")
        lines.append(
            f"- Latency: {latency['median_ms_per_image']} ms per photo on {latency.get('threads', 1)} thread "
            f"({latency.get('runtime', 'LiteRT')}; `{latency.get('measured_by', 'a benchmark')}`"
            + (f", {ratio} x `{latency['baseline']}` in the same run" if ratio else "")
            + ")."
        )
    return [*lines, ""]


def _confidence(neither: dict) -> list[str]:
    """A "neither" confidence is on a scale of its own: users route answers by one cut-off (the error
    analysis advises a person for those below 0.9), which means another thing for each kind of answer."""
    if neither.get("method") != "class-probability":
        return []
    threshold = neither["threshold"]
    return [
        f'**Confidence.** A "neither" answer\'s confidence is p(neither): from {threshold} to 1, and 1.0 '
        f'for a blank image. So a "neither" at the threshold is answered while the network puts '
        f"{1 - threshold:.3f} on a cat or a dog, and a cat or dog answer's confidence (the larger of p(cat) "
        f"and p(dog)) is above {(1 - threshold) / 2:.3f}: the two are not on one scale, and one cut-off "
        "(say, a person looks at answers below 0.9) means something else for each. Calibration was "
        "measured on the Asirra test only (the repository's `docs/analysis/`), whose photos all show a cat "
        'or a dog: how often a "neither" of a given confidence is right for a photo without a pet is not '
        "measured.",
        "",
    ]


def _trained_on(card: dict) -> list[str]:
    dataset = card.get("dataset") or {}
    sources = dataset.get("sources") or {}
    if not sources:
        return []
    labels = card["labels"]
    lines = [
        "## Trained on",
        "",
        "| folder | " + " | ".join(labels) + " | train / val / test fractions |",
        "| --- |" + " ---: |" * len(labels) + " --- |",
    ]
    for name, source in sources.items():
        counts = source.get("counts", {})
        fractions = " / ".join(str(f) for f in source.get("fractions", []))
        lines.append(
            f"| `{source.get('folder', name)}` | "
            + " | ".join(f"{counts.get(label, 0):,}" for label in labels)
            + f" | {fractions} |"
        )
    sizes = dataset.get("split_sizes") or {}
    if sizes:
        parts = ", ".join(
            f"{part} {counts.get('total', sum(counts.values())):,}" for part, counts in sizes.items()
        )
        lines += ["", f"Photos per part of the split: {parts}."]
    evaluation = card.get("evaluation_folders") or {}
    if evaluation:
        measured = ", ".join(f"`{name}` ({count:,} photos)" for name, count in evaluation.items())
        lines += ["", f"Measured on, never trained on: {measured}."]
    return [*lines, ""]


def _terms(card: dict) -> list[str]:
    """The training photos whose terms restrict what the model may be used for (``dataset.terms``,
    counted in the train part of the split): a user of the model inherits the question."""
    terms = (card.get("dataset") or {}).get("terms") or []
    if not terms:
        return []
    lines = [
        "## Training data terms",
        "",
        "Not every training photo may be used for every purpose; each data folder's README gives its "
        "sources and their terms. This card grants no right to them and does not settle whether a model "
        "trained on them may be used commercially. Among the training photos:",
        "",
    ]
    for term in terms:
        lines.append(
            f"- {term['training_photos']:,} {term['photos']} of `{term['folder']}`: {term['what']}; "
            f"{term['terms']}."
        )
    return [*lines, ""]


def _how_well(card: dict) -> list[str]:
    metrics = card.get("metrics") or {}
    if "per_kind" in metrics:
        return _three_class_figures(metrics)
    int8 = metrics.get("int8") or {}
    if "accuracy" not in int8:
        return []
    lines = [
        "## How well it does",
        "",
        f"On the {metrics.get('split', 'test')} split ({metrics.get('count', '?'):,} photos): "
        f"{percent(int8['accuracy'])} right (int8), "
        f"{percent((metrics.get('float') or {}).get('accuracy'))} (float).",
        "",
        "| class | precision | recall | photos |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, figures in (int8.get("per_class") or {}).items():
        lines.append(
            f"| {label} | {percent(figures['precision'])} | {percent(figures['recall'])} "
            f"| {figures['support']:,} |"
        )
    return [*lines, ""]


def _three_class_figures(metrics: dict) -> list[str]:
    served = metrics.get("served") or {}
    columns = {"int8 network": metrics.get("int8") or {}, "float network": metrics.get("float") or {}}
    if served:
        columns = {"as served": served["headline"]} | columns
    lines = ["## How well it does", "", _figures_said(served), ""]
    lines += ["| figure | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for key, name in HEADLINE_NAMES.items():
        if key in columns["int8 network"]:
            lines.append(
                f"| {name} | " + " | ".join(_cell(figures.get(key)) for figures in columns.values()) + " |"
            )
    lines += [
        "",
        f"By kind of photo ({'as served' if served else 'int8 network'}): the weak spots are the rows "
        "with the lowest right share. Which photos it gets wrong, and why: `evaluation/report.md` beside "
        "this card after `python -m training release`, and the error analysis in the repository's "
        "`docs/analysis/`.",
        "",
        '| set / kind | photos | right | pets answered "neither" |',
        "| --- | ---: | ---: | ---: |",
    ]
    for name, figures in (served.get("per_kind") or metrics["per_kind"]).items():
        # photos without a pet: right means answered "neither"
        kinds_right = ("accuracy", "non-pets_answered_neither", "look-alikes_answered_neither")
        right = next((key for key in kinds_right if key in figures), "accuracy")
        lines.append(
            f"| {name} | {figures['count']:,} | {row_percent(figures, right)} "
            f"| {row_percent(figures, 'pets_answered_neither')} |"
        )
    return [*lines, ""]


def _figures_said(served: dict) -> str:
    """What the columns count: the release's evaluation scores the network's probabilities, which
    cannot show serving's blank-image rule, so its figures are the network's, not what users get."""
    network = (
        "the network's probabilities under the served threshold rule, as the release's evaluation "
        "scores them, without the blank-image rule"
    )
    if not served:
        return f'End to end ("neither" included), int8 beside float: {network}.'
    unlike = served.get("unlike_the_network") or []
    differ = "; ".join(
        f"`{photo['path']}` ({photo['set']}, labelled {photo['label']}{', a blank image' * photo['blank']}): "
        f'"{photo["served"]}" served, "{photo["network"]}" by the network'
        for photo in unlike
    )
    return (
        'End to end ("neither" included). **As served** is what `catdog` answers (int8, every photo '
        f"through `catdog.Classifier`, measured by `{served['measured_by'].split(':')[0]}`); the network "
        "columns are "
        f"{network}. "
        + (
            f"They differ on {len(unlike)} photo{'s' if len(unlike) > 1 else ''}: {differ}."
            if unlike
            else "They answer every photo alike."
        )
    )


def _cell(value) -> str:
    return str(value) if isinstance(value, int) else percent(value)


#: Issue #12's targets for the 2.x releases, on photos nothing is chosen on: figure, bound, and whether
#: the bound is a floor (at least) or a ceiling (at most).
TARGETS = (
    ("asirra_test_accuracy", 0.993, "at least"),
    ("asirra_test_argmax_accuracy", 0.994, "at least"),
    ("other_sources_dev_pets_accuracy", 0.99, "at least"),
    ("other_sources_dev_non_pets_neither", 0.98, "at least"),
    ("other_sources_dev_look_alikes_neither", 0.90, "at least"),
    ("asirra_test_pets_answered_neither", 0.005, "at most"),
    ("other_sources_dev_pets_answered_neither", 0.005, "at most"),
)


def _limitations(card: dict) -> list[str]:
    """What the figures above do not show: the targets missed, and how little the photos behind them
    say beyond Asirra."""
    metrics = card.get("metrics") or {}
    if "per_kind" not in metrics:
        return []
    served = (metrics.get("served") or {}).get("headline")
    figures = served or metrics.get("int8") or {}
    rows = [(key, bound, side, figures[key]) for key, bound, side in TARGETS if figures.get(key) is not None]
    missed = [
        key for key, bound, side, value in rows if (value < bound if side == "at least" else value > bound)
    ]
    lines = [
        "## Limitations",
        "",
        f"Issue #12's release targets against this release's figures "
        f"({'as served' if served else 'int8 network'}): {len(missed)} of {len(rows)} are not met.",
        "",
        "| figure | target | this release | met |",
        "| --- | --- | ---: | --- |",
    ]
    for key, bound, side, value in rows:
        lines.append(
            f"| {HEADLINE_NAMES[key]} | {side} {percent(bound)} | {percent(value)} "
            f"| {'**no**' if key in missed else 'yes'} |"
        )
    return [*lines, "", *_held_out(card), ""]


def _held_out(card: dict) -> list[str]:
    dataset, per_kind = card.get("dataset") or {}, card["metrics"]["per_kind"]
    tests = {
        name: source["split_sizes"]["test"]
        for name, source in (dataset.get("sources") or {}).items()
        if sum(source.get("split_sizes", {}).get("test", {}).values())
    }
    lines = []
    if tests:
        count = sum(sum(sizes.values()) for sizes in tests.values())
        without_pets = sum(sizes.get("neither", 0) for sizes in tests.values())
        lines.append(
            f"- The held-out test split is {count:,} photos of {', '.join(f'`{name}`' for name in tests)}"
            + ("" if without_pets else ", none without a pet")
            + ": no source other than these is held out for a test. The val parts chose the threshold "
            "and the release."
        )
    for folder in card.get("evaluation_folders") or {}:
        kinds = {
            name.split("/", 1)[1]: f["count"] for name, f in per_kind.items() if name.startswith(f"{folder}/")
        }
        if not kinds:
            continue
        smallest = min(kinds, key=kinds.get)
        lines.append(
            f"- `{folder}` is measured, never trained on, but its figures were seen at every release: a "
            f"development set, not a held-out test. It holds "
            + ", ".join(f"{count:,} {kind}s" for kind, count in kinds.items())
            + f": one photo is {100 / kinds[smallest]:.1f} points of its {smallest} figure."
        )
    if "ImageNet" in card.get("backbone", ""):
        lines.append(
            "- The network starts from ImageNet weights: a photo taken from ImageNet, or from a set drawn "
            "from it (the data folders' READMEs say which), may be one it saw in pretraining, and easier "
            "for it than a user's photo."
        )
    return lines


def _rebuild(card: dict) -> list[str]:
    """The command the release was built with, as its card records it (``training.rebuild``: the recipe
    file, relative to the repository when inside it, the --out, --run-dir, any --set and the commit); a
    card that does not record it names no file, since a recipe's name need not be its version's
    (2.0.0-lite0.toml)."""
    training = card.get("training") or {}
    recipe = training.get("recipe")
    if not isinstance(recipe, dict) or "release" not in recipe:
        return []
    lines = [
        "## Rebuild",
        "",
        "The resolved recipe, every default included, is `training.recipe` in `model.json`",
    ]
    made = training.get("rebuild")
    if not isinstance(made, dict) or not made.get("recipe_file"):
        lines[-1] += "; the card does not record the recipe file it was read from."
        return [*lines, ""]
    file = made["recipe_file"]
    where = "" if Path(file).is_absolute() else " in the repository"
    if made.get("commit"):
        where += f" at commit `{made['commit']}`"
        where += " and changes not committed then" if made.get("uncommitted_changes") else ""
    command = ["python -m training release", shlex.quote(file)]
    for option, key in (("--out", "out"), ("--run-dir", "run_dir")):
        if made.get(key):
            command += [option, shlex.quote(made[key])]
    for setting in made.get("set") or ():
        command += ["--set", shlex.quote(setting)]
    lines[-1] += f"; the release was built from `{file}`{where}:"
    return [*lines, "", "```bash", " ".join(command), "```", "", REDRAW, *_draws(card, made), ""]


#: What the rebuild command gives back, under it on every page.
REDRAW = (
    "Run folders are not committed. The command trains again the fine-tuning runs that its run folder "
    "(`--run-dir`) does not hold, and new runs are another draw of the same recipe, not these bytes; "
    "only a build in the run folder that kept the release's runs reuses them and gives the same model."
)


def _draws(card: dict, made: dict) -> list[str]:
    """How far a rebuild's figures may land from these, from the other draws of the recipe measured
    since (``training.rebuild.draws``): one draw says nothing of the spread."""
    draws = made.get("draws") or []
    int8 = (card.get("metrics") or {}).get("int8") or {}
    if not draws or "val_mistakes" not in int8:
        return []
    measured = [int8, *draws]
    mistakes = sorted(draw["val_mistakes"] for draw in measured)
    tests = sorted(draw["asirra_test_accuracy"] for draw in measured)
    return [
        "",
        "Draws of the recipe measured so far (int8 network): this release; "
        + "; ".join(draw["name"] for draw in draws)
        + f". Between them, {mistakes[0]}-{mistakes[-1]} val mistakes and {percent(tests[0])} to "
        f"{percent(tests[-1])} right on the Asirra test: a rebuild with new runs is expected near that "
        f"spread ({len(measured)} draws cannot bound it), not on this release's figures.",
    ]
