"""The "Training" dock: train the learned models on the viewer's images or a folder; its loss plot."""
