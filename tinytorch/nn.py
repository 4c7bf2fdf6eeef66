"""`from tinytorch.nn import Linear`: the building blocks of modules 01-04 under one name."""
from tinytorch.core.activations import Module, ReLU, Sigmoid, Tanh
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.tensor import Parameter

__all__ = ["Module", "ReLU", "Tanh", "Sigmoid", "Linear", "Sequential", "MSELoss", "CrossEntropyLoss",
           "Parameter"]
