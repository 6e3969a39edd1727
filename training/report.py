"""The evaluation report: labelled folders at once, per source and per breed/class, models side by side.

Every photo is a row: which set it is in (``asirra-test``, ``breeds-dev-val``, ...), its source folder,
its breed or class (from the file name, ``training.sources.breed_of``), its *kind* (``cat``, ``dog``,
``non-pet``, ``look-alike``) and its label. A model's end-to-end answers (with "neither") are compared
with the labels:

- cat and dog photos: accuracy of the answer, accuracy of the cat/dog argmax alone, share answered
  "neither";
- photos without pets: share answered "neither", apart for look-alikes (``neither-hard/`` folders,
  ``neither_kind=lookalike`` in a ``manifest.csv``) and the rest (non-pets);
- a 3 x 3 confusion table per set, and the worst errors (most confident wrong answers) as a CSV and,
  for looking at only, a gallery PNG (it shows the photos, so it stays out of the repository).

The answer rule is the serving contract of a 3-class model: "neither" when p(neither) >= T, else the
larger of p(cat) and p(dog); the confidence is the probability of the answer given. Two-class models
with a "neither" check (release 1.3.0) come in as answers + confidences already.

Public API:
    Photo(path, set, source, breed, kind, label)
    answer(probabilities, threshold) -> (answers, confidences)
    choose_threshold(p_neither, max_share) -> T
    fewest_mistakes_threshold(probabilities, labels, max_share) -> T (choose_threshold's T or above)
    val_threshold(probabilities, labels, neither) -> T by a recipe's ``[neither]`` rule
    summarize(photos, answers, confidences, argmax) -> report dict (per set, source, breed, kind)
    headline(report) -> the issue's figures
    pairs(photos, splits) -> rows: every two models served together (the mean of their cat/dog splits)
    val_mistakes(kinds) -> wrong val answers per kind of photo, from a report's (or card's) kind figures
    candidates_table(cards, reference, reference_name) -> markdown rows: each card's change, val, test, cost
    write_report(reports, errors, out_dir, pair_rows) -> paths   (JSON, markdown tables, worst errors CSV)
    save_gallery(photos, answers, confidences, path, limit=30) -> Path
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

from training import figures
from training.members import SERVED_SECTIONS
from training.recipe import recipe_changes, recipe_from_dict

ANSWERS = ("cat", "dog", "neither")
PET_KINDS = ("cat", "dog")

#: Places a share is stored to: shown as a percentage to two places, it then rounds as its counts do for
#: any set under 100,000 photos. At 6 places it was rounded twice: 518 of 524 (98.85496 %) was stored
#: 0.98855 and shown 98.86 %.
SHARE_PLACES = 9

#: The count each share of a report row is a share of, so that a share stored to fewer places (the
#: committed reports have 6) is shown from its counts.
SHARE_OF = {
    "accuracy": "pets",
    "argmax_accuracy": "pets",
    "pets_answered_neither": "pets",
    "non-pets_answered_neither": "non-pets",
    "look-alikes_answered_neither": "look-alikes",
}


@dataclass(frozen=True)
class Photo:
    path: str  # absolute or relative to the data root
    set: str
    source: str
    breed: str
    kind: str  # cat, dog, non-pet, look-alike
    label: int  # index into ANSWERS


def answer(probabilities: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The serving rule on the network's probabilities: neither when p(neither) >= threshold, else argmax
    of cat/dog. Serving also answers "neither" for an image of one flat colour, which probabilities cannot
    show (``catdog.classifier.is_blank``): of the data sets' photos, the blank ``cat/835.jpg`` alone."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    answers = np.where(probabilities[:, 2] >= threshold, 2, np.argmax(probabilities[:, :2], axis=1)).astype(
        np.int64
    )
    return answers, probabilities[np.arange(len(answers)), answers]


def choose_threshold(p_neither: np.ndarray, max_share: float) -> float:
    """The lowest T at which at most ``max_share`` of these cat/dog photos get p(neither) >= T."""
    values = np.sort(np.asarray(p_neither, dtype=np.float64))[::-1]
    allowed = int(np.floor(max_share * len(values)))
    if allowed >= len(values):
        return 0.0
    # p >= T must hold for at most ``allowed`` photos: T just above the (allowed+1)-th largest value
    above = values[allowed]
    higher = values[values > above]
    return float((above + higher.min()) / 2 if len(higher) else np.nextafter(above, 2.0))


def fewest_mistakes_threshold(probabilities: np.ndarray, labels: np.ndarray, max_share: float) -> float:
    """From ``choose_threshold``'s T upwards, the lowest T with the fewest wrong answers on these photos
    (labels 0 cat, 1 dog, 2 neither). ``choose_threshold`` spends the whole budget of cats and dogs
    answered "neither", even where the photos without pets it catches are fewer than the pets it loses;
    this raises T while that trade loses more than it wins. Without photos that show no pet nothing
    measures what raising T costs, and the T is ``choose_threshold``'s."""
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels)
    lowest = choose_threshold(probabilities[labels < 2, 2], max_share)
    if (labels < 2).all():
        return lowest
    values = np.unique(probabilities[probabilities[:, 2] >= lowest, 2])
    candidates = [lowest, *((values[:-1] + values[1:]) / 2), *np.nextafter(values[-1:], 2.0)]
    wrong = [int(np.sum(answer(probabilities, t)[0] != labels)) for t in candidates]
    return float(candidates[int(np.argmin(wrong))])


