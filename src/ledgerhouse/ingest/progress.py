"""Progress reporting hook for long ingestions: called with the stage name."""

from collections.abc import Callable

Progress = Callable[[str], None]
