"""The one recipe (training/recipe.toml): each stage's defaults; flags override them.

    python3 -m training.recipe                 # the recipe file
    python3 -m training.recipe train.epochs    # one stage's value (run.sh reads `backbone` this way)
"""

import os
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11 (e.g. a GPU machine's): tomli is the same parser
    import tomli as tomllib

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipe.toml")


def load(path=PATH):
    with open(path, "rb") as f:
        return tomllib.load(f)


RECIPE = load()


def settings(stage, recipe=RECIPE):
    """{option: default} for a stage: the top-level keys and [model], then [stage] over them."""
    out = {k: v for k, v in recipe.items() if not isinstance(v, dict)}
    out.update(recipe.get("model", {}))
    out.update(recipe.get(stage, {}))
    return out


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return
    if not argv:
        print(f"# {PATH}")
        print(open(PATH, encoding="utf-8").read(), end="")
        return
    section, _, key = argv[0].rpartition(".")
    s = settings(section) if section else RECIPE
    if key not in s or section and not isinstance(RECIPE.get(section), dict):
        raise SystemExit(f"recipe: no {argv[0]} in {PATH}")
    print(s[key])


if __name__ == "__main__":
    main(sys.argv[1:])
