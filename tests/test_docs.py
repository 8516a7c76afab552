"""README.md and TRAINING_GUIDE.md only mention what exists: flags, WandB keys, files, variables."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from wubugaad.model.motion import raft_weights_file
from wubugaad.study import runner as ablation
from wubugaad.train import config, tracking
from wubugaad.train.checkpoint import CHECKPOINT_PREFIX, checkpoint_name
from wubugaad.train.metrics import ALEXNET_HUB_FILE

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "TRAINING_GUIDE.md"]
# flags of other programs the docs show (torchrun, pip) and argparse's own
FOREIGN_FLAGS = {"--standalone", "--nproc_per_node", "--nnodes", "--rdzv-backend", "--rdzv-endpoint",
                 "--rdzv-id", "--index-url", "--help",
                 "--flops"}  # bench/theory_tables.py
# environment variables the docs mention that are not launcher settings
FOREIGN_VARIABLES = {"WANDB_MODE", "TORCH_HOME", "RUN_DIR", "PYTHON_EXE", "TORCH_INDEX_URL", "NAME",
                     "WUBUGAAD_AMP_ON_CPU"}
KEY = re.compile(r"`((?:train|val|q_ctrl_gen|q_ctrl_disc|geometry|samples|grad_norm|model)/[^`\s]+)`")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _script_flags(name: str) -> set[str]:
    """Flags of another entry script of draftPY/ (sampler, ablation runner), from its own parser."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "draftPY" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.build_parser()._option_string_actions)


def _geometry_regex() -> re.Pattern:
    alternatives = [re.escape(p).replace(r"\{stack\}", r"(?:wubu_[smt]|\{stack\})")
                    .replace(r"\{i\}", r"(?:\d+|\{i\})") for p in tracking.GEOMETRY_KEY_PATTERNS]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_in_the_docs_exists(doc):
    known = (set(config.build_parser()._option_string_actions) | _script_flags("wubugaad_sample")
             | _script_flags("wubugaad_ablate") | FOREIGN_FLAGS)
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", _text(doc)))
    assert mentioned, "no flags found: is the pattern broken?"
    assert mentioned <= known, f"{doc.name} mentions unknown flags: {sorted(mentioned - known)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_wandb_key_in_the_docs_exists(doc):
    keys = set(KEY.findall(_text(doc)))
    assert {"val/pred_psnr", "val/copy_last_psnr"} <= keys
    known = set(tracking.WANDB_SCALAR_KEYS) | set(tracking.WANDB_IMAGE_KEYS)
    geometry = _geometry_regex()
    per_step = {tracking.VAL_PER_STEP_PATTERN.format(metric=m, k="{k}")
                for m in tracking.BENCH_METRIC_KEYS + tracking.SAMPLE_METRIC_KEYS}
    unknown = [k for k in keys if k not in known | per_step and not geometry.fullmatch(k)]
    assert not unknown, f"{doc.name} mentions keys the tracker does not log: {unknown}"
    assert any(k.startswith("geometry/") for k in keys)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_in_the_docs_exists(doc):
    text = _text(doc)
    repo_files = {p.name for p in ROOT.rglob("*") if "venv" not in p.parts and ".git" not in p.parts}
    repo_files |= set(ablation.OUTPUT_FILES.values())  # written by a study, not kept in the repository
    # the user's own files in examples start with ~ (home folder)
    for name in set(re.findall(r"(?<!~)(?<![\w./\\-])[\w./\\-]+\.(?:bat|sh|py|md|txt|mp4)\b", text)):
        relative = ROOT / name.replace("\\", "/")
        assert relative.exists() or Path(name).name in repo_files, f"{doc.name} mentions missing {name}"
    for name in set(re.findall(rf"{CHECKPOINT_PREFIX}_[\w{{}}]+\.pt", text)):
        patterns = {f"{CHECKPOINT_PREFIX}_ep{{E}}_step{{S}}.pt", f"{CHECKPOINT_PREFIX}_step{{S}}.pt"}
        assert name in {checkpoint_name("best"), checkpoint_name("last")} | patterns, name
    weights = {Path(raft_weights_file("raft_small")).name, Path(raft_weights_file("raft_large")).name,
               ALEXNET_HUB_FILE}
    for name in set(re.findall(r"[\w.-]+\.pth\b", text)):
        assert name in weights, f"{doc.name}: {name} is not a file the code looks for"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_launcher_variable_in_the_docs_exists(doc):
    launchers = "".join(_text(path) for path in sorted(ROOT.glob("run_*.sh")))   # the master and the jobs
    known = set(re.findall(r'^: "\$\{(\w+):=', launchers, flags=re.M)) | FOREIGN_VARIABLES
    mentioned = set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})=", _text(doc)))
    assert mentioned <= known, f"{doc.name} mentions unknown launcher variables: {sorted(mentioned - known)}"


def test_readme_commands_match_the_ci_script():
    readme, ci = _text(ROOT / "README.md"), _text(ROOT / ".ci" / "run")
    for command in ("python3 -m pytest", "python3 -m ruff check draftPY tests bench"):
        assert command in ci and command in readme
    assert "pip install -r requirements.txt -r requirements-dev.txt" in readme
    assert "python3 draftPY/WuBuGAADHybridGen_v0.1.py" in readme
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
