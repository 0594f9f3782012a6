"""Replication package for Golovacheva, Gogua, Smirnova & Alkanova (2022).

Modules follow the methods section: :mod:`~replication.spec` (the study specification),
:mod:`~replication.simulate` (the synthetic survey), :mod:`~replication.loader` and
:mod:`~replication.measurement` (validated answers, scale scores and reliability).
"""

__version__ = "0.1.0"
