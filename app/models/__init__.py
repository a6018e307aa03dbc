"""Tables and their small invariants. No I/O here: services do the work."""
from .base import utcnow
from .org import Organization
from .user import User, UserStatusLog, ROLES, PRESENCES
from .queue import ChatQueue, QueueHoliday, ROUTING_MODES, queue_members
from .channel import Channel
from .contact import Contact, ContactIdentity
from .chat import Chat, ChatEvent, Message, Attachment, ChatStats, CHAT_OPEN_STATUSES
from .inbound import InboundEvent

__all__ = [
    "utcnow", "Organization", "User", "ROLES", "PRESENCES", "ChatQueue", "QueueHoliday",
    "ROUTING_MODES", "UserStatusLog", "queue_members",
    "Channel", "Contact", "ContactIdentity", "Chat", "ChatEvent", "Message", "Attachment",
    "ChatStats", "CHAT_OPEN_STATUSES", "InboundEvent",
]
