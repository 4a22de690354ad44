"""The "MR Reconstruction" dock: the widget, its residual plot."""
