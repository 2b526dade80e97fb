"""Every recipe key reaches a stage's flag, so that a misspelt or stale key fails here
instead of being ignored.

    /usr/bin/python3 -m unittest training.test_recipe      (from the repository root)
"""

import importlib
import unittest

from training import recipe

STAGES = ["convert_backbone", "extract_features", "train", "scst", "evaluate", "export", "model_card", "finetune"]


def defaults(stage):
    return vars(importlib.import_module(f"training.{stage}").parser().parse_args([]))


class RecipeTest(unittest.TestCase):
    def test_stage_sections_are_flags(self):
        for section, keys in recipe.RECIPE.items():
            if isinstance(keys, dict) and section != "model":
                self.assertIn(section, STAGES)
                got = defaults(section)
                for k, v in keys.items():
                    self.assertIn(k, got, f"[{section}] {k} is no flag of training.{section}")
                    self.assertEqual(got[k], v, f"[{section}] {k}")

    def test_shared_keys_reach_a_stage(self):
        shared = {k: v for k, v in recipe.RECIPE.items() if not isinstance(v, dict)}
        shared.update(recipe.RECIPE["model"])
        stages = {s: defaults(s) for s in STAGES}
        for k, v in shared.items():
            users = [s for s, d in stages.items() if k in d]
            self.assertTrue(users, f"{k} is no stage's flag")
            for s in users:
                if stages[s][k] is not None:  # None: derived from the recipe (convert_backbone's models)
                    self.assertEqual(stages[s][k], v, f"training.{s} --{k.replace('_', '-')}")


if __name__ == "__main__":
    unittest.main()
