import json
import multiprocessing
import os
import stat

import pytest
import torch

from vlmkit.storage import checkpoint
from vlmkit.storage.checkpoint import (CheckpointError, check_replaceable, load_checkpoint, load_model,
                                       load_training_state, save_checkpoint)
from vlmkit.text.processor import Processor


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
    # no temporary directory left behind; the lock file stays (deleting lock files races)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.lock", "ckpt"]


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


# ---- nothing lost ----------------------------------------------------------------------------
def test_a_save_refuses_a_directory_that_is_not_a_checkpoint(micro_model, tmp_path, monkeypatch):
    experiment = tmp_path / "exp"
    experiment.mkdir()
    (experiment / "notes.txt").write_text("three weeks of notes")
    with pytest.raises(CheckpointError, match=r"not a vlmkit checkpoint \(it holds notes.txt\)"):
        save_checkpoint(micro_model, experiment)
    assert (experiment / "notes.txt").read_text() == "three weeks of notes"

    monkeypatch.chdir(experiment)  # save_checkpoint(model, os.getcwd()) must not empty the working directory
    for where in (os.getcwd(), "."):
        with pytest.raises(CheckpointError, match="refusing"):
            save_checkpoint(micro_model, where)
    assert sorted(p.name for p in experiment.iterdir()) == ["notes.txt"]

    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="it is a file"):
        save_checkpoint(micro_model, tmp_path / "file")


def test_a_checkpoint_holding_a_foreign_file_is_not_replaced(micro_model, tmp_path):
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    (target / "results.json").write_text("{}")  # a companion vlmkit writes: may be replaced
    save_checkpoint(micro_model, target)
    (target / "my_analysis.ipynb").write_text("{}")
    with pytest.raises(CheckpointError, match=r"files vlmkit did not write \(my_analysis.ipynb\)"):
        save_checkpoint(micro_model, target)
    assert (target / "my_analysis.ipynb").exists()
    assert check_replaceable(tmp_path / "new") is None and check_replaceable(tmp_path / "ckpt2") is None


def test_a_checkpoint_saved_before_the_manifest_can_still_be_replaced(micro_model, ground_stream, tmp_path):
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    (target / checkpoint.MANIFEST_FILE).unlink()
    save_checkpoint(micro_model, target)
    assert torch.equal(_logits(load_model(target), ground_stream), _logits(micro_model, ground_stream))


def test_a_second_failure_after_a_death_between_renames_keeps_the_last_good_copy(micro_model, ground_stream,
                                                                                 tmp_path, monkeypatch):
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    before = _logits(micro_model, ground_stream)
    target.rename(tmp_path / ".ckpt.old")  # the first save died between its two renames
    monkeypatch.setattr(micro_model.tokenizer, "save_pretrained", lambda *a, **k: (_ for _ in ()).throw(
        OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(micro_model, target)  # and the next save fails too
    assert torch.equal(_logits(load_model(target), ground_stream), before)


def test_orphaned_temporary_directories_are_cleaned_and_permissions_follow_the_umask(micro_model, tmp_path):
    orphan = tmp_path / ".ckpt.tmp-12345-deadbeef"
    orphan.mkdir()
    (orphan / "model.safetensors").write_bytes(b"half written")
    old_umask = os.umask(0o022)
    try:
        target = save_checkpoint(micro_model, tmp_path / "ckpt")
    finally:
        os.umask(old_umask)
    assert not orphan.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # not mkdtemp's 0700


def _save_in_process(directory: str, seed: int, done) -> None:
    from tests.conftest import MICRO
    from vlmkit.train.profiles import new_model

    torch.manual_seed(seed)
    model = new_model("tiny", **MICRO)
    for _ in range(3):
        save_checkpoint(model, directory)
    done.put(seed)


def test_concurrent_savers_take_turns_and_leave_one_whole_checkpoint(tmp_path):
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    savers = [context.Process(target=_save_in_process, args=(str(tmp_path / "ckpt"), seed, done)) for seed in (1, 2)]
    for p in savers:
        p.start()
    for p in savers:
        p.join(timeout=240)
    assert [p.exitcode for p in savers] == [0, 0]  # no ENOTEMPTY, no other error in either
    assert sorted(done.get(timeout=5) for _ in savers) == [1, 2]
    load_model(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.lock", "ckpt"]


# ---- no code runs from a file -------------------------------------------------------------------
class _CreatesAFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_crafted_training_state_never_runs_its_code(micro_model, tmp_path):
    target = save_checkpoint(micro_model, tmp_path / "ckpt", {"step": 0})
    marker = tmp_path / "pwned"
    torch.save({"optimizer": _CreatesAFile(marker), "step": 3}, target / checkpoint.STATE_FILE)
    with pytest.raises(CheckpointError, match=r"cannot read .*training_state.pt.*refused"):
        load_checkpoint(target)
    assert not marker.exists()


def test_the_training_state_round_trips_as_plain_data(micro_model, tmp_path):
    import random

    import numpy as np

    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    state = {"optimizer": {}, "scheduler": {}, "rng": checkpoint.rng_state(), "step": 7, "history": [{"loss": 1.0}],
             "train_seconds": 2.5, "train_config": {"lr": 1e-3}}
    expected = (random.random(), np.random.rand(), torch.rand(1))
    target = save_checkpoint(micro_model, tmp_path / "ckpt", state)
    _, loaded = load_checkpoint(target)
    checkpoint.set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(1), expected[2])
    assert loaded["step"] == 7 and loaded["history"] == [{"loss": 1.0}]


# ---- bad files name themselves --------------------------------------------------------------------
def test_a_corrupt_training_state_or_tokenizer_names_the_file(micro_model, tmp_path):
    target = save_checkpoint(micro_model, tmp_path / "ckpt", {"step": 0})
    (target / checkpoint.STATE_FILE).write_bytes(b"\x80\x02truncated")
    with pytest.raises(CheckpointError, match=r"cannot read .*ckpt/training_state.pt"):
        load_training_state(target)
    torch.save({"step": 1}, target / checkpoint.STATE_FILE)
    with pytest.raises(CheckpointError, match=r"training_state.pt is not a vlmkit training state: missing \['optim"):
        load_training_state(target)
    (target / "tokenizer.json").write_text("{ broken")
    with pytest.raises(CheckpointError, match=r"cannot read the tokenizer of .*ckpt"):
        load_model(target)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("codec_bins"), r"missing fields \['codec_bins'\]"),
    (lambda c: c.update(codec_bins=8), r"codec_bins=8 but the tokenizer has 16 location tokens"),
    (lambda c: c.update(codec_bins=1000), r"codec_bins=1000 but the tokenizer has 16 location tokens"),
    (lambda c: c.update(codec_format="xml"), r"codec_format='xml' is not one of"),
    (lambda c: c.update(vit_hidden=-32), r"vit_hidden=-32 must be at least 1"),
    (lambda c: c.update(lm_layers="1"), r"lm_layers='1' is not int"),
    (lambda c: c.update(lm_hf_config=dict(c["lm_hf_config"], vocab_size=10)), r"10 token embeddings but the "
                                                                               r"tokenizer has \d+ tokens"),
])
def test_an_edited_config_is_refused_on_load_with_its_file(micro_model, tmp_path, edit, message):
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    config = json.loads((target / "config.json").read_text())
    edit(config)
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(target)
    assert str(target) in str(err.value)


