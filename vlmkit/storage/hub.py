"""Hugging Face Hub conventions for a MiniVLM: ``save_pretrained`` / ``from_pretrained`` /
``push_to_hub``, Hub ids wherever a checkpoint path is accepted, and a model card.

A vlmkit model on the Hub is a vlmkit checkpoint directory (``vlmkit.storage.checkpoint``: config,
safetensors weights, tokenizer, manifest) with a ``README.md`` model card: the same folder
``load_model`` reads locally, so nothing is converted on the way up or down. Downloads go
through ``huggingface_hub.snapshot_download`` (its cache, its offline mode, its tokens).
This is the mixin's contract (``huggingface_hub.ModelHubMixin``) done by hand: the mixin
rebuilds a model from JSON ``__init__`` arguments, and a MiniVLM also needs its tokenizer.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from huggingface_hub import HfApi, ModelCardData

from vlmkit.storage.checkpoint import is_hub_id, load_model, resolve, save_checkpoint

CARD_FILE = "README.md"


def model_card(model, metrics: dict | None = None, recipe: object | None = None, data: str = "",
               repo_id: str = "") -> str:
    """A README.md for ``model``: architecture, parameters, recipe, data and the ``metrics``
    of its run (as given: the card reports, it does not measure)."""
    config = model.config
    random_parts, pretrained = _random_and_pretrained(config)
    card_data = ModelCardData(library_name="vlmkit", license="apache-2.0",
                              tags=["vision-language", "visual-grounding", "vlmkit"], base_model=pretrained or None)
    counts = model.num_parameters()
    vision = config.vit_pretrained or f"ViT from scratch ({config.vit_layers} layers, {config.vit_hidden} wide)"
    language = config.lm_pretrained or f"Llama-style LM from scratch ({config.lm_layers} layers, {config.lm_hidden} wide)"
    if config.lm_gguf:
        language = f"{config.lm_pretrained or 'a language model'}, from the GGUF file `{Path(config.lm_gguf).name}`"
    lines = [f"---\n{card_data.to_yaml()}\n---", f"# {repo_id or 'MiniVLM'}", "",
             "A MiniVLM trained with [vlmkit](https://github.com/vlmkit/vlmkit): vision encoder -> projector -> "
             "causal language model, answering with boxes and outlines as text.", ""]
    if random_parts:
        lines += ["**Random weights.** Its parts with the published architectures of "
                  f"{' and '.join(random_parts)} were never pretrained (vlmkit's `random_init`): a model for cost "
                  "measurements and code-path checks, not for use.", ""]
    if config.lm_gguf:
        lines += [f"**Language model from a GGUF file** (`{Path(config.lm_gguf).name}`), its weights dequantised to "
                  "fp32: a quantised file is not the published checkpoint, so scores need not match one trained "
                  "from it.", ""]
    lines += ["## Architecture", "", "| part | what | parameters |", "|---|---|---:|",
              f"| vision | {vision} | {counts['vision']:,} |",
              f"| projector | pixel shuffle {config.mp_pixel_shuffle}, {config.mp_layers}-layer MLP -> "
              f"{model.num_image_tokens} image tokens | {counts['projector']:,} |",
              f"| language | {language}{f', LoRA rank {config.lm_lora_rank}' if config.lm_lora_rank else ''} | "
              f"{counts['language']:,} |",
              f"| total | | {counts['total']:,} |", "",
              f"Coordinates: `{config.codec_format}` format, {config.codec_bins} bins.", ""]
    if recipe is not None:
        lines += ["## Recipe", "", "```", repr(recipe), "```", ""]
    if data:
        lines += ["## Data", "", data, ""]
    lines += ["## Results", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---:|"]
        lines += [f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |"
                  for name, value in metrics.items()]
    else:
        lines += ["Not evaluated."]
    lines += ["", "## Use", "", "```python", "from vlmkit import load_model, ground", "",
              f"model = load_model({(repo_id or 'path/to/this/folder')!r})",
              "box = ground(model, \"photo.jpg\", \"the red circle\")", "```", ""]
    return "\n".join(lines)


def _random_and_pretrained(config) -> tuple[list[str], list[str]]:
    """The named parts built with random weights, and those pretrained (the card's base models):
    ``random_init`` builds every named part at random, except a language model read from ``lm_gguf``."""
    parts = [(config.vit_pretrained, config.random_init),
             (config.lm_pretrained, config.random_init and not config.lm_gguf)]
    named = [(name, random) for name, random in parts if name]
    return [name for name, random in named if random], [name for name, random in named if not random]


def save_pretrained(model, directory: str | Path, metrics: dict | None = None, recipe: object | None = None,
                    data: str = "", repo_id: str = "") -> Path:
    """Save ``model`` as a checkpoint with a model card (``README.md``)."""
    card = model_card(model, metrics, recipe, data, repo_id)
    return save_checkpoint(model, directory, companions={CARD_FILE: card})


def from_pretrained(name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None,
                    local_files_only: bool = False):
    """The model in a local checkpoint directory or a Hub repository (``"owner/name"``)."""
    return load_model(resolve(name_or_path, revision, cache_dir, local_files_only))


def push_to_hub(model, repo_id: str, metrics: dict | None = None, recipe: object | None = None, data: str = "",
                private: bool = False, token: str | None = None, api: HfApi | None = None) -> str:
    """Create (if needed) the model repository ``repo_id`` and upload ``model`` with its card;
    returns the commit URL. Needs a token with write access (``hf auth login``)."""
    api = api or HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", metrics, recipe, data, repo_id)
        return str(api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                     commit_message="Upload vlmkit MiniVLM"))


def card_metrics(card_text: str) -> dict[str, str]:
    """The metric table of a card written by :func:`model_card` (name -> value as written)."""
    section = card_text.split("## Results", 1)[-1].split("## Use", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (\S[^|]*?) \| ([^|]+?) \|$", section, re.M)
            if m.group(1) not in ("metric", "---")}


__all__ = ["is_hub_id", "resolve", "model_card", "save_pretrained", "from_pretrained", "push_to_hub", "card_metrics"]
