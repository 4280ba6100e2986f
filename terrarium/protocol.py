"""The wire shapes of docs/PROTOCOL.md, each written once.

These are ``TypedDict``s: free at run time (the server builds plain dicts
and the mirror its bytes), checked by mypy where they are built, turned into
the OpenAPI document's component schemas by pydantic
(``jupyter_extension.openapi``), and used by the tests to validate what a
real server sends. Importing this module loads neither pydantic nor anything
else heavy. A field's ``Doc`` is its description in the OpenAPI document.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, NotRequired, get_args

from annotated_types import Ge, Gt, Le, Lt
from typing_extensions import TypedDict

from terrarium.names import NAME_PATTERN

__all__ = [
    "AGENT_STATES",
    "ERROR_CODES",
    "EVENT_TYPES",
    "NAME_PATTERN",
    "PERTURB_ERROR_CODES",
    "TOKEN_STATUSES",
    "AgentState",
    "AgentsListing",
    "CommAgents",
    "CommCancel",
    "CommError",
    "CommFrame",
    "CommPerturb",
    "CommReply",
    "CommResolve",
    "CommSubscribe",
    "CommandDescription",
    "CommandErrorBody",
    "CommandResult",
    "Doc",
    "ErrorBody",
    "ErrorCode",
    "Event",
    "EventType",
    "EventsPage",
    "Gap",
    "GenusListing",
    "Health",
    "Hello",
    "PendingListing",
    "PerturbErrorReply",
    "PerturbRequest",
    "PerturbResultReply",
    "PerturbSemaphoreReply",
    "Pipeline",
    "PipelineEdge",
    "PipelineListed",
    "PipelineRefusal",
    "PipelineStage",
    "PipelinesListing",
    "PublishEvent",
    "PublishInvoke",
    "PublishPipeline",
    "PublishRaise",
    "PublishReturn",
    "ResolveBody",
    "RestPerturbAccepted",
    "RestPerturbBody",
    "RestPerturbResult",
    "Status",
    "Token",
    "TokenReply",
    "ValidationDetail",
    "ValidationErrorBody",
]


@dataclass(frozen=True, slots=True)
class Doc:
    """A field's description, carried in its ``Annotated`` metadata."""

    text: str


Seq = Annotated[int, Ge(0)]
Count = Annotated[int, Ge(0)]
Unit = Annotated[float, Ge(0), Le(1)]

# -- events (section 1) ----------------------------------------------------------

EventType = Literal[
    "state",
    "perturbation",
    "result",
    "error",
    "metabolism",
    "semaphore_ejected",
    "semaphore_resolved",
    "semaphore_cancelled",
    "semaphore_voided",
    "drop",
]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)

AgentState = Literal[
    "dormant",
    "flowing",
    "perturbed",
    "draining",
    "stopped",
    "collapsed",
    "unavailable",
    "available",
]
AGENT_STATES: Final[tuple[str, ...]] = get_args(AgentState)


class Event(TypedDict):
    """One reflected event: what observers receive and what history keeps."""

    seq: Annotated[int, Ge(1), Doc("per-agent, strictly increasing by 1 within an epoch")]
    ts: Annotated[float, Doc("server wall-clock seconds when the event was reflected")]
    agent_id: str
    type: Annotated[str, Doc("one of the protocol's event types; ignore unknown ones")]
    data: dict[str, Any]


TokenStatus = Literal["pending", "resuming", "resolved", "cancelled", "voided"]
TOKEN_STATUSES: Final[tuple[str, ...]] = get_args(TokenStatus)


class Token(TypedDict):
    """A semaphore token: a decision an agent handed a human (TOKEN)."""

    id: str
    agent_id: str
    reason: str
    prompt: str
    options: list[str]
    severity: Literal["info", "warning", "critical"]
    created_at: Annotated[str, Doc("ISO-8601 UTC")]
    deadline: Annotated[str | None, Doc("ISO-8601 UTC, or null for none")]
    status: Annotated[
        TokenStatus,
        Doc("'resuming': the answer is recorded and the agent's resume has not finished"),
    ]


class Status(TypedDict):
    """An agent as the REST routes, the dashboard and ``hello`` describe it (STATUS)."""

    id: str
    genus: str | None
    state: AgentState
    seq: Annotated[int, Ge(0), Doc("the newest event's seq")]
    observers: Count
    events: Annotated[int, Ge(0), Doc("results and errors the agent produced")]
    pressure: Annotated[float, Ge(0), Le(100), Doc("queue fill, percent")]
    flow: Annotated[float, Ge(0), Doc("events per second")]
    temperature: Unit
    turbulence: Unit
    queue_depth: Count
    pending_semaphores: Count
    commands: list[str]
    epoch: Annotated[
        str, Doc("names the agent's numbering of seqs: new whenever seqs start afresh")
    ]
    owner: NotRequired[
        Annotated[str, Doc("Distributed mode only: the replica that runs the agent.")]
    ]
    available: NotRequired[
        Annotated[
            bool,
            Doc("Distributed mode only: false once the owner's heartbeat expired."),
        ]
    ]


