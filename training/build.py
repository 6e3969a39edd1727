"""One command from a recipe file to a released model: ``python -m training release RECIPE --out DIR``.

Stages (each cached, so a re-run after a crash, or with another head, redoes only what changed):

1. ``prepare``: scan every ``[[data]]`` folder, split each with its own fractions and seed (the split is
   saved to ``<run>/split.json``), scan every ``[[eval]]`` folder;
2. ``cache``: the views of every photo through the frozen bottom and the frozen ImageNet top
   (``training.views``): train photos with ``views.train_views`` views (or ``views.source_views``),
   val, test and eval photos as themselves;
3. ``train``: frozen phase then fine-tuning (``training.threeclass``);
4. ``export``: full-int8 TFLite (uint8 in and out) + float TFLite, the threshold on p(neither) chosen on
   the val photos, every figure measured per source and written to the model card and
   ``<out>/evaluation/`` (``training.report``); then the same photos answered as served
   (``catdog.Classifier``, blank-image rule included: ``served_figures``).

Public API:
    prepare(recipe, run_dir) -> Prepared
    cache(recipe, prepared, log) -> {set name: views}
    train(recipe, prepared, caches, log, run_dir=None) -> Trained   (run_dir keeps each fine-tuning run)
    build_release(recipe, out, run_dir, log, rebuild=None) -> card   (rebuild: the command, for the card)
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from catdog.card import CLASS_PROBABILITY, NeitherCheck
from training.data import (
    DataError,
    Split,
    check_parts,
    class_files,
    left_out,
    other_photos,
    report_lines,
    skip_reason,
)
from training.recipe import Recipe, RecipeError, ReleaseInfo, recipe_dict
from training.sources import (
    LABELS3,
    dataset_card,
    make_source_split,
    scan_folder,
    source_folder,
    source_of,
    source_parts,
)
from training.threeclass import ViewBatches, assemble, build_backbone, copy_head, head
from training.transfer import accuracy
from training.views import (
    KINDS,
    ViewSet,
    cache_key,
    cache_views,
    litert_extractor,
    view_indices,
)

#: Evaluation folders whose extra class folders are a named kind of an answer (look-alikes are "neither").
FOLDER_ALIASES = {"neither-hard": "neither"}


@dataclass
class Prepared:
    split: Split
    evals: dict[str, list[tuple[str, int]]]  # eval folder name -> (path relative to split root, label)
    sets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # cached set -> samples


def eval_samples(folder, labels=LABELS3, log=print) -> list[tuple[Path, int, str]]:
    """(path, label, class folder) of every photo of an evaluation folder; ``neither-hard/`` (any case)
    counts as "neither" (its folder name is kept, to report look-alikes apart). Every file skipped and
    folder ignored is a line of ``log``, as the training folders' are (``left_out``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    aliases = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() in FOLDER_ALIASES)
    found = scan_folder(folder, labels, allow_empty=bool(aliases))  # look-alikes alone: a folder of one kind
    # the class folder, or for Kaggle's flat names (cat.1.jpg) the label
    rows = [
        (folder / s.path, s.label, s.path.split("/")[0] if "/" in s.path else labels[s.label])
        for s in found.samples
    ]
    skipped = list(found.skipped)
    for extra in aliases:
        alias = extra.name.lower()
        paths, bad = scan_folder_as(extra)
        rows += [(extra / p, labels.index(FOLDER_ALIASES[alias]), alias) for p in paths]
        skipped += bad
    ignored = [name for name in found.ignored_folders if name.lower() not in FOLDER_ALIASES]
    for line in report_lines({"ignored_folders": ignored, "skipped": skipped}):
        log(f"eval {folder.name}: {line}")
    return rows


def scan_folder_as(folder: Path) -> tuple[list[str], list[dict]]:
    """The photos under ``folder`` (paths relative to it; its subfolders walked as a class folder's are),
    and the files that are none, as a scan reports them (``{"path", "reason"}``, paths under the folder's
    name): a hidden file or an unreadable folder is a row, never a silent gap."""
    from catdog import InvalidImage, load_image

    paths, bad = [], []
    for path in class_files(folder.parent, folder, bad):
        try:
            load_image(path)
        except InvalidImage as exc:
            bad.append({"path": path.relative_to(folder.parent).as_posix(), "reason": skip_reason(exc)})
            continue
        paths.append(path.relative_to(folder).as_posix())
    return paths, bad


def prepare(recipe: Recipe, run_dir: Path, log=print) -> Prepared:
    # the evaluation folders first: one with no photo is refused before the data is scanned and split
    found = {Path(folder).name: (Path(folder), eval_samples(folder, log=log)) for folder in recipe.eval}
    run_dir.mkdir(parents=True, exist_ok=True)
    split_file = run_dir / "split.json"
    if split_file.is_file():
        split = Split.load(split_file)
        made_from = _made_from(split)
        wanted = _made_from(recipe)
        if made_from != wanted:  # a run folder kept from another recipe must not decide this one's photos
            raise RecipeError(
                f"{split_file} was made from other [[data]] folders, fractions or seed than the recipe "
                f"({made_from} against {wanted}): delete it, or give another --run-dir"
            )
        # nor one kept from other photos: added ones would be left out, deleted ones fail at export
        other = other_photos(split, make_source_split(list(recipe.data), LABELS3, seed=recipe.train.seed))
        if other:
            raise RecipeError(
                f"{split_file} was made from other photos than the recipe's [[data]] folders hold now "
                f"({other}): delete the run folder, or give another --run-dir"
            )
    else:
        split = make_source_split(list(recipe.data), LABELS3, seed=recipe.train.seed)
        for line in left_out(split):
            log(line)
        try:  # the test part may lack a class (breeds-dev has no test photos); train and val may not
            check_parts(split, ("train", "val"), LABELS3)
        except DataError as exc:  # the recipe's [[data]] folders cannot make this release
            raise RecipeError(str(exc)) from None
        split.save(split_file)
    log(f"split: {json.dumps(split.sizes())}")
    evals = {}
    seen = _digests(split, ("train", "val")) if found else {}
    for name, (folder, samples) in found.items():
        rows = []
        for path, label, kind in samples:
            first = seen.get(hashlib.sha256(path.read_bytes()).hexdigest())
            if first:  # an evaluation set measures photos never trained on, nor chosen on
                log(f"eval {name}: {path.relative_to(folder)} left out: the same photo as {first}")
                continue
            rows.append((str(path.resolve()), label, kind))
        if not rows:
            raise RecipeError(f"[[eval]] {folder}: every photo in it is a train or val photo")
        evals[name] = rows
        log(f"eval {name}: {len(rows)} photos")
    return Prepared(split, evals)


