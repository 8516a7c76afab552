"""Checkpoints: plain-data payloads, atomic writes (simulated crash and a real SIGKILL), safe loads,
partial restores, auto-resume lookup, pruning and the settings diff of a new phase."""

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from wubugaad.train.checkpoint import (
    CHECKPOINT_PREFIX,
    FORMAT_VERSION,
    CheckpointError,
    build_payload,
    checkpoint_name,
    diff_settings,
    find_latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_model,
    save_checkpoint,
)

DRAFT_PY = Path(__file__).resolve().parents[1] / "draftPY"


class TinyNet(nn.Module):
    """Encoder-ish net with a frozen 'flow' part that checkpoints must leave out."""

    excluded_state_prefixes = ("flow.",)

    def __init__(self, hidden: int = 4, extra: bool = False):
        super().__init__()
        self.enc = nn.Linear(3, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.out = nn.Linear(hidden, 2)
        self.flow = nn.Linear(2, 2)
        self.film = nn.Linear(2, 2) if extra else None


class FakeQController:
    def state_dict(self):
        table = defaultdict(dict)
        table[(1, 2, 0)] = {"lr": [np.float32(0.5), 0.1]}
        return {"epsilon": np.float64(0.25), "history": np.arange(3.0), "q_table": table,
                "visited": {3, 1, 2}}


def _optimizer(params):
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def _trained_payload(step: int = 7):
    torch.manual_seed(0)
    model, disc = TinyNet(), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    opt_g, opt_d = _optimizer(model.parameters()), _optimizer(disc.parameters())
    loss = disc(model.out(model.norm(model.enc(torch.randn(5, 3))))).sum()
    loss.backward()
    opt_g.step()
    opt_d.step()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    payload = build_payload(model, disc, opt_g, opt_d, scaler, None, step=step, epoch=2, best_metric=31.5,
                            config_dict={"lambda_kl": 0.1, "dims": [8, 4]}, extra={"note": "x"},
                            q_g=FakeQController())
    return model, disc, opt_g, payload


def test_checkpoint_names():
    assert checkpoint_name("best") == f"{CHECKPOINT_PREFIX}_best.pt"
    assert checkpoint_name("last") == f"{CHECKPOINT_PREFIX}_last.pt"
    assert checkpoint_name("epoch", epoch=3, step=120) == f"{CHECKPOINT_PREFIX}_ep3_step120.pt"
    assert checkpoint_name("step", step=500) == f"{CHECKPOINT_PREFIX}_step500.pt"
    with pytest.raises(ValueError, match="epoch"):
        checkpoint_name("epoch", step=5)


def test_payload_is_plain_data_and_round_trips(tmp_path):
    model, disc, opt_g, payload = _trained_payload()
    path = save_checkpoint(tmp_path / checkpoint_name("last"), payload)
    # The library's own loader uses weights_only=True; check the raw call as well.
    loaded = torch.load(path, weights_only=True)
    assert load_checkpoint(path)["step"] == 7 and loaded["format_version"] == FORMAT_VERSION
    assert not any(k.startswith("flow.") for k in loaded["model"]) and "enc.weight" in loaded["model"]
    assert loaded["excluded_state_prefixes"] == ["flow."]
    assert (loaded["epoch"], loaded["best_metric"], loaded["config"]["dims"]) == (2, 31.5, [8, 4])
    assert loaded["scaler_g"] == {} and loaded["scaler_d"] is None and loaded["q_controller_d"] is None
    q = loaded["q_controller_g"]
    assert q["epsilon"] == 0.25 and isinstance(q["epsilon"], float) and q["visited"] == [1, 2, 3]
    assert torch.equal(q["history"], torch.arange(3.0, dtype=torch.float64))
    assert q["q_table"][(1, 2, 0)]["lr"][0] == 0.5
    fresh = TinyNet()
    missing, unexpected, mismatched = restore_model(fresh, loaded["model"], strict=True)
    assert (missing, unexpected, mismatched) == ([], [], [])
    for key, value in model.state_dict().items():
        if not key.startswith("flow."):
            assert torch.equal(fresh.state_dict()[key], value), key
    new_opt = _optimizer(fresh.parameters())
    new_opt.load_state_dict(loaded["opt_g"])
    for a, b in zip(new_opt.state.values(), opt_g.state.values(), strict=True):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])


def test_non_plain_objects_are_refused_naming_their_place():
    model = TinyNet()
    with pytest.raises(CheckpointError, match=r"\['extra'\]\['bad'\] of type object"):
        build_payload(model, None, None, None, None, None, 0, 0, None, {}, extra={"bad": object()})


def test_crash_during_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / checkpoint_name("last")
    save_checkpoint(path, {"format_version": 1, "step": 1, "w": torch.ones(10)})

    def crashing_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half of a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"format_version": 1, "step": 2, "w": torch.zeros(10)})
    monkeypatch.undo()
    payload = load_checkpoint(path)
    assert payload["step"] == 1 and torch.equal(payload["w"], torch.ones(10))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL semantics")
