"""Does a training run survive being killed at any moment? Four experiments, one summary.

    python benchmarks/fault_injection.py            # the full run: docs/experiments/crash_recovery.md
    python benchmarks/fault_injection.py --quick    # a few operations and kills, no (c): tests/test_scripts.py

A run here trains a micro MiniVLM for ``--steps`` steps, saving after every step, in a process
forked from this one (no run pays for imports). After each interruption a fresh process resumes
it (``Trainer.resume_if_saved``, what a notebook cell run again does), and every finished run is
checked alike: it reached its last step; its weights are bit-identical to those of a run never
interrupted; the folder holds the checkpoint, its lock file and nothing else (a leftover); and
one more save into the checkpoint succeeds (no leftover blocks one).

(a) Random kills. SIGKILL at moments drawn, for each of ``--seeds``, from two distributions:
    uniform over the uninterrupted run's duration, and around saves: up to 1.5 save durations
    after the start of a save drawn at random (the run says when it starts one, so the kills
    find the saves on a fast machine as on a slow one). At most 5 kills a run, ``--kills`` in all.
(b) A death at every file-system operation. A process counts its operations (each open, write,
    fsync, mkdir, rename, unlink and rmdir, those of a directory removal included, and each file
    the native writers write or read: safetensors, torch.save, the tokenizer) and ends itself at
    the N-th (``os._exit``: no clean-up, no flush, as SIGKILL), for every N of an uninterrupted
    run: its resume probe, first save, replacing saves and final save; at a write it dies before
    it and, once more, with half of it written. From every distinct wreck (the same paths and
    sizes) the resuming process then dies at each operation of its resume and first save, and
    a third process finishes the run. After every death the checkpoint must load whole (or none
    was saved yet).
(c) Concurrent savers. ``--savers`` processes each save their own model ``--saves`` times to one
    directory while another process loads it in a loop. Every save must succeed, every load must
    return one saver's weights whole, and one checkpoint is left.
(d) The notebooks' cells run again after a kernel restart. A stage's training cell
    (``stage_trainer``, ``train``) and saving cell (``save_stage``, ``record_results``) die at each
    operation of an uninterrupted pass, then run again in a fresh process, which must finish the
    stage: its checkpoint at the last step, bit-identical, and its results.json.

Nothing here measures speed: (b) and (d) are deterministic, and (a) draws its moments from the
durations it measures on the machine it runs on. Exit status 0 when all hold.
"""

from __future__ import annotations

import argparse
import builtins
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve()
MICRO = dict(vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2, codec_bins=16)
DIED = 17  # the exit status of a process that ended itself at its planned operation
DRIFTED = 18  # ... of one whose planned operation was another than the counted run's there
KILLS_PER_RUN = 5
CELL_STAGE, CELL_STEPS = "01_captioning", 26  # stage_trainer saves every 25 steps at least: one save, then the last
WORLD: dict = {}  # what every forked process shares: the untrained model and the streams (setup)


def micro_model(seed: int):
    from vlmkit.train.profiles import new_model

    torch.manual_seed(seed)
    return new_model("tiny", **MICRO)


def weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def setup(steps: int) -> None:
    """Build once, before any fork, what the runs share; one thread, so forking is safe."""
    from vlmkit.train.profiles import load_profile
    from vlmkit.train.recipes import recipe_for
    from vlmkit.train.streams import curriculum_stream
    from vlmkit.train.trainer import TrainConfig

    torch.set_num_threads(1)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    model = micro_model(0)
    recipe = recipe_for(CELL_STAGE, "tiny", steps=CELL_STEPS, batch_size=4, warmup_steps=2, mixed_precision="no")
    WORLD.update(model=model, steps=steps, recipe=recipe,
                 config=TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, save_every=1,
                                    progress=False, mixed_precision="no"),
                 stream=curriculum_stream("ground", model.codec, single_object_examples=8),
                 cell_stream=load_profile("tiny", announce=False).training_stream("caption", model.codec, recipe))


# ---- forked processes ------------------------------------------------------------------------------
_TO_PARENT: list[int] = []  # in a forked process: the pipe its lines go to


