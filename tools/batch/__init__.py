"""Archive re-analysis on Ray (``mammoedge batch``): one model-loaded actor per core, the one exam pipeline,
results as the JSON of ``mammoedge analyze`` and as Parquet tables; needs the ``cluster`` extra."""
