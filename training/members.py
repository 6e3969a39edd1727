"""A release that serves several networks as one graph: the recipe's ``[members]`` name their recipes.

Networks of different backbones are wrong on different photos (docs/evaluation/pairs/pairs.md), so the
mean of their probabilities makes fewer mistakes than either. Each member is built by its own recipe into
``<run>/<recipe file stem>/`` (its network, its own int8 release in ``int8/`` with its figures), or reused
from there when that network was trained from the same recipe (a member takes most of an hour on two
cores; its [release] names do not count). A member built here trains on the recipe's split, a reused one
must have trained on it. The members' networks then become one Keras model, pixels in,
the mean of their (cat, dog, neither) out, which ``training.build.export_release`` exports, gives its
"neither" threshold on val and measures like any release.

Public API:
    load_members(recipe) -> [(recipe file, Recipe)]: checks they share the data and the input size (before
        TensorFlow loads: this module imports Keras only to build)
    combine(models) -> keras.Model
    build_combined(recipe, out, run_dir, log) -> card
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from training.recipe import Recipe, load_recipe, recipe_dict, recipe_from_dict


def load_members(recipe: Recipe) -> list[tuple[str, Recipe]]:
    members = [(path, load_recipe(path)) for path in recipe.members.recipes]
    if len(members) < 2:
        raise ValueError(f"[members] names {len(members)} recipe(s); serving together needs two or more")
    for path, member in members:
        if member.members.recipes:
            raise ValueError(f"the member {path} has members of its own")
        if member.data != recipe.data:
            raise ValueError(f"the member {path} trains on other [[data]] than the recipe: the split differs")
    sizes = {member.model.size for _, member in members}
    if len(sizes) > 1:
        raise ValueError(f"the members take different input sizes {sorted(sizes)}; one graph takes one")
    return members


def trained_from(member: Recipe, member_dir: Path) -> bool:
    """Whether ``member_dir`` holds a network trained from ``member`` (its names aside)."""
    card, network = member_dir / "float" / "model.json", member_dir / "model.keras"
    if not (card.is_file() and network.is_file()):
        return False
    try:
        recorded = recipe_from_dict(json.loads(card.read_text())["training"]["recipe"])
    except (KeyError, ValueError, TypeError):  # a card from before a setting was renamed or removed
        return False
    return replace(recorded, release=member.release) == member


def combine(models: list):
    """One Keras model: pixels in, the mean of the members' probabilities out."""
    import keras

    pixels = keras.Input(models[0].input.shape[1:], name="pixels")
    answers = [
        keras.Model(model.input, model.output, name=f"member{index}_{model.name}")(pixels)
        for index, model in enumerate(models)
    ]
    return keras.Model(pixels, keras.layers.Average(name="mean")(answers), name="members")


def build_combined(recipe: Recipe, out, run_dir, log=print, rebuild=None) -> dict:
    import keras

    from training.build import Trained, build_release, export_release, prepare

    out, run_dir = Path(out), Path(run_dir)
    members = load_members(recipe)
    combined = replace(recipe, model=replace(recipe.model, size=members[0][1].model.size))
    prepared = prepare(combined, run_dir, log)  # the split every member trains on
    split = (run_dir / "split.json").read_text()
    models, facts = [], []
    for path, member in members:
        member_dir = run_dir / Path(path).stem
        if trained_from(member, member_dir):
            log(f"member {path}: reusing the network in {member_dir}")
        else:
            log(f"member {path}: building into {member_dir}")
            member_dir.mkdir(parents=True, exist_ok=True)
            if not (member_dir / "split.json").is_file():
                (member_dir / "split.json").write_text(split)
            build_release(member, member_dir / "int8", member_dir, log=log)
        if (member_dir / "split.json").read_text() != split:
            raise ValueError(f"the member in {member_dir} was trained on another split than {run_dir}'s")
        models.append(keras.models.load_model(member_dir / "model.keras", compile=False))
        released = member_dir / "int8" / "model.json"
        figures = json.loads(released.read_text())["metrics"]["int8"] if released.is_file() else None
        own = {k: v for k, v in recipe_dict(member).items() if k not in SERVED_SECTIONS or k == "release"}
        facts.append({"recipe_file": path, "run": str(member_dir), "recipe": own, "int8": figures})
    backbones = tuple(member.model.backbone for _, member in members)
    served = {key: value for key, value in recipe_dict(recipe).items() if key in SERVED_SECTIONS}
    trained = Trained(combine(models), None, backbones=backbones, card={"recipe": served, "members": facts})
    return export_release(combined, trained, prepared, out, run_dir, log, rebuild=rebuild)


#: What a recipe with members says itself; the rest is each member's.
SERVED_SECTIONS = ("release", "data", "eval", "neither", "members", "cache_dir")
