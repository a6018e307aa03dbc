"""Contact jobs: the new contact's avatar, fetched from the provider after the message
is stored (never on the message's path)."""
from ..services import contacts


def fetch_avatar(identity_id: int) -> None:
    contacts.fetch_avatar(identity_id)
