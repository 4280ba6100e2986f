"""What a registry, the app and the pipelines routes use of a pipeline: ``ServedPipeline``.

``Pipeline`` (one this process runs) is one; so is the server's record of a
pipeline a kernel runs and publishes (``jupyter_extension.published_pipeline``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from terrarium import protocol
from terrarium.pipeline.stage import Stage


class ServedPipeline(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def stages(self) -> Sequence[Stage]: ...

    def __contains__(self, agent: object) -> bool: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def kill(self) -> None: ...

    def describe(self) -> protocol.Pipeline: ...
