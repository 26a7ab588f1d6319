"""Tiny random-weight Grounding DINO, saved exactly as a Hugging Face hub snapshot.

The architecture is the real one (Liu et al., "Grounding DINO: Marrying DINO with Grounded
Pre-Training for Open-Set Object Detection", arXiv:2303.05499, as implemented by transformers'
``GroundingDinoForObjectDetection``) shrunk to a few hundred kilobytes: a one-block-per-stage Swin
backbone, a one-layer BERT text encoder on a small lower-case vocabulary, one encoder layer and two
decoder layers (transformers 5.23 ties the decoder's box head across layers and fails with one).
The weights are random, so scores are low and boxes meaningless; the folder loads with
``AutoModelForZeroShotObjectDetection.from_pretrained(dest, local_files_only=True)`` and
``AutoProcessor.from_pretrained(dest, local_files_only=True)`` like a downloaded snapshot, which is
what tests, benchmarks and offline smoke runs need.
"""

from __future__ import annotations

from pathlib import Path

#: Lower-case words of the tiny tokenizer's vocabulary, after BERT's five special tokens.
VOCAB_WORDS: tuple[str, ...] = (
    "person", "people", "dancer", "car", "dog", "bird", "swan", "camel", "cow", "bike",
    "bicycle", "horse", "man", "woman", "boy", "girl", "cat", "sheep", "bus", "truck", "train",
    "boat", "motorcycle", "red", "blue", "white", "black", "the", "a", "an", "and", "or", "on",
    "in", "with", ".", ",",
)  # fmt: skip
_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build(dest: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight Grounding DINO model and processor to ``dest``.

    The folder holds what ``save_pretrained`` writes for the model (config and safetensors weights)
    and for the processor (image processor config, tokenizer files and ``vocab.txt``). The image
    processor resizes to a shortest edge of 256 and a longest edge of 400 pixels to keep CPU runs
    fast. Weights depend only on ``seed``.

    Args:
        dest: Folder to write; created if missing, existing files of the same names replaced.
        seed: Seed for ``torch.manual_seed`` before the weights are initialised.

    Returns:
        ``dest``.
    """
    import torch
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    vocab = [*_SPECIAL, *VOCAB_WORDS]
    (dest / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 builds a BERT tokenizer from the vocabulary itself (``vocab_file`` is ignored);
    # vocab.txt is kept beside tokenizer.json as in the hub snapshot.
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)

    swin = SwinConfig(
        embed_dim=24,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=7,
        out_indices=[2, 3, 4],
    )
    bert = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    config = GroundingDinoConfig(
        backbone_config=swin,
        text_config=bert,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=20,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
    )
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    model.save_pretrained(dest)

    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(
            size={"shortest_edge": 256, "longest_edge": 400}
        ),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(dest)
    return dest
