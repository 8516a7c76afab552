"""Parameter groups: decay only on weight matrices/kernels, geometry scalars apart, flat states regrouped."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from wubugaad.geometry.manifold_param import ManifoldParameter
from wubugaad.model import vaegan
from wubugaad.optim import groups
from wubugaad.optim.base import OptimizerStateError
from wubugaad.optim.radam import RiemannianAdam
from wubugaad.optim.risgd import RiemannianEnhancedSGD
from wubugaad.train import config
from wubugaad.train.upgrade import upgrade
from wubugaad.wubu.level import WuBuLevel

SMALL = ["--image_h", "16", "--image_w", "16", "--num_input_frames", "2", "--latent_dim", "8",
         "--gaad_num_regions", "3", "--wubu_s_hyperbolic_dims", "8", "--wubu_t_hyperbolic_dims", "8",
         "--encoder_initial_tangent_dim", "8", "--gen_base_channels", "8", "--disc_base_disc_channels", "8",
         "--encoder_shallow_cnn_channels", "8", "--encoder_pixel_patch_size", "4", "--disc_min_hidden_fc_dim",
         "8", "--disc_max_hidden_fc_dim", "16", "--disc_max_disc_channels", "16", "--wubu_s_use_rotation"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return vaegan.build(config.parse_args(SMALL), pretrained_flow=False)[0]


def _ids(params):
    return {id(p) for p in params}


def test_every_parameter_lands_in_exactly_one_group_by_its_kind(model):
    split = groups.split_parameters(model)
    every = [p for params in split.values() for p in params]
    assert len(every) == len(_ids(every))
    assert _ids(every) == _ids(p for p in model.parameters() if p.requires_grad)
    levels = [m for m in model.modules() if isinstance(m, WuBuLevel)]
    rhos = [getattr(lv, n) for lv in levels for n in ("rho_c", "rho_s", "rho_sigma") if hasattr(lv, n)]
    assert levels and _ids(split["geometry"]) == _ids(rhos)
    assert split["ball"] and all(isinstance(p, ManifoldParameter) for p in split["ball"])
    assert _ids(split["ball"]) == _ids(p for p in model.parameters() if isinstance(p, ManifoldParameter))
    for module in model.modules():
        own = dict(module.named_parameters(recurse=False))
        kind = isinstance(module, groups.NO_DECAY_MODULES)
        if kind or "bias" in own:
            no_decay = [p for n, p in own.items() if n == "bias" or kind]
            assert _ids(no_decay) <= _ids(split["no_decay"]), type(module).__name__
        if isinstance(module, nn.Linear | nn.Conv2d | nn.Conv3d):
            assert id(module.weight) in _ids(split["decay"])
    assert all(p.dim() >= 2 for p in split["decay"])


@pytest.mark.parametrize("cls", [RiemannianEnhancedSGD, RiemannianAdam])
def test_group_settings_and_scales_apply_to_every_group(model, cls):
    opt = cls(groups.param_groups(model, 0.05, geometry_lr_mult=10.0), lr=1e-3, weight_decay=0.05)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert set(by_name) == set(groups.GROUP_NAMES)
    assert {n: g["weight_decay"] for n, g in by_name.items()} == {"decay": 0.05, "no_decay": 0.0, "ball": 0.0,
                                                                  "geometry": 0.0}
    opt.set_scales(0.5, 0.98)
    lrs = {n: g["lr"] for n, g in by_name.items()}
    assert lrs["geometry"] == pytest.approx(5e-3) and lrs["decay"] == lrs["ball"] == pytest.approx(5e-4)
    decayed = cls(groups.param_groups(model, 0.05, decay_ball=True), lr=1e-3)
    assert {g["name"]: g["weight_decay"] for g in decayed.param_groups}["ball"] == 0.05


def test_freeze_geometry_leaves_the_scalars_out():
    torch.manual_seed(0)
    model = vaegan.build(config.parse_args(SMALL), pretrained_flow=False)[0]
    count = groups.freeze_geometry(model)
    assert count == len(groups.geometry_scalars(model)) > 0
    names = [g["name"] for g in groups.param_groups(model, 0.01)]
    assert "geometry" not in names and all(not p.requires_grad for p in groups.geometry_scalars(model))


def _net():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    net.ball = ManifoldParameter(torch.tensor([[0.1, 0.2, -0.1]]), c=1.0)
    return net


def _step(net, opt):
    opt.zero_grad()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    (net(x).pow(2).sum() + (net.ball * x[:1]).sum()).backward()
    opt.step()


def test_a_state_saved_before_there_were_groups_is_regrouped():
    old_net, net = _net(), _net()
    flat = RiemannianEnhancedSGD(list(old_net.parameters()), lr=0.1)  # the layout of older checkpoints
    _step(old_net, flat)
    old_state = upgrade({"opt_g": {k: v for k, v in flat.state_dict().items() if k != "kind"}})["opt_g"]
    opt = RiemannianEnhancedSGD(groups.param_groups(net, 0.01), lr=0.1)
    with pytest.raises(OptimizerStateError, match="parameter groups"):
        opt.load_state_dict(old_state)
    opt.load_state_dict(groups.regroup_flat_state(old_state, opt, list(net.parameters())))
    for p_old, p_new in zip(old_net.parameters(), net.parameters(), strict=True):
        assert torch.equal(flat.state[p_old]["momentum_buffer"], opt.state[p_new]["momentum_buffer"])
    with pytest.raises(OptimizerStateError, match="covers 7 parameters"):
        groups.regroup_flat_state(old_state, opt, list(net.parameters())[:-1])
