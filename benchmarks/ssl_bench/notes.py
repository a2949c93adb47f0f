"""Analysis of the benchmark results, shown beside the numbers it explains.

:data:`NOTES` is keyed by ``(dataset, row label)``. The report prints a note
only while its row fails a criterion, after the measured facts (steps, loss,
RankMe), and fills in the placeholders of :func:`report.note_fields` from the
row (``{loss_last:.3f}``, ``{knn:.1f}``, ``{random_knn:.1f}``, ...), so a note
cannot quote numbers other than the results it stands beside.
:data:`ANALYSIS` holds one paragraph per dataset on the table as a whole.
"""

NOTES: dict[tuple[str, str], str] = {}

ANALYSIS: dict[str, str] = {}
