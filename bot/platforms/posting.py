"""What both networks do before a post: the media uploaded and ready to attach."""

from __future__ import annotations

from bot.platforms.base import Media, Platform, Uploaded
from bot.platforms.errors import PlatformError, Transient


def attachable(platform: Platform, media: list[Media], what: str) -> Uploaded:
    """Upload media for a post, with one more look at any still being processed (never a
    wait: the service's loop does the waiting). Every error here is raised with
    may_have_posted=False: no post was asked for yet, so a daily post may be retried."""
    try:
        uploaded = platform.upload(media)
        if not uploaded.ready:
            uploaded = platform.processed(uploaded)
        if not uploaded.ready:
            raise Transient(f"{what} {', '.join(uploaded.waiting)} still being processed; the "
                            "post is tried again later")
    except PlatformError as exc:
        exc.may_have_posted = False
        raise
    return uploaded
