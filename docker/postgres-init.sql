-- Run once, when the postgres volume is first created: MLflow's runs live apart from Optuna's
-- study (both use Alembic, whose version tables would collide in one database).
CREATE DATABASE mlflow OWNER automl;
