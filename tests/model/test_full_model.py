"""The full profile's model built offline at full size (random_init): the published
architectures, never a silent stand-in for pretrained weights."""

import pytest
import torch

from vlmkit.model import VLMConfig
from vlmkit.model.config import full_config
from vlmkit.model.published import PUBLISHED_PARAMETERS
from vlmkit.model.vision import VisionEncoder
from vlmkit.text.tokenizer import IMAGE
from vlmkit.train.profiles import load_profile


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return load_profile("full", announce=False).new_model(random_init=True)


def test_random_init_builds_the_published_sizes(full_model):
    """SigLIP B/16 (the default) and SmolLM2-135M with the published parameter counts; the LM
    differs only by the embedding rows of vlmkit's tokens (codec tokens and <image>)."""
    counts, tok = full_model.num_parameters(), full_model.tokenizer
    assert counts["vision"] == PUBLISHED_PARAMETERS["google/siglip-base-patch16-224"]
    added = len(tok) - 49152
    assert added == 1000 + 1 + 1  # 1000 location bins, the outline separator, <image>
    assert counts["language"] == PUBLISHED_PARAMETERS["HuggingFaceTB/SmolLM2-135M"] + added * 576
    lm = full_model.lm.config
    assert (lm.num_hidden_layers, lm.hidden_size, lm.num_attention_heads, lm.num_key_value_heads) == (30, 576, 9, 3)
    assert full_model.num_image_tokens == 49  # 14 x 14 patches, pixel shuffle 2
    assert full_model.vision.image_size == 224


def test_the_imagenet_vit_builds_at_its_published_size():
    encoder = VisionEncoder(full_config(vision="vit", random_init=True))
    assert sum(p.numel() for p in encoder.parameters()) == PUBLISHED_PARAMETERS["google/vit-base-patch16-224"]
    features = encoder(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 196, 768)  # the CLS token dropped


def test_the_stand_in_tokenizer_has_the_real_vocabulary_size_and_round_trips(full_model):
    tok = full_model.tokenizer
    text = "locate: the man on the left"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    # a location token takes the space before it (tests/text/test_real_tokenizer.py says why)
    assert tok.decode(tok(f"{text} <loc_12> <loc_999>", add_special_tokens=False)["input_ids"]) == \
        f"{text}<loc_12><loc_999>"
    assert tok.convert_tokens_to_ids(IMAGE) >= 49152 and tok.bos_token_id == tok.eos_token_id == 0
    assert tok("zebra Ünïcödé 123")["input_ids"]  # byte-level: any text encodes


def test_random_init_is_only_ever_explicit():
    """Without random_init the full config asks for the pretrained weights (a Hub download);
    random_init without any pretrained name to copy is refused, and so is an unknown name."""
    assert full_config().random_init is False
    with pytest.raises(ValueError, match="random_init builds the published architecture"):
        VLMConfig(random_init=True).validate()
    with pytest.raises(KeyError, match="no published architecture for 'someone/else'"):
        VisionEncoder(full_config(random_init=True, vit_pretrained="someone/else"))
    with pytest.raises(ValueError, match="vision='clip'"):
        full_config(vision="clip")


def test_the_full_model_trains_generates_and_reloads_on_cpu(full_model, tmp_path):
    """The whole full-profile path on the packaged COCO sample at 224 px: two training steps,
    a constrained answer that parses, evaluation, save, reload with identical logits."""
    from vlmkit.data.coco import CocoInstances, sample_folder
    from vlmkit.data.sources import epoch_shuffled
    from vlmkit.evaluation.evaluate import evaluate_grounding
    from vlmkit.storage.checkpoint import load_model, save_checkpoint
    from vlmkit.text.processor import Processor
    from vlmkit.text.tasks import RowStream
    from vlmkit.train.trainer import TrainConfig, Trainer

    rows = CocoInstances.from_folder(sample_folder()).referring_rows("val")
    stream = RowStream(epoch_shuffled(rows), "ground", full_model.codec, 10**6)
    trainer = Trainer(full_model, stream, TrainConfig(steps=2, batch_size=2, lr=1e-4, warmup_steps=0,
                                                      progress=False, mixed_precision="no"))
    history = trainer.train()
    assert [h["step"] for h in history if "loss" in h] == [2] and history[-1]["loss"] > 0
    result = evaluate_grounding(full_model, rows[:2], progress=False)
    assert result.metrics["parse_rate"] == 1.0  # constrained decoding: a box, even from random weights
    save_checkpoint(full_model, tmp_path / "full")
    reloaded = load_model(tmp_path / "full")
    batch = Processor.for_model(full_model).training_batch([stream[0]])
    full_model.eval(), reloaded.eval()
    with torch.no_grad():
        assert torch.equal(full_model(**batch).logits, reloaded(**batch).logits)