def start(job, *args) -> tuple[int, io.BufferedReader]:
    """Fork a process that runs ``job(*args)``: its pid and the pipe of the lines it tells."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _TO_PARENT.append(write)
        _run_forked(job, args)
    os.close(write)
    return pid, os.fdopen(read, "rb")


def _run_forked(job, args) -> None:
    """The forked side: run the job, tell its result (or error), and never return into the parent's code."""
    sys.stdout = sys.stderr = io.StringIO()  # the library's messages and progress bars stay here
    code = 0
    try:
        tell(job(*args) or "")
    except BaseException as err:  # noqa: BLE001 - a forked process must never return into the parent's code
        tell(f"{type(err).__name__}: {err}".replace("\n", " "))
        code = 1
    os._exit(code)


def tell(line: str) -> None:
    """Send one line to the parent (in a forked process; os.write is not an operation counted)."""
    data = (line + "\n").encode()
    while data:
        data = data[os.write(_TO_PARENT[0], data):]


def finish(pid: int, pipe) -> tuple[int, list[str]]:
    """Wait for a forked process: its exit status (negative: the signal) and the lines it told."""
    lines = pipe.read().decode().splitlines()
    pipe.close()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), lines


def forked(job, *args) -> tuple[int, list[str]]:
    return finish(*start(job, *args))


