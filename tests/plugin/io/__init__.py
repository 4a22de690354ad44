"""Tests of napari_mrrecon.io (mirrors the plugin's room)."""
