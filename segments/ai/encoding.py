"""Features -> numbers for distances (scikit-learn): counts and rates on a log scale, every
number standardised, text one-hot encoded (rare values pooled), tags kept as 0/1.

The encoder is fitted on a sample and then applied to everyone in chunks, so a million
subscribers never sit in memory as one dense matrix of floats.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from segments.ai.engagement import ENGAGEMENT
from segments.ai.features import Features

# Counts and durations: heavy right tails, compared on a log scale.
SKEWED = frozenset([*ENGAGEMENT, "tenure"])
MAX_CATEGORIES = 12  # per text feature; the rest are pooled as "infrequent"
CHUNK = 200_000
Matrix = np.ndarray[Any, np.dtype[np.float32]]


class Encoder:
    """A scikit-learn ColumnTransformer over the chosen features of a `Features`, fitted
    on the rows `fit_on`; a number nobody there has (say, no one gave an age) is left out."""

    def __init__(self, features: Features, fit_on: pd.DataFrame) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

        numeric = [column for column in features.numeric if fit_on[column].notna().any()]
        parts: list[tuple[str, Any, list[str]]] = []
        skewed = [column for column in numeric if column in SKEWED]
        plain = [column for column in numeric if column not in SKEWED]
        if skewed:
            log = FunctionTransformer(np.log1p, feature_names_out="one-to-one")
            parts.append(("skewed", make_pipeline(log, StandardScaler()), skewed))
        if plain:
            median = SimpleImputer(strategy="median")
            parts.append(("numeric", make_pipeline(median, StandardScaler()), plain))
        categorical = [column for column in features.columns if column in features.categorical]
        if categorical:
            one_hot = OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                max_categories=MAX_CATEGORIES,
                sparse_output=False,
                dtype=np.float32,
            )
            parts.append(("categorical", one_hot, categorical))
        binary = [column for column in features.columns if column in features.binary]
        if binary:
            parts.append(("binary", "passthrough", binary))
        self.columns = [column for _, _, columns in parts for column in columns]
        self._transformer = ColumnTransformer(parts, sparse_threshold=0.0)
        self._transformer.fit(fit_on[self.columns])

    def transform(self, frame: pd.DataFrame) -> Matrix:
        encoded = self._transformer.transform(frame[self.columns])
        return np.asarray(encoded, dtype=np.float32)

    def chunks(self, frame: pd.DataFrame) -> Iterator[tuple[int, Matrix]]:
        """(first row, encoded rows) for `frame`, CHUNK rows at a time."""
        for start in range(0, len(frame), CHUNK):
            yield start, self.transform(frame.iloc[start : start + CHUNK])

    @property
    def output_names(self) -> list[str]:
        return [str(name) for name in self._transformer.get_feature_names_out()]
