"""The application around the plugin: the ``mrrecon gui`` launcher and the GUI benchmark probe."""
