"""Training steps per second of the tutorial's network on preloaded MNIST
tensors in PyTorch: the same work as `mnist-steps` (src/bin/mnist-steps.rs),
on the CPU or a CUDA device (timed between torch.cuda.synchronize calls).
Prints one JSON line."""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F

import common

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=1000)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--fc-layer-size", type=int, default=512)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
a = p.parse_args()
device = torch.device(a.device)
torch.set_num_threads(a.threads)
torch.manual_seed(0)

x = common.idx("train-images-idx3-ubyte").view(-1, 784)[::5].float().div(255).sub(0.1307).div(0.3081).to(device)
y = common.idx("train-labels-idx1-ubyte")[::5].long().to(device)
net = common.build_network(a.fc_layer_size, 0.3).to(device)
opt = common.build_optimizer(net, "adam", 0.001)
batches = len(y) // a.batch_size


def step(i):
    start = (i % batches) * a.batch_size
    opt.zero_grad()
    loss = F.nll_loss(net(x[start : start + a.batch_size]), y[start : start + a.batch_size])
    loss.backward()
    opt.step()
    return loss.item()


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize(device)


for i in range(a.warmup):
    step(i)
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
sync()
wall0, cpu0 = time.perf_counter(), cpu()
for i in range(a.warmup, a.warmup + a.steps):
    loss = step(i)
sync()
wall, used = time.perf_counter() - wall0, cpu() - cpu0
print(json.dumps({"steps_per_s": a.steps / wall, "cpu_ms_per_step": used * 1e3 / a.steps,
                  "final_loss": loss, "steps": a.steps, "threads": a.threads, "device": a.device}))
