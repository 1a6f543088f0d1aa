"""Golden TensorBoard records for Tests/ReportsTests: events encoded by tensorboard's own protobuf classes
and framed by its RecordWriter's rule, so the Swift writer can be compared byte for byte.

    py=$(tools/reference/setup-env); "$py" tools/reference/gen_tensorboard_fixture.py
writes Tests/ReportsTests/Fixtures/tensorboard-golden.json.
"""

import json
import math
import os
import struct

import tensorboard
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c


def frame(data: bytes) -> bytes:
    # tensorboard/summary/writer/record_writer.py, RecordWriter.write
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def scalars(wall_time, step, values):
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in values])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary)


cases = [
    ("file_version", event_pb2.Event(wall_time=1765000000.25, file_version="brain.Event:2"), None),
    (
        "scalars",
        scalars(1765000001.5, 12, [("loss", 0.6931471805599453), ("rewards/margins", -0.125), ("learning_rate", 2e-4)]),
        {"step": 12, "values": [["loss", 0.6931471805599453], ["rewards/margins", -0.125], ["learning_rate", 2e-4]]},
    ),
    (
        "non_finite_and_large_step",
        scalars(1765000002.0, 300000, [("eval_loss", math.nan), ("grad_norm", math.inf)]),
        {"step": 300000, "values": [["eval_loss", None], ["grad_norm", "inf"]]},
    ),
]
out = {"tensorboard": tensorboard.__version__, "crc32c_masked_123456789": masked_crc32c(b"123456789"), "records": []}
for name, event, values in cases:
    out["records"].append({"name": name, "wall_time": event.wall_time, "row": values, "hex": frame(event.SerializeToString()).hex()})
path = os.path.join(os.path.dirname(__file__), "../../Tests/ReportsTests/Fixtures/tensorboard-golden.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(path)
