"""A study on real data: the survey a study's ``data:`` block describes, read.

A researcher's own survey (a CSV file, or an SPSS ``.sav`` file) enters the package
through :func:`read_user_survey`, driven by the ``data:`` block of the study YAML (its
one model is :class:`~replication.study.datablock.DataSource`, held by the specification
as ``spec.data``; :data:`~replication.study.datablock.DATA_FIELDS` describes every field
in words). The work is split by job:

* :mod:`.datablock`: the block's model and its checks against the specification;
* :mod:`.readers`: the file (format detection, CSV and ``.sav`` readers) as a raw table;
* :mod:`.cleaning`: the raw table as the survey the analysis wants (a :class:`UserSurvey`:
  the items numeric, reverse-coded and on the scale ``1..scale_points``, the carried
  columns, the respondents dropped and why, the ``.sav`` labels);
* :mod:`.spss`: writing tables back as CSV and ``.sav``.

Every problem with the file is one :class:`~replication.errors.ReplicationError` naming
the file and, where it applies, the row (1 = first respondent), the line of a CSV file
and the column; nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from .cleaning import UserSurvey, read_survey_table
from .datablock import DataSource, constructs_of, data_source
from .predictors import predictor_columns
from .readers import RawTable, read_table


def resolve_data_path(block, base_dir) -> Path:
    """The survey file of a data block: relative paths are relative to ``base_dir``."""
    p = Path(data_source(block).file).expanduser()
    return p if p.is_absolute() else Path(base_dir or ".") / p


def read_table_for(block: DataSource, base_dir, usecols=None) -> RawTable:
    """Resolve the block's file and read it (of a large CSV file only ``usecols``, if given)."""
    path = resolve_data_path(block, base_dir)
    return read_table(path, block.format, block.encoding, block.delimiter, usecols=usecols, id_column=block.id)


def read_user_survey(data_block, spec, base_dir=None) -> UserSurvey:
    """Read a researcher's own survey as the study's ``data:`` block describes it.

    Parameters
    ----------
    data_block : DataSource or dict
        The ``data:`` block (usually ``spec.data``; see :data:`.datablock.DATA_FIELDS`).
    spec : StudySpec
        The study: its constructs (items, scale points), its number of segments, and the
        profiling and demographic variables to carry.
    base_dir : str or Path, optional
        The folder a relative ``file`` is relative to: the study YAML's folder (default:
        the folder of ``spec.path``, else the current folder).

    Returns
    -------
    UserSurvey

    Raises
    ------
    ReplicationError
        One message naming the file and, where it applies, the row, line and column.
    """
    # Problems of the block itself are named by the specification's file when it holds the block.
    from_spec = getattr(spec, "data", None) is not None and getattr(spec, "path", None)
    where_spec = spec.path if from_spec else "the data block"
    block = data_source(data_block, where_spec)
    if base_dir is None:
        base_dir = Path(spec.path).parent if getattr(spec, "path", None) else Path(".")
    raw = read_table_for(block, base_dir)
    extra = [p.id for p in getattr(spec, "profiling", [])] + [d.id for d in getattr(spec, "demographics", [])]
    extra += [c for c in predictor_columns(spec) if c not in extra]
    # The k criteria compare every candidate k up to k_max: a k-cluster solution needs more
    # than k respondents (the Calinski-Harabasz index is undefined with k = N; the TwoStep
    # cross-check needs k_max + 1 leaves of its tree), so N >= k_max + 2.
    k = int(spec.n_segments.value)
    seg = getattr(spec, "segmentation", None)
    k_max = int(getattr(seg, "k_max", k) or k)
    need = max(k, k_max + 2)
    where_k = f"segmentation.k_max in {where_spec}" if from_spec else "segmentation.k_max"

    def reason(n_kept: int) -> str:
        head = f"fewer than the {k} segments the study asks for; and " if n_kept < k else ""
        return (f"{head}too few for the candidate numbers of segments up to k_max = {k_max} ({where_k}), "
                f"which need at least {k_max + 2} respondents; lower k_max (to no less than "
                f"{max(k, int(getattr(seg, 'k_min', 2)) + 2)}) or add respondents")
    return read_survey_table(raw, block, constructs_of(spec), where_spec=where_spec, extra_carry=extra,
                             min_respondents=need, min_reason=reason, consume=True)
