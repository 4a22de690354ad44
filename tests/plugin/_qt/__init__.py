"""Tests of napari_mrrecon._qt (the shared Qt parts)."""
