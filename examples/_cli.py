"""The command-line plumbing the example scripts share (not part of gradkit itself).

- option types that reject bad counts with argparse's usage error (`count`, ...);
- `parse`: options default to "not given", then --fast's table and the normal table fill
  in what was not given, so an explicit option always wins (`--fast --epochs 3`);
- setup checks that end in one `error: ...` line on stderr and exit status 2, before any
  training: the device (`device`), output directories and files (`output_dir`,
  `output_file`), data directories and files (`data_dir`, `data_file`);
- checkpoints for Ctrl-C and --resume (`Checkpoint`, `load_checkpoint`, `resume_options`,
  `rng_state`, `set_rng_state`);
- `run`: the scripts' `__main__` entry, which turns a Ctrl-C outside training into one line
  and exit status 130.

The scripts import it as `_cli` from their own folder (Python puts a script's folder on
sys.path): copy it along with a script you take elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import gradkit as gk

SETUP_ERROR = 2  # exit status of a setup problem (argparse uses 2 for usage errors too)
INTERRUPTED = 130  # exit status after Ctrl-C (128 + SIGINT), as shells report it

CUDA_HINT = ('for a CUDA GPU install CuPy with the extra matching your CUDA version '
             '(nvidia-smi shows it): pip install "gradkit[cuda12]" or "gradkit[cuda13]", '
             'then run python -m gradkit.selfcheck to see what works on this machine; or '
             'pass --device cpu')


class SetupError(Exception):
    """A problem the user can fix (a path, a device, missing data): one line, exit 2."""


def fail(message: str):
    """Print `error: message` on stderr and exit with status 2 (no traceback)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(SETUP_ERROR)  # (sys.exit: under mpiexec, gradkit.distributed then ends all ranks)


# ---- option types -------------------------------------------------------------------------
def count(text: str) -> int:
    """An int >= 1 (epochs, steps, sizes): argparse reports anything else as a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def natural(text: str) -> int:
    """An int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def positive(text: str) -> float:
    """A float > 0 (learning rates, temperatures)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def nonnegative(text: str) -> float:
    """A finite float >= 0 (weight decay)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, not {text}")
    return value


def probability(text: str) -> float:
    """A float in [0, 1) (dropout)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def parser(description: str) -> argparse.ArgumentParser:
    """An ArgumentParser whose options are absent unless given (see `parse`)."""
    return argparse.ArgumentParser(description=description,
                                   argument_default=argparse.SUPPRESS)


def parse(p: argparse.ArgumentParser, argv, defaults: dict, fast: dict | None = None):
    """Parse `argv`; an option not given takes its value from `fast` (with --fast) or else
    from `defaults`. The namespace's `given` is the set of options given explicitly."""
    given = vars(p.parse_args(argv))
    table = dict(defaults)
    if given.get("fast") and fast:
        table.update(fast)
    args = argparse.Namespace(**{**table, **given})
    args.given = set(given)
    return args


# ---- the device ---------------------------------------------------------------------------
def device(requested: str | None) -> str:
    """The canonical device to run on: `requested`, else CUDA when it works, else the CPU.
    An unusable device ends the script with one line that says what to do."""
    if requested is None:
        requested = "cuda" if gk.is_available("cuda") else "cpu"
    try:
        return gk.get_backend(requested).device
    except gk.DeviceError as e:
        kind = str(requested).strip().lower().partition(":")[0]
        if kind in ("cuda", "gpu"):
            fail(f"--device {requested}: {e}; {CUDA_HINT}")
        fail(f"--device {requested}: {e}")


# ---- paths --------------------------------------------------------------------------------
def _probe_writable(directory: Path):
    """Raise OSError unless a file can be created in `directory` (os.access is not enough:
    root, read-only mounts, ACLs)."""
    fd, name = tempfile.mkstemp(prefix=".gradkit-write-test-", dir=directory)
    os.close(fd)
    os.remove(name)


def output_dir(path, option: str = "--out") -> Path:
    """`path` as a directory this script can write into, created (with its parents) if
    missing; otherwise one error line, before any training."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a directory; pass a directory ({option} DIR)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe_writable(path)
    except OSError as e:
        fail(f"{option} {path}: cannot write there ({e.strerror or e}); pass a writable "
             f"directory with {option} DIR")
    return path


def output_file(path, option: str) -> Path:
    """`path` as a file this script can write (its folder must exist and be writable)."""
    path = Path(path)
    if path.is_dir():
        fail(f"{option} {path} is a directory; pass a file name ({option} FILE)")
    folder = path.parent
    if not folder.is_dir():
        fail(f"{option} {path}: the folder {folder} does not exist; create it or pass "
             f"another {option} FILE")
    try:
        _probe_writable(folder)
    except OSError as e:
        fail(f"{option} {path}: cannot write into {folder} ({e.strerror or e}); pass a "
             f"writable {option} FILE")
    return path


def data_dir(path, option: str = "--data", what: str = "the data") -> Path:
    """A data root: an existing directory, or a missing one whose parent exists (then it is
    created). A file where the directory should be, or a missing parent, is an error:
    `--data /typo/x` creates nothing."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        fail(f"{option} {path} is a file; it must be the directory that holds {what}")
    parent = path.absolute().parent
    if not parent.is_dir():
        fail(f"{option} {path}: neither it nor its parent {parent} exists; check the path, "
             f"or create {parent} first")
    try:
        path.mkdir()
    except OSError as e:
        fail(f"{option} {path}: cannot create the directory ({e.strerror or e}); pass a "
             f"directory you can write, {option} DIR")
    return path


