"""What a study leaves in MLflow and beside Optuna's storage: the study's parent run, one
run per trial with its curves and (for the best K) its model, and the artifact folder that
optuna-dashboard reads.
"""