def _digests(split: Split, parts: tuple[str, ...]) -> dict[str, str]:
    """The sha256 of each photo in ``parts`` of the split, and its path there."""
    return {
        hashlib.sha256((split.root / s.path).read_bytes()).hexdigest(): s.path
        for part in parts
        for s in split.parts[part]
    }


def int8_minus_float(int8: dict, float_: dict) -> dict:
    """What quantization changed in each headline figure: shares in points, counts (val mistakes) as
    counts; a share of 0.9898 against 0.9911 is -0.13, 24 mistakes against 23 is 1, not 100."""
    return {
        key: value - float_[key] if isinstance(value, int) else round(100 * (value - float_[key]), 4)
        for key, value in int8.items()
        if value is not None and float_.get(key) is not None
    }


def _made_from(source: Split | Recipe) -> dict:
    """The folders (by name), fractions and seeds a split records, or a recipe asks for."""
    if isinstance(source, Split):
        folders = source.report.get("sources", {})
        return {"seed": source.seed} | {
            Path(name).name: [list(s["fractions"]), s["seed"]] for name, s in folders.items()
        }
    return {"seed": source.train.seed} | {
        source_folder(s.folder).name: [list(s.fractions), s.seed] for s in source.data
    }


def per_source(recipe: Recipe, table: dict, source: str, default):
    """The setting in ``table`` (``views.oversample``, ``views.source_views``) of the split's source
    ``source``: a recipe names a [[data]] folder as it gives it (a link's own name), a split by the
    folder it resolves to (``training.sources.source_folder``); the two were told apart, and a link's
    settings silently unused."""
    given = {source_folder(s.folder).name: Path(s.folder).name for s in recipe.data}
    return table.get(given.get(source, source), default)


def _set_views(recipe: Recipe, source: str) -> int | tuple[int, ...]:
    views = per_source(recipe, recipe.views.source_views, source, recipe.views.train_views)
    return int(views) if isinstance(views, int) else tuple(views)


def view_sets(recipe: Recipe, prepared: Prepared) -> dict[str, ViewSet]:
    """The cached sets: train photos per source (their own number of views), val, test, eval folders."""
    split, sets = prepared.split, {}
    sources = sorted({source_of(split, s.path) for s in split.parts["train"]})
    for source in sources:
        paths = tuple(s.path for s in split.parts["train"] if source_of(split, s.path) == source)
        sets[f"train/{source}"] = ViewSet(split.root, paths, _set_views(recipe, source))
    for part in ("val", "test"):
        if split.parts[part]:
            sets[part] = ViewSet(split.root, tuple(s.path for s in split.parts[part]), 1)
    for name, rows in prepared.evals.items():
        sets[f"eval/{name}"] = ViewSet(Path("/"), tuple(p.lstrip("/") for p, _, _ in rows), 1)
    return sets


def labels_of(prepared: Prepared, name: str) -> np.ndarray:
    split = prepared.split
    if name.startswith("train/"):
        source = name.split("/", 1)[1]
        return np.array([s.label for s in split.parts["train"] if source_of(split, s.path) == source])
    if name.startswith("eval/"):
        return np.array([label for _, label, _ in prepared.evals[name.split("/", 1)[1]]])
    return np.array([s.label for s in split.parts[name]])


def cache(recipe: Recipe, prepared: Prepared, log=print) -> dict[str, dict]:
    """Every set's views through the frozen network, run by LiteRT (``views.litert_extractor``). A recipe
    that fine-tunes needs the activations at the cut too; one that does not, only the pooled features and
    logits."""
    m = recipe.model
    bottom, _, imagenet_top = build_backbone(m.backbone, m.size, m.cut)
    kinds = KINDS if recipe.train.fine_epochs or recipe.distill.teacher else ("pooled", "logits")
    name = f"{m.backbone}-{m.size}px-cut{m.cut}-{'-'.join(kinds)}-float.tflite"
    extract = litert_extractor(bottom, imagenet_top, Path(recipe.cache_dir) / name, kinds)
    return _cache_sets(recipe, view_sets(recipe, prepared), extract, (m.backbone, m.cut), kinds, log)


def _cache_sets(recipe: Recipe, sets: dict[str, ViewSet], extract, key: tuple[str, int], kinds, log) -> dict:
    """``cache_views`` of each set, keyed by ``key`` (what computes the views: a network and its cut)."""
    caches = {}
    for name, photos in sets.items():
        stem = Path(recipe.cache_dir) / cache_key(key[0], recipe.model.size, key[1], recipe.augment, photos)
        started = time.perf_counter()
        caches[name] = cache_views(
            extract, photos, stem, recipe.augment, recipe.model.size, kinds=kinds, log=log
        )
        log(f"cache {name}: {caches[name][kinds[-1]].shape} in {time.perf_counter() - started:.0f} s")
    return caches


@dataclass
class Trained:
    model: keras.Model  # pixels -> probabilities (cat, dog, neither)
    frozen_model: keras.Model | None
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    backbones: tuple[str, ...] = ()  # those of the network, when it is not the recipe's [model] alone
    card: dict = field(default_factory=dict)  # the card's "training" entries, added or replaced


def sample_weights(recipe: Recipe, source: str, labels: np.ndarray) -> np.ndarray:
    weights = np.full(
        len(labels), float(per_source(recipe, recipe.views.oversample, source, 1.0)), np.float32
    )
    weights[labels == LABELS3.index("neither")] *= recipe.train.neither_weight
    return weights


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(len(LABELS3), dtype=np.float32)[labels]


