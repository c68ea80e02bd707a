"""Does a checkpoint survive what happens to real runs? Three experiments, one summary.

    python benchmarks/fault_injection.py [--kills 20] [--steps 30] [--savers 3] [--saves 5] [--seed 0]

(a) **Killed training.** A small training run (a micro MiniVLM, a save after every step) is
    killed with SIGKILL at random moments, at least ``--kills`` times in all, and started
    again each time; it resumes from whatever its last save left (``Trainer.resume_if_saved``).
    Its final weights must be bit-identical to those of a run never interrupted.
(b) **Death at every step of a save.** For every file-system step of a save (each write,
    fsync, rename, delete), a forked process saves and dies at that step without any
    clean-up (``os._exit``, as a kill would); then, from each such wreck, a second save dies
    at each of its steps in turn. After every death a checkpoint must load, holding either
    the weights of the last finished save or those of the save in progress.
(c) **Concurrent savers.** ``--savers`` processes each save their own model ``--saves``
    times to one directory while another process loads it in a loop. Every save must
    succeed, every load must return one saver's weights whole, and one checkpoint is left.

Exit status 0 when all three hold. Run alone: nothing here is a timing, but (a) kills at
moments drawn from the uninterrupted run's duration.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve()
MICRO = dict(vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2, codec_bins=16)


def micro_model(seed: int):
    from vlmkit.train.profiles import new_model

    torch.manual_seed(seed)
    return new_model("tiny", **MICRO)


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- (a) killed training ------------------------------------------------------------------------
def train_child(directory: str, steps: int) -> None:
    """One training process: resume from ``directory`` if it holds an unfinished run, train to the end."""
    from vlmkit.train.streams import curriculum_stream
    from vlmkit.train.trainer import TrainConfig, Trainer

    torch.set_num_threads(1)
    model = micro_model(0)
    config = TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, save_every=1, progress=False,
                         mixed_precision="no")
    trainer = Trainer(model, curriculum_stream("ground", model.codec, single_object_examples=8), config,
                      output_dir=directory)
    with contextlib.redirect_stdout(sys.stderr):
        trainer.resume_if_saved()
    print("training", flush=True)  # the parent's kills fall after this line, not during imports
    trainer.train()


def run_child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until_training(child: subprocess.Popen) -> None:
    if child.stdout.readline().strip() != b"training":
        child.wait()
        raise RuntimeError(f"a training process failed to start: {child.stderr.read().decode()[-2000:]}")


def killed_training(work: Path, kills: int, steps: int, rng: random.Random) -> bool:
    from vlmkit.storage.checkpoint import load_checkpoint

    reference = run_child("--child-train", str(work / "reference"), str(steps))
    wait_until_training(reference)
    start = time.perf_counter()
    if reference.wait() != 0:
        raise RuntimeError(f"the uninterrupted run failed: {reference.stderr.read().decode()[-2000:]}")
    duration = time.perf_counter() - start  # training and saving, imports excluded
    expected, _ = load_checkpoint(work / "reference")
    expected = expected.state_dict()
    delivered, trials, identical = 0, 0, 0
    while delivered < kills:
        trials += 1
        directory = work / f"killed-{trials}"
        kills_this_trial, starts = 0, 0
        while True:
            starts += 1
            child = run_child("--child-train", str(directory), str(steps))
            wait_until_training(child)
            if kills_this_trial < 5 and delivered < kills:
                time.sleep(rng.uniform(0.0, duration))
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    kills_this_trial += 1
                    delivered += 1
                    continue
            if child.wait() != 0:
                raise RuntimeError(f"a resumed run failed: {child.stderr.read().decode()[-2000:]}")
            break
        model, state = load_checkpoint(directory)
        same = weights_equal(model.state_dict(), expected) and state["step"] == steps
        identical += same
        print(f"  run {trials}: {kills_this_trial} kills, {starts} starts, final step {state['step']}, weights "
              f"{'bit-identical' if same else 'DIFFERENT'} to the uninterrupted run")
    print(f"(a) killed training: {delivered} SIGKILLs over {trials} runs of {steps} steps, each at a random "
          f"moment of the training (uninterrupted: {duration:.1f} s of training and saving); {identical} of {trials} runs ended bit-identical to the uninterrupted run")
    return identical == trials


# ---- (b) death at every step of a save ------------------------------------------------------------
class DeathPlan:
    """Wraps the file-system steps of a save; the ``die_at``-th call ends the process at once."""

    def __init__(self, die_at: int | None = None):
        self.die_at, self.calls = die_at, []

    def install(self, tokenizer) -> None:
        import shutil

        from vlmkit.storage import checkpoint

        def wrap(owner, name):
            original = getattr(owner, name)

            def step(*args, **kwargs):
                self.calls.append(name)
                if self.die_at is not None and len(self.calls) == self.die_at:
                    os._exit(17)  # no clean-up, no finally: what SIGKILL leaves
                return original(*args, **kwargs)

            setattr(owner, name, step)

        for owner, name in ((os, "replace"), (os, "fsync"), (os, "mkdir"), (shutil, "rmtree"),
                            (checkpoint, "save_safetensors"), (torch, "save"), (Path, "write_text"),
                            (type(tokenizer), "save_pretrained")):
            wrap(owner, name)


def _save_dying(model, target: Path, die_at: int | None) -> int:
    """Save ``model`` to ``target`` in a forked child that dies at step ``die_at``; its exit code."""
    pid = os.fork()
    if pid == 0:
        from vlmkit.storage.checkpoint import save_checkpoint

        DeathPlan(die_at).install(model.tokenizer)
        code = 0
        try:
            save_checkpoint(model, target, {"step": 0})
        except BaseException:  # noqa: BLE001 - a forked child must never return into the parent's code
            code = 1
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def count_save_steps(model, target: Path) -> list[str]:
    from vlmkit.storage.checkpoint import save_checkpoint

    plan = DeathPlan()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        plan.install(model.tokenizer)
        save_checkpoint(model, target, {"step": 0})
        os.write(write, ",".join(plan.calls).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    steps = os.read(read, 1 << 16).decode().split(",")
    os.close(read)
    return steps


def save_deaths(work: Path) -> bool:
    from vlmkit.storage.checkpoint import load_model, save_checkpoint

    torch.set_num_threads(1)
    old, new = micro_model(1), micro_model(2)
    old_w, new_w = old.state_dict(), new.state_dict()
    save_checkpoint(old, work / "count" / "ckpt", {"step": 0})
    steps = count_save_steps(new, work / "count" / "ckpt")  # a save that replaces a checkpoint
    survived, cases, outcomes = 0, 0, {"old": 0, "new": 0}

    def check(target: Path) -> bool:
        nonlocal survived, cases
        cases += 1
        try:
            loaded = load_model(target).state_dict()
        except Exception as err:  # noqa: BLE001 - any failure to load is the finding
            print(f"  NOT LOADABLE after a death: {target}: {err}")
            return False
        which = "old" if weights_equal(loaded, old_w) else "new" if weights_equal(loaded, new_w) else None
        if which is None:
            print(f"  {target} loads weights of neither save")
            return False
        outcomes[which] += 1
        survived += 1
        return True

    for first in range(1, len(steps) + 1):
        target = work / f"first-{first}" / "ckpt"
        save_checkpoint(old, target, {"step": 0})
        if _save_dying(new, target, first) != 17:
            raise RuntimeError(f"the save did not reach step {first}")
        check(target)
        for second in range(1, 10 * len(steps)):  # until the second save runs to its end
            wreck = work / f"first-{first}-second-{second}"
            subprocess.run(["cp", "-a", str(target.parent), str(wreck)], check=True)
            code = _save_dying(old if second % 2 else new, wreck / "ckpt", second)
            check(wreck / "ckpt")
            if code != 17:
                if code != 0:
                    raise RuntimeError(f"a save after the wreck of step {first} failed (exit {code})")
                break
    print(f"(b) deaths during saves: a save replacing a checkpoint has {len(steps)} file-system steps "
          f"({', '.join(steps)}); it died at each, then from each wreck a second save died at each step of its own "
          f"until one finished: {survived} of {cases} wrecks "
          f"loaded whole ({outcomes['old']} held the last finished save, {outcomes['new']} the save in progress)")
    return survived == cases


# ---- (c) concurrent savers ----------------------------------------------------------------------
def saver_child(directory: str, seed: int, saves: int) -> None:
    from vlmkit.storage.checkpoint import save_checkpoint

    torch.set_num_threads(1)
    model = micro_model(seed)
    for _ in range(saves):
        save_checkpoint(model, directory)


def reader_child(directory: str, seeds: str, seconds: float) -> None:
    from vlmkit.storage.checkpoint import CheckpointError, load_model

    torch.set_num_threads(1)
    expected = [micro_model(int(s)).state_dict() for s in seeds.split(",")]
    reads, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            loaded = load_model(directory).state_dict()
        except CheckpointError as err:
            if "no checkpoint at" in str(err):
                continue  # nothing saved yet
            raise
        if not any(weights_equal(loaded, w) for w in expected):
            raise SystemExit(f"read {reads + 1} returned a mixture of savers' weights")
        reads += 1
    print(reads)


def concurrent_savers(work: Path, savers: int, saves: int) -> bool:
    from vlmkit.storage.checkpoint import load_model

    directory = work / "shared" / "ckpt"
    seeds = [str(10 + i) for i in range(savers)]
    start = time.perf_counter()
    procs = [run_child("--child-save", str(directory), seed, str(saves)) for seed in seeds]
    reader = subprocess.Popen([sys.executable, str(SCRIPT), "--child-read", str(directory), ",".join(seeds), "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    codes = [p.wait() for p in procs]
    reads, read_err = reader.communicate()
    errors = [p.stderr.read().decode()[-500:] for p, code in zip(procs, codes) if code]
    left = sorted(p.name for p in directory.parent.iterdir())
    load_model(directory)
    ok = not errors and reader.returncode == 0 and left == [".ckpt.lock", "ckpt"]
    print(f"(c) concurrent savers: {savers} processes x {saves} saves to one directory in "
          f"{time.perf_counter() - start:.1f} s: {sum(c == 0 for c in codes)} of {savers} savers succeeded"
          f"{' (' + '; '.join(errors) + ')' if errors else ''}; a reader loaded {reads.decode().strip() or 0} "
          f"whole checkpoints meanwhile{' (reader failed: ' + read_err.decode()[-300:] + ')' if reader.returncode else ''}; "
          f"left behind: {left}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--savers", type=int, default=3)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child-train", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-save", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-read", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_train:
        return train_child(args.child_train[0], int(args.child_train[1]))
    if args.child_save:
        return saver_child(args.child_save[0], int(args.child_save[1]), int(args.child_save[2]))
    if args.child_read:
        return reader_child(args.child_read[0], args.child_read[1], float(args.child_read[2]))
    with tempfile.TemporaryDirectory(prefix="vlmkit-faults-") as tmp:
        work = Path(tmp)
        results = [killed_training(work / "a", args.kills, args.steps, random.Random(args.seed)),
                   save_deaths(work / "b"),
                   concurrent_savers(work / "c", args.savers, args.saves)]
    print("all held" if all(results) else "FAILED: " + ", ".join(n for n, ok in zip("abc", results) if not ok))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
