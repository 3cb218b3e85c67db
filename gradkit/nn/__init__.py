"""Neural-network building blocks, as torch.nn: Module, Parameter, layers, losses,
`nn.functional` (F), `nn.init` and `nn.utils` (gradient clipping)."""

from . import functional, init, parallel, utils
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
    LogSoftmax,
    ModuleDict,
    ModuleList,
    MSELoss,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .module import Module, Parameter, RemovableHandle, StateDictError

__all__ = ["Module", "Parameter", "RemovableHandle", "StateDictError", "functional", "init",
           "parallel", "utils",
           "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear", "ReLU",
           "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax", "Dropout", "Flatten",
           "BatchNorm1d", "LayerNorm", "Embedding", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "BCEWithLogitsLoss"]
