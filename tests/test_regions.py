"""Region tokenizer, box embedding and attention pooling."""

import math

import pytest
import torch
from _sync_guard import no_host_sync
from wubugaad.gaad.boxes import cached_boxes, hybrid_boxes
from wubugaad.gaad.regions import AttentionPool, BoxEmbedding, RegionTokenizer

H, W = 20, 28


def _tokenizer(use_roi_align, token_dim=16):
    torch.manual_seed(0)
    return RegionTokenizer(3, token_dim, use_roi_align=use_roi_align, cnn_channels=8, roi_output_hw=(2, 3),
                           patch_size=4)


@pytest.mark.parametrize("use_roi_align", [True, False])
@pytest.mark.parametrize("M,N", [(1, 1), (2, 6), (5, 3)])
def test_token_shapes(use_roi_align, M, N):
    tok = _tokenizer(use_roi_align)
    frames = torch.randn(M, 3, H, W)
    shared = hybrid_boxes(W, H, N, 2.0)
    assert tok(frames, shared).shape == (M, N, 16)
    per_frame = shared.expand(M, N, 4) + torch.rand(M, N, 1)
    assert tok(frames, per_frame).shape == (M, N, 16)


@pytest.mark.parametrize("use_roi_align", [True, False])
def test_shared_and_per_frame_boxes_agree(use_roi_align):
    tok = _tokenizer(use_roi_align)
    frames = torch.randn(3, 3, H, W)
    boxes = cached_boxes(W, H, 6, "hybrid", 2.0, "cpu")
    assert torch.allclose(tok(frames, boxes), tok(frames, boxes.expand(3, 6, 4).clone()), atol=1e-6)


@pytest.mark.parametrize("use_roi_align", [True, False])
def test_tokens_of_a_frame_depend_only_on_that_frame(use_roi_align):
    tok = _tokenizer(use_roi_align)
    frames = torch.randn(3, 3, H, W)
    boxes = hybrid_boxes(W, H, 4, 2.0)
    changed = frames.clone()
    changed[1] += 1.0
    a, b = tok(frames, boxes), tok(changed, boxes)
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[2], b[2])
    assert not torch.allclose(a[1], b[1])


def test_pixel_patch_reads_only_inside_its_box():
    tok = _tokenizer(False)
    frames = torch.randn(1, 3, H, W)
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [10.0, 10.0, 20.0, 18.0]])
    changed = frames.clone()
    changed[..., :, 9:] = 0.0  # right of box 0 (bilinear samples reach pixel column 8 at most)
    a, b = tok(frames, boxes), tok(changed, boxes)
    assert torch.allclose(a[0, 0], b[0, 0])
    assert not torch.allclose(a[0, 1], b[0, 1])


@pytest.mark.parametrize("use_roi_align", [True, False])
def test_gradients_reach_every_parameter(use_roi_align):
    tok = _tokenizer(use_roi_align)
    pool = AttentionPool(16, num_heads=2)
    frames = torch.randn(2, 3, H, W, requires_grad=True)
    boxes = hybrid_boxes(W, H, 5, 2.0)
    pool(tok(frames, boxes)).square().sum().backward()
    for name, p in list(tok.named_parameters()) + list(pool.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert frames.grad.abs().sum() > 0
    if use_roi_align:
        assert tok.cnn[0].weight.grad.abs().sum() > 0


def test_box_embedding_features_and_distinctness():
    boxes = torch.tensor([[0.0, 0.0, 28.0, 20.0], [7.0, 5.0, 21.0, 15.0], [0.0, 0.0, 10.0, 20.0]])
    feats = BoxEmbedding.features(boxes, W, H)
    assert torch.allclose(feats[0], torch.tensor([0.0, 0.0, 1.0, 1.0, math.log(28 / 20)]))
    assert torch.allclose(feats[1], torch.tensor([0.0, 0.0, 0.5, 0.5, math.log(14 / 10)]))
    assert torch.allclose(feats[2, 4], torch.tensor(math.log(0.5)))
    torch.manual_seed(0)
    emb = BoxEmbedding(8)
    out = emb(boxes, W, H)
    assert out.shape == (3, 8)
    assert (torch.cdist(out, out) + torch.eye(3) > 1e-4).all()
    # leading dims broadcast: (M, N, 4) → (M, N, dim)
    assert emb(boxes.expand(4, 3, 4), W, H).shape == (4, 3, 8)


def test_box_embedding_is_added_to_tokens():
    tok = _tokenizer(False)
    frames = torch.full((1, 3, H, W), 0.3)  # constant frame: both pixel patches are identical
    boxes = torch.tensor([[0.0, 0.0, 14.0, 20.0], [14.0, 4.0, 28.0, 12.0]])
    tokens = tok(frames, boxes)
    content = tokens - tok.box_embedding(boxes, W, H)
    assert torch.allclose(content[0, 0], content[0, 1], atol=1e-6)
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])


@pytest.mark.parametrize("num_heads", [1, 4])
def test_attention_pool_permutation_invariant(num_heads):
    torch.manual_seed(0)
    pool = AttentionPool(16, num_heads=num_heads)
    tokens = torch.randn(3, 7, 16)
    out = pool(tokens)
    assert out.shape == (3, 16)
    assert torch.allclose(out, pool(tokens[:, torch.randperm(7)]), atol=1e-6)
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("use_roi_align", [True, False])
def test_forward_backward_without_host_sync(use_roi_align):
    tok = _tokenizer(use_roi_align)
    pool = AttentionPool(16, num_heads=2)
    frames = torch.randn(2, 3, H, W)
    boxes = cached_boxes(W, H, 6, "subdivide", 2.0, "cpu")
    with no_host_sync():
        loss = pool(tok(frames, boxes)).square().mean()
        loss.backward()


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="cnn_channels"):
        RegionTokenizer(3, 16, use_roi_align=True, cnn_channels=12)
    with pytest.raises(ValueError, match="patch_size"):
        RegionTokenizer(3, 16, use_roi_align=False, patch_size=0)
    with pytest.raises(ValueError, match="num_heads"):
        AttentionPool(10, num_heads=3)
    tok = _tokenizer(True)
    with pytest.raises(ValueError, match="boxes"):
        tok(torch.zeros(2, 3, H, W), torch.zeros(3, 4, 4))
