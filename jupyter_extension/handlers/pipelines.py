"""Pipelines over REST: the graph of each pipeline this gateway runs, with live edge figures.

Read routes, so they follow ``public_observe`` like the agents' own. Each
stage is an agent like any other: observe, perturb and Purgatory work on it
by its id. A pipeline is known to the replica that registered it.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated

from jupyter_extension.handlers.base import ApiError, TerrariumAPIHandler
from terrarium.pipeline import UnknownPipeline


class PipelinesHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        await self.check_read_access()
        pipelines = self.context.registry.pipelines.values()
        self.write_json({"pipelines": [pipeline.describe() for pipeline in pipelines]})


class PipelineHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self, pipeline_id: str) -> None:
        await self.check_read_access()
        try:
            pipeline = self.context.registry.pipeline(pipeline_id)
        except UnknownPipeline as error:
            raise ApiError(404, "unknown_pipeline", str(error)) from None
        self.write_json(pipeline.describe())
