"""What the benchmarks share: the machine's description, the workload (data, space, model, fit),
`automl run` as a user runs it, the profiler, and the records every benchmark writes."""
