"""actors: a small supervised actor runtime on anyio (asyncio, uvloop, trio)."""

from ._actor import Actor as Actor
from ._actor import TimerHandle as TimerHandle
from ._deadletters import DeadLetter as DeadLetter
from ._deadletters import DeadLetters as DeadLetters
from ._deadletters import Subscription as Subscription
from ._errors import ActorError as ActorError
from ._errors import ActorStopped as ActorStopped
from ._errors import AskCycle as AskCycle
from ._errors import AskTimeout as AskTimeout
from ._errors import MailboxFull as MailboxFull
from ._errors import RestartLimitExceeded as RestartLimitExceeded
from ._errors import RestartRequested as RestartRequested
from ._mailbox import Mailbox as Mailbox
from ._mailbox import Overflow as Overflow
from ._messages import ActorStatistics as ActorStatistics
from ._messages import Terminated as Terminated
from ._pool import Pool as Pool
from ._pool import PoolRef as PoolRef
from ._promise import Promise as Promise
from ._ref import ActorRef as ActorRef
from ._supervision import Backoff as Backoff
from ._supervision import Restart as Restart
from ._supervision import Strategy as Strategy
from ._supervisor import Supervisor as Supervisor
from ._system import ActorSystem as ActorSystem

__all__ = (
    "Actor",
    "ActorError",
    "ActorRef",
    "ActorStatistics",
    "ActorStopped",
    "ActorSystem",
    "AskCycle",
    "AskTimeout",
    "Backoff",
    "DeadLetter",
    "DeadLetters",
    "Mailbox",
    "MailboxFull",
    "Overflow",
    "Pool",
    "PoolRef",
    "Promise",
    "Restart",
    "RestartLimitExceeded",
    "RestartRequested",
    "Strategy",
    "Subscription",
    "Supervisor",
    "Terminated",
    "TimerHandle",
)

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
