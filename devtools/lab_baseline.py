"""Re-measure the original lab's recipe on banking.csv: the source of config.BASELINES.

The lab label-encoded every text column, left missing values as 0 and fitted an unscaled
LogisticRegression; this reproduces that on the pipeline's own stratified 80/20 split.

    python -m devtools.lab_baseline [path/to/banking.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from include.bank_marketing import config


def main(path: str) -> None:
    df = pd.read_csv(path, sep=";")
    y = (df.pop(config.TARGET) == "yes").astype(int)
    for col in df.select_dtypes(exclude="number").columns:
        df[col] = df[col].astype("category").cat.codes  # LabelEncoder-equivalent codes; NaN -> -1
    df = df.fillna(0)
    x_train, x_test, y_train, y_test = train_test_split(
        df, y, test_size=config.TEST_SIZE, stratify=y, random_state=config.RANDOM_STATE
    )
    # The default 100 iterations stop short of convergence on these unscaled columns.
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, 1]
    pred = (proba >= 0.5).astype(int)
    print(
        f"auc={roc_auc_score(y_test, proba):.3f} f1={f1_score(y_test, pred):.3f} "
        f"precision={precision_score(y_test, pred):.3f} recall={recall_score(y_test, pred):.3f} "
        f"accuracy={accuracy_score(y_test, pred):.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "include/data/banking.csv"))
