"""LoRA adapters on the LM (vlmkit.model.lora, peft) on the tiny model."""

from dataclasses import replace

import pytest
import torch

from vlmkit.model.lora import add_lora, merge_lora, trainable_parameters, vlmkit_token_ids
from vlmkit.storage.checkpoint import load_checkpoint, load_model
from vlmkit.text.processor import Processor
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import curriculum_stream
from vlmkit.train.trainer import TrainConfig, Trainer

MICRO = dict(vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2, vit_conv_stem=8)
CONFIG = TrainConfig(steps=4, batch_size=4, lr=3e-3, warmup_steps=0, progress=False, seed=0, mixed_precision="no",
                     lora_rank=4, lora_alpha=8.0, lora_targets="q_proj,v_proj")


def _fresh():
    torch.manual_seed(0)
    model = new_model("tiny", **MICRO)
    return model, curriculum_stream("ground", model.codec, single_object_examples=100)


def _logits(model, stream):
    model.eval()
    with torch.no_grad():
        return model(**Processor.for_model(model).training_batch([stream[i] for i in range(3)])).logits


def test_only_adapters_vlmkit_token_rows_and_projector_train():
    model, _ = _fresh()
    add_lora(model, rank=4, alpha=8.0, targets="q_proj,v_proj")
    hidden, layers = 32, 1
    adapters = layers * 2 * (4 * hidden + hidden * 4)  # q and v: A (r x in) and B (out x r)
    token_rows = len(vlmkit_token_ids(model.tokenizer, model.codec)) * hidden
    projector = sum(p.numel() for p in model.projector.parameters())
    assert trainable_parameters(model) == adapters + token_rows + projector
    assert not any(p.requires_grad for p in model.vision.parameters())
    assert model.config.lm_lora_rank == 4 and model.config.lm_lora_targets == "q_proj,v_proj"
    with pytest.raises(ValueError, match="already has LoRA"):
        add_lora(model)


def test_unknown_target_modules_are_named():
    model, _ = _fresh()
    with pytest.raises(ValueError, match=r"no modules named \['query'\]"):
        add_lora(model, targets="query")


def test_training_moves_adapters_not_frozen_weights_and_merging_keeps_the_outputs():
    model, stream = _fresh()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    Trainer(model, stream, CONFIG).train()  # the Trainer adds the adapters the config asks for
    after = dict(model.named_parameters())
    assert not any(torch.equal(p, after[n]) for n, p in before.items() if n.startswith("projector."))
    for name, p in before.items():
        if name.startswith("vision.") or "q_proj.weight" in name:
            base = name.replace("q_proj.weight", "q_proj.base_layer.weight").replace("lm.", "lm.base_model.model.")
            assert torch.equal(p, after.get(name, after.get(base))), name
    unmerged = _logits(model, stream)
    merge_lora(model)
    assert model.config.lm_lora_rank == 0 and not any("lora_" in n for n, _ in model.named_parameters())
    assert torch.allclose(_logits(model, stream), unmerged, atol=1e-5)


def test_a_lora_checkpoint_saves_reloads_and_resumes_exactly(tmp_path):
    model, stream = _fresh()
    whole = Trainer(model, stream, CONFIG)
    whole.train()
    model2, stream2 = _fresh()
    first = Trainer(model2, stream2, CONFIG, output_dir=tmp_path / "run")
    first.train(until_step=2)
    first.save()
    reloaded = load_model(tmp_path / "run")
    assert reloaded.config.lm_lora_rank == 4 and torch.equal(_logits(reloaded, stream), _logits(model2, stream))
    resumed_model, _ = load_checkpoint(tmp_path / "run")
    second = Trainer(resumed_model, stream2, CONFIG, output_dir=tmp_path / "run")
    second.resume(tmp_path / "run")
    second.train()
    for (name, a), b in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="has LoRA rank 4 on 'q_proj,v_proj', the config asks for rank 8"):
        Trainer(resumed_model, stream2, replace(CONFIG, lora_rank=8))
