"""Reads a run directory's TensorBoard event files with tensorboard's own EventAccumulator and checks that
every scalar equals metrics.jsonl's value (as the float32 an event stores; null in the JSON is NaN), at
the same step, under the same name, with nothing missing or extra.

    py=$(tools/reference/setup-env)
    leandpo train ... --report-to tensorboard --output RUN   (or: leandpo plot RUN --tensorboard)
    "$py" tools/reference/check_tensorboard.py RUN
Exits 1 with one line per difference.
"""

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def main(run: Path) -> int:
    events = sorted(run.glob("events.out.tfevents.*"))
    if not events:
        print(f"{run}: no events.out.tfevents.* file", file=sys.stderr)
        return 1
    expected = defaultdict(list)  # tag -> [(step, float32 value)]
    rows = 0
    np.seterr(over="ignore")  # a value beyond float32 is stored as infinity, as the writer's Float() does
    for line in (run / "metrics.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        rows += 1
        for key, value in row.items():
            if key != "step":
                expected[key].append((row["step"], float(np.float32(math.nan if value is None else value))))

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every event, no sampling
    acc.Reload()
    found = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

    problems = []
    for tag in sorted(set(expected) | set(found)):
        want, got = expected.get(tag, []), found.get(tag, [])
        if len(want) != len(got):
            problems.append(f"{tag}: {len(want)} values in metrics.jsonl, {len(got)} in the event files")
            continue
        for (ws, wv), (gs, gv) in zip(want, got):
            if ws != gs or not same(wv, gv):
                problems.append(f"{tag}: metrics.jsonl has {wv!r} at step {ws}, the event files {gv!r} at step {gs}")
    for p in problems:
        print(p, file=sys.stderr)
    values = sum(len(v) for v in expected.values())
    names = ", ".join(e.name for e in events)
    print(f"{'FAIL' if problems else 'ok'}: {values} values under {len(expected)} names in {rows} rows; {names} read by tensorboard "
          f"{__import__('tensorboard').__version__}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
