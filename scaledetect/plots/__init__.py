"""Figures: one module per figure, each with ``ID``, ``CAPTION`` and a ``render(out_dir, ...)``.

Every ``render`` draws theory as lines and simulation as markers with error bars from the typed
results it is given (``experiments.records.RunResult``: a run and its record) and writes
``<ID>.png``, ``<ID>.pdf`` and ``<ID>.json`` (the plotted numbers) atomically into ``out_dir``,
returning those three paths. Which runs feed which figure is decided by the studies
(``scaledetect.studies``), which call these functions; ``scaledetect.studies.make(id)`` runs a
figure's experiments and draws it.
"""
