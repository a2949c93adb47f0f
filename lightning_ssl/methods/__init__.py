"""Self-supervised methods, each a subclassable LightningModule."""

from lightning_ssl.methods.base import SSLMethod, StepOutput
from lightning_ssl.methods.byol import BYOL
from lightning_ssl.methods.loading import load_method
from lightning_ssl.methods.simclr import SimCLR
from lightning_ssl.methods.vicreg import VICReg

__all__ = ["BYOL", "SSLMethod", "SimCLR", "StepOutput", "VICReg", "load_method"]
