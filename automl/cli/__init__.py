"""The `automl` command line: the commands (`app`, automl's one lazy import boundary), their
options, `automl run`'s live view, the study files `automl new` writes, and the UI servers
`automl dashboard` and `automl mlflow-ui` start."""