def val_threshold(probabilities: np.ndarray, labels: np.ndarray, neither) -> float:
    """The threshold a release is served with, from its val photos, by ``neither`` (a recipe's
    ``NeitherSettings``): ``threshold_rule`` and ``max_pets_neither``."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    if neither.threshold_rule == "fewest-val-mistakes":
        return fewest_mistakes_threshold(probabilities, labels, neither.max_pets_neither)
    return choose_threshold(probabilities[labels < 2, 2], neither.max_pets_neither)


def _share(chosen: np.ndarray) -> float:
    return round(float(np.mean(chosen)), SHARE_PLACES)


def _rates(photos: list[Photo], answers: np.ndarray, argmax: np.ndarray | None) -> dict:
    labels = np.array([p.label for p in photos])
    kinds = np.array([p.kind for p in photos])
    pets = np.isin(kinds, PET_KINDS)
    row: dict = {"count": len(photos)}
    if pets.any():
        row["pets"] = int(pets.sum())
        row["accuracy"] = _share(answers[pets] == labels[pets])
        if argmax is not None:
            row["argmax_accuracy"] = _share(argmax[pets] == labels[pets])
        row["pets_answered_neither"] = _share(answers[pets] == 2)
    for kind in ("non-pet", "look-alike"):
        chosen = kinds == kind
        if chosen.any():
            row[f"{kind}s"] = int(chosen.sum())
            row[f"{kind}s_answered_neither"] = _share(answers[chosen] == 2)
    return row


def summarize(photos: list[Photo], answers, confidences, argmax=None) -> dict:
    """Per set, per (set, source), per (set, breed) and per kind; 3 x 3 confusion per set."""
    answers, confidences = np.asarray(answers), np.asarray(confidences)
    argmax = None if argmax is None else np.asarray(argmax)
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, photo in enumerate(photos):
        groups["set"][photo.set].append(index)
        groups["source"][f"{photo.set}/{photo.source}"].append(index)
        groups["breed"][f"{photo.set}/{photo.kind}/{photo.breed}"].append(index)
        groups["kind"][f"{photo.set}/{photo.kind}"].append(index)
    report: dict = {}
    for level, members in groups.items():
        report[level] = {
            name: _rates([photos[i] for i in rows], answers[rows], None if argmax is None else argmax[rows])
            for name, rows in sorted(members.items())
        }
    report["confusion"] = {}
    for name, rows in sorted(groups["set"].items()):
        matrix = np.zeros((3, 3), dtype=np.int64)
        np.add.at(matrix, (np.array([photos[i].label for i in rows]), answers[rows]), 1)
        report["confusion"][name] = {"rows_true_columns_answered": list(ANSWERS), "matrix": matrix.tolist()}
    return report


#: The Asirra folder that release 1.3.0 was not trained on: its photos in the test split are the fair
#: comparison of 1.3.0 with the 2.x releases (1.3.0 trained on part of the 2.x test split's petimages-180).
UNSEEN_BY_1_3_0 = "petimages-180-more"


def headline(report: dict) -> dict:
    """The figures issue #12 asks for, from a ``summarize`` report (sets that are missing are left out)."""
    sets, kinds = report["set"], report["kind"]
    out = {}
    if any(name.endswith("-val") for name in sets):  # what releases are chosen on, beside what they are
        out["val_mistakes"] = val_mistakes(kinds)["total"]  # measured on
    if "asirra-val" in sets:
        out["asirra_val_accuracy"] = sets["asirra-val"]["accuracy"]
    if "asirra-test" in sets:
        test = sets["asirra-test"]
        out |= {
            "asirra_test_accuracy": test["accuracy"],
            "asirra_test_argmax_accuracy": test.get("argmax_accuracy"),
            "asirra_test_pets_answered_neither": test["pets_answered_neither"],
        }
    unseen = report.get("source", {}).get(f"asirra-test/{UNSEEN_BY_1_3_0}")
    if unseen:
        out["asirra_test_unseen_by_1_3_0_accuracy"] = unseen["accuracy"]
    for name in ("other-sources-dev", "breeds-dev-val"):
        if name not in sets:
            continue
        s = sets[name]
        key = name.replace("-", "_")
        out[f"{key}_pets_accuracy"] = s.get("accuracy")
        out[f"{key}_pets_answered_neither"] = s.get("pets_answered_neither")
        out[f"{key}_non_pets_neither"] = s.get("non-pets_answered_neither")
        out[f"{key}_look_alikes_neither"] = s.get("look-alikes_answered_neither")
        for kind in PET_KINDS:
            if f"{name}/{kind}" in kinds:
                out[f"{key}_{kind}s_accuracy"] = kinds[f"{name}/{kind}"]["accuracy"]
    return out


