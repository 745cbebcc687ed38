"""Reads a TensorBoard log directory with TensorBoard's own reader and prints what it found as JSON.

Usage: python read_scalars.py LOGDIR
Output: {"runs": {RUN: {"file_version": str|null, "scalars": {TAG: [[step, value, wall_time], ...]}}}}

Uses EventMultiplexer / EventAccumulator (tensorboard.backend.event_processing), the reader behind
TensorBoard's scalar dashboard, keeping every scalar (size guidance 0: no reservoir sampling). That reader
skips a record whose CRC32C does not match without an error, so the values coming back are the proof.
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator, event_multiplexer


def main() -> None:
    logdir = sys.argv[1]
    multiplexer = event_multiplexer.EventMultiplexer(size_guidance={event_accumulator.SCALARS: 0})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    runs = {}
    for run in sorted(multiplexer.Runs()):
        accumulator = multiplexer.GetAccumulator(run)
        tags = accumulator.Tags()[event_accumulator.SCALARS]
        runs[run] = {
            "file_version": accumulator.file_version,
            "scalars": {tag: [[e.step, e.value, e.wall_time] for e in accumulator.Scalars(tag)] for tag in sorted(tags)},
        }
    json.dump({"runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