def _train_sets(recipe: Recipe, prepared: Prepared, caches: dict, teacher=None, ensemble=None) -> list[tuple]:
    """Per training source: its cached views, the target probabilities of each view ``(n, views, 3)``
    (the label, mixed with the teachers' answers when there are any: ``teacher`` on the cached views,
    ``ensemble`` the released models' answers by set name, from ``ensemble_answers``) and each photo's
    weight."""
    sets = []
    for name in sorted(n for n in caches if n.startswith("train/")):
        labels, views = labels_of(prepared, name), caches[name]
        targets = np.repeat(_one_hot(labels)[:, np.newaxis], views["logits"].shape[1], axis=1)
        answers = ([teacher(views)] if teacher is not None else []) + (ensemble or {}).get(name, [])
        if answers:
            share = recipe.distill.weight
            targets = (1 - share) * targets + share * mix_answers(answers)
        sets.append((views, targets, sample_weights(recipe, name.split("/", 1)[1], labels)))
    return sets


def mix_answers(answers: list[np.ndarray]) -> np.ndarray:
    """Several teachers' answers ``(n, views, 2 or 3)`` as one ``(n, views, 3)``: their mean, where a
    two-class teacher (it knows nothing of "neither", but its split of a pet is as good a vote as any)
    takes the three-class teachers' mean p(neither) and splits the rest as it answers."""
    three = [np.asarray(a, dtype=np.float32) for a in answers if a.shape[-1] == len(LABELS3)]
    if not three:
        raise ValueError("distillation needs at least one cat / dog / neither teacher")
    neither = np.mean([a[..., 2:] for a in three], axis=0)
    two = [
        np.concatenate([(1 - neither) * cat_dog_split(a), neither], -1) for a in answers if a.shape[-1] == 2
    ]
    return np.mean(three + two, axis=0).astype(np.float32)


def ensemble_answers(recipe: Recipe, prepared: Prepared, log=print) -> dict[str, list[np.ndarray]]:
    """What each released model of ``distill.ensemble`` answers for every view of every training photo:
    ``{set name: [(n, views, its labels)]}``, cached like the features (the key names the model's
    sha256, so a retrained model is asked again)."""
    from catdog import Classifier

    m, out = recipe.model, {}
    sets = {name: photos for name, photos in view_sets(recipe, prepared).items() if name.startswith("train/")}
    for folder in recipe.distill.ensemble:
        model = Classifier(folder, num_threads=2)
        if model.input_size != m.size:
            raise ValueError(f"the teacher {folder} takes {model.input_size} px, the recipe {m.size} px")

        def extract(pixels: np.ndarray, model=model) -> dict[str, np.ndarray]:
            return {"answers": model.predict(pixels.astype(np.uint8))}

        key = (f"answers-{model.card.sha256[:16]}", 0)
        for name, views in _cache_sets(recipe, sets, extract, key, ("answers",), log).items():
            out.setdefault(name, []).append(views["answers"])
    return out


def load_teacher(recipe: Recipe, batch_size: int = 256):
    """``answers(views) -> (n, views, 3)``: the teacher's probabilities for every cached view, from its
    fine-tuned top (if it has one, at the recipe's cut) on the activations and its head."""
    model = keras.models.load_model(recipe.distill.teacher, compile=False)
    m = recipe.model
    tops = [layer for layer in model.layers if layer.name.endswith("_top")]
    top = next((t for t in tops if t.name == f"{m.backbone}_blocks_{m.cut}_top"), None)
    if tops and top is None:
        raise ValueError(f"the teacher {recipe.distill.teacher} is fine-tuned at another cut than {m.cut}")
    classifier = model.get_layer("classifier")

    def answers(views: dict) -> np.ndarray:
        n, v = views["logits"].shape[:2]
        inputs = views["act"] if top is not None else views["pooled"]
        inputs, logits = inputs.reshape(n * v, *inputs.shape[2:]), views["logits"].reshape(n * v, -1)
        out = []
        for start in range(0, n * v, batch_size):
            chunk = np.asarray(inputs[start : start + batch_size], dtype=np.float32)
            features = np.asarray(top(chunk, training=False)) if top is not None else chunk
            chunk_logits = np.asarray(logits[start : start + batch_size], dtype=np.float32)
            out.append(np.asarray(classifier([features, chunk_logits], training=False)))
        return np.concatenate(out).reshape(n, v, -1)

    return answers


