"""Look up methods by name, for the CLI, configs and benchmarks."""

from lightning_ssl.methods.barlow_twins import BarlowTwins
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.byol import BYOL
from lightning_ssl.methods.dino import DINO
from lightning_ssl.methods.ijepa import IJEPA
from lightning_ssl.methods.lejepa import LeJEPA
from lightning_ssl.methods.mae import MAE
from lightning_ssl.methods.mmcr import MMCR
from lightning_ssl.methods.moco import MoCo
from lightning_ssl.methods.moco_v3 import MoCoV3
from lightning_ssl.methods.msn import MSN
from lightning_ssl.methods.nnclr import NNCLR
from lightning_ssl.methods.simclr import SimCLR
from lightning_ssl.methods.simsiam import SimSiam
from lightning_ssl.methods.swav import SwAV
from lightning_ssl.methods.tico import TiCo
from lightning_ssl.methods.vicreg import VICReg

METHODS: dict[str, type[SSLMethod]] = {
    cls.__name__.lower(): cls
    for cls in (
        BarlowTwins,
        BYOL,
        DINO,
        IJEPA,
        LeJEPA,
        MAE,
        MMCR,
        MoCo,
        MoCoV3,
        MSN,
        NNCLR,
        SimCLR,
        SimSiam,
        SwAV,
        TiCo,
        VICReg,
    )
}
"""Every method class by lower-case class name, e.g. ``"mocov3"`` or ``"swav"``."""


def method_class(name: str) -> type[SSLMethod]:
    """The method class registered under ``name`` (case-insensitive).

    Raises:
        ValueError: If no method has that name.

    Example:
        >>> method_class("SimCLR").__name__
        'SimCLR'
    """
    key = name.lower()
    if key not in METHODS:
        raise ValueError(f"`method` must be one of {sorted(METHODS)}, got {name!r}.")
    return METHODS[key]
