"""A labelled SPSS survey nobody here wrote, for the exploratory path (``replication init``).

:func:`write_own_survey` writes what a researcher's file looks like: string ids
``R-0001``, twelve items ``Q3_1 .. Q3_12`` (all named alike) that measure four needs with
three items each, value labels 1-5, codes 98/99 declared user-missing, some
system-missing cells, an age in years, a single 1-7 attitude item, a labelled gender
column, a survey weight column and three true segments. The generating labels are returned for the tests only
(never written to the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Needs (in the file's item order: need j has items Q3_{3j+1} .. Q3_{3j+3}).
NEEDS = ["Need for advice", "Need for speed", "Need for novelty", "Need for control"]
#: True segment centroids on the needs and their shares. With three segments the needs'
#: segment means span two dimensions; the four needs point in directions 45 degrees
#: apart there, so no two needs are (anti-)collinear across the segments and the needs
#: correlate at most about 0.7, as the needs of a real survey do.
CENTROIDS = np.array([[0.7, 0.8, 0.4, -0.2],
                      [-0.7, -0.2, 0.4, 0.8],
                      [0.0, -0.6, -0.8, -0.6]])
#: How far apart the segments lie (multiplies CENTROIDS; within a segment a need has SD 0.8).
SEPARATION = 2.7
SHARES = [0.45, 0.33, 0.22]
LIKERT_5 = {1: "Strongly disagree", 2: "Disagree", 3: "Neither", 4: "Agree", 5: "Strongly agree"}


def own_survey_frame(n: int = 400, seed: int = 11, title: str = "Покупатели онлайн: потребности"):
    """The survey, its pyreadstat metadata and the true segment of every row."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(SHARES), size=n, p=SHARES)
    # Within a segment the needs vary on their own (SD 0.8), as real answers do: the items
    # of a need correlate more with each other than with the other needs' items.
    need = SEPARATION * CENTROIDS[truth] + rng.normal(0, 0.8, size=(n, len(NEEDS)))
    df = pd.DataFrame({"resp_id": [f"R-{i + 1:04d}" for i in range(n)]})
    labels = {"resp_id": "Respondent"}
    for j, text in enumerate(NEEDS):
        for i in range(3):
            col = f"Q3_{3 * j + i + 1}"
            x = np.clip(np.round(3 + 0.9 * need[:, j] + rng.normal(0, 0.4, size=n)), 1, 5)
            df[col] = x
            labels[col] = f"{text}: statement {i + 1}"
    df["age"] = rng.integers(18, 75, size=n).astype(float)
    df["attitude"] = np.clip(np.round(4 + rng.normal(0, 1.5, size=n)), 1, 7)
    df["gender"] = rng.integers(1, 3, size=n).astype(float)
    labels.update(age="Age in years", attitude="Shopping online is fun (1-7)", gender="Gender",
                  weight="Survey weight")
    items = [c for c in df.columns if c.startswith("Q3_")]
    # No answer: 98 "Don't know", 99 "Refused" (declared user-missing), and blanks.
    cells = rng.choice(n * len(items), size=24, replace=False)
    for m, cell in enumerate(cells):
        df.loc[cell // len(items), items[cell % len(items)]] = [98.0, 99.0, np.nan][m % 3]
    # A survey weight (as a panel weighted to its population has), unrelated to the segments
    # (its own random stream, so the other columns are as without it).
    df["weight"] = np.round(np.random.default_rng(seed + 1).uniform(0.5, 2.0, size=n), 3)
    value_labels = {c: {**LIKERT_5, 98: "Don't know", 99: "Refused"} for c in items}
    value_labels["gender"] = {1: "Женщина", 2: "Мужчина"}
    value_labels["attitude"] = {1: "Not at all", 7: "Very much"}
    meta = {"column_labels": labels, "variable_value_labels": value_labels,
            "missing_ranges": {c: [98, 99] for c in items}, "file_label": title}
    return df, meta, truth


def write_own_survey(folder, n: int = 400, seed: int = 11, name: str = "my_survey.sav", **kw):
    """Write the survey as ``folder/name``; returns ``(path, true segments)``."""
    import pyreadstat

    df, meta, truth = own_survey_frame(n, seed, **kw)
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(df, str(path), **meta)
    return path, truth