# -- observe socket (section 2) --------------------------------------------------


class Hello(TypedDict):
    """The first frame of every observe socket."""

    type: Literal["hello"]
    protocol: int
    agent_id: str
    seq: Seq
    epoch: str
    snapshot: dict[str, Any]
    reset: NotRequired[Literal[True]]


#: Seqs ``from``..``to`` (inclusive) are missing here: no longer kept, or dropped.
#: (The functional form: ``from`` is a Python keyword.)
Gap = TypedDict("Gap", {"type": Literal["gap"], "from": Seq, "to": Seq})

# -- errors (sections 3 and 4) -----------------------------------------------------

PerturbErrorCode = Literal[
    "bad_request",
    "queue_full",
    "rate_limited",
    "timeout",
    "agent_error",
    "agent_unavailable",
]
PERTURB_ERROR_CODES: Final[tuple[str, ...]] = get_args(PerturbErrorCode)

#: Every code of an error body: the Beam's, and the routes' own.
ErrorCode = Literal[
    PerturbErrorCode,
    "unknown_agent",
    "unknown_token",
    "unknown_pipeline",
    "not_pending",
    "not_found",
    "forbidden",
    "too_large",
    "validation",
    "command_error",
    "conflict",
    "unauthorized",
    "method_not_allowed",
    "http_error",
    "internal_error",
]
ERROR_CODES: Final[tuple[str, ...]] = get_args(ErrorCode)


class ErrorBody(TypedDict):
    """Every REST error: a machine-readable code and a message for people."""

    error: Annotated[str, Doc("machine-readable code")]
    message: str


# -- perturb socket (section 3) ----------------------------------------------------


class PerturbRequest(TypedDict):
    """A client's frame on the Beam."""

    id: Annotated[str, Doc("the client's own correlation id")]
    data: Any
    priority: NotRequired[Annotated[int | None, Doc("1..199, default 100; higher first")]]
    timeout: NotRequired[Annotated[float | None, Doc("seconds, more than 0, below 86,400")]]


class PerturbResultReply(TypedDict):
    type: Literal["result"]
    id: str | None
    perturbation_id: str
    output: Any


class PerturbSemaphoreReply(TypedDict):
    type: Literal["semaphore"]
    id: str | None
    perturbation_id: str
    token: Token


class PerturbErrorReply(TypedDict):
    type: Literal["error"]
    id: str | None
    code: PerturbErrorCode
    message: str


# -- REST bodies (section 4) -------------------------------------------------------


class AgentsListing(TypedDict):
    agents: list[Status]


class EventsPage(TypedDict):
    """Kept history after ``since``: the same events the observers received."""

    events: list[Event]
    gap: Annotated[dict[str, int] | None, Doc("{'from': A, 'to': B} missing seqs, or null")]
    epoch: str
    reset: NotRequired[Literal[True]]


class RestPerturbBody(TypedDict):
    """The body of a REST perturbation."""

    data: Annotated[Any, Doc("any JSON value, handed to the agent")]
    priority: NotRequired[Annotated[int | None, Ge(1), Le(199), Doc("default 100")]]
    timeout: NotRequired[Annotated[float | None, Gt(0), Lt(86400), Doc("seconds")]]


class ResolveBody(TypedDict):
    human_input: Annotated[Any, Doc("any JSON value, handed to the agent's resume")]


class RestPerturbResult(TypedDict):
    perturbation_id: str
    output: Any


class RestPerturbAccepted(TypedDict):
    """202: the agent asked a human; the token says how to answer."""

    perturbation_id: str
    token: Token


class PendingListing(TypedDict):
    pending: list[Token]


class TokenReply(TypedDict):
    token: Token


class Health(TypedDict):
    status: Literal["ok"]
    agents: Count
    version: str


# -- pipelines (section 4) ---------------------------------------------------------


class PipelineStage(TypedDict):
    id: str
    state: AgentState
    genus: str | None


PipelineStage.__doc__ = "A stage of a pipeline: a flux agent, observable and perturbable itself."

