"""automl: Optuna-driven AutoML for Keras CNNs.

Only light names are exported here, so importing automl does not import TensorFlow.

The one lazy import boundary is automl/cli/app.py: each command imports the package that does
its work inside its body, so `automl --help`, `validate`, `new`, `studies` and `best` never
import TensorFlow, Keras or MLflow; TensorFlow is first imported by automl.backend.load_keras().
"""

from automl.errors import AutomlError, DataError, SpecError, StorageError
from automl.spec.reading import load_spec
from automl.spec.rules import parse
from automl.spec.schema import StudySpec

__all__ = [
    "AutomlError",
    "DataError",
    "SpecError",
    "StorageError",
    "StudySpec",
    "load_spec",
    "parse",
]
__version__ = "0.1.0"
