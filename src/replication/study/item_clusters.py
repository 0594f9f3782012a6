"""Constructs proposed from the items' correlations: an exploratory factor analysis.

``replication init`` groups a survey's items into constructs by what they measure
together, not by how their columns are named (twelve items called ``Q3_1 .. Q3_12`` can
measure four needs). :func:`propose_constructs`:

1. standardizes the items (respondents who answered every one of them);
2. chooses the number of factors by parallel analysis on the reduced correlation matrix
   (Horn 1965; squared multiple correlations on the diagonal, as ``psych::fa.parallel``
   with ``fa = "fa"``): the factors whose eigenvalue exceeds the 95th percentile of the
   eigenvalues of as many uncorrelated normal items. The reduced matrix counts the common
   factors, not the components, so needs that correlate through the segments (as they do
   when the segments differ on them) still count as factors of their own;
3. fits a maximum-likelihood factor analysis with varimax rotation (scikit-learn's
   ``FactorAnalysis``) and assigns each item to the factor it loads on most, when that
   loading is at least :data:`MIN_LOADING` in absolute value;
4. proposes a construct for every factor with two or more items. An item loading
   negatively on its factor is proposed as reverse-coded.

The result is a proposal shown with its loadings: the researcher decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: An item joins a factor only with at least this absolute loading (a common rule of thumb).
MIN_LOADING = 0.4
#: Random data sets of the parallel analysis, and the percentile their eigenvalues set.
PARALLEL_SETS = 50
PARALLEL_PERCENTILE = 95
#: The rule, as the YAML and the page state it.
RULE = (f"parallel analysis on the reduced correlation matrix ({PARALLEL_SETS} random sets, "
        f"{PARALLEL_PERCENTILE}th percentile), maximum-likelihood factor analysis with varimax rotation, "
        f"each item on the factor it loads on most (|loading| >= {MIN_LOADING})")


@dataclass
class ConstructProposal:
    """The outcome of :func:`propose_constructs` (print :meth:`summary`).

    Attributes
    ----------
    loadings : DataFrame
        Items x factors (``factor_1`` ...), varimax-rotated, each factor signed so that
        its items load positively on the whole.
    groups : list of list of str
        The items of each proposed construct (factors with two or more items), in file order.
    reversed : list of str
        Items loading negatively on their factor: reverse-coded, or worded the other way.
    unassigned : dict
        Item -> why it is in no construct.
    eigenvalues, thresholds : ndarray
        Eigenvalues of the reduced correlation matrix and the parallel analysis's percentiles.
    n_factors : int
    n_respondents : int
        Respondents who answered every item (the factor analysis uses them).
    """

    loadings: pd.DataFrame
    groups: list
    reversed: list
    unassigned: dict
    eigenvalues: np.ndarray
    thresholds: np.ndarray
    n_factors: int
    n_respondents: int
    rule: str = field(default=RULE)

    def factor_of(self, item: str) -> int | None:
        """The index of the proposed construct holding ``item`` (None if none)."""
        return next((g for g, items in enumerate(self.groups) if item in items), None)

    def summary(self) -> str:
        lines = [f"Exploratory factor analysis of {len(self.loadings)} items, {self.n_respondents} respondents",
                 f"rule: {self.rule}", f"factors retained: {self.n_factors}", "",
                 self.loadings.round(2).to_string()]
        for item, why in self.unassigned.items():
            lines.append(f"{item}: {why}")
        return "\n".join(lines)


def _reduced_eigenvalues(Z: np.ndarray) -> np.ndarray:
    """Eigenvalues (descending) of the correlation matrix with squared multiple
    correlations on the diagonal (the common variance each item shares with the rest)."""
    R = np.corrcoef(Z, rowvar=False)
    smc = 1 - 1 / np.diag(np.linalg.pinv(R))
    np.fill_diagonal(R, np.clip(smc, 0, 1))
    return np.sort(np.linalg.eigvalsh(R))[::-1]


def parallel_analysis(Z, n_sets: int = PARALLEL_SETS, percentile: float = PARALLEL_PERCENTILE,
                      random_state: int = 0):
    """Horn's parallel analysis on the reduced correlation matrix.

    Returns
    -------
    eigenvalues, thresholds : ndarray
    n_factors : int
        Leading eigenvalues above their threshold (at least 1).
    """
    Z = np.asarray(Z, dtype=float)
    rng = np.random.default_rng(random_state)
    observed = _reduced_eigenvalues(Z)
    random = np.array([_reduced_eigenvalues(rng.standard_normal(Z.shape)) for _ in range(n_sets)])
    thresholds = np.percentile(random, percentile, axis=0)
    above = observed > thresholds
    n = len(observed) if above.all() else int(np.argmin(above))
    return observed, thresholds, max(n, 1)


def propose_constructs(items: pd.DataFrame, *, min_loading: float = MIN_LOADING,
                       random_state: int = 0) -> ConstructProposal:
    """Propose constructs from the items' correlations (see the module docstring).

    Parameters
    ----------
    items : DataFrame
        One numeric column per item (NaN where not answered), in file order.
    min_loading : float
        The smallest absolute loading that puts an item on a factor.
    random_state : int
        Seeds the parallel analysis and the factor analysis (same seed, same proposal).

    Returns
    -------
    ConstructProposal
    """
    from sklearn.decomposition import FactorAnalysis

    complete = items.dropna()
    names = list(items.columns)
    sd = complete.std(ddof=0)
    unassigned = {c: "the same answer from everyone who answered every item" for c in names if not sd[c] > 0}
    used = [c for c in names if c not in unassigned]
    empty = pd.DataFrame(index=pd.Index(used, name="item"))
    if len(used) < 3 or len(complete) < 2 * len(used):
        # Too few items or respondents for a factor analysis: nothing is proposed.
        for c in used:
            unassigned[c] = (f"too few items ({len(used)}) or respondents ({len(complete)}) "
                             "with every answer for a factor analysis")
        return ConstructProposal(empty, [], [], unassigned, np.array([]), np.array([]), 0, len(complete))
    X = complete[used].to_numpy(dtype=float)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    eig, thr, m = parallel_analysis(Z, random_state=random_state)
    m = min(m, len(used) - 1)
    fa = FactorAnalysis(n_components=m, rotation="varimax" if m > 1 else None, random_state=random_state).fit(Z)
    L = fa.components_.T.copy()
    best = np.abs(L).argmax(axis=1)
    strong = np.abs(L[np.arange(len(used)), best]) >= min_loading
    # Sign each factor so that the items it holds load positively on the whole (a factor's
    # sign is arbitrary); an item loading against its factor is then a reverse candidate.
    for f in range(m):
        mine = (best == f) & strong
        if mine.any() and L[mine, f].sum() < 0:
            L[:, f] = -L[:, f]
    # Factors in the order of their first item, so construct 1 is the one the file starts with.
    order = sorted(range(m), key=lambda f: int(np.flatnonzero(best == f)[0]) if (best == f).any() else len(used))
    rank = {f: r for r, f in enumerate(order)}
    L = L[:, order]
    best = np.array([rank[b] for b in best])
    loadings = pd.DataFrame(L, index=pd.Index(used, name="item"), columns=[f"factor_{f + 1}" for f in range(m)])
    groups, reversed_ = [], []
    for f in range(m):
        mine = [c for c, b, s in zip(used, best, strong) if b == f and s]
        if len(mine) >= 2:
            groups.append(mine)
            reversed_ += [c for c in mine if loadings.loc[c, f"factor_{f + 1}"] < 0]
        else:
            for c in mine:
                unassigned[c] = f"the only item loading on factor_{f + 1}"
    for c, b, s in zip(used, best, strong):
        if not s:
            unassigned[c] = f"loads below {min_loading} on every factor (largest {abs(L[used.index(c), b]):.2f})"
    unassigned = {c: unassigned[c] for c in names if c in unassigned}
    return ConstructProposal(loadings, groups, reversed_, unassigned, eig, thr, m, len(complete))
