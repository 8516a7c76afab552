"""Checkpoints: plain-data payloads, atomic writes, safe loads, partial restores, file names.

A payload holds only tensors and plain Python data, so it loads with ``torch.load(weights_only=True)``:

    {"format_version", "torch_version", "step", "epoch", "best_metric", "config",
     "model", "discriminator", "opt_g", "opt_d", "scaler_g", "scaler_d",
     "q_controller_g", "q_controller_d", "excluded_state_prefixes", "extra", "ema"}

``ema`` holds the averaged weights (`train/ema.py`) in the model's layout, or None; validation, samples
and the sampling script read them.

Frozen pretrained weights (the RAFT flow estimator) are left out: every model ``state_dict`` key that starts
with one of ``model.excluded_state_prefixes`` is neither saved nor restored nor reported.

Every file carries a checksum of its contents (``checksum``, written by ``save_checkpoint``, verified by
``load_checkpoint``, ``train/integrity.py``, which also checks the types of the fields this program
reads): a file whose bytes changed after writing is refused, naming the newest intact
checkpoint of its folder. Writes go to a temporary file in the target folder (named after the writing
process, see ``wubugaad.tempfiles``), are flushed and fsync'ed, then ``os.replace``d over the target: a
crash or kill at any moment leaves either the old or the new complete file.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from wubugaad import tempfiles
from wubugaad.train import exits
from wubugaad.train.integrity import CHECKSUM_KEY, odd_field, payload_checksum
from wubugaad.train.upgrade import upgrade

CHECKPOINT_PREFIX = "wubugaad_hybridgen_ckpt_v01"
FORMAT_VERSION = 1
TMP_SUFFIX = ".tmp"

_PERIODIC_RE = re.compile(rf"^{CHECKPOINT_PREFIX}_(?:ep(\d+)_)?step(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or does not match the model under ``strict``."""


def checkpoint_name(kind: str, epoch: int | None = None, step: int | None = None) -> str:
    """File name for ``kind``: 'best', 'last', 'epoch' (``_ep{E}_step{S}``) or 'step' (``_step{S}``)."""
    if kind in ("best", "last"):
        return f"{CHECKPOINT_PREFIX}_{kind}.pt"
    if kind == "epoch" and epoch is not None and step is not None:
        return f"{CHECKPOINT_PREFIX}_ep{int(epoch)}_step{int(step)}.pt"
    if kind == "step" and step is not None:
        return f"{CHECKPOINT_PREFIX}_step{int(step)}.pt"
    raise ValueError(f"checkpoint_name: kind '{kind}' needs kind in best|last, epoch (with epoch and step) "
                     f"or step (with step); got epoch={epoch}, step={step}")


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module behind DDP/DataParallel and ``torch.compile`` wrappers (their keys carry prefixes)."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def _excluded(module: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(module, "excluded_state_prefixes", ()))


def _keep(key: str, excluded: tuple[str, ...]) -> bool:
    return not any(key.startswith(prefix) for prefix in excluded)


def to_plain(value, where: str = "payload"):
    """Convert ``value`` to tensors + plain Python data accepted by ``torch.load(weights_only=True)``.

    dict/list/tuple recurse (``defaultdict`` becomes dict; ``OrderedDict`` keeps its state_dict
    ``_metadata``), sets become sorted lists, numpy
    arrays become tensors, numpy/enum scalars their Python value, dataclasses dicts. Anything else is a bug
    in the caller, reported with its position (``where``).
    """
    if value is None or type(value) in (bool, int, float, str, torch.dtype, torch.Size):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, enum.Enum):
        return to_plain(value.value, where)
    if type(value).__module__ == "numpy":
        # numpy scalars (np.float64 subclasses float) pickle as numpy globals that weights_only refuses.
        return torch.as_tensor(value) if getattr(value, "shape", ()) != () else value.item()
    for plain in (bool, int, float, str):  # other subclasses of plain types
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Mapping):
        items = ((to_plain(k, f"{where} key"), to_plain(v, f"{where}[{k!r}]")) for k, v in value.items())
        if not isinstance(value, OrderedDict):
            return dict(items)
        # state_dicts are OrderedDicts whose `_metadata` carries module versions used when loading.
        plain = OrderedDict(items)
        if hasattr(value, "_metadata"):
            plain._metadata = to_plain(value._metadata, f"{where}._metadata")
        return plain
    if isinstance(value, set | frozenset):
        return [to_plain(v, where) for v in sorted(value)]
    if isinstance(value, list | tuple):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value), where)
    raise CheckpointError(f"cannot store {where} of type {type(value).__name__} in a checkpoint "
                          f"(only tensors and plain data load with weights_only=True)")


