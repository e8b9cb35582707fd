"""Scale extrapolation (``--scale``): the subsets a history is rehearsed on, and the cost models
fitted to what each statement cost on them (``sample.py``, ``fit.py``). Reads model objects only;
the pipeline runs the rehearsals."""

from .fit import operation_class, predict
from .sample import subset_for_fraction

__all__ = ["operation_class", "predict", "subset_for_fraction"]
