"""The "qMRI Fitting" dock: the widget, its model form, voxel plot, ROI panel and series choice."""
