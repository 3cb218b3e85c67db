"""Neural-network building blocks, as torch.nn: Module, Parameter, layers, losses,
`nn.functional` (F), `nn.init` and `nn.utils` (gradient clipping)."""

from . import functional, init, utils
from .layers import (
    GELU,
    BatchNorm1d,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ModuleList,
    MSELoss,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .module import Module, Parameter, StateDictError

__all__ = ["Module", "Parameter", "StateDictError", "functional", "init", "utils",
           "Sequential", "ModuleList", "Identity", "Linear", "ReLU", "Tanh", "Sigmoid",
           "GELU", "Dropout", "Flatten", "BatchNorm1d", "LayerNorm", "Embedding",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss"]
