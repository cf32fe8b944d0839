"""Candidate changes to automl's hot path, each measured alone on the shared workload.

The profile (`benchmarks.overhead`) says where a worker's time goes; this measures what a change
there would save, without changing automl:

1. `keras.backend.clear_session()` runs a full `gc.collect()` over every object TensorFlow,
   MLflow and Optuna created at import: timed per trial as automl calls it, then after
   `gc.freeze()` moves those start-up objects out of the collector's way, with the RSS each
   model leaves behind in both cases (and with glibc's `malloc_trim` on top). (`memory`)
2. `steps_per_execution`: on 8x8 images a training step is tiny, so Keras's per-step Python
   round trip weighs; fit seconds per epoch at 1 and at STEPS steps per call, same models.
   (`training`)
3. MLflow per trial: what TrialTracker writes for one trial (create the run, log the params,
   log the per-epoch metrics, terminate), timed against a SQLite store. (`startup`)
4. A worker's start: importing TensorFlow, importing MLflow and opening a client on a new and
   on an existing SQLite store, each in a fresh interpreter. (`startup`)
5. Adam's update: automl's fused kernel (`automl.train.fused_adam.fuse_adam_update`) against
   Keras's own, first epoch (the trace) and later epochs, the same models taking turns.
   (`training`)
6. What `restore_best_weights` costs: one copy of a model's weights per improving epoch.
   (`training`)
7. tf.data's autotuner, on (TensorFlow's default) and off (automl's pipelines): later-epoch
   seconds of processes with one TensorFlow thread each, as `--workers 2` runs them, one alone
   and two side by side on the two cores. (`autotune`)

Where a table shows a median over models or trials it shows `median [min–max]`; the record
keeps every value.

    python -m benchmarks.hot_path [--only fused_adam best_epoch autotune ...]
"""
