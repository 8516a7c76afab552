"""Instrumentation around the real training loop (``trainer.train``) for ``bench_train.py``.

Nothing here changes what the loop computes; it only observes it. The run is split by optimizer step k
(one batch per step: the configurations use ``--grad_accum_steps 1``)::

    k < warmup                       warm-up, not timed
    warmup ≤ k < warmup + n          "clean" pass: step clock + host-sync counters only (no extra syncs)
    warmup + n ≤ k < warmup + 2n     "breakdown" pass: forward hooks and wrapped calls, each synchronised
                                     on CUDA, so every part's time is its own
    later                            untimed (one extra step closes the last timed one)

Step k starts when the loop asks the data loader for the batch of step k (the first request after batch
k−1 was delivered) and ends when step k+1 starts, so a step includes everything the loop does for it:
data wait, host→device copy, forwards, backwards, clipping, optimizer steps, Q-controller and logging.
Checkpoint saves and validation are not training steps: the bench skips them (counted).
"""

from __future__ import annotations

import contextlib
import itertools
import resource
import statistics
import time
import warnings
from collections import Counter
from pathlib import Path

import torch
from wubugaad.train import trainer

# Python-level device→host reads (the same list as tests/_sync_guard.py).
SYNC_METHODS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")
# backward_d: the D-loss backward (D's own gradients); backward_g: the G-loss backward, which also runs back
# through D (frozen) to reach the predictions
PARTS = ("data_wait", "to_device", "flow", "encoder", "generator", "discriminator", "backward_d",
         "backward_g", "optimizer")
_cuda_synchronize = torch.cuda.synchronize  # captured before patching: the probe's own syncs are not counted


def worker_peak_rss_mib() -> float | None:
    """Largest peak RSS (VmHWM) among this process's live children (data-loader workers); Linux only."""
    peaks = []
    try:
        for task in Path("/proc/self/task").iterdir():
            for pid in (task / "children").read_text().split():
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
    except OSError:
        return None
    return max(peaks) if peaks else None


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedLoader:
    """Iterates the real loader; tells the probe when a batch is requested and how long it waited."""

    def __init__(self, loader, probe: Probe):
        self.loader, self.probe = loader, probe

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        iterator = iter(self.loader)
        while True:
            self.probe.batch_requested()
            t0 = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                self.probe.add("data_wait", time.perf_counter() - t0)
                return
            self.probe.add("data_wait", time.perf_counter() - t0)
            self.probe.add("clips", batch["frames"].shape[0])  # the last batch of an epoch may be short
            self.probe.delivered = True
            yield batch


