"""Running a study: its storage and lock, its budget, the worker processes that run its
trials, the supervisor that starts them and retries the trials of those that die.

The light modules (`storage`, `study`, `recovery`, `worker_args`, `devices`, `signals`,
`processes`, `placement`) never import TensorFlow; `worker` and `finalize` do, and run only
in processes started by name through `processes.start_process`.
"""
