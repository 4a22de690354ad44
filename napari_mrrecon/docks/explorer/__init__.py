"""The "K-space Explorer" dock (teaching): the widget, its controls, panels, source and view layers."""
