"""accelbench: which inference accelerator is best for *your* neural network, measured."""

__version__ = "0.1.0"
