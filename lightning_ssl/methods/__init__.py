"""Self-supervised methods, each a subclassable LightningModule.

:data:`METHODS` maps lower-case names (``"simclr"``, ``"mocov3"``, ...) to the
classes, for the CLI and benchmarks; :func:`load_method` rebuilds any of them
from a checkpoint.
"""

from lightning_ssl.methods.barlow_twins import BarlowTwins
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import BYOL
from lightning_ssl.methods.dino import DINO
from lightning_ssl.methods.ijepa import IJEPA
from lightning_ssl.methods.lejepa import LeJEPA
from lightning_ssl.methods.loading import load_method
from lightning_ssl.methods.mae import MAE
from lightning_ssl.methods.mmcr import MMCR
from lightning_ssl.methods.moco import MoCo
from lightning_ssl.methods.moco_v3 import MoCoV3
from lightning_ssl.methods.msn import MSN
from lightning_ssl.methods.nnclr import NNCLR
from lightning_ssl.methods.queue import FeatureQueue
from lightning_ssl.methods.registry import METHODS, method_class
from lightning_ssl.methods.simclr import SimCLR
from lightning_ssl.methods.simsiam import SimSiam
from lightning_ssl.methods.swav import SwAV
from lightning_ssl.methods.tico import TiCo
from lightning_ssl.methods.types import Projection, StepOutput
from lightning_ssl.methods.vicreg import VICReg

__all__ = [
    "BYOL",
    "DINO",
    "IJEPA",
    "MAE",
    "METHODS",
    "MMCR",
    "MSN",
    "NNCLR",
    "BarlowTwins",
    "FeatureQueue",
    "LeJEPA",
    "MoCo",
    "MoCoV3",
    "Projection",
    "SSLMethod",
    "SimCLR",
    "SimSiam",
    "StepOutput",
    "SwAV",
    "TiCo",
    "VICReg",
    "load_method",
    "method_class",
]
