"""The instructor's tools: release, collect, autograde, feedback, export, check the release, demo."""
