import json

import pytest
import torch

from vlmkit.checkpoint import CheckpointError, load_model, load_training_state, save_checkpoint
from vlmkit.processor import Processor


def _logits(model, stream):
    processor = Processor.for_model(model)
    batch = processor.training_batch([stream[i] for i in range(3)])
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_save_then_load_gives_identical_logits(micro_model, ground_stream, tmp_path):
    save_checkpoint(micro_model, tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert torch.equal(_logits(micro_model, ground_stream), _logits(loaded, ground_stream))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) >= ["config.json", "model.safetensors"]


def test_overwrite_that_fails_midway_leaves_the_old_checkpoint_whole(micro_model, ground_stream, tmp_path,
                                                                    monkeypatch):
    target = tmp_path / "ckpt"
    save_checkpoint(micro_model, target)
    before = _logits(micro_model, ground_stream)
    with torch.no_grad():
        for p in micro_model.parameters():
            p.add_(1.0)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut while writing the tokenizer")

    monkeypatch.setattr(micro_model.tokenizer, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(micro_model, target)
    assert torch.equal(_logits(load_model(target), ground_stream), before)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary directory left behind


def test_a_save_that_died_between_renames_is_recovered(micro_model, ground_stream, tmp_path):
    target = tmp_path / "ckpt"
    save_checkpoint(micro_model, target)
    target.rename(tmp_path / ".ckpt.old")  # the state after the first rename of an overwrite
    assert torch.equal(_logits(load_model(target), ground_stream), _logits(micro_model, ground_stream))


def test_missing_and_wrong_files_give_clear_errors(micro_model, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(tmp_path / "nowhere")
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    (target / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_model(target)

    target = save_checkpoint(micro_model, tmp_path / "ckpt2")
    (target / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot load weights"):
        load_model(target)

    target = save_checkpoint(micro_model, tmp_path / "ckpt3")
    config = json.loads((target / "config.json").read_text())
    config["lm_hf_config"]["hidden_size"] = 64
    config["lm_hf_config"]["head_dim"] = 32
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="cannot load weights|do not fit"):
        load_model(target)

    (target / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not a valid vlmkit config"):
        load_model(target)

    with pytest.raises(CheckpointError, match="no training_state.pt"):
        load_training_state(save_checkpoint(micro_model, tmp_path / "weights_only"))
