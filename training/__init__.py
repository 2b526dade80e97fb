"""CaptionAI's Flickr8k captioner pipeline (see README.md).

Run a stage from the repository root with `/usr/bin/python3 -m training.<stage>`; its
defaults come from training/recipe.toml.
"""