HEADLINE_NAMES = {
    "val_mistakes": "val mistakes, end to end (all val parts: what releases are chosen on)",
    "asirra_val_accuracy": "Asirra val: right (end to end)",
    "asirra_test_accuracy": "Asirra held-out test: right (end to end)",
    "asirra_test_argmax_accuracy": "Asirra held-out test: cat/dog argmax right",
    "asirra_test_unseen_by_1_3_0_accuracy": f"Asirra held-out test, its {UNSEEN_BY_1_3_0} part "
    "(never in 1.3.0's training set): right",
    "asirra_test_pets_answered_neither": "Asirra held-out test: pets answered neither",
    "other_sources_dev_pets_accuracy": "other-sources-dev cats + dogs: right",
    "other_sources_dev_pets_answered_neither": "other-sources-dev cats + dogs: answered neither",
    "other_sources_dev_non_pets_neither": "other-sources-dev non-pets: neither",
    "other_sources_dev_look_alikes_neither": "other-sources-dev look-alikes: neither",
    "breeds_dev_val_pets_accuracy": "breeds-dev val cats + dogs: right",
    "breeds_dev_val_pets_answered_neither": "breeds-dev val cats + dogs: answered neither",
    "breeds_dev_val_non_pets_neither": "breeds-dev val non-pets: neither",
    "breeds_dev_val_look_alikes_neither": "breeds-dev val look-alikes: neither",
}


