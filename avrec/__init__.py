"""avrec: recommend audio and video content by understanding it."""

__version__ = "0.1.0"
