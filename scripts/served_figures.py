"""A released 3-class model's figures as served (``training.build.served_figures``: every answer from
``catdog.Classifier``, blank-image rule included), measured again on a release made before ``release``
measured them itself, or after serving's rules changed. Writes them to the release's
``evaluation/served.json`` and into its card (``metrics.served``, shown on its page):

    nice -n 10 .venv/bin/python scripts/served_figures.py training/recipes/2.4.0.toml models/catdog \
        runs/release-2.4.0

About a minute on two cores (5,250 photos, one at a time as serving answers them). The run folder needs
only the recipe's split (``split.json`` is made there if missing, as ``release`` does).
"""

from __future__ import annotations

import json

from training.build import photos_of, record_served, served_figures
from training.study import model_study


def main() -> None:
    args, recipe, prepared, _ = model_study(__doc__, out=False)
    figures = served_figures(
        prepared, photos_of(prepared), args.model, recipe.cache_dir, "scripts/served_figures.py"
    )
    print(json.dumps(record_served(args.model, figures)["metrics"]["served"]["headline"], indent=1))


if __name__ == "__main__":
    main()
