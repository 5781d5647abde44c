"""Dead letters sealed at rest: the original bytes of a refused event (CallHub names, emails and
phones, VAN's canvassContext.phone, whatever the tool sent) are stored encrypted, and only a
holder of the key reads them back, for a replay or a data manager's look.

Fernet (the ``cryptography`` package: AES-128-CBC with HMAC-SHA256, a timestamped token) with
a key from the settings, ``FIELDSTREAM_DEAD_LETTERS__KEYS``: comma-separated Fernet keys, the
first seals and every one opens, so a key is rotated by putting the new one first and dropping
the old one once the letters it sealed have expired (``dead_letters.retention_days``). With no
key in the settings, the sink makes one in ``dead_letters.key_file`` (0600, under the data
directory), where fieldstream's commands find it too. A sealed value is text:
``sealed:v1:<token>``; a value without the prefix (written before sealing) opens as itself.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.config import write_private
from core.errors import ConfigError
from core.settings import DeadLetterSettings

PREFIX = "sealed:v1:"


def new_key() -> str:
    return Fernet.generate_key().decode()


class Sealer:
    """Seals with the first key, opens with any."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("dead letters need a key to seal them (dead_letters.keys)")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "a dead-letter key is not a Fernet key (32 bytes, URL-safe base64); "
                "make one with: python -c 'from core.sealing import new_key; print(new_key())'"
            ) from None

    @classmethod
    def from_settings(cls, settings: DeadLetterSettings, *, create: bool = False) -> Sealer:
        """The settings' keys, else the key file's (made, 0600, when ``create``)."""
        keys = [k.strip() for k in settings.keys.get_secret_value().split(",") if k.strip()]
        if not keys and settings.key_file.exists():
            keys = [settings.key_file.read_text(encoding="utf-8").strip()]
        if not keys and create:
            keys = [new_key()]
            write_private(settings.key_file, keys[0] + "\n")
        return cls(keys)

    def seal(self, text: str) -> str:
        if text.startswith(PREFIX):
            return text
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, value: str) -> str:
        """The original text of a stored value; ConfigError if no key of ours opens it."""
        if not value.startswith(PREFIX):
            return value
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise ConfigError(
                "no dead-letter key of the settings opens this letter: was it sealed with a "
                "key since removed from dead_letters.keys?"
            ) from None