def _frozen_rows(sets) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every view of every training photo as a row: pooled features, logits, target, weight."""
    pooled, logits, targets, weights = [], [], [], []
    for views, t, w in sets:
        n, v = views["pooled"].shape[:2]
        pooled.append(np.asarray(views["pooled"], dtype=np.float32).reshape(n * v, -1))
        logits.append(np.asarray(views["logits"], dtype=np.float32).reshape(n * v, -1))
        targets.append(t.reshape(n * v, -1))
        weights.append(np.repeat(w, v))
    return tuple(np.concatenate(a) for a in (pooled, logits, targets, weights))


def view0(views: dict, kind: str) -> np.ndarray:
    return np.asarray(views[kind][:, 0], dtype=np.float32)


def train_frozen_head(recipe: Recipe, sets, val: tuple, *, imagenet_branch=None):
    """The head alone on the frozen ImageNet features (+ logits); returns (head, history)."""
    t = recipe.train
    keras.utils.set_random_seed(t.seed)
    branch = recipe.model.imagenet_branch if imagenet_branch is None else imagenet_branch
    pooled, logits, targets, weights = _frozen_rows(sets)
    classifier = head(
        pooled.shape[-1], len(LABELS3), t.dropout, branch, t.hidden, logits_terms=recipe.model.logits_terms
    )
    classifier.compile(
        keras.optimizers.Adam(t.head_lr),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=[],
    )
    history = classifier.fit(
        [pooled, logits],
        targets,
        sample_weight=weights,
        batch_size=256,
        epochs=t.head_epochs,
        validation_data=(val[0], _one_hot(val[1])),
        callbacks=[keras.callbacks.EarlyStopping(patience=t.patience + 1, restore_best_weights=True)],
        verbose=2,
    ).history
    return classifier, history


def train(recipe: Recipe, prepared: Prepared, caches: dict, log=print, run_dir=None) -> Trained:
    t, m = recipe.train, recipe.model
    seconds, metrics = {}, {}
    bottom, top, imagenet_top = build_backbone(m.backbone, m.size, m.cut)
    teacher = load_teacher(recipe) if recipe.distill.teacher else None
    sets = _train_sets(recipe, prepared, caches, teacher, ensemble_answers(recipe, prepared, log))
    val_labels = labels_of(prepared, "val")
    val_frozen = ([view0(caches["val"], "pooled"), view0(caches["val"], "logits")], val_labels)

    started = time.perf_counter()
    classifier, frozen_history = train_frozen_head(recipe, sets, val_frozen)
    seconds["frozen"] = time.perf_counter() - started
    metrics["frozen_val_accuracy"] = accuracy(classifier.predict(val_frozen[0], verbose=0), val_labels)
    log(f"frozen: {metrics}")
    vote, metrics["imagenet_vote_on_val"] = choose_vote(recipe, classifier, val_frozen)
    metrics["imagenet_vote_weight"] = vote
    log(f"ImageNet vote on neither: weight {vote} ({metrics['imagenet_vote_on_val']})")
    frozen_head = copy_head(classifier, recipe_head(recipe, top.output.shape[-1], vote))
    frozen_model = assemble(bottom, None, imagenet_top, frozen_head, f"{m.backbone}_frozen")
    history = {"frozen": frozen_history}

    if t.fine_epochs:
        started = time.perf_counter()
        val_fine = ([view0(caches["val"], "act"), view0(caches["val"], "logits")], _one_hot(val_labels))
        histories, metrics["fine_tuned_val"] = fine_tune(
            recipe, top, classifier, sets, val_fine, log, keep=run_dir
        )
        history |= histories
        seconds["fine_tune"] = time.perf_counter() - started
    # without fine-tuning the features ARE the ImageNet top's: one copy of the top, not two
    released = copy_head(classifier, recipe_head(recipe, top.output.shape[-1], vote))
    tuned_top = top if t.fine_epochs else None
    model = assemble(bottom, tuned_top, imagenet_top, released, m.backbone, m.frozen_copy)
    return Trained(model, frozen_model, history, metrics, seconds)


def fine_tune(recipe: Recipe, top, classifier, sets, val: tuple, log=print, keep=None) -> tuple[dict, list]:
    """The top's blocks and the head trained together on the cached activations, ``train.soup`` times
    from the same start (the frozen-phase head), each run with its own batch seed; ``top`` and
    ``classifier`` end with the mean of the runs' weights. Averaging runs that share their start keeps
    them in one basin (Wortsman et al. 2022, "Model soups"), so their mean is one network, less a draw
    of one seed than any run (its val loss was below every run's for 2.1.0's recipe, its val mistakes
    were not: docs/transfer.md). Returns (each run's history by name: ``fine_tune``,
    ``fine_tune 2``, ...; the val loss and accuracy of each run, then of their mean).

    ``keep``: a folder that keeps each run (``fine-tune-seed-<seed>.npz``, ``kept_runs``), to measure one
    run alone, and to reuse instead of retraining: a run kept from the same recipe (its names and the
    number of runs aside) and the same start is loaded, so a longer soup, or a build after a crash,
    trains only the runs it lacks. The start is checked because the recipe does not fix it: a frozen
    phase trained by other code, or on other caches, starts the runs elsewhere, and runs from two
    starts are not one basin to average."""
    t = recipe.train
    tuned, key = tunable(top, classifier), run_key(recipe)
    start, runs, histories, scores = [v.numpy() for v in tuned.variables], [], {}, []
    origin = weights_digest(start)
    kept = kept_runs(keep, key, origin) if keep is not None else {}
    for seed in range(t.seed, t.seed + t.soup):
        for variable, value in zip(tuned.variables, start, strict=True):  # dropout's seed state too
            variable.assign(value)
        batches = ViewBatches(
            [(views["act"], views["logits"], y, w) for views, y, w in sets], t.batch_size, seed
        )
        schedule = keras.optimizers.schedules.CosineDecay(t.fine_lr, t.fine_epochs * len(batches))
        tuned.compile(
            keras.optimizers.AdamW(schedule, weight_decay=t.weight_decay),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
            weighted_metrics=[],
        )
        if seed in kept:
            tuned.set_weights(kept[seed])
            log(f"fine-tuning run of batch seed {seed}: kept in {keep}, not retrained")
        else:
            histories["fine_tune" + (f" {seed - t.seed + 1}" if seed > t.seed else "")] = tuned.fit(
                batches,
                epochs=t.fine_epochs,
                validation_data=val,
                callbacks=[keras.callbacks.EarlyStopping(patience=t.patience, restore_best_weights=True)],
                verbose=2,
            ).history
            if keep is not None:
                np.savez(
                    Path(keep) / f"fine-tune-seed-{seed}.npz", *tuned.get_weights(), recipe=key, start=origin
                )
        runs.append(tuned.get_weights())
        scores.append(_val_score(tuned, val, f"batch seed {seed}", log))
    if t.soup > 1:
        tuned.set_weights([np.mean(weights, axis=0) for weights in zip(*runs, strict=True)])
        scores.append(_val_score(tuned, val, "mean of the runs", log))
    return histories, scores


def run_key(recipe: Recipe) -> str:
    """What a fine-tuning run depends on: the resolved recipe without its names, its number of runs and
    what is decided after training: where the released graph reads the ImageNet logits
    (``model.frozen_copy``) and how the vote and the threshold are chosen (``[neither]``), so a release
    that changes only those reuses the runs."""
    same = recipe_dict(replace(recipe, release=ReleaseInfo(), train=replace(recipe.train, soup=1)))
    del same["model"]["frozen_copy"], same["neither"]
    return json.dumps(same, sort_keys=True)


def kept_runs(folder, key: str | None = None, start: str | None = None) -> dict[int, list[np.ndarray]]:
    """The fine-tuning runs kept in ``folder`` by batch seed, each as ``tunable(...).get_weights()``;
    with ``key`` (``run_key``) only those trained from that recipe, with ``start`` (``weights_digest``
    of the weights they started from) only those that started there. A run kept before runs recorded
    their start (session 23) is taken on its recipe alone."""
    runs = {}
    for path in sorted(Path(folder).glob("fine-tune-seed-*.npz")):
        with np.load(path) as arrays:
            names = {name for name in arrays.files if not name.startswith("arr_")}
            if key is not None and ("recipe" not in names or str(arrays["recipe"]) != key):
                continue
            if start is not None and "start" in names and str(arrays["start"]) != start:
                continue
            weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files) - len(names))]
        runs[int(path.stem.rsplit("-", 1)[1])] = weights
    return dict(sorted(runs.items()))


def weights_digest(weights: list[np.ndarray]) -> str:
    """sha256 of weights, their shapes and types included: the same start, bit for bit."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def tunable(top, classifier) -> keras.Model:
    """``[activations, ImageNet logits] -> probabilities`` with the top's blocks and the head trainable,
    batch norm kept at its ImageNet statistics; its ``get_weights()`` order is that of the kept runs."""
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    act = keras.Input(top.input.shape[1:], name="activations")
    logits = keras.Input((1000,), name="imagenet_logits")
    return keras.Model([act, logits], classifier([top(act), logits]))


