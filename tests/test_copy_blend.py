"""The copy blend (`--gen_copy_blend`): a head channel mixes each warped frame with the unwarped one, so the
prediction can sit anywhere between the flow extrapolation and copy-last; init identity in test_spatial.py."""

import pytest
import torch
from test_flow_fallback import default_model_on_the_panned_clip
from wubugaad.model.spatial import FLOW_PRIOR_GATE_GAIN
from wubugaad.train import metrics


@pytest.mark.parametrize("beta", [0.0, 0.25, 1.0])
def test_the_blend_moves_the_prediction_from_the_flow_extrapolation_to_copy_last(beta):
    model, args, clip, flow = default_model_on_the_panned_clip()
    I, P = args.num_input_frames, args.num_predict_frames
    gen = model.generator
    assert gen.use_blend and P == 1  # on by default
    logit = {0.0: -60.0, 1.0: 60.0}.get(beta, float(torch.logit(torch.tensor(beta))))
    with torch.no_grad():
        gen.flow_prior_gate.fill_(1 / FLOW_PRIOR_GATE_GAIN)  # the classical flow, extrapolated
        gen.out.bias.view(P, gen.per_frame)[:, gen.at_b] = logit
        pred = model(clip, mode="predict", flow=flow).prediction
    bounded = gen.max_flow * torch.tanh(flow[:, I - 2] / gen.max_flow)
    moved = metrics.flow_extrapolation_baseline(clip[:, I - 1], bounded, P)
    still = metrics.copy_last_baseline(clip[:, I - 1], clip[:, I:])
    torch.testing.assert_close(pred, (1 - beta) * moved + beta * still, atol=1e-5, rtol=0)
    assert (moved - still).abs().max() > 0.1  # the two ends differ: the blend is what moved it


def test_checkpoints_written_before_the_blend_rebuild_without_it():
    from wubugaad.train.upgrade import upgrade_config
    assert upgrade_config({})["gen_copy_blend"] is False