def headline_table(reports: dict[str, dict]) -> list[str]:
    """The issue's figures, one column per model."""
    figures = {m: headline(r) for m, r in reports.items()}
    lines = ["| figure | " + " | ".join(figures) + " |", "| --- |" + " ---: |" * len(figures)]
    for key, name in HEADLINE_NAMES.items():
        values = [figures[m].get(key) for m in figures]
        if all(v is None for v in values):
            continue
        cells = [str(v) if isinstance(v, int) else percent(v) for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def cards_table(cards: dict[str, dict]) -> list[str]:
    """Per model: backbone, input, file size, latency (ratio to the bench's baseline), int8 vs float."""
    lines = ["| model | backbone | input | file | latency, 1 thread | int8 - float (Asirra test) |"]
    lines.append("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, card in cards.items():
        latency = card.get("latency", {})
        ratio = latency.get("ratio_to_baseline")
        metrics = card.get("metrics", {})
        drop = metrics.get("int8_minus_float_points", {}).get("asirra_test_accuracy")
        if drop is None:  # cards before 2.0.0: on their own test split
            drop = metrics.get("int8_vs_float_accuracy_points")
        lines.append(
            f"| {name} | {card.get('backbone', '').split(',')[0]} | {card['input']['size']} px "
            f"| {card.get('file_bytes', 0) / 1e6:.2f} MB "
            f"| {latency.get('median_ms_per_image', '')} ms{f' ({ratio} x baseline)' if ratio else ''} "
            f"| {'' if drop is None else f'{drop:+.2f} points'} |"
        )
    return lines


def val_mistakes(kinds: dict) -> dict[str, int]:
    """Wrong val answers, end to end, per kind of photo: what a release is chosen on. ``kinds`` is a
    report's ``kind`` figures (a card's ``metrics.per_kind``): every source's val part counts, whatever
    its folder is called; Asirra's pets apart from the other sources' pets."""
    rates = {"non-pet": "non-pets_answered_neither", "look-alike": "look-alikes_answered_neither"}
    counts = dict.fromkeys(("asirra_pets", "other_pets", "non_pets", "look_alikes"), 0)
    for name, rates_of_kind in kinds.items():
        part, _, kind = name.rpartition("/")
        if not part.endswith("-val") or kind not in (*PET_KINDS, *rates):
            continue
        if kind in PET_KINDS:
            key = "asirra_pets" if part == "asirra-val" else "other_pets"
        else:
            key = kind.replace("-", "_") + "s"
        right = rates_of_kind.get(rates.get(kind, "accuracy"), 1)
        counts[key] += round(rates_of_kind.get("count", 0) * (1 - right))
    return {"total": sum(counts.values())} | counts


def candidates_table(cards: dict[str, dict], reference, reference_name: str) -> list[str]:
    """One row per model card: what its recipe changes from ``reference`` (a Recipe), its int8 val
    mistakes (what it was chosen on), its Asirra test figures (measured after) and what it costs."""
    lines = [
        f"| model | changed from {reference_name} | val mistakes: all (Asirra / other pets / non-pets / "
        "look-alikes) | Asirra test | argmax | file | latency |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, card in cards.items():
        recipe = recipe_from_dict(card["training"]["recipe"])
        changes = recipe_changes(recipe, reference, SERVED_SECTIONS if recipe.members.recipes else None)
        changed = ", ".join(f"`{key} = {json.dumps(value)}`" for key, value in changes.items()) or "nothing"
        wrong = val_mistakes(card["metrics"]["per_kind"])
        int8, ratio = card["metrics"]["int8"], card.get("latency", {}).get("ratio_to_baseline")
        size = card.get("file_bytes")
        # a figure the card lacks (no Asirra test in its recipe's data) is an empty cell, as in headline_table
        test, argmax = (percent(int8.get(f"asirra_test_{key}")) for key in ("accuracy", "argmax_accuracy"))
        lines.append(
            f"| {name} | {changed} | **{wrong['total']}** ({wrong['asirra_pets']} / {wrong['other_pets']} / "
            f"{wrong['non_pets']} / {wrong['look_alikes']}) | {test} | {argmax} "
            f"| {'' if size is None else f'{size / 1e6:.2f} MB'} | {'' if ratio is None else f'{ratio} x'} |"
        )
    return lines


def percent(share: float | None, of: int | None = None) -> str:
    """One format for every share in the reports and the cards, so a figure reads the same on each page.

    Rounded half up from the share's decimal digits (100 x 0.98915 is 98.91499999999999 in binary), or,
    given the count ``of`` photos it is a share of, from the count of photos it stands for: a share
    stored to 6 places gives that count back exactly, where rounding its digits again need not."""
    if share is None:
        return ""
    value = Decimal(round(float(share) * of)) * 100 / of if of else Decimal(str(float(share))) * 100
    return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP)} %"


def row_percent(row: dict, key: str) -> str:
    """``percent`` of a report row's share ``key``, from the row's count of the photos it is a share of."""
    return percent(row.get(key), row.get(SHARE_OF[key]))


def has_markers(path, name: str) -> bool:
    """Whether ``path`` has a ``<!-- name -->`` ... ``<!-- /name -->`` block for ``fill_markers``; a
    ``ValueError`` naming the file if its closing marker comes only before the opening one (a block
    pasted the wrong way round: Python's unpacking words, once other docs were rewritten)."""
    text = Path(path).read_text()
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start not in text or end not in text:
        return False
    if end not in text.split(start, 1)[1]:
        raise ValueError(f"{path}: {end} comes before {start}, not after it")
    return True


def fill_markers(path, name: str, lines: list[str]) -> bool:
    """Replace the text between ``<!-- name -->`` and ``<!-- /name -->`` in ``path``; False if absent."""
    path = Path(path)
    if not has_markers(path, name):
        return False
    text = path.read_text()
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    path.write_text(before + start + "\n" + "\n".join(lines) + "\n" + end + after)
    return True


def variants_table(results: dict[str, dict]) -> list[str]:
    """Training variants (``training.build.ablations``) as a table of their headline figures."""
    keys = [k for k in HEADLINE_NAMES if any(r["headline"].get(k) is not None for r in results.values())]
    lines = ["| variant | val loss | " + " | ".join(HEADLINE_NAMES[k] for k in keys) + " |"]
    lines.append("| --- | ---: |" + " ---: |" * len(keys))
    for name, result in results.items():
        loss = result.get("best_val_loss")
        cells = [percent(result["headline"].get(k)) for k in keys]
        lines.append(f"| {name} | {'' if loss is None else loss} | " + " | ".join(cells) + " |")
    return lines


def worst_errors(photos, answers, confidences, limit: int = 30) -> list[dict]:
    wrong = [i for i, p in enumerate(photos) if answers[i] != p.label]
    wrong.sort(key=lambda i: -confidences[i])
    return [
        {
            "set": photos[i].set,
            "path": photos[i].path,
            "breed": photos[i].breed,
            "label": ANSWERS[photos[i].label],
            "answer": ANSWERS[answers[i]],
            "confidence": round(float(confidences[i]), 4),
        }
        for i in wrong[:limit]
    ]


def _table(report: dict, level: str, models: list[str], keys: list[tuple[str, str]]) -> list[str]:
    names = sorted(set().union(*(report[m][level] for m in models)))
    header = (
        "| " + level + " | n | " + " | ".join(f"{label} ({m})" for label, _ in keys for m in models) + " |"
    )
    lines = [header, "|" + " --- |" + " ---: |" * (1 + len(keys) * len(models))]
    for name in names:
        first = next(report[m][level][name] for m in models if name in report[m][level])
        cells = []
        for _, key in keys:
            for m in models:
                cells.append(row_percent(report[m][level].get(name, {}), key))
        lines.append(f"| {name} | {first['count']} | " + " | ".join(cells) + " |")
    return lines


def pairs(photos: list[Photo], splits: dict[str, np.ndarray]) -> list[dict]:
    """Two models served together, for every pair: per set, and per source of a set with several, the
    cat and dog photos each gets wrong by its cat/dog argmax, those both get wrong, and those the mean
    of the two cat/dog splits gets wrong. Models that are wrong on different photos gain from it;
    models that share their mistakes do not (docs/transfer.md)."""
    labels = np.array([p.label for p in photos])
    pets = np.isin([p.kind for p in photos], PET_KINDS)
    sets = np.array([p.set for p in photos])
    sources = np.array([f"{p.set}/{p.source}" for p in photos])
    groups = [("set", name, sets == name) for name in sorted(set(sets[pets]))]
    for name in sorted(set(sets[pets])):
        inside = sorted(set(sources[pets & (sets == name)]))
        groups += [("source", source, sources == source) for source in inside if len(inside) > 1]
    rows = []
    for first, second in itertools.combinations(splits, 2):
        wrong = {
            "first_wrong": np.argmax(splits[first], axis=1) != labels,
            "second_wrong": np.argmax(splits[second], axis=1) != labels,
            "mean_wrong": np.argmax(splits[first] + splits[second], axis=1) != labels,
        }
        wrong["both_wrong"] = wrong["first_wrong"] & wrong["second_wrong"]
        for level, name, members in groups:
            chosen = pets & members
            counts = {key: int(values[chosen].sum()) for key, values in wrong.items()}
            rows.append(
                {"models": [first, second], "level": level, "name": name, "pets": int(chosen.sum())} | counts
            )
    return rows


def _pairs_table(rows: list[dict]) -> list[str]:
    lines = [
        "| models | set / source | cats + dogs | first wrong | second wrong | both wrong | mean wrong |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {' + '.join(r['models'])} | {r['name']} | {r['pets']} | {r['first_wrong']} | "
            f"{r['second_wrong']} | {r['both_wrong']} | {r['mean_wrong']} |"
        )
    return lines


def write_report(
    reports: dict[str, dict], errors: dict[str, list[dict]], out_dir, pair_rows=()
) -> list[Path]:
    """``reports``: model name -> ``summarize`` report; ``pair_rows``: from ``pairs``. Writes report.json,
    report.md, worst-errors-*.csv and, with pair rows, pairs.md and pairs.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for earlier in [*out.glob("pairs.*"), *map(out.joinpath, _written_errors(out))]:  # an earlier report's
        earlier.unlink(missing_ok=True)  # files alone: other files in the folder stay
    models = list(reports)
    (out / "report.json").write_text(
        json.dumps({m: r | {"headline": headline(r)} for m, r in reports.items()}, indent=1) + "\n"
    )
    (out / "report.md").write_text("\n".join(report_markdown(reports)) + "\n")
    paths = [out / "report.json", out / "report.md"]
    if pair_rows:
        title = [
            f"# Two models together: {', '.join(models)}",
            "",
            "Generated by `training.report`; do not edit.",
        ]
        intro = (
            "Cat and dog photos wrong by each model's cat/dog argmax, by both, and by the mean of the two."
        )
        (out / "pairs.md").write_text("\n".join([*title, "", intro, "", *_pairs_table(pair_rows)]) + "\n")
        (out / "pairs.json").write_text(json.dumps(list(pair_rows), indent=1) + "\n")
        paths += [out / "pairs.md", out / "pairs.json"]
    for m, rows in errors.items():
        path = out / _errors_file(m)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(
                handle, ["set", "path", "breed", "label", "answer", "confidence"], lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(rows)
        paths.append(path)
    return paths


def report_markdown(reports: dict[str, dict]) -> list[str]:
    """report.md's lines: the issue's figures, then each level's table and the confusion tables; from the
    reports alone, so a report.json can be shown again without running its models."""
    models = list(reports)
    keys = [
        ("right", "accuracy"),
        ("argmax right", "argmax_accuracy"),
        ("pets → neither", "pets_answered_neither"),
        ("non-pets → neither", "non-pets_answered_neither"),
        ("look-alikes → neither", "look-alikes_answered_neither"),
    ]
    lines = [f"# Evaluation: {' vs '.join(models)}", "", "Generated by `training.report`; do not edit.", ""]
    lines += ["## The issue's figures", "", *headline_table(reports), ""]
    for level in ("set", "source", "kind", "breed"):
        lines += [f"## Per {level}", "", *_table(reports, level, models, keys), ""]
    lines += ["## Confusion (rows: label; columns: answer cat, dog, neither)", ""]
    for m in models:
        for name, c in reports[m]["confusion"].items():
            lines.append(f"- {m}, {name}: {c['matrix']}")
    return lines


def _errors_file(model: str) -> str:
    return f"worst-errors-{re.sub(r'[^A-Za-z0-9_.-]+', '-', model).strip('-')}.csv"


def _written_errors(out: Path) -> list[str]:
    """The worst-errors files of the report before this one in ``out``: its report.json names the models."""
    try:
        return [_errors_file(model) for model in json.loads((out / "report.json").read_text())]
    except (OSError, ValueError, TypeError):
        return []


def save_gallery(errors: list[dict], root, path, size: int = 128) -> Path:
    """The worst errors as a grid of photos with label, answer and confidence (for looking at only)."""
    from catdog import load_image

    plt = figures.pyplot()
    columns = 6
    rows = max(1, -(-len(errors) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2.2 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, error in zip(axes.flat, errors, strict=False):
        image = load_image(Path(root) / error["path"])
        image.thumbnail((size, size))
        axis.imshow(image)
        axis.set_title(
            f"{error['label']}→{error['answer']} {error['confidence']:.2f}\n{error['breed']}", fontsize=7
        )
    return figures.save(figure, path, dpi=70)
