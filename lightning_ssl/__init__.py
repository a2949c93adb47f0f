"""lightning_ssl: self-supervised learning for PyTorch Lightning."""

__version__ = "0.1.0"
