"""The course's additions to nbgrader's pipelines, wired in by ``nbgrader_config.py``."""
