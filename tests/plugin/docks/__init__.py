"""Tests of napari_mrrecon.docks (mirrors the plugin's room)."""