def _val_score(model, val: tuple, name: str, log) -> dict:
    loss, accuracy = model.evaluate(val[0], val[1], verbose=0, batch_size=256)
    log(f"fine-tuned ({name}): val loss {loss:.4f}, accuracy {accuracy:.4f}")
    return {"weights": name, "val_loss": round(float(loss), 5), "val_accuracy": round(float(accuracy), 5)}


def recipe_head(recipe: Recipe, features: int, vote: float):
    """The recipe's head (``training.threeclass.head``) with the ImageNet vote at ``vote``."""
    t, m = recipe.train, recipe.model
    return head(features, len(LABELS3), t.dropout, m.imagenet_branch, t.hidden, vote, m.logits_terms)


def choose_vote(recipe: Recipe, classifier, val: tuple) -> tuple[float, dict]:
    """The ImageNet vote weight with the best val score: the share of val photos without pets answered
    "neither" plus the share of val pets answered right, each at its own threshold (chosen as the
    release's, ``training.report.val_threshold``)."""
    from training.report import answer, val_threshold

    features, labels = val
    pets = labels < 2
    table = {}
    if not recipe.model.imagenet_branch:
        return 0.0, table
    for weight in recipe.neither.imagenet_vote_weights:
        candidate = copy_head(classifier, recipe_head(recipe, features[0].shape[-1], weight))
        probabilities = candidate.predict(features, verbose=0, batch_size=256)
        threshold = val_threshold(probabilities, labels, recipe.neither)
        answers, _ = answer(probabilities, threshold)
        caught = float(np.mean(answers[~pets] == 2)) if (~pets).any() else 0.0
        right = float(np.mean(answers[pets] == labels[pets]))
        table[str(weight)] = {"neither_caught": round(caught, 5), "pets_right": round(right, 5)}
    best = max(table, key=lambda w: table[w]["neither_caught"] + table[w]["pets_right"])
    return float(best), table


def _kind(label: int, lookalike: bool) -> str:
    return LABELS3[label] if label < 2 else ("look-alike" if lookalike else "non-pet")


def manifest(folder: Path) -> dict[str, dict]:
    """A source's ``manifest.csv`` (breeds-dev), by file path inside the folder: its ``label`` (the
    breed or class, e.g. ``British_Shorthair``) and ``neither_kind`` (``lookalike`` or empty)."""
    import csv

    path = folder / "manifest.csv"
    if not path.is_file():
        return {}
    with path.open() as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def photos_of(prepared: Prepared) -> dict[str, list]:
    """The evaluated photos, by part: ``val`` and ``test`` of the split, each eval folder (its name)."""
    from training.report import Photo
    from training.sources import breed_of

    split, out = prepared.split, {}
    manifests = {source: manifest(split.root / source) for source in split.report.get("sources", {})}
    for part in ("val", "test"):
        out[part] = []
        for s in split.parts[part]:
            name, inside = source_parts(split, s.path)
            source, row = Path(name).name, manifests.get(name, {}).get(inside, {})
            out[part].append(
                Photo(
                    s.path,
                    f"{'asirra' if source.startswith('petimages') else source}-{part}",
                    source,
                    row.get("label") or breed_of(s.path),
                    _kind(s.label, row.get("neither_kind") == "lookalike"),
                    s.label,
                )
            )
    for name, rows in prepared.evals.items():
        out[name] = []
        for path, label, folder in rows:
            relative = (
                Path(path).relative_to(split.root).as_posix() if path.startswith(str(split.root)) else path
            )
            out[name].append(
                Photo(relative, name, name, breed_of(relative), _kind(label, folder in FOLDER_ALIASES), label)
            )
    return out


def load_part_pixels(prepared: Prepared, photos: list, size: int, cache_dir) -> np.ndarray:
    from training.data import load_pixels

    root = prepared.split.root
    absolute = [p.path if Path(p.path).is_absolute() else str(root / p.path) for p in photos]
    return load_pixels(Path("/"), [a.lstrip("/") for a in absolute], size, cache_dir)


def imagenet_rule(logits: np.ndarray) -> np.ndarray:
    """The plain ImageNet-1k head as a classifier: top-1 a domestic cat -> cat, a dog breed -> dog,
    anything else -> neither (the issue's reference for what the backbone already knows)."""
    from training.threeclass import IMAGENET_CATS, IMAGENET_DOGS

    top1 = np.argmax(logits, axis=1)
    return np.where(np.isin(top1, IMAGENET_CATS), 0, np.where(np.isin(top1, IMAGENET_DOGS), 1, 2))