# ---- the operations of a process, and deaths at them -----------------------------------------------
class Injector:
    """Counts this process's file-system operations; with ``die_at=(n, torn)`` ends the process
    at the n-th as a kill would (os._exit: no clean-up, no flush), before it or, for a write with
    ``torn``, with half of its bytes written. ``expect``: the (label, kind) the counted run had
    there; another ends the process with DRIFTED, so a plan never dies somewhere unnoticed."""

    def __init__(self, die_at: tuple[int, bool] | None = None, expect: tuple[str, str] | None = None):
        self.die_at, self.expect, self.ops, self.label = die_at, expect, [], "resume"

    def step(self, kind: str, path) -> bool:
        """Count one operation; die here if planned, or return True where this write is to be torn."""
        name = os.path.basename(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else ""
        self.ops.append((self.label, kind, name))
        if self.die_at and self.die_at[0] == len(self.ops):
            if self.expect and self.expect != (self.label, kind):
                os._exit(DRIFTED)
            if not self.die_at[1]:
                os._exit(DIED)
            return True
        return False

    def install(self) -> None:
        """Wrap every call a save or a resume reaches the file system through (in this process only)."""
        import tokenizers

        from vlmkit.storage import checkpoint

        for name, kind in (("open", "open"), ("mkdir", "mkdir"), ("replace", "rename"), ("rename", "rename"),
                           ("unlink", "unlink"), ("remove", "unlink"), ("rmdir", "rmdir"), ("fsync", "fsync")):
            setattr(os, name, self._plain(getattr(os, name), kind))
        builtins.open = io.open = self._open(io.open)
        checkpoint.save_safetensors = self._native_write(checkpoint.save_safetensors, 1)
        torch.save = self._native_write(torch.save, 1)
        tokenizers.Tokenizer.save = self._native_write(tokenizers.Tokenizer.save, 1)
        checkpoint.load_safetensors = self._plain(checkpoint.load_safetensors, "read", 1)
        tokenizers.Tokenizer.from_file = self._plain(tokenizers.Tokenizer.from_file, "read")

    def _plain(self, original, kind: str, path_arg: int = 0):
        def operation(*args, **kwargs):
            self.step(kind, args[path_arg] if len(args) > path_arg else "")
            return original(*args, **kwargs)
        return operation

    def _native_write(self, original, path_arg: int):
        """A writer in C++ or Rust writes its file whole: torn, the file is cut to half its size."""
        def write(*args, **kwargs):
            torn = self.step("write", args[path_arg])
            result = original(*args, **kwargs)
            if torn:
                os.truncate(args[path_arg], os.path.getsize(args[path_arg]) // 2)
                os._exit(DIED)
            return result
        return write

    def _open(self, original):
        def opened(file, mode="r", *args, **kwargs):
            writing = any(c in mode for c in "wax+")
            self.step("create" if writing else "open", file)
            handle = original(file, mode, *args, **kwargs)
            return _CountedWrites(handle, self, file) if writing else handle
        return opened


class _CountedWrites:
    """A file open for writing whose every write is one of the injector's operations."""

    def __init__(self, handle, injector: Injector, path):
        self.handle, self.injector, self.path = handle, injector, path

    def write(self, data):
        if self.injector.step("write", self.path):
            self.handle.write(data[:len(data) // 2])
            self.handle.flush()
            os._exit(DIED)
        return self.handle.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.handle.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.handle, name)


def death_points(ops: list) -> list[tuple[int, bool]]:
    """Every (operation, torn) a process can die at: before each operation, and half through each write."""
    return [(n, torn) for n, (_, kind, _) in enumerate(ops, 1) for torn in (False, True)[:1 + (kind == "write")]]


def plan(ops: list, point: tuple[int, bool]) -> Injector:
    """An injector that dies at ``point`` of a process whose counted operations were ``ops``."""
    return Injector(point, ops[point[0] - 1][:2])


def describe(ops: list, point: tuple[int, bool]) -> str:
    label, kind, name = ops[point[0] - 1]
    return f"{label}: {'half through ' if point[1] else ''}{kind} {name}".rstrip()


# ---- the jobs of forked processes ---------------------------------------------------------------------
def announce_saves(injector: Injector | None) -> None:
    """In this process: tell the parent when each save starts and ends; label the operations of each."""
    from vlmkit.train.trainer import Trainer

    save = Trainer.save

    def announced(trainer, *args):
        tell("save")
        if injector:
            injector.label = f"save at step {trainer.step}"
        path = save(trainer, *args)
        tell("saved")
        if injector:
            injector.label = "train"
        return path

    Trainer.save = announced


def train(directory: Path, injector: Injector | None = None) -> str:
    """One training process: resume from ``directory`` if it holds this run unfinished, train to the end."""
    from vlmkit.train.trainer import Trainer

    directory.parent.mkdir(parents=True, exist_ok=True)  # how many folders a save makes is not the question
    trainer = Trainer(WORLD["model"], WORLD["stream"], WORLD["config"], output_dir=directory)
    announce_saves(injector)
    if injector:
        injector.install()
    trainer.resume_if_saved()
    tell(f"training from step {trainer.step}")
    trainer.train()
    return json.dumps(injector.ops) if injector else ""


def notebook_cells(root: Path, injector: Injector | None = None) -> str:
    """A notebook's training cell and saving cell, as a learner runs them (again, after a kernel restart)."""
    from vlmkit.train.profiles import CHECKPOINT_ENV
    from vlmkit.train.stages import record_results, save_stage, stage_trainer

    os.environ[CHECKPOINT_ENV] = str(root)
    root.mkdir(parents=True, exist_ok=True)
    model = WORLD["model"]
    announce_saves(injector)
    if injector:
        injector.install()
    trainer = stage_trainer(CELL_STAGE, model, WORLD["cell_stream"], WORLD["recipe"])
    started = trainer.step
    trainer.train()
    if injector:
        injector.label = "save_stage, record_results"
    save_stage(model, CELL_STAGE, trainer)
    checksum = sum(p.double().sum().item() for p in model.parameters())  # stands in for the notebook's scores
    record_results(CELL_STAGE, {"weights_sum": checksum}, trainer)
    return json.dumps(injector.ops) if injector else f"started at step {started}"


# ---- checks ----------------------------------------------------------------------------------------------
def leftovers(directory: Path) -> list[str]:
    """What lies beside a checkpoint besides it and its lock file."""
    return sorted(p.name for p in directory.parent.iterdir() if p.name not in (directory.name, f".{directory.name}.lock"))


def finished_problems(directory: Path, expected: dict, steps: int) -> list[str]:
    """How the run saved in ``directory`` ended otherwise than the uninterrupted run, each as 'kind: what'."""
    from vlmkit.storage.checkpoint import CheckpointError, load_checkpoint

    try:
        model, state = load_checkpoint(directory)
    except CheckpointError as err:
        return [f"unloadable: {err}", *blocking(directory)]
    problems = []
    if state["step"] != steps:
        problems.append(f"unfinished: it ended at step {state['step']} of {steps}")
    elif not weights_equal(model.state_dict(), expected):
        problems.append("different: its final weights differ from the uninterrupted run's")
    if leftovers(directory):
        problems.append(f"leftover: {leftovers(directory)} beside the checkpoint")
    return problems + blocking(directory)


def blocking(directory: Path) -> list[str]:
    """One more save into ``directory``: ['blocking: why'] if what lies there refuses it."""
    from vlmkit.storage.checkpoint import CheckpointError, save_checkpoint

    try:
        save_checkpoint(WORLD["model"], directory)
    except CheckpointError as err:
        return [f"blocking: a further save failed: {err}"]
    return []


def wreck_state(directory: Path) -> str:
    """What a death left: the checkpoint that loads (its step), none yet, or 'BROKEN: why'."""
    from vlmkit.storage.checkpoint import CheckpointError, load_training_state

    try:
        return f"checkpoint of step {load_training_state(directory)['step']}"
    except CheckpointError as err:
        if str(err).startswith("no checkpoint at"):
            return "no checkpoint yet"
        return f"BROKEN: {err}"


def shape(folder: Path) -> tuple:
    """A wreck's paths and sizes, temporary names made alike: wrecks of one shape need one recovery test."""
    return tuple(sorted((re.sub(r"tmp-\d+-[0-9a-f]+", "tmp-*", str(p.relative_to(folder))),
                         p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*")))


class Tally:
    """Counts of what deaths left and how the runs resumed after them ended."""

    def __init__(self):
        self.wrecks, self.left, self.runs, self.ended_alike, self.found, self.problems = 0, Counter(), 0, 0, Counter(), []

    def death(self, where: str, code: int, directory: Path) -> str | None:
        """Record a death (planned in ``where``): what it left, or None if it did not happen or broke the checkpoint."""
        self.wrecks += 1
        if code != DIED:
            why = "its operations there were not the counted run's" if code == DRIFTED else "it did not get there"
            self.problems.append(f"{where}: the process did not die there (exit {code}: {why})")
            return None
        state = wreck_state(directory)
        self.left[state.split(":")[0]] += 1
        if state.startswith("BROKEN"):
            self.problems.append(f"{where}: {state}")
            return None
        return state

    def recovery(self, where: str, code: int, lines: list[str], directory: Path, check) -> None:
        """Record how the run resumed after ``where`` ended: ``check()`` lists how a finished one differs."""
        problems = [f"failed: {lines[-1] if lines else code}", *blocking(directory)] if code else check()
        self.runs += 1
        self.ended_alike += not problems
        self.found.update(problem.split(":")[0] for problem in problems)
        self.problems += [f"{where}: {problem}" for problem in problems]

    def report(self) -> str:
        left = ", ".join(f"{count} {state}" for state, count in sorted(self.left.items()))
        return f"{self.wrecks} wrecks ({left}); {self.outcome()}"

    def outcome(self) -> str:
        return (f"{self.ended_alike} of {self.runs} resumed runs finished bit-identical to the uninterrupted run; "
                f"leftovers found: {self.found['leftover']}, blocking leftovers found: {self.found['blocking']}; "
                f"{len(self.problems)} problems")


# ---- (a) random kills --------------------------------------------------------------------------------------
def measure(directory: Path) -> tuple[float, float]:
    """Run uninterrupted: (seconds from the start of training to the end, mean seconds of a save)."""
    pid, pipe = start(train, directory)
    times = {"save": [], "saved": []}
    began = None
    for line in pipe:
        now, line = time.perf_counter(), line.decode().strip()
        began = now if line.startswith("training") else began
        times.get(line, []).append(now)
    ended = time.perf_counter()
    code, lines = finish(pid, pipe)
    if code:
        raise RuntimeError(f"the uninterrupted run failed: {lines}")
    saves = [b - a for a, b in zip(times["save"], times["saved"])]
    return ended - began, sum(saves) / len(saves)


def kill_once(directory: Path, rng: random.Random, around_saves: bool, run_seconds: float,
              save_seconds: float) -> str:
    """Start a process on the run and SIGKILL it at a drawn moment: how it ended ('killed', 'killed
    inside a save', 'finished' before the moment came, or the error of a failed start)."""
    pid, pipe = start(train, directory)
    seen = [pipe.readline().decode().strip()]
    if not seen[0].startswith("training from step"):
        return f"failed: {[*seen, *finish(pid, pipe)[1]][-1]}"
    if around_saves:  # the k-th save of those left, then a moment within it or just after
        saves_left = WORLD["steps"] - int(seen[0].split()[-1]) or WORLD["steps"]  # a finished run starts over
        chosen = rng.randint(1, saves_left)
        while seen.count("save") < chosen and seen[-1] != "":
            seen.append(pipe.readline().decode().strip())
        time.sleep(rng.uniform(0.0, 1.5 * save_seconds))
    else:
        time.sleep(rng.uniform(0.0, run_seconds))
    os.kill(pid, signal.SIGKILL)  # a process that has exited is a zombie until finish(): no other gets its pid
    code, rest = finish(pid, pipe)
    lines = seen + rest
    if code == -signal.SIGKILL:
        return "killed inside a save" if lines.count("save") > lines.count("saved") else "killed"
    return "finished" if code == 0 else f"failed: {lines[-1]}"


def random_kills(work: Path, kills: int, seeds: list[int], expected: dict) -> bool:
    """(a): runs killed at random moments, resumed each time, each checked when it finishes."""
    run_seconds, save_seconds = measure(work / "timing" / "ckpt")
    arms = [(seed, around) for seed in seeds for around in (False, True)]
    tally, delivered, inside = Tally(), 0, 0
    for i, (seed, around) in enumerate(arms):
        runs, problems = tally.runs, len(tally.problems)
        quota = kills // len(arms) + (i < kills % len(arms))
        killed, within = killed_runs(work / f"seed-{seed}-{'saves' if around else 'uniform'}",
                                     random.Random(seed * 2 + around), around, quota, run_seconds, save_seconds,
                                     expected, tally)
        delivered, inside = delivered + killed, inside + within
        print(f"  seed {seed}, {'around saves' if around else 'uniform over the run'}: {killed} kills ({within} inside "
              f"a save) over {tally.runs - runs} runs, {len(tally.problems) - problems} problems")
    print(f"(a) random kills: {delivered} SIGKILLs ({inside} inside a save) over {tally.runs} runs of "
          f"{WORLD['steps']} steps, {len(seeds)} seeds x 2 distributions (uniform over the uninterrupted run's "
          f"{run_seconds:.2f} s of training and saving; around saves, which took {1000 * save_seconds:.1f} ms each): "
          f"{tally.outcome()}")
    for problem in tally.problems:
        print(f"    PROBLEM {problem}")
    return not tally.problems


def killed_runs(folder: Path, rng: random.Random, around_saves: bool, quota: int, run_seconds: float,
                save_seconds: float, expected: dict, tally: Tally) -> tuple[int, int]:
    """Runs killed up to KILLS_PER_RUN times each until ``quota`` kills, then finished: (kills, inside saves)."""
    delivered, inside, run = 0, 0, 0
    while delivered < quota:
        run += 1
        directory, killed = folder / f"run-{run}" / "ckpt", 0
        while killed < KILLS_PER_RUN and delivered < quota:
            outcome = kill_once(directory, rng, around_saves, run_seconds, save_seconds)
            if not outcome.startswith("killed"):
                break
            killed, delivered, inside = killed + 1, delivered + 1, inside + outcome.endswith("save")
        else:
            code, lines = forked(train, directory)
            outcome = "finished" if code == 0 else f"failed: {lines[-1] if lines else code}"
        tally.recovery(f"{folder.name} run {run} ({killed} kills)", outcome != "finished",
                       [outcome.removeprefix("failed: ")], directory,
                       partial(finished_problems, directory, expected, WORLD["steps"]))
    return delivered, inside


# ---- (b) a death at every file-system operation --------------------------------------------------------
def count_operations(directory: Path, job=train) -> list:
    """The operations of ``job`` on ``directory`` run to its end, each as (label, kind, name)."""
    code, lines = forked(job, directory, Injector())
    if code:
        raise RuntimeError(f"counting the operations of {job.__name__} failed: {lines[-1:]}")
    return [tuple(op) for op in json.loads(lines[-1])]


def operation_deaths(work: Path, expected: dict, quick: bool = False) -> bool:
    """(b): die at every operation of a run, then at every operation of the recovery from each wreck."""
    ops = count_operations(work / "count" / "ckpt")
    points = quick_points(ops) if quick else death_points(ops)
    tally, wrecks = Tally(), {}
    for n, point in enumerate(points):
        folder = work / "first" / str(n)
        if tally.death(describe(ops, point), forked(train, folder / "ckpt", plan(ops, point))[0], folder / "ckpt"):
            if shape(folder) not in wrecks:
                wrecks[shape(folder)] = point, _copy(folder, work / "wrecks" / str(n))
            tally.recovery(describe(ops, point), *forked(train, folder / "ckpt"), folder / "ckpt",
                           partial(finished_problems, folder / "ckpt", expected, WORLD["steps"]))
        shutil.rmtree(folder)
    print(f"(b) deaths at every file-system operation: an uninterrupted run of {WORLD['steps']} steps performs "
          f"{len(ops)} operations ({_kinds(ops)}; {_phases(ops)}), {len(death_points(ops))} places to die "
          f"(each write also torn){f', of which {len(points)} here' if quick else ''}; {tally.report()}")
    second, resumes = Tally(), Counter()
    for point, wreck in list(wrecks.values())[:1 if quick else None]:
        resumes[second_deaths(work, wreck, describe(ops, point), expected, second, quick)] += 1
    print(f"    second deaths: from {'one' if quick else 'each'} of the {len(wrecks)} distinct wrecks (the same paths "
          f"and sizes) the resuming process died at {'3' if quick else 'each'} of the operations of its resume "
          f"({_counts(resumes)}) and its first save: {second.report()}")
    for problem in tally.problems + second.problems:
        print(f"    PROBLEM {problem}")
    return not tally.problems and not second.problems


def second_deaths(work: Path, wreck: Path, first: str, expected: dict, tally: Tally, quick: bool) -> str:
    """From ``wreck``, die at each operation of the resume and first save, then finish the run.
    Returns the kinds of operations of the resume."""
    ops = count_operations(_copy(wreck, work / "recount") / "ckpt")
    labels = [label for label, _, _ in ops if label.startswith("save")][:1] + ["resume"]
    points = [p for p in death_points(ops) if ops[p[0] - 1][0] in labels]
    for point in points[-3:] if quick else points:
        folder = _copy(wreck, work / "second")
        where = f"after a death at {first}, {describe(ops, point)}"
        if tally.death(where, forked(train, folder / "ckpt", plan(ops, point))[0], folder / "ckpt"):
            tally.recovery(where, *forked(train, folder / "ckpt"), folder / "ckpt",
                           partial(finished_problems, folder / "ckpt", expected, WORLD["steps"]))
    return _kinds([op for op in ops if op[0] == "resume"])


def quick_points(ops: list) -> list[tuple[int, bool]]:
    """A few places of the second save: its renames, its last unlink and rmdir (issue 52's window), its weights torn."""
    save = [n for n, (label, _, _) in enumerate(ops, 1) if label == "save at step 2"]
    last = {ops[n - 1][1]: n for n in save}
    renames = [(n, False) for n in save if ops[n - 1][1] == "rename"]
    torn = [(n, True) for n in save if ops[n - 1][1:] == ("write", "model.safetensors")]
    return renames + [(last["unlink"], False), (last["rmdir"], False)] + torn


def _copy(source: Path, destination: Path) -> Path:
    shutil.rmtree(destination, ignore_errors=True)
    return Path(shutil.copytree(source, destination))


def _kinds(ops: list) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in Counter(kind for _, kind, _ in ops).most_common())


def _counts(counter: Counter) -> str:
    return "; ".join(f"{key or 'none'} from {count} {'wreck' if count == 1 else 'wrecks'}"
                     for key, count in counter.most_common())


def _phases(ops: list) -> str:
    return ", ".join(f"{label} {count}" for label, count in Counter(label for label, _, _ in ops).items())


# ---- (c) concurrent savers ------------------------------------------------------------------------------
def run_child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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
    start_time = time.perf_counter()
    procs = [run_child("--child-save", str(directory), seed, str(saves)) for seed in seeds]
    reader = run_child("--child-read", str(directory), ",".join(seeds), "20")
    codes = [p.wait() for p in procs]
    reads, read_err = reader.communicate()
    errors = [p.stderr.read().decode()[-500:] for p, code in zip(procs, codes) if code]
    left = sorted(p.name for p in directory.parent.iterdir())
    load_model(directory)
    ok = not errors and reader.returncode == 0 and left == [".ckpt.lock", "ckpt"]
    print(f"(c) concurrent savers: {savers} processes x {saves} saves to one directory in "
          f"{time.perf_counter() - start_time:.1f} s: {sum(c == 0 for c in codes)} of {savers} savers succeeded"
          f"{' (' + '; '.join(errors) + ')' if errors else ''}; a reader loaded {reads.decode().strip() or 0} "
          f"whole checkpoints meanwhile{' (reader failed: ' + read_err.decode()[-300:] + ')' if reader.returncode else ''}; "
          f"left behind: {left}")
    return ok


# ---- (d) the notebooks' cells run again after a kernel restart -------------------------------------------
def cell_dir(root: Path) -> Path:
    """Where the cells' stage saves under checkpoint root ``root``: its recipe is not the series',
    so a scratch folder (:func:`vlmkit.train.stages.stage_dir`)."""
    from vlmkit.train.profiles import checkpoint_root
    from vlmkit.train.stages import stage_dir

    return root / stage_dir(CELL_STAGE, WORLD["recipe"]).relative_to(checkpoint_root())


def _timeless(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "train_minutes"}  # the clock differs run to run


def cell_problems(root: Path, expected: dict, results: dict) -> list[str]:
    """How the stage the rerun cells finished differs from one uninterrupted pass's, each as 'kind: what'."""
    directory = cell_dir(root)
    record = json.loads((directory / "results.json").read_text())
    different = [] if _timeless(record) == _timeless(results) else [
        f"different: its results.json {record} against {results}"]
    return different + finished_problems(directory, expected, CELL_STEPS)


def notebook_reruns(work: Path, quick: bool = False) -> bool:
    """(d): the cells die at every operation of an uninterrupted pass, then run again to the end."""
    from vlmkit.storage.checkpoint import load_model

    reference = work / "reference"
    ops = count_operations(reference, notebook_cells)
    expected = load_model(cell_dir(reference)).state_dict()
    results = json.loads((cell_dir(reference) / "results.json").read_text())
    points = everywhere = death_points(ops)
    if quick:  # each save's first rename (nothing saved yet; the run's last save half made), the results half written
        points = [p for p in points if ops[p[0] - 1][1] == "rename"][:2] + points[-1:]
    tally, reruns = Tally(), Counter()
    for n, point in enumerate(points):
        root = work / "cells" / str(n)
        left = tally.death(describe(ops, point), forked(notebook_cells, root, plan(ops, point))[0], cell_dir(root))
        if left:
            code, lines = forked(notebook_cells, root)
            reruns[f"{left} there, {lines[-1] if code == 0 else 'failed'}"] += 1
            tally.recovery(describe(ops, point), code, lines, cell_dir(root),
                           partial(cell_problems, root, expected, results))
        shutil.rmtree(root)
    print(f"(d) a notebook's training and saving cells ({CELL_STAGE}, {CELL_STEPS} steps, stage_trainer's save at "
          f"step 25 and the last) perform {len(ops)} file-system operations ({_phases(ops)}), "
          f"{len(everywhere)} places to die{f', of which {len(points)} here' if quick else ''}; run again in a fresh "
          f"process ({'; '.join(f'{c}x {r}' for r, c in sorted(reruns.items()))}): {tally.report()}")
    for problem in tally.problems:
        print(f"    PROBLEM {problem}")
    return not tally.problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few operations and kills of each kind")
    parser.add_argument("--kills", type=int, default=240)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--savers", type=int, default=3)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--child-save", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-read", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_save:
        return saver_child(args.child_save[0], int(args.child_save[1]), int(args.child_save[2]))
    if args.child_read:
        return reader_child(args.child_read[0], args.child_read[1], float(args.child_read[2]))
    from vlmkit.storage.checkpoint import load_model

    setup(args.steps)
    kills, seeds = (4, [0]) if args.quick else (args.kills, [int(s) for s in args.seeds.split(",")])
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vlmkit-faults-") as tmp:
        work = Path(tmp)
        forked(train, work / "reference" / "ckpt")
        expected = load_model(work / "reference" / "ckpt").state_dict()
        results = [random_kills(work / "a", kills, seeds, expected),
                   operation_deaths(work / "b", expected, args.quick),
                   args.quick or concurrent_savers(work / "c", args.savers, args.saves),
                   notebook_reruns(work / "d", args.quick)]
    if args.quick:
        print("(c) concurrent savers: not with --quick (tests/storage/test_checkpoint.py runs two)")
    print(f"{'all held' if all(results) else 'FAILED: ' + ', '.join(n for n, ok in zip('abcd', results) if not ok)} "
          f"({(time.perf_counter() - began) / 60:.1f} min)")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