def test_sigkill_during_write_keeps_previous_file_loadable(tmp_path):
    path = tmp_path / checkpoint_name("last")
    writer = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(DRAFT_PY)!r})\n"
        "from wubugaad.train.checkpoint import save_checkpoint\n"
        "for i in range(2000):\n"
        "    payload = {'format_version': 1, 'step': i, 'w': torch.full((2_000_000,), i)}\n"
        "    save_checkpoint(sys.argv[1], payload)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(path)])
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert path.exists(), "writer never produced its first checkpoint"
        # Kill while a temporary file is open, i.e. in the middle of writing the next checkpoint.
        while not list(tmp_path.glob(f".{path.name}.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.0005)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    payload = load_checkpoint(path)
    assert torch.all(payload["w"] == payload["step"])
    assert find_latest_checkpoint(tmp_path) == path  # leftover temporary files are never picked
    save_checkpoint(path, {"format_version": 1, "step": -1})  # the next write clears the killed writer's temp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt")
    good = save_checkpoint(tmp_path / "good.pt", {"format_version": 1, "w": torch.randn(1000)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:700])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    for bad in (truncated, garbage):
        with pytest.raises(CheckpointError, match=bad.name) as exc:
            load_checkpoint(bad)
        assert "\n" not in str(exc.value)
    bare = tmp_path / "bare.pt"
    torch.save(torch.ones(2), bare)
    with pytest.raises(CheckpointError, match="not a WuBuGAADHybridGen checkpoint"):
        load_checkpoint(bare)
    future = save_checkpoint(tmp_path / "future.pt", {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(CheckpointError, match="update the code"):
        load_checkpoint(future)


def test_restore_lists_partial_matches_and_strict_refuses():
    torch.manual_seed(1)
    old = TinyNet(hidden=4)
    state = dict(old.state_dict())
    state["retired.weight"] = torch.zeros(1)
    state["flow.weight"] = torch.full((2, 2), 9.0)  # excluded prefix: neither loaded nor reported
    new = TinyNet(hidden=4, extra=True)
    new.out = nn.Linear(4, 3)  # shape change
    flow_before = new.flow.weight.clone()
    missing, unexpected, mismatched = restore_model(new, state, strict=False)
    assert missing == ["film.bias", "film.weight"]
    assert unexpected == ["retired.weight"]
    assert mismatched == ["out.bias", "out.weight"]
    assert torch.equal(new.enc.weight, old.enc.weight) and torch.equal(new.flow.weight, flow_before)
    other = TinyNet(hidden=4, extra=True)
    before = other.enc.weight.clone()
    with pytest.raises(CheckpointError, match="film.weight.*retired.weight"):
        restore_model(other, state, strict=True)
    assert torch.equal(other.enc.weight, before)


def test_find_latest_by_step_then_mtime(tmp_path):
    assert find_latest_checkpoint(tmp_path) is None
    assert find_latest_checkpoint(tmp_path / "absent") is None
    for name, step in ((checkpoint_name("epoch", epoch=1, step=10), 10), (checkpoint_name("best"), 8),
                       (checkpoint_name("step", step=12), 12)):
        save_checkpoint(tmp_path / name, {"format_version": 1, "step": step})
    (tmp_path / f".{checkpoint_name('step', step=99)}.abc.tmp").write_bytes(b"partial")
    assert find_latest_checkpoint(tmp_path).name == checkpoint_name("step", step=12)
    last = save_checkpoint(tmp_path / checkpoint_name("last"), {"format_version": 1, "step": 12})
    os.utime(last, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # same step, newer file
    assert find_latest_checkpoint(tmp_path) == last


def test_prune_keeps_newest_periodic_and_never_best_or_last(tmp_path):
    names = [checkpoint_name("epoch", epoch=e, step=10 * e) for e in range(1, 4)]
    names += [checkpoint_name("step", step=s) for s in (5, 25)]
    names += [checkpoint_name("best"), checkpoint_name("last"), "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    deleted = prune_checkpoints(tmp_path, keep_last_n=2)
    assert sorted(p.name for p in deleted) == sorted([checkpoint_name("step", step=5), names[0], names[1]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names[2], checkpoint_name("step", step=25), checkpoint_name("best"), checkpoint_name("last"),
         "notes.txt"])
    assert prune_checkpoints(tmp_path, keep_last_n=0) == []


def test_diff_settings_lists_changes_of_a_new_phase():
    old = {"lambda_kl": 1e-4, "learning_rate_gen": 3e-4, "epochs": 10, "load_checkpoint": None,
           "best": float("nan"), "gone": 1}
    new = {"lambda_kl": 1e-3, "learning_rate_gen": 3e-4, "epochs": 20, "load_checkpoint": "a.pt",
           "best": float("nan"), "added": [1, 2]}
    assert diff_settings(old, new, ignore=("load_checkpoint",)) == [
        ("added", None, [1, 2]), ("epochs", 10, 20), ("gone", 1, None), ("lambda_kl", 1e-4, 1e-3)]
