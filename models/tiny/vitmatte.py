"""Tiny random-weight ViTMatte, saved exactly as a Hugging Face hub snapshot.

The architecture is the real one (Yao et al., "ViTMatte: Boosting Image Matting with Pretrained
Plain Vision Transformers", Information Fusion 103, 2024, arXiv:2305.15272, as implemented by
transformers' ``VitMatteForImageMatting`` on a ``VitDet`` backbone) shrunk to a few tens of
kilobytes. ``hustvl/vitmatte-small-composition-1k`` has 12 backbone blocks: blocks 0, 1, 3, 4, 6,
7, 9, 10 attend within 14 x 14-token windows, blocks 2, 5, 8, 11 attend globally and end with a
residual bottleneck conv block; it uses absolute position embeddings (pretrained at 224 px,
interpolated to the input) and decomposed relative position embeddings. The tiny model keeps that
structure in two blocks: block 0 windowed (3 x 3-token windows, so windows are padded on most
inputs, as 14 x 14 ones are on real plates), block 1 global with the residual block, both position
embeddings on (pretrained at 64 px, so they are interpolated for any other input size).

transformers' default initialisation (standard deviation 0.02, batch-norm scales near 0) makes the
decoder answer a constant 0.5; the weights are re-drawn here so that the alpha varies over the
image and depends on both the backbone and the detail stream, which is what makes comparisons in
tests meaningful. Weights depend only on ``seed``.
"""

from __future__ import annotations

from pathlib import Path


def build(dest: Path, seed: int = 0, *, global_attention: bool = True) -> Path:
    """Write a tiny random-weight ViTMatte model and image processor to ``dest``.

    The folder holds what ``save_pretrained`` writes for ``VitMatteForImageMatting`` (config and
    safetensors weights) and ``VitMatteImageProcessor`` (preprocessor config: rescale, ImageNet
    normalisation, padding to a multiple of 32), so it loads with ``from_pretrained(dest,
    local_files_only=True)`` like a downloaded snapshot.

    Args:
        dest: Folder to write; created if missing, existing files of the same names replaced.
        seed: Seed for ``torch.manual_seed`` before the weights are drawn.
        global_attention: True (default) for the real structure (a global-attention block and
            absolute position embeddings). False makes every block windowed and sets the absolute
            position embeddings to zero: every output pixel then depends only on a bounded neighbourhood
            aligned to the window grid, the condition under which tiled inference can equal a
            whole-image run (see :mod:`models.vitmatte`).

    Returns:
        ``dest``.
    """
    import torch
    from torch import nn
    from transformers import (
        VitDetConfig,
        VitMatteConfig,
        VitMatteForImageMatting,
        VitMatteImageProcessor,
    )

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    backbone = VitDetConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=64,
        pretrain_image_size=64,
        patch_size=16,
        num_channels=4,
        window_size=3,
        window_block_indices=[0] if global_attention else [0, 1],
        residual_block_indices=[1],
        use_absolute_position_embeddings=True,
        use_relative_position_embeddings=True,
        initializer_range=0.2,
        out_features=["stage2"],
    )
    config = VitMatteConfig(
        backbone_config=backbone,
        hidden_size=32,
        convstream_hidden_sizes=[8, 16, 16],
        fusion_hidden_sizes=[32, 16, 8, 8],
    )
    torch.manual_seed(seed)
    model = VitMatteForImageMatting(config).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.normal_(1.0, 0.1)
                module.bias.normal_(0.0, 0.1)
            elif isinstance(module, nn.Conv2d) and name.startswith("decoder."):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        for name, param in model.named_parameters():
            if ".residual.norm3." in name:  # zero-initialised: the residual block would be a no-op
                param.normal_(0.0, 0.5)
        if not global_attention:
            # A constant absolute embedding adds the same vector at every position, whatever the
            # input size (use_absolute_position_embeddings=False crashes VitDet's initialisation in
            # transformers 5.23).
            model.backbone.embeddings.position_embeddings.zero_()
    model.save_pretrained(dest)
    VitMatteImageProcessor().save_pretrained(dest)
    return dest
