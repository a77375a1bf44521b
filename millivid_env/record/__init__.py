"""Recording trajectories into HDF5 datasets: layout, recorder, recipes, collection, checks, import/export."""