class Probe:
    """Step clock, per-part timers and host-sync counters for one ``trainer.train(s)`` call."""

    def __init__(self, s, warmup: int, steps: int):
        self.s, self.warmup, self.steps = s, warmup, steps
        self.cuda = s.dist.device.type == "cuda"
        self.phase = "warmup"
        self.k = -1
        self.delivered = True
        self.record: dict | None = None
        self.records: dict[str, list[dict]] = {"clean": [], "breakdown": []}
        self.clean_span = [0.0, 0.0]  # wall-clock start and end of the clean pass
        self.sync_calls: Counter = Counter()
        self.cuda_sync_warnings = 0
        self.skipped = Counter()
        self.worker_peak = None
        self._undo = contextlib.ExitStack()
        self._warn_ctx = None
        self._warn_log: list = []

    # ---- clock --------------------------------------------------------------------------------------------
    def _now(self, sync: bool) -> float:
        if sync and self.cuda:
            _cuda_synchronize()
        return time.perf_counter()

    def add(self, key: str, seconds: float) -> None:
        if self.record is not None:
            self.record[key] = self.record.get(key, 0.0) + seconds

    def batch_requested(self) -> None:
        """First request after a delivered batch: step k ends, step k+1 begins (maybe a new phase)."""
        if not self.delivered:
            return
        self.delivered = False
        ending = self.k + 1 in (self.warmup + self.steps, self.warmup + 2 * self.steps)
        now = self._now(sync=self.phase == "breakdown" or ending)
        if self.record is not None:
            self.record["step"] = now - self.record.pop("_start")
            self.records[self.phase].append(self.record)
            self.record = None
        self.k += 1
        self._switch_phase(now)
        if self.phase in self.records:
            self.record = {"_start": self._now(sync=self.phase == "breakdown")}

    def _switch_phase(self, now: float) -> None:
        clean_at, breakdown_at, end_at = self.warmup, self.warmup + self.steps, self.warmup + 2 * self.steps
        if self.k == clean_at:
            self.clean_span[0] = self._now(sync=True)
            self.phase = "clean"
            self._install_sync_counters()
        elif self.k == breakdown_at:
            self.clean_span[1] = now
            self.worker_peak = worker_peak_rss_mib()
            self._undo.close()
            self.phase = "breakdown"
            self._install_breakdown()
        elif self.k == end_at:
            self._undo.close()
            self.phase = "done"

    # ---- clean pass: host-sync counters -------------------------------------------------------------------
    def _install_sync_counters(self) -> None:
        for name in SYNC_METHODS:
            self._patch_tensor_method(name)
        if self.cuda:
            self._patch(torch.cuda, "synchronize", self._counting("cuda.synchronize", _cuda_synchronize))
            # CUDA's own detector also catches syncs that no Python method shows (nonzero, masked indexing)
            self._warn_ctx = warnings.catch_warnings(record=True)
            self._warn_log = self._warn_ctx.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            self._undo.callback(self._close_sync_debug)

    def _close_sync_debug(self) -> None:
        torch.cuda.set_sync_debug_mode("default")
        self.cuda_sync_warnings = sum("ynchroniz" in str(w.message) for w in self._warn_log)
        self._warn_ctx.__exit__(None, None, None)

    def _counting(self, name: str, original):
        def counted(*args, **kwargs):
            self.sync_calls[name] += 1
            self.add("syncs", 1)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.add("sync_wait", time.perf_counter() - t0)

        return counted

    def _patch_tensor_method(self, name: str) -> None:
        own = torch.Tensor.__dict__.get(name)
        setattr(torch.Tensor, name, self._counting(name, getattr(torch.Tensor, name)))
        # restore exactly: re-set an own attribute, or drop ours to expose the inherited C slot again
        self._undo.callback(lambda: setattr(torch.Tensor, name, own) if own is not None
                            else delattr(torch.Tensor, name))

    def _patch(self, owner, name: str, value) -> None:
        original = getattr(owner, name)
        setattr(owner, name, value)
        self._undo.callback(setattr, owner, name, original)

    # ---- breakdown pass: hooks and wrapped trainer calls -------------------------------------------------
    def _install_breakdown(self) -> None:
        model = self.s.model
        modules = {"encoder": model.encoder, "generator": model.generator, "discriminator": self.s.disc}
        if getattr(model, "flow_estimator", None) is not None:
            modules["flow"] = model.flow_estimator
        for key, module in modules.items():
            starts: list[float] = []
            pre = module.register_forward_pre_hook(lambda *_, st=starts: st.append(self._now(sync=True)))
            post = module.register_forward_hook(
                lambda *_, st=starts, k=key: self.add(k, self._now(sync=True) - st.pop()))
            self._undo.callback(pre.remove)
            self._undo.callback(post.remove)
        for name, key in (("clip_and_step", "optimizer"), ("prepare_batch", "to_device")):
            self._patch(trainer, name, self._timed(key, getattr(trainer, name)))
        # the loop calls backward twice per micro-batch: D's loss first, then G's
        keys = itertools.cycle(("backward_d", "backward_g"))
        backward = trainer.backward
        self._patch(trainer, "backward", lambda *a, **k: self._timed(next(keys), backward)(*a, **k))

    def _timed(self, key: str, fn):
        def timed(*args, **kwargs):
            t0 = self._now(sync=True)
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(key, self._now(sync=True) - t0)

        return timed

    # ---- installation around trainer.train ----------------------------------------------------------------
    @contextlib.contextmanager
    def installed(self):
        """Wrap the loader; skip saves and validation (they are not training steps); undo everything after."""
        s = self.s
        loader = s.train_loader
        saved = {"save": trainer.save, "validate": trainer.validate}
        s.train_loader = TimedLoader(loader, self)
        trainer.save = self._skip("save")
        trainer.validate = self._skip("validate", {})
        try:
            yield self
        finally:
            self._undo.close()
            s.train_loader = loader
            trainer.save, trainer.validate = saved["save"], saved["validate"]

    def _skip(self, name: str, result=None):
        def skipped(*_args, **_kwargs):
            self.skipped[name] += 1
            return result

        return skipped

    # ---- summary ------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        clean, parts = self.records["clean"], self.records["breakdown"]
        if len(clean) < self.steps or len(parts) < self.steps:
            raise RuntimeError(f"only {len(clean)} clean and {len(parts)} breakdown steps were timed of "
                               f"{self.steps}: the run ended early (too few clips for --max_steps?)")
        times = [r["step"] for r in clean]
        start, end = self.clean_span
        total = end - start
        breakdown = {key: statistics.fmean(r.get(key, 0.0) for r in parts) for key in PARTS}
        b_step = statistics.fmean(r["step"] for r in parts)
        breakdown["other"] = b_step - sum(breakdown.values())
        # D's share: its two forwards, its own backward, and (estimated) the G-loss backward's pass through
        # D, which handles half as many clips as D's backward over the real + fake batch
        d_share = breakdown["discriminator"] + 1.5 * breakdown["backward_d"]
        syncs = [r.get("syncs", 0) for r in clean]
        return {
            "clips_per_s": sum(r["clips"] for r in clean) / total,
            "step_time_median_s": statistics.median(times),
            "step_time_mean_s": statistics.fmean(times),
            "step_time_min_s": min(times),
            "step_time_max_s": max(times),
            "step_times_s": [round(x, 4) for x in times],  # every clean step: shows a loaded machine
            "data_wait_fraction": sum(r.get("data_wait", 0.0) for r in clean) / total,
            "host_sync_wait_fraction": sum(r.get("sync_wait", 0.0) for r in clean) / total,
            "host_syncs_per_step": statistics.fmean(syncs),
            "host_syncs_max_step": max(syncs),
            "host_sync_calls": dict(self.sync_calls),
            "cuda_sync_debug_warnings_per_step": self.cuda_sync_warnings / self.steps if self.cuda else None,
            "breakdown_step_time_median_s": statistics.median(r["step"] for r in parts),
            "breakdown_mean_s": breakdown,
            "breakdown_fraction": {k: v / b_step for k, v in breakdown.items()},
            "discriminator_share_estimate": d_share / b_step,
            "peak_rss_mib": peak_rss_mib(),
            "worker_peak_rss_mib": self.worker_peak,
            "cuda_max_allocated_mib": (torch.cuda.max_memory_allocated() / 2**20) if self.cuda else None,
            "skipped_calls": dict(self.skipped),
        }
