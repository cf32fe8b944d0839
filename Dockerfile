# The automl image: the `automl` command, optuna-dashboard and the MLflow server (the
# pinned versions from pyproject.toml). docker-compose.yml runs its services from it.
# CPU TensorFlow; for GPU workers install tensorflow[and-cuda]==2.21.0 over it (see README).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /src
COPY pyproject.toml README.md ./
COPY automl ./automl
RUN pip install . && rm -rf /src

# /work is where workers run; /mlartifacts is the MLflow server's artifact volume (a new
# named volume takes this owner).
RUN useradd --create-home --uid 1000 automl \
    && mkdir /work /mlartifacts && chown automl /work /mlartifacts
USER automl
WORKDIR /work
COPY --chown=automl studies ./studies

CMD ["automl", "--help"]