def head_probabilities(classifier, caches: dict, photos: dict, *, kind="pooled") -> dict[str, np.ndarray]:
    """A head's probabilities per part of ``photos`` (val, test, each eval folder), on view 0 of the
    cached features (Keras, float)."""
    return {
        name: classifier.predict(
            [view0(caches[key], kind), view0(caches[key], "logits")], verbose=0, batch_size=256
        )
        for name, key in part_caches(photos).items()
    }


def measure_head(classifier, caches: dict, photos: dict, neither, *, kind="pooled") -> dict:
    """A head's end-to-end figures on val (threshold chosen there), test and the eval folders, on view 0
    of the cached features (Keras, float): quick enough to compare training variants."""
    probabilities = head_probabilities(classifier, caches, photos, kind=kind)
    return end_to_end_figures(probabilities, photos, neither)


def part_caches(photos: dict) -> dict[str, str]:
    """The cache of each part of ``photos``: ``val``, ``test``, ``eval/<folder>``."""
    return {name: (name if name in ("val", "test") else f"eval/{name}") for name in photos}


def end_to_end_figures(probabilities: dict[str, np.ndarray], photos: dict, neither) -> dict:
    """The answers a user gets from ``probabilities`` (per part of ``photos``, cat / dog / neither), with
    the threshold on p(neither) chosen on val by ``neither`` (the recipe's ``NeitherSettings``)."""
    from training.report import answer, headline, summarize, val_threshold

    val_labels = np.array([p.label for p in photos["val"]])
    threshold = val_threshold(probabilities["val"], val_labels, neither)
    everything = [p for name in photos for p in photos[name]]
    stacked = np.concatenate([probabilities[name] for name in photos])
    answers, confidences = answer(stacked, threshold)
    report = summarize(everything, answers, confidences, np.argmax(stacked[:, :2], axis=1))
    return {"threshold": round(threshold, 6), "headline": headline(report), "report": report}


def ablations(recipe: Recipe, prepared: Prepared, caches: dict, log=print) -> dict:
    """Frozen-feature heads trained with one ingredient changed each: what each ingredient buys."""
    from training.report import headline, summarize

    photos = photos_of(prepared)
    val_labels = labels_of(prepared, "val")
    val = ([view0(caches["val"], "pooled"), view0(caches["val"], "logits")], val_labels)
    results = {}
    everything = [p for name in photos for p in photos[name]]
    rule = np.concatenate([imagenet_rule(view0(caches[k], "logits")) for k in part_caches(photos).values()])
    results["ImageNet-1k head alone (top-1 rule)"] = {
        "threshold": None,
        "headline": headline(summarize(everything, rule, np.ones(len(rule)), rule)),
    }

    all_sets = _train_sets(recipe, prepared, caches)
    names = sorted(n for n in caches if n.startswith("train/"))

    def only_views(sets, allowed):
        """Each set with only its views whose index (training.uploads.view) is in ``allowed``."""
        chosen = []
        for (views, y, w), name in zip(sets, names, strict=True):
            indices = view_indices(_set_views(recipe, name.split("/", 1)[1]))
            keep = [position for position, index in enumerate(indices) if index in allowed]
            chosen.append(({k: v[:, keep] for k, v in views.items() if k != "act"}, y[:, keep], w))
        return chosen

    asirra_only = [s for s, n in zip(all_sets, names, strict=True) if "petimages" in n]
    no_oversample = replace(recipe, views=replace(recipe.views, oversample={}))
    variants = {
        "features only (no ImageNet branch)": (recipe, all_sets, False),
        "features + ImageNet branch (the recipe)": (recipe, all_sets, True),
        "... trained on Asirra only (no breeds-dev)": (recipe, asirra_only, True),
        "... without upload-style draws (photo + mirror)": (recipe, only_views(all_sets, {0, 1}), True),
        "... photo only (no mirror, no draws)": (recipe, only_views(all_sets, {0}), True),
        "... breeds-dev not oversampled": (no_oversample, _train_sets(no_oversample, prepared, caches), True),
    }
    for name, (variant, sets, branch) in variants.items():
        started = time.perf_counter()
        classifier, history = train_frozen_head(variant, sets, val, imagenet_branch=branch)
        figures = measure_head(classifier, caches, photos, recipe.neither)
        figures["epochs"] = len(history["loss"])
        figures["best_val_loss"] = round(float(min(history["val_loss"])), 5)
        results[name] = {k: v for k, v in figures.items() if k != "report"}
        log(f"ablation {name}: {json.dumps(results[name])} ({time.perf_counter() - started:.0f} s)")
    return results


def evaluate_tflite(
    model_file, prepared: Prepared, photos: dict, size: int, cache_dir
) -> dict[str, np.ndarray]:
    from training.evaluate import predict_litert

    return {
        name: predict_litert(model_file, load_part_pixels(prepared, rows, size, cache_dir))
        for name, rows in photos.items()
    }