def test_a_checkpoint_saved_before_later_config_fields_existed_still_loads(micro_model, tmp_path):
    """A config.json without the fields added since (vit_family, LoRA, random_init) is an
    older checkpoint: it loads as the model it was saved from; other missing fields still fail."""
    from vlmkit.model.config import ADDED_FIELDS

    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    config = json.loads((target / "config.json").read_text())
    for name in ADDED_FIELDS:
        config.pop(name)
    (target / "config.json").write_text(json.dumps(config))
    old = load_model(target)
    assert old.config == micro_model.config
    for (name, a), b in zip(micro_model.state_dict().items(), old.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_backup_half_deleted_by_a_killed_save_never_blocks_the_next(micro_model, ground_stream, tmp_path):
    """Issue 52's wreck: a save killed inside its final clean-up had unlinked the backup's
    manifest but not its history.json; every later save into that checkpoint refused."""
    target = save_checkpoint(micro_model, tmp_path / "ckpt", companions={"history.json": "[]"})
    wreck = tmp_path / ".ckpt.old"
    wreck.mkdir()
    (wreck / "history.json").write_text("[]")
    with torch.no_grad():
        for p in micro_model.parameters():
            p.add_(1.0)
    save_checkpoint(micro_model, target, companions={"history.json": "[]"})
    assert torch.equal(_logits(load_model(target), ground_stream), _logits(micro_model, ground_stream))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.lock", "ckpt"]


def test_a_save_killed_while_deleting_the_backup_leaves_only_a_temporary_directory(micro_model, tmp_path):
    """The fix of issue 52: the backup is renamed to ``.NAME.tmp-*`` before it is deleted, so
    a kill between two of its unlinks leaves a temporary directory, which the next save removes."""
    target = save_checkpoint(micro_model, tmp_path / "ckpt", companions={"history.json": "[]"})
    pid = os.fork()
    if pid == 0:  # a save that dies (no clean-up, as a kill) at the first unlink of the old copy
        def die(*args, **kwargs):
            os._exit(17)

        checkpoint.os.unlink = die
        save_checkpoint(micro_model, target, companions={"history.json": "[]"})
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 17
    lock, doomed, kept = sorted(p.name for p in tmp_path.iterdir())  # no .ckpt.old
    assert (lock, kept) == (".ckpt.lock", "ckpt") and doomed.startswith(".ckpt.tmp-")
    assert sorted(p.name for p in (tmp_path / doomed).iterdir()) == sorted(p.name for p in target.iterdir())
    load_model(target)
    save_checkpoint(micro_model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.lock", "ckpt"]


def test_a_backup_place_holding_files_vlmkit_never_writes_is_not_deleted(micro_model, tmp_path):
    target = save_checkpoint(micro_model, tmp_path / "ckpt")
    foreign = tmp_path / ".ckpt.old"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match=r"cannot save to .*ckpt: .*\(it holds notes.txt\).*\.ckpt\.old is where"):
        save_checkpoint(micro_model, target)
    assert (foreign / "notes.txt").read_text() == "mine"