def _module_state(module: nn.Module | None) -> dict | None:
    if module is None:
        return None
    module = unwrap(module)
    excluded = _excluded(module)
    return {k: v for k, v in module.state_dict().items() if _keep(k, excluded)}


def _q_state(controller) -> dict | None:
    return None if controller is None else to_plain(controller.state_dict(), "q_controller")


def build_payload(model, discriminator, opt_g, opt_d, scaler_g, scaler_d, step: int, epoch: int,
                  best_metric: float | None, config_dict: dict, extra: dict | None = None,
                  q_g=None, q_d=None, ema=None) -> dict:
    """Plain-data checkpoint payload (module docstring lists the keys); any of the objects may be None.

    ``ema`` is the module of averaged weights (same architecture as ``model``) or None.
    ``q_g`` / ``q_d`` are the Q-controllers of the two optimizers; their state is stored once, under
    ``q_controller_g`` / ``q_controller_d`` (older checkpoints also carry it inside ``opt_g`` / ``opt_d``).
    """
    model_plain = None if model is None else unwrap(model)
    return to_plain({
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),
        "step": int(step),
        "epoch": int(epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "config": dict(config_dict),
        "model": _module_state(model),
        "discriminator": _module_state(discriminator),
        "opt_g": None if opt_g is None else opt_g.state_dict(),
        "opt_d": None if opt_d is None else opt_d.state_dict(),
        "scaler_g": None if scaler_g is None else scaler_g.state_dict(),
        "scaler_d": None if scaler_d is None else scaler_d.state_dict(),
        "q_controller_g": _q_state(q_g),
        "q_controller_d": _q_state(q_d),
        "excluded_state_prefixes": list(_excluded(model_plain)) if model_plain is not None else [],
        "extra": dict(extra or {}),
        "ema": _module_state(ema),
    })


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); Windows cannot open folders, where the rename is enough."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Atomically write ``payload`` to ``path`` (temp file in the same folder, fsync, ``os.replace``).

    Leftover temporary files of earlier writers of the same name that are no longer running are removed
    first. The file gets the mode the umask gives. On any error the temporary file is removed and the
    previous ``path`` is untouched; a write that fails for lack of space or permission raises
    ``OutputWriteError`` naming the file and saying so.
    """
    path = Path(path)
    payload = {**payload, CHECKSUM_KEY: payload_checksum(payload)}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfiles.remove_stale(path.parent, path.name)
        handle, tmp = tempfiles.open_temp(path)
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        failure = exits.write_failure(err, path)
        if failure is None:
            raise
        kept = (f"the previous '{path.name}' is intact" if path.is_file()
                else f"no earlier '{path.name}' existed")
        raise exits.OutputWriteError(path, f"{failure.reason}; {kept}", failure.errno) from err
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a payload with ``weights_only=True``, in today's layout whatever version wrote it
    (``upgrade.upgrade``).

    Missing file → ``FileNotFoundError``; unreadable, truncated, non-plain, newer-format file or one whose
    contents do not match its checksum → ``CheckpointError`` with one line naming the file (and, for a
    checksum mismatch, the newest intact checkpoint of its folder).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: '{path}'")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files; all mean "unreadable"
        raise CheckpointError(f"checkpoint '{path}' {_unreadable_reason(err)}") from err
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint '{path}' is not a WuBuGAADHybridGen checkpoint "
                              f"(no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format {payload['format_version']}; "
                              f"this code reads up to {FORMAT_VERSION} (update the code)")
    # both checks read the file as written, before the upgrade changes its layout
    odd = odd_field(payload)
    if odd:
        raise CheckpointError(f"checkpoint '{path}' {odd}: it was not written by this program, or was edited "
                              f"(use a checkpoint the trainer wrote)")
    if not _checksum_matches(payload):
        raise CheckpointError(f"checkpoint '{path}' is corrupt: its contents do not match the checksum "
                              f"written with it (the file changed after it was saved); "
                              f"{_newest_intact(path)}")
    return upgrade(payload)


def _unreadable_reason(err: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in words for this program's users: a file holding
    Python objects (which could run code when unpickled) is refused as such; torch's advice to load it with
    ``weights_only=False`` is not repeated (this program never does that)."""
    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if "Weights only load failed" in text:
        what = f" ({found.group(1)})" if found else ""
        return (f"holds Python objects other than tensors and plain data{what}: refused, since loading them "
                f"could run code (this program writes no such checkpoints; use one it wrote)")
    reason = (text.strip().splitlines() or [type(err).__name__])[0]
    return f"is corrupt or unreadable: {reason}"


