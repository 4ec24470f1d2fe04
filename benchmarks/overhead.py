"""accelbench's timing overhead: median latency of ResNet-50 @224, batch 1, ONNX Runtime CPU, measured
by accelbench's backend + timing loop versus a bare ``session.run`` loop on a plain session with the
same options, alternating blocks in the same process. Goal: within 2 %.

    python benchmarks/overhead.py [--rounds 6] [--queries 25] [--resolution 224]

Figures are noisy on a shared machine; alternation spreads the noise over both sides.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--queries", type=int, default=25)
    parser.add_argument("--resolution", default="224")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import onnxruntime as ort

    from accelbench.backends.base import BackendConfig, get_backend, physical_cores
    from accelbench.measure.timing import TimingConfig, time_queries
    from accelbench.models.loader import load_model

    model = load_model("resnet50", resolution=args.resolution, batch=1)
    threads = args.threads or physical_cores()
    backend = get_backend("onnxruntime")(BackendConfig(threads=threads))
    backend.load(model.proto)
    inputs = backend.prepare_inputs(0)

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    bare = ort.InferenceSession(model.proto.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    feed = dict(inputs)

    for _ in range(5):  # warm both
        backend.run(inputs)
        bare.run(None, feed)

    ours, theirs = [], []
    cfg = TimingConfig(mode="fixed", max_queries=args.queries, warmup_queries=1)
    def run_ours():
        ours.extend(time_queries(lambda: backend.run(inputs), cfg).latency_ns)

    def run_bare():
        bare.run(None, feed)
        for _ in range(args.queries):
            t0 = time.perf_counter_ns()
            bare.run(None, feed)
            theirs.append(time.perf_counter_ns() - t0)

    for i in range(args.rounds):  # alternate, and swap which goes first each round
        for step in ((run_ours, run_bare) if i % 2 == 0 else (run_bare, run_ours)):
            step()
    med_ours, med_bare = statistics.median(ours), statistics.median(theirs)
    print(f"ResNet-50 @{args.resolution}, batch 1, onnxruntime {ort.__version__} CPU, {threads} threads, "
          f"{args.rounds} alternating rounds x {args.queries} queries")
    print(f"accelbench median latency: {med_ours / 1e6:.3f} ms")
    print(f"bare session.run median:   {med_bare / 1e6:.3f} ms")
    print(f"ratio accelbench / bare:   {med_ours / med_bare:.4f}  (goal: within 2 %)")


if __name__ == "__main__":
    main()
