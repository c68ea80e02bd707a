"""Checkpoints as directories: written atomically, never over anything else, read safely.

A checkpoint directory holds::

    config.json            the VLMConfig (with both parts' Hugging Face configs: reloads offline)
    model.safetensors      the weights
    tokenizer.json ...     the tokenizer (save_pretrained files)
    training_state.pt      optional: optimizer, scheduler, step, RNG states, history
    vlmkit_checkpoint.json the manifest: every file the save wrote

Two ways to load: :func:`load_model` starts a new stage from the weights (the notebooks'
handover); :func:`load_checkpoint` returns the weights *and* the training state read as
one snapshot, to continue the same run exactly.

What a save promises:

* **Atomic.** Files go to a temporary sibling directory that replaces the old checkpoint
  only once complete. The old copy is renamed aside (``.NAME.old``) and deleted only after
  the new one is in place; a process killed between the two renames leaves ``.NAME.old``,
  which loading finds and the next save keeps until its own copy is in place.
* **Survives a kill at any file-system operation.** A directory is never deleted where it
  lies: it is first renamed to a temporary name (``.NAME.tmp-*``), so a process killed while
  deleting leaves a half-deleted temporary directory, which the next save removes, never a
  half-deleted ``.NAME.old`` (``benchmarks/fault_injection.py`` kills a run at each operation).
  A ``.NAME.old`` that earlier versions left half deleted (files that all bear checkpoint
  files' names) is recognised as such and removed.
* **Nothing else lost.** A save replaces only an empty directory or a vlmkit checkpoint
  holding nothing but its own files (:data:`COMPANION_FILES` included); anything else
  raises :class:`CheckpointError` naming the files it would have deleted.
* **One writer.** Savers of one directory take a lock file (``.NAME.lock``, kept beside it),
  so concurrent saves run one after the other; holding it, a save removes temporary
  directories (``.NAME.tmp-*``) that killed saves left behind.
* **No code runs on load.** The training state holds plain containers, tensors and
  numbers only and is read with ``torch.load(weights_only=True)``; a file that asks for
  anything else is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from filelock import FileLock, Timeout
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_model as load_safetensors
from safetensors.torch import save_model as save_safetensors
from transformers import AutoTokenizer

from vlmkit.model import MiniVLM, VLMConfig
from vlmkit.text.tokenizer import IMAGE

CONFIG_FILE, WEIGHTS_FILE, STATE_FILE = "config.json", "model.safetensors", "training_state.pt"
MANIFEST_FILE = "vlmkit_checkpoint.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, "tokenizer_config.json")
# Files vlmkit itself writes into a checkpoint directory besides a save: Trainer.save's
# history, vlmkit.train.stages.record_results' metrics, vlmkit.storage.hub's model card. Replacing a
# checkpoint may remove them.
COMPANION_FILES = ("history.json", "results.json", "README.md")
# What checkpoints saved before the manifest existed could hold (the tokenizer files that
# transformers' save_pretrained writes), so a save may still replace one of those.
_PRE_MANIFEST_FILES = {CONFIG_FILE, WEIGHTS_FILE, STATE_FILE, "tokenizer.json", "tokenizer_config.json",
                       "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "vocab.json",
                       "merges.txt"}
_CHECKPOINT_NAMES = _PRE_MANIFEST_FILES | {MANIFEST_FILE, *COMPANION_FILES}
STATE_KEYS = ("optimizer", "scheduler", "rng", "step", "history", "train_seconds", "train_config")
LOCK_TIMEOUT_SECONDS = 600.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CheckpointError(RuntimeError):
    """A checkpoint directory that is missing, incomplete, unsafe or does not fit the model,
    or a save that would destroy something that is not a checkpoint."""


# ---- locations ---------------------------------------------------------------------------
def _sibling(directory: Path, suffix: str) -> Path:
    return directory.with_name(f".{directory.name}.{suffix}")


def _absolute(directory: str | Path) -> Path:
    """``directory`` made absolute, so that ``"."`` or ``os.getcwd()`` has a name and a parent."""
    return Path(os.path.abspath(Path(directory).expanduser()))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``directory``. Reading from a folder nobody can write to
    needs no lock (nobody can save there either)."""
    if not os.access(directory.parent, os.W_OK):
        yield
        return
    lock = FileLock(str(_sibling(directory, "lock")), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except Timeout as err:
        raise CheckpointError(f"another process has held the lock on {directory} for {LOCK_TIMEOUT_SECONDS:.0f} s "
                              f"({lock.lock_file}); wait for its save to finish, or save elsewhere") from err
    try:
        yield
    finally:
        lock.release()


# ---- writing -----------------------------------------------------------------------------
def check_replaceable(directory: str | Path) -> None:
    """Raise :class:`CheckpointError` unless a save may write ``directory``: it does not exist,
    is empty, or is a vlmkit checkpoint holding only the files vlmkit writes."""
    directory = _absolute(directory)
    if not directory.exists():
        return
    if not directory.is_dir():
        raise CheckpointError(f"cannot save a checkpoint to {directory}: it is a file")
    entries = {p.name for p in directory.iterdir()}
    if not entries:
        return
    manifest = directory / MANIFEST_FILE
    if manifest.is_file():
        try:
            ours = set(json.loads(manifest.read_text())["files"]) | {MANIFEST_FILE}
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"refusing to replace {directory}: its manifest {manifest} is unreadable "
                                  f"({err}), so which files vlmkit wrote there is unknown") from err
    elif {CONFIG_FILE, WEIGHTS_FILE} <= entries:
        ours = _PRE_MANIFEST_FILES
    else:
        raise CheckpointError(f"refusing to save a checkpoint to {directory}: it is a non-empty directory that "
                              f"is not a vlmkit checkpoint (it holds {_listing(entries)}), and a save replaces "
                              f"the whole directory; choose a new or empty directory")
    foreign = entries - ours - set(COMPANION_FILES)
    if foreign:
        raise CheckpointError(f"refusing to replace the checkpoint {directory}: it also holds files vlmkit did "
                              f"not write ({_listing(foreign)}), which the save would delete; move them out or "
                              f"save elsewhere")


