"""Email channel: SMTP intake (aiosmtpd), MIME decoding, loop protection, SMTP/Maildir out."""

from channels.email.channel import EmailChannel

__all__ = ["EmailChannel"]