def export_release(
    recipe: Recipe, trained: Trained, prepared: Prepared, out: Path, run_dir: Path, log=print, rebuild=None
) -> dict:
    """int8 into ``out``, float beside it in ``run_dir/float``; the threshold from val; the card."""
    from training.export import export_model, representative_sample, update_card
    from training.report import answer, headline, summarize, val_threshold

    m, t = recipe.model, recipe.train
    train_photos = [s.path for s in prepared.split.parts["train"]]
    from training.data import load_pixels

    chosen = representative_sample(np.arange(len(train_photos)), t.calibration_images, t.seed)
    calibration = load_pixels(
        prepared.split.root, [train_photos[i] for i in chosen], m.size, recipe.cache_dir
    )
    from training.backbones import efficientnet_lite

    card = {
        "name": recipe.release.name,
        "version": recipe.release.version,
        "backbone": " + ".join(
            efficientnet_lite.spec(name).description for name in trained.backbones or (m.backbone,)
        ),
        "dataset": dataset_card(prepared.split),
        "evaluation_folders": {name: len(rows) for name, rows in prepared.evals.items()},
        # a card serving can read from the start: "neither" only when certain, until the threshold is
        # chosen on val below (it needs the exported model's answers)
        "neither": NeitherCheck(CLASS_PROBABILITY, 1.0).to_dict(),
    }
    started = time.perf_counter()
    export_model(trained.model, out, representative=calibration, card=card, labels=LABELS3)
    float_dir = run_dir / "float"
    export_model(
        trained.model, float_dir, card=card | {"name": f"{recipe.release.name}-float"}, labels=LABELS3
    )
    log(f"exported in {time.perf_counter() - started:.0f} s")
    photos = photos_of(prepared)
    probabilities = {
        kind: evaluate_tflite(folder / "model.tflite", prepared, photos, m.size, recipe.cache_dir)
        for kind, folder in (("int8", out), ("float", float_dir))
    }
    np.savez_compressed(
        run_dir / "probabilities.npz",
        **{f"{k}/{n}": v for k, d in probabilities.items() for n, v in d.items()},
    )
    val_labels = np.array([p.label for p in photos["val"]])
    # rounded as the card stores it (``NeitherCheck.to_dict``): the figures are those of the served rule
    chosen = val_threshold(probabilities["int8"]["val"], val_labels, recipe.neither)
    threshold = NeitherCheck(CLASS_PROBABILITY, chosen).stored_threshold()
    everything = [p for name in photos for p in photos[name]]
    reports, figures = {}, {}
    for kind, probs in probabilities.items():
        stacked = np.concatenate([probs[name] for name in photos])
        answers, confidences = answer(stacked, threshold)
        reports[kind] = summarize(everything, answers, confidences, np.argmax(stacked[:, :2], axis=1))
        figures[kind] = headline(reports[kind])
    int8_vs_float = int8_minus_float(figures["int8"], figures["float"])
    metrics = {
        "split": "test (Asirra, held out) + val + evaluation folders",
        "int8": figures["int8"],
        "float": figures["float"],
        "int8_minus_float_points": int8_vs_float,
        "per_source": reports["int8"]["source"],
        "per_kind": reports["int8"]["kind"],
        "confusion": reports["int8"]["confusion"],
        "report": "evaluation/report.md (per breed, float beside int8, worst errors)",
    }
    folders = ", ".join(Path(source.folder).name for source in recipe.data)
    section = {
        **NeitherCheck(CLASS_PROBABILITY, threshold).to_dict(),
        "output_index": LABELS3.index("neither"),
        "rule": "answer 'neither' when p(neither) >= threshold, else the larger of p(cat), p(dog); "
        "confidence = the probability of the answer",
        "chosen_on": f"val parts of {folders}, int8 model",
        "max_pets_answered_neither": recipe.neither.max_pets_neither,
        "threshold_rule": recipe.neither.threshold_rule,
        "measured": {k: v for k, v in figures["int8"].items() if "neither" in k},
    }
    training = (
        {
            "recipe": recipe_dict(recipe),
            "keras_accuracy_on_cached_activations": trained.metrics,
            "seconds": {k: round(v, 1) for k, v in trained.seconds.items()},
        }
        | ({"rebuild": rebuild} if rebuild else {})
        | trained.card
    )
    document = update_card(
        out,
        file_bytes=(out / "model.tflite").stat().st_size,
        neither=section,
        metrics=metrics,
        training=training,
    )
    update_card(float_dir, neither=section, metrics=metrics, training=training)
    (out / "evaluation").mkdir(parents=True, exist_ok=True)
    for old in (out / "evaluation").iterdir():
        old.unlink()
    from training.report import worst_errors, write_report

    errors = {}
    for kind, probs in probabilities.items():
        stacked = np.concatenate([probs[name] for name in photos])
        answers, confidences = answer(stacked, threshold)
        errors[kind] = worst_errors(everything, answers, confidences)
    write_report(reports, errors, out / "evaluation")
    log(f"release: threshold {threshold:.4f}; {json.dumps(figures['int8'])}")
    started = time.perf_counter()
    document = record_served(out, served_figures(prepared, photos, out, recipe.cache_dir, "release"))
    served = document["metrics"]["served"]["headline"]
    log(f"served (catdog.Classifier) in {time.perf_counter() - started:.0f} s: {json.dumps(served)}")
    return document


def served_figures(prepared: Prepared, photos: dict, folder: Path, cache_dir, measured_by: str) -> dict:
    """A released 3-class model's figures as served: every answer from ``catdog.Classifier``, so with the
    blank-image rule (``catdog.classifier.is_blank``) that scoring the network's probabilities cannot
    apply, and every photo whose served answer differs from the network's."""
    from catdog import Classifier
    from catdog.classifier import is_blank
    from training.evaluate import served
    from training.report import ANSWERS, answer, headline, summarize

    classifier = Classifier(folder)
    threshold = classifier.card.document["neither"]["threshold"]
    everything, answers, probabilities, unlike_the_network = [], [], [], []
    for rows in photos.values():
        pixels = load_part_pixels(prepared, rows, classifier.input_size, cache_dir)
        probs, labels = served(classifier, pixels)
        network, _ = answer(probs, threshold)
        for photo, label, image, by_network in zip(rows, labels, pixels, network, strict=True):
            if label != ANSWERS[by_network]:
                unlike_the_network.append(
                    {
                        "set": photo.set,
                        "path": photo.path,
                        "label": ANSWERS[photo.label],
                        "served": label,
                        "network": ANSWERS[by_network],
                        "blank": is_blank(image),
                    }
                )
        everything += rows
        answers += [ANSWERS.index(label) for label in labels]
        probabilities.append(probs)
    argmax = np.argmax(np.concatenate(probabilities)[:, :2], axis=1)
    report = summarize(everything, answers, None, argmax)  # the figures are of answers, not confidences
    return {
        "measured_by": f"{measured_by}: catdog.Classifier, the threshold and blank-image rules",
        "headline": headline(report),
        "unlike_the_network": unlike_the_network,
    } | report


