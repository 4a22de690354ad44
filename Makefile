# napari-mrrecon — shortcuts for the scripts in scripts/ (see README.md).
.PHONY: run test venv sample-data docs-screenshot clean teaching-docs

run:               ## set up, then open napari with the plugin and the reconstructed sample
	bash scripts/run.sh

test:              ## set up, then ruff, mypy, npe2 validate and pytest (GUI tests under Xvfb)
	bash scripts/test.sh

venv:              ## only the Python environment (.venv)
	bash scripts/setup_venv.sh

sample-data: venv  ## regenerate sample_data/ (deterministic)
	.venv/bin/python scripts/make_sample_data.py

teaching-docs: venv ## regenerate the screenshots of docs/teaching.md (K-space Explorer, under Xvfb)
	bash scripts/make_teaching_screenshots.sh

docs-screenshot: venv
	xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/mrrecon gui --screenshot docs/images/main_window.png --quit

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache build dist
