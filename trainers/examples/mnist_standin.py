#!/usr/bin/env python3
"""A stand-in for the MNIST trainer, for trying sweepd without libtorch.

Takes the parameters of W&B's PyTorch sweep tutorial (optimizer, fc_layer_size,
dropout, epochs, learning_rate, batch_size) and logs what the real trainer logs
(`batch loss` per batch, `loss` and `epoch` per epoch, `val_accuracy`), from a
made-up but parameter-dependent curve: best near learning_rate 0.003 with adam,
larger layers and less dropout slightly better. Deterministic for given
parameters. Stops early when sweepd asks it to.
"""

import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import sweepd_trainer as sweep  # noqa: E402


def main():
    p = sweep.init()
    optimizer = p.get("optimizer", "adam")
    lr = float(p.get("learning_rate", 0.01))
    width = int(p.get("fc_layer_size", 128))
    dropout = float(p.get("dropout", 0.5))
    epochs = int(p.get("epochs", 1))
    batch_size = int(p.get("batch_size", 64))
    seconds_per_epoch = float(os.environ.get("STANDIN_EPOCH_SECONDS", "0"))

    rng = random.Random(repr(sorted(p.items())))
    best_lr = 0.003 if optimizer == "adam" else 0.03
    quality = math.exp(-abs(math.log10(max(lr, 1e-9) / best_lr)))  # 1 at the best lr
    floor = 0.05 + 0.25 * (1 - quality) + 0.02 * (512 / width) + 0.05 * dropout
    batches = max(1, 12000 // batch_size)
    step = 0
    for epoch in range(epochs):
        total = 0.0
        for b in range(batches):
            progress = (epoch * batches + b + 1) / (epochs * batches)
            loss = floor + (2.3 - floor) * math.exp(-6 * quality * progress) + rng.gauss(0, 0.02)
            total += loss
            if b % 10 == 0:
                sweep.log({"batch loss": round(loss, 5)}, step=step)
            step += 1
        if seconds_per_epoch:
            time.sleep(seconds_per_epoch)
        mean = total / batches
        accuracy = max(0.0, min(1.0, 1.0 - mean / 2.5 + rng.gauss(0, 0.005)))
        sweep.log({"loss": round(mean, 5), "epoch": epoch, "val_accuracy": round(accuracy, 5)}, step=step)
        if sweep.should_stop():
            print("stopping early: %s" % sweep.stop_reason())
            break


if __name__ == "__main__":
    main()
