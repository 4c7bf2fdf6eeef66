"""`from tinytorch.optim import Adam`: the optimizers and schedulers of module 06."""
from tinytorch.core.optimizers import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    Momentum,
    Optimizer,
    StepLR,
)

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "AdamW", "StepLR", "CosineAnnealingLR"]
