"""W&B's PyTorch sweep tutorial ("Organizing Hyperparameter Sweeps in PyTorch
with W&B"): its dataset, network, optimizer and train_epoch, with wandb.log
replaced by printing the same records as JSON lines, and the test accuracy
added after each epoch as sweepd-mnist reports it. The tutorial's style of
pipeline: torchvision's MNIST Dataset with per-sample transforms (ToTensor,
Normalize) behind a DataLoader. Flags as W&B's agent passes them."""
import argparse
import atexit
import json
import os
import shutil
import tempfile

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

import common

p = argparse.ArgumentParser()
p.add_argument("--optimizer", default="adam")
p.add_argument("--learning_rate", type=float, default=0.001)
p.add_argument("--fc_layer_size", type=int, default=128)
p.add_argument("--dropout", type=float, default=0.3)
p.add_argument("--batch_size", type=int, default=64)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--full_dataset", default="False")
p.add_argument("--shuffle", default="False")
p.add_argument("--threads", type=int, default=1)
config = p.parse_args()
torch.set_num_threads(config.threads)
torch.manual_seed(config.seed)

# torchvision's MNIST reads <root>/MNIST/raw/<the four original files>.
root = tempfile.mkdtemp()
atexit.register(shutil.rmtree, root)
os.makedirs(os.path.join(root, "MNIST"))
os.symlink(common.data_dir(), os.path.join(root, "MNIST", "raw"))
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])


def build_dataset(batch_size, train=True):
    dataset = datasets.MNIST(root, train=train, download=False, transform=transform)
    if train and config.full_dataset != "True":
        dataset = torch.utils.data.Subset(dataset, indices=range(0, len(dataset), 5))
    shuffle = train and config.shuffle == "True"
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def train_epoch(network, loader, optimizer):
    cumu_loss = 0
    for _, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.nll_loss(network(data), target)
        cumu_loss += loss.item()
        loss.backward()
        optimizer.step()
        print(json.dumps({"batch loss": loss.item()}), flush=True)
    return cumu_loss / len(loader)


def accuracy(network, loader):
    network.eval()
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            correct += (network(data).argmax(1) == target).sum().item()
    network.train()
    return correct / len(loader.dataset)


loader = build_dataset(config.batch_size)
test_loader = build_dataset(1000, train=False)
network = common.build_network(config.fc_layer_size, config.dropout)
optimizer = common.build_optimizer(network, config.optimizer, config.learning_rate)
for epoch in range(config.epochs):
    avg_loss = train_epoch(network, loader, optimizer)
    print(json.dumps({"loss": avg_loss, "epoch": epoch, "val_accuracy": accuracy(network, test_loader)}), flush=True)