def _newest_intact(damaged: Path) -> str:
    """Where to resume from instead of ``damaged``: the most recently written checkpoint of its folder that
    loads."""
    others = [p for p in _checkpoints(damaged.parent) if p.resolve() != damaged.resolve()]
    for candidate in sorted(others, key=lambda p: p.stat().st_mtime_ns, reverse=True):
        try:
            payload = torch.load(candidate, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable candidate is simply not intact
            continue
        if isinstance(payload, dict) and _checksum_matches(payload):
            return f"the newest intact checkpoint there is '{candidate}' (pass it to --load_checkpoint)"
    return f"no intact checkpoint is left in '{damaged.parent}'"


def _checksum_matches(payload: dict) -> bool:
    """True when ``payload`` matches its stored checksum, or carries none (written before checksums)."""
    stored = payload.get(CHECKSUM_KEY)
    return stored is None or stored == payload_checksum(payload)


def restore_model(module: nn.Module, state: Mapping[str, torch.Tensor] | None,
                  strict: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Load the entries of ``state`` that match ``module``; return (missing, unexpected, mismatched) keys.

    missing: in the module, not in the checkpoint (they keep their fresh initialisation); unexpected: in
    the checkpoint only; mismatched: in both with different shapes (kept fresh). Keys under the module's
    ``excluded_state_prefixes`` are skipped on both sides. ``strict`` raises ``CheckpointError`` listing
    all three instead of loading anything when any is non-empty.
    """
    module = unwrap(module)
    excluded = _excluded(module)
    own = {k: v for k, v in module.state_dict().items() if _keep(k, excluded)}
    incoming = {k: v for k, v in (state or {}).items() if _keep(k, excluded)}
    missing = sorted(k for k in own if k not in incoming)
    unexpected = sorted(k for k in incoming if k not in own)
    mismatched = sorted(k for k in own if k in incoming and tuple(own[k].shape) != tuple(incoming[k].shape))
    if strict and (missing or unexpected or mismatched):
        raise CheckpointError(
            f"checkpoint does not match {type(module).__name__} (--load_strict): missing {missing}, "
            f"unexpected {unexpected}, shape-mismatched {mismatched}; "
            f"drop --load_strict to load what matches")
    matching = OrderedDict((k, v) for k, v in incoming.items() if k in own and k not in mismatched)
    if hasattr(state, "_metadata"):
        matching._metadata = state._metadata
    module.load_state_dict(matching, strict=False)
    return missing, unexpected, mismatched


def _checkpoints(folder: Path) -> Iterable[Path]:
    return (p for p in folder.glob(f"{CHECKPOINT_PREFIX}_*.pt") if p.is_file() and TMP_SUFFIX not in p.name)


def _step_of(path: Path) -> int:
    """Step from the name when it has one, else from the file (memory-mapped: tensors stay on disk)."""
    match = _PERIODIC_RE.match(path.name)
    if match:
        return int(match.group(2))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file cannot be resumed from
        raise CheckpointError(f"checkpoint '{path}' is corrupt or unreadable: {err}") from err
    return int(payload.get("step", -1)) if isinstance(payload, dict) else -1


def find_latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """Newest checkpoint in ``folder`` by step, then modification time (``--load_checkpoint auto``).

    Temporary files of interrupted writes are ignored. None when there is no checkpoint.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = [(_step_of(p), p.stat().st_mtime_ns, p) for p in _checkpoints(folder)]
    return max(candidates, key=lambda c: c[:2])[2] if candidates else None


def prune_checkpoints(folder: str | os.PathLike, keep_last_n: int,
                      up_to_step: int | None = None) -> list[Path]:
    """Delete all but the newest ``keep_last_n`` periodic (``_ep*_step*``/``_step*``) checkpoints.

    ``_best.pt`` and ``_last.pt`` are never touched; ``keep_last_n <= 0`` keeps everything. With
    ``up_to_step`` (the current run's step) checkpoints of later steps are neither deleted nor counted:
    they are not the current run's (resumed from an earlier step). Returns the deleted paths.
    """
    if keep_last_n <= 0:
        return []
    periodic = []
    for path in _checkpoints(Path(folder)):
        match = _PERIODIC_RE.match(path.name)
        if match and (up_to_step is None or int(match.group(2)) <= up_to_step):
            periodic.append((int(match.group(2)), path.stat().st_mtime_ns, path))
    periodic.sort(key=lambda c: c[:2], reverse=True)
    doomed = [path for *_, path in periodic[keep_last_n:]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def diff_settings(old_config: Mapping, new_config: Mapping,
                  ignore: Iterable[str] = ()) -> list[tuple[str, object, object]]:
    """(key, old, new) for every setting that differs between two resolved configs, sorted by key.

    A key present on one side only shows ``None`` on the other. ``ignore`` skips keys such as
    ``load_checkpoint`` that always change between phases.
    """
    skip = set(ignore)
    keys = sorted((set(old_config) | set(new_config)) - skip)
    return [(k, old_config.get(k), new_config.get(k)) for k in keys
            if not _same(old_config.get(k), new_config.get(k))]