def record_served(folder: Path, figures: dict) -> dict:
    """``served_figures`` into ``evaluation/served.json`` and the card (``metrics.served``, shown on its
    page beside the network's figures); the card is returned."""
    from training.export import update_card

    (folder / "evaluation").mkdir(parents=True, exist_ok=True)
    (folder / "evaluation" / "served.json").write_text(json.dumps(figures, indent=1) + "\n")
    card = json.loads((folder / "model.json").read_text())
    served = {key: figures[key] for key in ("measured_by", "headline", "unlike_the_network")}
    return update_card(folder, metrics=card["metrics"] | {"served": served | {"per_kind": figures["kind"]}})


def model_answers(folder: Path, pixels_for, photos: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(answers, confidences, cat/dog split ``(n, 2)``: p(cat), p(dog) scaled to sum to 1) of a released
    model folder over ``photos`` (all parts): a 3-class card by its class-probability rule, a 2-class
    card with a "neither" check (1.3.0) through ``catdog.Classifier`` and its threshold, a plain 2-class
    card (the CNN) by its argmax."""
    from training.evaluate import predict_litert
    from training.report import answer

    card = json.loads((folder / "model.json").read_text())
    size = int(card["input"]["size"])
    if card["labels"] == list(LABELS3):
        probs = np.concatenate(
            [predict_litert(folder / "model.tflite", pixels_for(rows, size)) for rows in photos.values()]
        )
        answers, confidences = answer(probs, card["neither"]["threshold"])
        return answers, confidences, cat_dog_split(probs)
    from catdog import Classifier

    classifier = Classifier(folder)
    outputs = [classifier.batch_outputs(pixels_for(rows, size)) for rows in photos.values()]
    probs, scores = zip(*outputs, strict=True)
    probs = np.concatenate(probs)
    argmax = np.argmax(probs, axis=1)
    if classifier.neither is None:  # a plain cat/dog model (the from-scratch CNN) answers one of the two
        return argmax, probs.max(axis=1), cat_dog_split(probs)
    scores = np.concatenate(scores)
    neither = scores < classifier.neither.threshold
    answers = np.where(neither, 2, argmax)
    confidences = np.where(neither, 1 - scores, probs.max(axis=1))
    return answers, confidences, cat_dog_split(probs)


def cat_dog_split(probabilities: np.ndarray) -> np.ndarray:
    """p(cat), p(dog) of any model's answers ``(..., 2 or 3)`` scaled to sum to 1: what it thinks of a pet."""
    pets = np.asarray(probabilities, dtype=np.float64)[..., :2]
    return pets / np.maximum(pets.sum(axis=-1, keepdims=True), 1e-12)


def compare(
    recipe: Recipe, run_dir: Path, folders: list[Path], out: Path, gallery: Path | None = None, docs=()
) -> dict:
    """``training.report`` of several released models on the same photos, side by side, and of every
    pair of them served together (``training.report.pairs``)."""
    from training.report import pairs, save_gallery, summarize, worst_errors, write_report

    prepared = prepare(recipe, run_dir)
    photos = photos_of(prepared)
    everything = [p for name in photos for p in photos[name]]
    reports, errors, splits = {}, {}, {}
    for folder in folders:
        card = json.loads((folder / "model.json").read_text())
        name = card["version"] if card["version"] not in reports else f"{card['version']} ({folder.name})"
        answers, confidences, splits[name] = model_answers(
            folder, lambda rows, size: load_part_pixels(prepared, rows, size, recipe.cache_dir), photos
        )
        reports[name] = summarize(everything, answers, confidences, np.argmax(splits[name], axis=1))
        errors[name] = worst_errors(everything, answers, confidences)
        if gallery is not None:  # the path asked for; one a model when there are several
            path = gallery if len(folders) == 1 else gallery.with_name(f"{gallery.stem}-{name}.png")
            saved = save_gallery(errors[name], prepared.split.root, path)
            print(f"gallery of {name}'s worst errors: {saved}")
    write_report(reports, errors, out, pairs(everything, splits))
    from training.report import cards_table, fill_markers, headline_table

    cards = {}
    for name, folder in zip(reports, folders, strict=True):
        cards[name] = json.loads((folder / "model.json").read_text())
        cards[name].setdefault("file_bytes", (folder / "model.tflite").stat().st_size)
    for doc in docs:  # generated tables inside hand-written docs, between markers
        fill_markers(doc, "report:headline", headline_table(reports))
        fill_markers(doc, "report:cards", cards_table(cards))
    return reports


def build_release(recipe: Recipe, out, run_dir, *, ablations=None, log=None, rebuild=None) -> dict:
    """The whole recipe; see the module docstring. ``rebuild`` (the recipe file, --out and --set the
    command was given) goes into the card as ``training.rebuild``, which its page shows."""
    log = log or (lambda message: print(message, flush=True))
    out, run_dir = Path(out), Path(run_dir)
    if recipe.members.recipes:
        from training.members import build_combined

        return build_combined(recipe, out, run_dir, log, rebuild=rebuild)
    prepared = prepare(recipe, run_dir, log)
    caches = cache(recipe, prepared, log)
    if ablations is not None:
        results = globals()["ablations"](recipe, prepared, caches, log)
        Path(ablations).parent.mkdir(parents=True, exist_ok=True)
        Path(ablations).write_text(json.dumps(results, indent=1) + "\n")
        from training.report import variants_table

        Path(ablations).with_suffix(".md").write_text("\n".join(variants_table(results)) + "\n")
    trained = train(recipe, prepared, caches, log, run_dir)
    trained.model.save(run_dir / "model.keras")
    (run_dir / "history.json").write_text(
        json.dumps(
            {p: {k: [float(v) for v in vs] for k, vs in h.items()} for p, h in trained.history.items()},
            indent=1,
        )
    )
    return export_release(recipe, trained, prepared, out, run_dir, log, rebuild=rebuild)