#: One edge of a pipeline: ``from``'s outputs queued for ``to``, with live figures.
#: (The functional form: ``from`` is a Python keyword.)
PipelineEdge = TypedDict(
    "PipelineEdge",
    {
        "from": str,
        "to": str,
        "rate": Annotated[float, Ge(0), Doc("items per second over the last 5 s")],
        "depth": Annotated[int, Ge(0), Doc("items queued for the downstream now")],
        "capacity": Annotated[int, Ge(1), Doc("the upstream's output_buffer")],
        "drops": Annotated[int, Ge(0), Doc("items the upstream's policy dropped here")],
        "delivered": Annotated[int, Ge(0), Doc("items the downstream took")],
        "policy": Literal["block", "drop_oldest", "drop_newest"],
        "waits": Annotated[int, Ge(0), Doc("times the upstream waited for room (block)")],
        "closed": Annotated[bool, Doc("the downstream no longer reads")],
    },
)


class Pipeline(TypedDict):
    """Flux agents composed into a graph: stages and the edges between them."""

    id: str
    stages: list[PipelineStage]
    edges: list[PipelineEdge]


class PipelinesListing(TypedDict):
    pipelines: list[Pipeline]


# -- Prism (section 4) ------------------------------------------------------------


class ValidationDetail(TypedDict):
    loc: Annotated[list[str | int], Doc("the path into the body")]
    msg: str
    type: str


class ValidationErrorBody(TypedDict):
    """400 from a Prism command: every error, located by its path into the body."""

    error: Literal["validation"]
    message: str
    details: list[ValidationDetail]


class CommandErrorBody(TypedDict):
    """500 from a Prism command that raised."""

    error: Literal["command_error"]
    error_type: Annotated[str, Doc("class of the exception the command raised")]
    message: str


class CommandDescription(TypedDict):
    name: str
    help: str
    aliases: list[str]
    examples: list[dict[str, Any]]
    arguments: Annotated[dict[str, Any], Doc("JSON Schema of the keyword arguments")]
    result: Annotated[dict[str, Any], Doc("JSON Schema of the result")]


class GenusListing(TypedDict):
    genus: str
    description: str
    commands: list[CommandDescription]


class CommandResult(TypedDict):
    result: Any


# -- publish socket (section 8): a kernel's agent served by the server -----------------


class PublishInvoke(TypedDict):
    """Server to kernel: serve one perturbation (``call`` numbers them per socket)."""

    type: Literal["invoke"]
    call: Annotated[int, Ge(1)]
    data: Any


class PublishReturn(TypedDict):
    """Kernel to server: the call's output, answered as the perturbation's ``result``."""

    type: Literal["return"]
    call: int
    output: Any


class PublishRaise(TypedDict):
    """Kernel to server: the call failed; the perturbation is answered ``agent_error``."""

    type: Literal["raise"]
    call: int
    error_type: str
    message: str


class PublishEvent(TypedDict):
    """Kernel to server: a ``result`` or ``error`` of the agent's own source."""

    type: Literal["event"]
    event_type: Literal["result", "error"]
    data: dict[str, Any]


class PublishPipeline(TypedDict):
    """Kernel to server (an addition): list a pipeline of published stages, with its figures."""

    type: Literal["pipeline"]
    pipeline: Pipeline


class PipelineListed(TypedDict):
    """Server to kernel: the pipeline frame was taken; ``api/pipelines`` lists it."""

    type: Literal["pipeline_listed"]
    id: str


class PipelineRefusal(TypedDict):
    """Server to kernel: the pipeline frame was refused; what was listed before stays."""

    type: Literal["pipeline_refused"]
    id: str | None
    error: Literal["bad_request", "conflict"]
    message: str


# -- comm transport (the widgets' kernel fallback) ---------------------------------
# The frames are the observe socket's and the replies the Beam's; these wrap them.


class CommSubscribe(TypedDict):
    """Widget to kernel: start the agent's frames (``epoch``: the numbering of ``since``)."""

    type: Literal["subscribe"]
    since: int | None
    epoch: str | None


class CommPerturb(TypedDict):
    """Widget to kernel: a Beam request (``agent_id`` only for widgets of every agent)."""

    type: Literal["perturb"]
    id: str
    data: Any
    priority: NotRequired[int | None]
    timeout: NotRequired[float | None]
    agent_id: NotRequired[str]


class CommResolve(TypedDict):
    type: Literal["resolve"]
    id: str
    agent_id: str
    token_id: str
    human_input: Any


class CommCancel(TypedDict):
    type: Literal["cancel"]
    id: str
    agent_id: str
    token_id: str


class CommFrame(TypedDict):
    """Kernel to widget: a hello, event or gap, as the observe socket sends it."""

    type: Literal["frame"]
    frame: dict[str, Any]


class CommAgents(TypedDict):
    """Kernel to widget: who exists now (widgets of every agent)."""

    type: Literal["agents"]
    agents: list[Status]


class CommReply(TypedDict):
    """Kernel to widget: the Beam's reply, or ``{"type": "resolved"|"cancelled", "token"}``."""

    type: Literal["reply"]
    id: str
    reply: dict[str, Any]


class CommError(TypedDict):
    type: Literal["error"]
    code: str
    message: str
