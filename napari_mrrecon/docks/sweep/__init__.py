"""The "Sweep" dock: the widget and the sweep over one option's values."""