def data_file(path, option: str = "--data", what: str = "a text file") -> Path:
    """An existing, readable file."""
    path = Path(path)
    if path.is_dir():
        fail(f"{option} {path} is a directory; pass {what} ({option} FILE)")
    if not path.exists():
        fail(f"{option} {path} does not exist; pass {what} ({option} FILE)")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        fail(f"{option} {path}: cannot read it ({e.strerror or e})")
    return path


# ---- random state -------------------------------------------------------------------------
def _generators(device: str) -> dict:
    gens = {"cpu": gk.default_generator}
    backend = gk.get_backend(device)
    if backend.device != "cpu":
        gens[backend.device] = backend.default_generator
    return gens


def rng_state(device: str) -> dict:
    """The default generators' states (the CPU's and `device`'s), in a form gk.save keeps
    exactly: NumPy's PCG64 state (128-bit integers) as JSON text, a device's state array
    (CuPy's cuRAND states) as a host array."""
    out = {}
    for name, generator in _generators(device).items():
        state = generator.get_state()
        payload = state.state
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        else:
            payload = gk.get_backend(name).to_numpy(payload)
        out[name] = {"seed": str(state.seed), "state": payload}
    return out


def set_rng_state(saved: dict, device: str) -> list:
    """Restore what `rng_state` saved; returns the generators it could not restore (saved
    on another device: the random draws then differ from the interrupted run's)."""
    missing = []
    for name, generator in _generators(device).items():
        entry = saved.get(name)
        if entry is None:
            missing.append(name)
            continue
        payload = entry["state"]
        if isinstance(payload, str):
            payload = json.loads(payload)
        else:
            if isinstance(payload, gk.Tensor):
                payload = payload.numpy()
            backend = gk.get_backend(name)
            payload = backend.asarray(np.asarray(payload), backend.dtype_name(payload.dtype))
        generator.set_state(type(generator.get_state())(generator.device, int(entry["seed"]),
                                                        payload))
    return missing


# ---- checkpoints --------------------------------------------------------------------------
class Checkpoint:
    """A training checkpoint at `path`, written with gk.save (atomic: an interrupted save
    leaves the previous checkpoint intact). `unit` is "epoch" or "step"."""

    def __init__(self, path, unit: str, done: int | None = None):
        self.path, self.unit, self.done = Path(path), unit, done

    def save(self, done: int, state: dict):
        gk.save({**state, "progress": {"unit": self.unit, "done": done}}, self.path)
        self.done = done

    def interrupted(self):
        """The one line after Ctrl-C during training, then exit status 130."""
        if self.done is None:
            message = f"interrupted before the first checkpoint ({self.unit} 1 of training " \
                      f"had not finished); nothing saved"
        else:
            message = (f"interrupted after {self.unit} {self.done}; checkpoint at {self.path}"
                       f" (continue with --resume {self.path})")
        interrupted(message)


def load_checkpoint(path, device: str, unit: str) -> dict:
    """A checkpoint written by Checkpoint.save, its tensors on `device`; one error line if
    it cannot be read or is not one of this script's checkpoints."""
    path = data_file(path, "--resume", "a checkpoint file written by this script")
    try:
        state = gk.load(path, device=device)
    except (OSError, ValueError) as e:
        fail(f"--resume {path}: cannot load it ({e})")
    progress = state.get("progress") if isinstance(state, dict) else None
    if not isinstance(progress, dict) or progress.get("unit") != unit or "config" not in state:
        fail(f"--resume {path} is not a checkpoint of this script (no {unit} count and "
             f"configuration in it)")
    return state


def _as_saved(value, is_path: bool):
    return str(Path(value).absolute()) if is_path and value is not None else value


def resume_options(args, saved: dict, keys, paths=()) -> None:
    """On --resume: the run's options come from the checkpoint's configuration. An option
    given again must agree with it (else one error line says which). `keys` are the saved
    options, `paths` those of them that are paths."""
    conflicts = []
    for k in keys:
        if k in args.given and k in saved and _as_saved(getattr(args, k), k in paths) != saved[k]:
            conflicts.append(f"--{k.replace('_', '-')} {getattr(args, k)} (the checkpoint "
                             f"has {saved[k]})")
    if conflicts:
        fail(f"--resume {args.resume}: {', '.join(conflicts)}; leave these options out to "
             "continue the run as it was saved")
    for k in keys:
        if k in saved:
            value = saved[k]
            setattr(args, k, Path(value) if k in paths and value is not None else value)


def config(args, keys, paths=()) -> dict:
    """The options that define a run, as its checkpoints keep them (paths absolute)."""
    return {k: _as_saved(getattr(args, k), k in paths) for k in keys}


def interrupted(message: str):
    """Print `message` on stderr after Ctrl-C and exit with status 130."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(INTERRUPTED)


# ---- the entry point ----------------------------------------------------------------------
def run(main):
    """Call main() as a script's entry: a Ctrl-C not handled by a training loop becomes
    one line and exit status 130; main's return value is not the exit status unless an int."""
    try:
        result = main()
    except KeyboardInterrupt:
        interrupted("interrupted")
    sys.exit(result if isinstance(result, int) else 0)