def _check_backup(backup: Path, target: Path) -> None:
    """Raise unless ``backup`` (``.NAME.old``) is absent or ours to delete. Saves before issue
    52 deleted it in place, so a kill could leave any part of one: files that all bear the
    names of a checkpoint's files are such a remnant, not someone else's."""
    if backup.is_dir() and all(p.is_file() and p.name in _CHECKPOINT_NAMES for p in backup.iterdir()):
        return
    try:
        check_replaceable(backup)
    except CheckpointError as err:
        raise CheckpointError(f"cannot save to {target}: {err} ({backup.name} is where a save keeps the previous "
                              f"checkpoint while it writes the new one)") from err


def _listing(names: set[str]) -> str:
    shown = sorted(names)[:5]
    return ", ".join(shown) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def save_checkpoint(model: MiniVLM, directory: str | Path, training_state: dict | None = None,
                    companions: dict[str, str] | None = None) -> Path:
    """Write ``model`` (and optionally ``training_state`` and text ``companions``, such as
    ``{"history.json": ...}``) to ``directory`` atomically; see the module doc for what a
    save promises. Returns the directory."""
    directory = _absolute(directory)
    for name in companions or {}:
        if name not in COMPANION_FILES:
            raise ValueError(f"{name!r} is not a checkpoint companion file; those are {COMPANION_FILES}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        check_replaceable(directory)
        _check_backup(_sibling(directory, "old"), directory)
        for orphan in directory.parent.glob(f".{directory.name}.tmp-*"):
            shutil.rmtree(orphan)  # left by a killed save: no save runs while we hold the lock
        tmp = _temporary(directory)
        tmp.mkdir()  # plain mkdir: the user's umask decides the permissions
        try:
            (tmp / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2))
            save_safetensors(_unwrap(model), str(tmp / WEIGHTS_FILE))
            model.tokenizer.save_pretrained(tmp)
            if training_state is not None:
                torch.save(training_state, tmp / STATE_FILE)
            for name, text in (companions or {}).items():
                (tmp / name).write_text(text)
            files = sorted(p.name for p in tmp.iterdir())
            (tmp / MANIFEST_FILE).write_text(json.dumps({"format": 1, "files": files}, indent=1))
            _fsync_directory(tmp, with_files=True)
            _replace_directory(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return directory


def _replace_directory(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, keeping a loadable copy at every moment."""
    backup = _sibling(target, "old")
    if target.exists():
        # target is the good copy, so a leftover backup can go; then target moves aside
        _discard(backup, target)
        os.replace(target, backup)
    # else: if a backup exists it is the only good copy (an earlier save died between
    # the renames): it stays until the new copy is in place
    os.replace(new, target)
    _fsync_directory(target.parent)
    _discard(backup, target)


def _temporary(directory: Path) -> Path:
    """A fresh ``.NAME.tmp-*`` sibling: the only kind of directory a save writes or deletes files in."""
    return _sibling(directory, f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _discard(backup: Path, target: Path) -> None:
    """Delete ``target``'s ``backup`` by renaming it to a temporary name first: one atomic step
    takes it from whole to garbage, so a kill mid-deletion leaves a ``.NAME.tmp-*`` directory,
    which the next save removes, never a half-deleted backup, which would block it."""
    if not backup.exists():
        return
    doomed = _temporary(target)
    os.replace(backup, doomed)
    shutil.rmtree(doomed, ignore_errors=True)  # whatever a failure leaves, the next save removes


def _fsync_directory(directory: Path, with_files: bool = False) -> None:
    """Flush ``directory`` (and its files) to disk, so a power cut cannot reorder the renames
    before the data. Skipped where the platform cannot open a directory (Windows)."""
    if with_files:
        for path in directory.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """Strip torch.compile's wrapper (its ``_orig_mod.`` prefix) before saving."""
    return getattr(model, "_orig_mod", model)


def is_hub_id(name: str | Path) -> bool:
    """True for ``"owner/name"`` that is not an existing local path."""
    return isinstance(name, str) and bool(_HUB_ID.match(name)) and not Path(name).exists()


def resolve(name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None,
            local_files_only: bool = False) -> Path:
    """A local checkpoint directory for ``name_or_path``: the path itself, or the Hub
    repository's snapshot (downloaded, or from the cache with ``local_files_only``)."""
    if not is_hub_id(name_or_path):
        return Path(name_or_path)
    try:
        return Path(snapshot_download(str(name_or_path), revision=revision, cache_dir=cache_dir,
                                      local_files_only=local_files_only))
    except (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError) as err:
        # "owner/name" is also how a mistyped local path looks: say both
        raise CheckpointError(f"no checkpoint folder {name_or_path!r} here, and no Hugging Face Hub repository of "
                              f"that name could be fetched ({type(err).__name__}: {str(err).splitlines()[0]})") from err



# ---- reading -----------------------------------------------------------------------------
def _resolve(directory: Path) -> Path:
    backup = _sibling(directory, "old")
    if not directory.exists() and backup.exists():
        return backup  # a save died between its two renames: the previous checkpoint is intact here
    return directory


def check_checkpoint(directory: str | Path) -> Path:
    """The directory to read, or :class:`CheckpointError` naming what is missing."""
    directory = _resolve(_absolute(directory))
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint at {directory}")
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is incomplete: missing {', '.join(missing)}")
    return directory


def load_model(directory: str | Path) -> MiniVLM:
    """A MiniVLM with the weights of ``directory``, built offline from its validated config.
    ``directory`` may be a Hugging Face Hub id (``"owner/name"``, not a local path): its
    snapshot is downloaded first (:func:`resolve`)."""
    directory = resolve(directory)
    with _locked(_absolute(directory)):
        return _read_model(check_checkpoint(directory))


def load_checkpoint(directory: str | Path) -> tuple[MiniVLM, dict]:
    """The model and its training state, read as one snapshot (no save can run in between):
    what :meth:`vlmkit.train.trainer.Trainer.resume` continues from."""
    with _locked(_absolute(directory)):
        path = check_checkpoint(directory)
        return _read_model(path), _read_training_state(path)


def load_training_state(directory: str | Path) -> dict:
    """The training state saved with a checkpoint (see :func:`load_checkpoint`)."""
    with _locked(_absolute(directory)):
        return _read_training_state(check_checkpoint(directory))


def _read_model(directory: Path) -> MiniVLM:
    config_path = directory / CONFIG_FILE
    try:
        config = VLMConfig.from_dict(json.loads(config_path.read_text()), complete=True)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as err:
        raise CheckpointError(f"{config_path} is not a valid vlmkit config: {err}") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as err:  # noqa: BLE001 - transformers raises many types for a broken file; all are fatal here
        raise CheckpointError(f"cannot read the tokenizer of {directory} (tokenizer.json, tokenizer_config.json): "
                              f"{type(err).__name__}: {err}") from err
    _check_tokenizer_fits(config, tokenizer, directory)
    model = MiniVLM(config, tokenizer)
    weights = directory / WEIGHTS_FILE
    try:
        missing, unexpected = load_safetensors(model, str(weights), strict=False)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CheckpointError(f"cannot load weights from {weights}: {err}") from err
    if missing or unexpected:
        raise CheckpointError(f"weights in {weights} do not fit the config: "
                              f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return model


def _check_tokenizer_fits(config: VLMConfig, tokenizer, directory: Path) -> None:
    """The config's codec and the tokenizer must agree: an edited ``codec_bins`` would
    otherwise decode every box at the wrong scale without a word."""
    vocab = tokenizer.get_vocab()
    problems = []
    if IMAGE not in vocab:
        problems.append(f"the tokenizer has no {IMAGE} token")
    if config.codec_format == "loc":
        last, beyond = f"<loc_{config.codec_bins - 1}>", f"<loc_{config.codec_bins}>"
        if last not in vocab or beyond in vocab:
            bins = sum(1 for token in vocab if token.startswith("<loc_"))
            problems.append(f"config.json says codec_bins={config.codec_bins} but the tokenizer has {bins} "
                            f"location tokens")
    lm_vocab = (config.lm_hf_config or {}).get("vocab_size")
    if lm_vocab is not None and lm_vocab != len(tokenizer):
        problems.append(f"config.json's language model has {lm_vocab} token embeddings but the tokenizer has "
                        f"{len(tokenizer)} tokens")
    if problems:
        raise CheckpointError(f"the config and tokenizer of {directory} do not fit: {'; '.join(problems)}")


def _read_training_state(directory: Path) -> dict:
    path = directory / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} has weights but no {STATE_FILE}: it can start a new stage "
                              f"(load_model) but not resume a run")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or unsafe: torch raises several types
        raise CheckpointError(f"cannot read {path}: {type(err).__name__}: {str(err).splitlines()[0][:300]} "
                              f"(a training state holds only tensors, numbers and plain containers; "
                              f"anything else is refused, since unpickling it could run code)") from err
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a vlmkit training state: missing {missing}")
    return state


# ---- random number generators, as plain containers ---------------------------------------
def rng_state() -> dict:
    """Python's, numpy's and torch's generator states, in types ``weights_only`` loading accepts."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"], state=dict(state["numpy"]["state"]))
    numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
