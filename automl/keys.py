"""Every name automl writes into Optuna's storage and MLflow's store, in one place.

Readers (`automl best`, the report, the export, optuna-dashboard and MLflow users' own scripts)
find a trial's facts under these names, so each one is a contract: changing a value here
breaks the studies and runs already stored.
"""

# Trial user attributes.
HYPERPARAMETERS_ATTR = "hyperparameters"  # every hyperparameter the model used, searched or not
SEED_ATTR = "seed"
EPOCHS_ATTR = "epochs"  # epochs trained (fewer than the spec's when pruned)
FIT_SECONDS_ATTR = "fit_seconds"
BEST_EPOCH_ATTR = "best_epoch"  # the epoch whose metric is the trial's value
# A retry that took up its failure's checkpoint: the epoch it resumed after, and the training
# seconds of the epochs it did not train again.
RESUMED_FROM_EPOCH_ATTR = "resumed_from_epoch"
RESUMED_SECONDS_ATTR = "resumed_seconds_saved"
FAIL_REASON_ATTR = "fail_reason"  # Optuna 5 keeps no reason for FAIL: automl does
# How a stopped trial's fail reason ends: its worker queues it again itself, unless the worker
# is ended first (automl.run.recovery.requeue_stopped then does it).
QUEUED_AGAIN = "queued again for the next run"
WORKER_ATTR = "worker"  # host, pid and GPU of the process that ran the trial
RAY_NODE_KEY = "ray_node"  # in WORKER_ATTR under `automl run --ray`: the Ray node's id (hex)
RAY_ACTOR_KEY = "ray_actor"  # beside it: the id (hex) of the Ray actor that started the worker
# The trial's model in its MLflow run; the file itself may be gone later (it fell out of the
# top K), so readers must check that it exists.
MODEL_ATTR = "model_artifact"
RUN_ID_ATTR = "mlflow_run_id"
RUN_URL_ATTR = "mlflow_run_url"

# Trial system attributes.
FAILED_TRIAL_ATTR = "failed_trial"  # Optuna's own: the first failure a retry replaces
RETRY_HISTORY_ATTR = "retry_history"  # Optuna's own: the numbers of the trials a retry replaces
# Optuna's own: each artifact uploaded to a trial is a system attribute named with this prefix.
ARTIFACTS_PREFIX = "artifacts:"
# How often a retried configuration's worker has died so far. A configuration that kills its
# worker again and again (say, out of memory) is given up.
DEATHS_ATTR = "automl.worker_deaths"

# Study user attributes.
SPACE_ATTR = "automl.space"  # the search space's fingerprint: a changed space is refused
# The parsed study file, so `automl export` can retrain a trial on the same data and epochs.
SPEC_ATTR = "automl.spec"
# The tracking store (by key), experiment and parent run an `automl run` set up.
TRACKING_ATTR = "automl.tracking"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
EXPERIMENT_ATTR = "mlflow_experiment_id"
EXPERIMENT_URL_ATTR = "mlflow_experiment_url"
TEST_ATTR = "automl.test"  # {TEST_TRIAL: n, TEST_ACCURACY: a, TEST_LOSS: l}
TEST_TRIAL = "trial"
FINALIZED_ATTR = "automl.finalized_trial"  # the trial last finalized
TEST_ACCURACY = "test_accuracy"  # also the parent run's metric
TEST_LOSS = "test_loss"

# MLflow tags.
NOTE_TAG = "mlflow.note.content"  # shown as the run's description in the MLflow UI
PARENT_RUN_TAG = "mlflow.parentRunId"
# MLflow 3 tells model-training experiments from GenAI ones by this tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
STUDY_TAG = "automl.study"
STUDY_ID_TAG = "automl.study_id"
STORAGE_TAG = "automl.storage"
ROLE_TAG = "automl.role"
SAMPLER_TAG = "automl.sampler"
PRUNER_TAG = "automl.pruner"
DATASET_TAG = "automl.dataset"
BEST_TRIAL_TAG = "automl.best_trial"
TRIAL_NUMBER_TAG = "automl.trial_number"
STATE_TAG = "automl.state"
OPTUNA_STATE_TAG = "optuna.state"
FAIL_REASON_TAG = "automl.fail_reason"
RAY_NODE_TAG = "automl.ray_node"  # the Ray node a trial ran on, under `automl run --ray`
REGISTERED_TRIAL_TAG = "automl.registered_trial"
REGISTERED_VERSION_TAG = "automl.registered_version"
