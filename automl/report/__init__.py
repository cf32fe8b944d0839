"""`automl report`: a study as one self-contained HTML page of figures, with the lesson's
batch-normalization claim checked on its trials."""
