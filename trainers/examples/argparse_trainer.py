#!/usr/bin/env python3
"""A W&B-style training script: parameters arrive as command-line flags
(`command: [${env}, ${interpreter}, ${program}, ${args}]` gives
`--learning_rate=0.01 --epochs=3`), metrics leave as JSON lines on stdout.
It needs nothing from sweepd but printing one JSON object per line; the helper
is used here only for its stop flag.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import sweepd_trainer as sweep  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=3)
    args, _unknown = parser.parse_known_args()
    sweep.init()
    loss = 1.0
    for epoch in range(args.epochs):
        loss *= 1 - min(0.9, args.learning_rate * 10)
        print(json.dumps({"loss": loss, "epoch": epoch}), flush=True)
        print("epoch %d done" % epoch, flush=True)
        if sweep.should_stop():
            break


if __name__ == "__main__":
    main()
