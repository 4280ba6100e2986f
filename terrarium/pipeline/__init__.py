"""Living pipelines: flux agents composed so each stage's outputs are the next one's source.

Compose dormant agents, then start, watch and stop the whole as one::

    etl = parse | enrich | store                # a chain (id "parse-pipeline")
    etl = pipeline(parse, enrich, store, id="etl")
    p = pipeline(parse, enrich, id="p")         # then by hand:
    p.connect(parse, audit)                     # fan-out: parse feeds enrich and audit
    p.connect(audit, store)                     # fan-in: store reads audit and ...
    p.connect(enrich, store)                    # ... enrich, in turn
    diamond = parse | merge(enrich, audit) | store   # the same graph, in one line

    p.start()
    p.describe()          # {"id", "stages": [...], "edges": [{"rate", "depth", "drops", ...}]}
    await p.stop()        # drains in order: nothing that entered a stage is lost

``|`` extends the pipeline on its left in place (``merge`` puts parts side by
side: they fan out from what precedes them and merge into what follows).
Only a first stage may have its own source; every stage must be dormant when
it joins, so a flowing pipeline grows by new stages (``p | more``, then
``p.start()``); a cycle is refused with the walk that would close it.

Each edge follows its upstream stage's ``FluxConfig``: ``output_buffer`` is
its capacity and ``output_policy`` what a full edge does (``block`` makes the
upstream wait; ``drop_oldest`` and ``drop_newest`` drop, counted, and told on
the upstream's mirror as ``drop`` events, at most one per stage per half
second). A stage whose handler fails reflects an ``error`` and keeps flowing,
as any flux agent does.

An ``AgentRegistry`` adopts a pipeline with ``register_pipeline``.
"""

from terrarium.pipeline.composition import Part, Pipeline, UnknownPipeline, merge, pipeline
from terrarium.pipeline.drops import DropReport
from terrarium.pipeline.edge import Edge
from terrarium.pipeline.graph import StageGraph
from terrarium.pipeline.inlet import Inlet
from terrarium.pipeline.rate import RateWindow

__all__ = [
    "DropReport",
    "Edge",
    "Inlet",
    "Part",
    "Pipeline",
    "RateWindow",
    "StageGraph",
    "UnknownPipeline",
    "merge",
    "pipeline",
]
