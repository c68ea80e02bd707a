"""Hugging Face conventions (vlmkit.storage.hub), offline: local folders and a local Hub cache."""

import shutil
from pathlib import Path

import pytest
import torch

from vlmkit import load_model
from vlmkit.storage.checkpoint import MANIFEST_FILE
from vlmkit.storage.hub import card_metrics, from_pretrained, is_hub_id, model_card, push_to_hub, save_pretrained
from vlmkit.text.processor import Processor
from vlmkit.train.profiles import new_model
from vlmkit.train.recipes import recipe_for
from vlmkit.train.streams import shapeworld_stream

MICRO = dict(vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2, vit_conv_stem=8)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return new_model("tiny", **MICRO)


def _logits(model):
    stream = shapeworld_stream("ground", model.codec)
    model.eval()
    with torch.no_grad():
        return model(**Processor.for_model(model).training_batch([stream[i] for i in range(2)])).logits


def test_from_pretrained_of_save_pretrained_gives_identical_logits(model, tmp_path):
    save_pretrained(model, tmp_path / "m", metrics={"acc@0.5": 0.9})
    assert (tmp_path / "m" / "README.md").is_file() and (tmp_path / "m" / MANIFEST_FILE).is_file()
    assert torch.equal(_logits(from_pretrained(tmp_path / "m")), _logits(model))
    save_pretrained(model, tmp_path / "m")  # the card is vlmkit's own file: saving again replaces it


def test_the_model_card_lists_the_metrics_it_was_given(model):
    recipe = recipe_for("02_grounding", "tiny")
    card = model_card(model, metrics={"acc@0.5": 0.9083, "miou": 0.7512, "n": 300},
                      recipe=recipe, data="ShapeWorld, 2-4 objects", repo_id="me/tiny")
    assert card_metrics(card) == {"acc@0.5": "0.9083", "miou": "0.7512", "n": "300"}
    assert card.startswith("---\n") and "library_name: vlmkit" in card
    assert f"GroundRecipe(steps={recipe.steps}," in card and "ShapeWorld, 2-4 objects" in card and "load_model('me/tiny')" in card
    assert f"{model.num_parameters()['total']:,}" in card
    assert card_metrics(model_card(model)) == {} and "Not evaluated." in model_card(model)


def test_a_random_init_card_names_the_random_parts_and_claims_only_pretrained_ones():
    from vlmkit.model.config import full_config

    class Stub:  # the card reads only config, parameter counts and image tokens
        config = full_config(random_init=True)
        num_image_tokens = 49

        @staticmethod
        def num_parameters():
            return {"vision": 1, "projector": 2, "language": 3, "total": 6}

    card = model_card(Stub())
    assert "**Random weights.**" in card and "base_model" not in card
    assert "base_model" in model_card(type("Real", (Stub,), {"config": full_config()})())
    # a language model read from a GGUF file is pretrained: only the vision encoder is random
    gguf = full_config(random_init=True, lm_gguf="/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                       lm_pretrained="HuggingFaceTB/SmolLM2-135M-Instruct")
    card = model_card(type("Gguf", (Stub,), {"config": gguf})())
    random_note = next(line for line in card.splitlines() if line.startswith("**Random weights.**"))
    assert "google/siglip-base-patch16-224" in random_note and "SmolLM2" not in random_note
    assert "base_model:\n- HuggingFaceTB/SmolLM2-135M-Instruct\nlibrary_name" in card
    assert "from the GGUF file `SmolLM2-135M-Instruct.Q4_1.gguf`" in card and "dequantised to fp32" in card


def _cache_snapshot(cache: Path, repo_id: str, folder: Path, commit: str = "a" * 40) -> None:
    """Lay ``folder`` out as huggingface_hub's cache holds a downloaded model repository."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_a_hub_id_loads_from_the_hub_cache(model, tmp_path):
    """load_model and from_pretrained accept "owner/name"; snapshot_download finds it in its cache."""
    save_pretrained(model, tmp_path / "m")
    _cache_snapshot(tmp_path / "cache", "vlmkit/tiny-test", tmp_path / "m")
    reloaded = from_pretrained("vlmkit/tiny-test", cache_dir=tmp_path / "cache", local_files_only=True)
    assert torch.equal(_logits(reloaded), _logits(model))
    assert is_hub_id("vlmkit/tiny-test") and not is_hub_id(str(tmp_path / "m")) and not is_hub_id("checkpoints")
    from vlmkit.storage.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="no checkpoint folder 'vlmkit/not-there' here, and no Hugging Face Hub "
                                              "repository of that name could be fetched"):
        from_pretrained("vlmkit/not-there", cache_dir=tmp_path / "cache", local_files_only=True)


def test_push_to_hub_uploads_a_folder_that_loads(model, tmp_path):
    """push_to_hub creates the repository and uploads the checkpoint with its card; a
    recording HfApi stands in for the network (tests never call it)."""
    class RecordingApi:
        def __init__(self):
            self.calls = []

        def create_repo(self, repo_id, **kwargs):
            self.calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, folder_path, repo_id, **kwargs):
            self.calls.append(("upload_folder", repo_id, kwargs))
            _cache_snapshot(tmp_path / "cache", repo_id, Path(folder_path))
            return f"https://huggingface.co/{repo_id}/commit/{'a' * 40}"

    api = RecordingApi()
    url = push_to_hub(model, "me/pushed", metrics={"acc@0.5": 0.5}, private=True, api=api)
    assert url.endswith("a" * 40)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"] and api.calls[0][2]["private"] is True
    pulled = load_model(str(tmp_path / "cache" / "models--me--pushed" / "snapshots" / ("a" * 40)))
    assert torch.equal(_logits(pulled), _logits(model))
    card = (tmp_path / "cache" / "models--me--pushed" / "snapshots" / ("a" * 40) / "README.md").read_text()
    assert card_metrics(card) == {"acc@0.5": "0.5"} and "# me/pushed" in card
