"""Tests of napari_mrrecon.app (mirrors the plugin's room)."""
