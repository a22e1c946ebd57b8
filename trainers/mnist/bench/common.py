"""What the Python halves of the MNIST benchmark share: MNIST's IDX files read
into tensors with the standard library (no numpy), and the tutorial's network."""
import os
import struct

import torch
from torch import nn


def data_dir():
    home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.environ.get("SWEEPD_MNIST_DIR") or os.path.join(home, "sweepd", "mnist")


def idx(name):
    with open(os.path.join(data_dir(), name), "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = struct.unpack(">" + "I" * rank, raw[4 : 4 + 4 * rank])
    return torch.frombuffer(bytearray(raw[4 + 4 * rank :]), dtype=torch.uint8).view(*dims)


def build_network(fc_layer_size, dropout):
    """The tutorial's build_network."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, fc_layer_size),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(fc_layer_size, 10),
        nn.LogSoftmax(dim=1),
    )


def build_optimizer(network, optimizer, learning_rate):
    """The tutorial's build_optimizer."""
    if optimizer == "sgd":
        return torch.optim.SGD(network.parameters(), lr=learning_rate, momentum=0.9)
    return torch.optim.Adam(network.parameters(), lr=learning_rate)
